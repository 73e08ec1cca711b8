import numpy as np
import pytest

from synthgap.adapt.modelfile import ModelFileError, load_model, save_model


def test_round_trip(tmp_path):
    p = save_model(tmp_path / "m.safetensors", {"w": np.arange(6, dtype=np.float32).reshape(2, 3)},
                   {"kind": "coral", "dims": 3})
    tensors, config = load_model(p, kind="coral")
    np.testing.assert_array_equal(tensors["w"], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert config["dims"] == 3 and config["kind"] == "coral"
    assert (tmp_path / "m.json").is_file()


def test_truncated_foreign_and_wrong_kind(tmp_path):
    p = save_model(tmp_path / "m.safetensors", {"w": np.ones((64, 64), np.float32)}, {"kind": "coral"})
    data = p.read_bytes()
    (tmp_path / "t.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="t.safetensors"):
        load_model(tmp_path / "t.safetensors")
    (tmp_path / "pickle.safetensors").write_bytes(b"\x80\x04\x95 pickle bytes")
    with pytest.raises(ModelFileError, match="pickle.safetensors"):
        load_model(tmp_path / "pickle.safetensors")
    from safetensors.numpy import save_file
    save_file({"w": np.ones(3, np.float32)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ModelFileError, match="without synthgap metadata"):
        load_model(tmp_path / "foreign.safetensors")
    with pytest.raises(ModelFileError, match="expected 'smcae'"):
        load_model(p, kind="smcae")
