import json
import math
import tarfile

import pytest

from synthgap.export import ExportOptions, export_dataset


def test_shards_hold_shard_size_samples_in_key_groups(fake_dataset, tmp_path):
    s = export_dataset(fake_dataset, tmp_path / "w", format="webdataset", split="1,0,0",
                       options=ExportOptions(shard_size=4))
    shards = sorted((tmp_path / "w").glob("*.tar"))
    assert [p.name for p in shards] == ["train-000000.tar", "train-000001.tar"]
    assert len(shards) == math.ceil(s.images["train"] / 4)
    with tarfile.open(shards[0]) as tar:
        names = tar.getnames()
        assert names[:4] == ["000000.png", "000000.json", "000000.mask.png", "000000.defects.png"]
        assert all(m.mtime == 0 and m.uid == 0 for m in tar.getmembers())
        meta = json.loads(tar.extractfile("000000.json").read())
    assert meta["index"] == 0 and meta["categories"] == {"bracket": 1, "washer": 2, "defect/scratch": 3}
    assert len(names) == 4 * 4


# The webdataset package leaves shard files open when its iterator ends (a ResourceWarning
# raised from a generator's cleanup); that is its business, not a problem of the shards.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_webdataset_package_reads_the_shards(fake_dataset, tmp_path):
    import webdataset as wds

    export_dataset(fake_dataset, tmp_path / "w", format="webdataset", split="0.5,0.5,0",
                   seed=1, options=ExportOptions(shard_size=2))
    urls = [str(p) for p in sorted((tmp_path / "w").glob("*.tar"))]
    samples = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False))
    assert sorted(x["__key__"] for x in samples) == [f"{i:06d}" for i in range(6)]
    for x in samples:
        assert {"png", "json", "mask.png", "defects.png"} <= set(x)
        assert json.loads(x["json"])["key"] == x["__key__"]
