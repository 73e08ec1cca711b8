"""Contract tests run over every registered image adapter."""

import numpy as np
import pytest
from skimage import data

from synthgap.adapt.image_base import (
    ImageAdapter,
    NotFittedError,
    image_adapters,
    load_image_adapter,
    make_image_adapter,
)
from synthgap.adapt.modelfile import ModelFileError, save_model

# small training budgets keep the SMCAE methods fast in tests
FAST = {"conv-smcae": {"iterations": 25, "n_pairs": 256, "batch_size": 16,
                        "pretrain_iterations": 10},
        "patch-smcae": {"iterations": 10, "n_pairs": 256, "hidden_sizes": (32, 16, 32)}}


def _renders(n=6, h=40, w=52, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img = np.full((h, w, 3), (30, 60, 90), np.uint8)
        y, x = rng.integers(4, h - 16), rng.integers(4, w - 16)
        img[y:y + 12, x:x + 12] = rng.integers(120, 255, 3)
        out.append(img)
    return out


def _coins(n=6, size=48, seed=1):
    rng = np.random.default_rng(seed)
    c = data.coins()
    out = []
    for _ in range(n):
        y, x = rng.integers(0, c.shape[0] - size), rng.integers(0, c.shape[1] - size)
        out.append(np.repeat(c[y:y + size, x:x + size, None], 3, 2))
    return out


def _colour_photos(n=6, size=48, seed=2):
    rng = np.random.default_rng(seed)
    img = data.astronaut()
    out = []
    for _ in range(n):
        y, x = rng.integers(0, img.shape[0] - size), rng.integers(0, img.shape[1] - size)
        out.append(np.ascontiguousarray(img[y:y + size, x:x + size]))
    return out


def _methods():
    names = sorted(image_adapters())
    return names


def _make(method):
    name = method  # the CLI's name for it
    return make_image_adapter(name, options=FAST.get(method))


@pytest.fixture(scope="module")
def fitted():
    """Every method fitted once on colour photos and once on grey photos."""
    out = {}
    for m in _methods():
        out[m, "colour"] = _make(m).fit(_renders(), _colour_photos(), rng=np.random.default_rng(0))
        out[m, "grey"] = _make(m).fit(_renders(), _coins(), rng=np.random.default_rng(0))
    return out


def test_every_cli_method_is_registered():
    assert set(image_adapters()) == {"histogram", "fda", "pda", "conv-smcae", "patch-smcae",
                                   "camera"}


@pytest.mark.parametrize("method", _methods())
def test_size_dtype_and_grey_camera(method, fitted):
    for shape in [(40, 52, 3), (37, 61, 3), (9, 11, 3)]:
        img = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
        out = fitted[method, "colour"].transform(img)
        assert out.shape == shape and out.dtype == np.uint8
    outs = fitted[method, "grey"].transform(_renders(2))
    assert isinstance(outs, list) and len(outs) == 2
    for o in outs:
        np.testing.assert_array_equal(o[..., 0], o[..., 1])
        np.testing.assert_array_equal(o[..., 1], o[..., 2])


@pytest.mark.parametrize("method", _methods())
def test_deterministic_under_seed_and_round_trip(method, fitted, tmp_path):
    again = _make(method).fit(_renders(), _colour_photos(), rng=np.random.default_rng(0))
    img = _renders(1, seed=9)[0]
    a = fitted[method, "colour"].transform(img)
    np.testing.assert_array_equal(a, again.transform(img))
    path = fitted[method, "colour"].save(tmp_path / "m.safetensors")
    loaded = load_image_adapter(path)
    assert type(loaded) is type(fitted[method, "colour"])
    np.testing.assert_array_equal(loaded.transform(img), a)
    assert type(ImageAdapter.load(path)) is type(loaded)


@pytest.mark.parametrize("method", _methods())
def test_not_fitted_and_bad_input(method, fitted):
    with pytest.raises(NotFittedError, match="not fitted"):
        _make(method).transform(_renders(1)[0])
    with pytest.raises(ValueError, match="uint8"):
        fitted[method, "colour"].transform(np.zeros((8, 8, 3), np.float32))


def _square():
    img = np.full((48, 64, 3), (30, 60, 90), np.uint8)
    img[12:36, 20:44] = (200, 150, 130)
    return img


def _edges_stay(ad, img, tol=1.0):
    """Each vertical edge of the square stays in place: the gradient-weighted centre of the
    output's edge, within ±3 px of the input's edge, is at most `tol` px from it."""
    edge_in = np.abs(np.diff(img.astype(int), axis=1)).sum(2)
    edge_out = np.abs(np.diff(ad.transform(img).astype(int), axis=1)).sum(2)
    for r in np.flatnonzero(edge_in.max(1) > 0):
        for x in np.flatnonzero(edge_in[r]):
            win = np.arange(max(0, x - 3), min(edge_in.shape[1], x + 4))
            w = edge_out[r, win].astype(float)
            if w.sum() == 0 or abs((w * win).sum() / w.sum() - x) > tol:
                return False
    return True


def test_geometry_never_moves_baselines(fitted):
    """Edges stay where they are: the adapted image's strongest edges coincide with the input's."""
    for (m, kind), ad in fitted.items():
        if "smcae" in m:
            continue  # barely trained here; see test_conv_smcae_learns_a_look_and_keeps_edges
        assert _edges_stay(ad, _square()), (m, kind)


def test_conv_smcae_learns_a_look_and_keeps_edges():
    """Real = the renders, darker and noisier: the adapted renders move towards that look."""
    renders = _renders(8, 48, 64)
    rng = np.random.default_rng(0)
    real = [np.clip(0.6 * r + rng.normal(0, 3, r.shape), 0, 255).astype(np.uint8) for r in renders]
    ad = make_image_adapter("conv-smcae", options={
        "iterations": 150, "n_pairs": 512, "batch_size": 16, "hidden": (8,), "kernel": 3,
        "patch_size": 8, "learning_rate": 3e-2})
    ad.fit(renders, real, rng=np.random.default_rng(0))
    img = renders[0]
    out = ad.transform(img).astype(float)
    target = 0.6 * img
    assert np.abs(out - target).mean() < 0.5 * np.abs(img - target).mean()
    assert _edges_stay(ad, img)


def test_smcae_outputs_are_local(fitted):
    """A pixel of a convolutional/patch SMCAE output depends only on nearby input pixels."""
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    changed = img.copy()
    changed[:, 36:] = 0
    for m in ("conv-smcae", "patch-smcae"):
        ad = fitted[m, "colour"]
        a, b = ad.transform(img), ad.transform(changed)
        np.testing.assert_array_equal(a[:, :12], b[:, :12])
        assert not np.array_equal(a[:, 40:], b[:, 40:])


def test_bad_model_files(tmp_path, fitted):
    with pytest.raises(ModelFileError, match="no such model"):
        load_image_adapter(tmp_path / "missing.safetensors")
    save_model(tmp_path / "v.safetensors", {"w": np.ones(3, np.float32)}, {"kind": "coral"})
    with pytest.raises(ModelFileError, match="not an image adapter"):
        load_image_adapter(tmp_path / "v.safetensors")
    save_model(tmp_path / "h.safetensors", {"lut": np.ones((2, 256), np.uint8)}, {"kind": "histogram"})
    with pytest.raises(ModelFileError, match=r"h\.safetensors.*lut"):
        load_image_adapter(tmp_path / "h.safetensors")
    tensors, config = fitted["conv-smcae", "colour"].state()
    tensors["enc0.w"] = tensors["enc0.w"][:1]
    save_model(tmp_path / "c.safetensors", tensors, {**config, "kind": "conv-smcae"})
    with pytest.raises(ModelFileError, match="enc0.w: expected shape"):
        load_image_adapter(tmp_path / "c.safetensors")


def test_make_image_adapter_errors():
    with pytest.raises(ValueError, match="expected one of"):
        make_image_adapter("cyclegan")
    with pytest.raises(ValueError, match="only the SMCAE methods pair"):
        make_image_adapter("histogram", pairing="nearest")
    with pytest.raises(ValueError, match="pairing"):
        make_image_adapter("conv-smcae", pairing="random")


def test_image_pairing_aligned_nearest_class():
    from synthgap.adapt.image_pairing import make_pairs

    renders = _renders(4)
    real = [255 - r for r in renders]  # pixel-aligned "photos": the negatives
    p = make_pairs("aligned", renders, real, patch_size=8, n_pairs=40, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(p.target, 255 - p.synthetic)
    with pytest.raises(ValueError, match="same size"):
        make_pairs("aligned", renders, [r[:-1] for r in real], patch_size=8, n_pairs=4,
                   rng=np.random.default_rng(0))
    # nearest, with a tone change only: every render patch finds a real patch of the same layout
    darker = [(0.5 * r).astype(np.uint8) for r in renders]
    p = make_pairs("nearest", renders, darker, patch_size=16, n_pairs=64,
                   rng=np.random.default_rng(0))
    assert p.synthetic.shape == p.target.shape == (64, 16, 16, 3)

    def bright(x):  # fraction of square (not background) pixels per patch
        return (x[..., 0] > x[:, :1, :1, 0].min() + 2).mean(axis=(1, 2))

    paired = np.abs(bright(p.synthetic) - bright(p.target)).mean()
    shuffled = np.abs(bright(p.synthetic) - bright(p.target[::-1])).mean()
    assert shuffled > 0.05 and paired < 0.3 * shuffled
    p = make_pairs("class", renders, real, patch_size=8, n_pairs=8, rng=np.random.default_rng(0),
                   synthetic_labels=["a", "b", "a", "b"], real_labels=["a", "a", "b", "b"])
    assert len(p.synthetic) == 8
    with pytest.raises(ValueError, match="no real image of class"):
        make_pairs("class", renders, real, patch_size=8, n_pairs=8, rng=np.random.default_rng(0),
                   synthetic_labels=["a", "b", "c", "b"], real_labels=["a", "a", "b", "b"])


def test_chain_of_image_adapters_round_trip(tmp_path):
    from synthgap.adapt.base import Chain
    from synthgap.adapt.fda import FourierDomainAdaptation
    from synthgap.adapt.histogram import HistogramMatch

    chain = Chain([HistogramMatch(), FourierDomainAdaptation()])
    chain.fit(_renders(), _colour_photos(), rng=np.random.default_rng(0))
    img = _renders(1, seed=7)[0]
    out = chain.transform(img)
    assert out.shape == img.shape and out.dtype == np.uint8
    loaded = load_image_adapter(chain.save(tmp_path / "chain.safetensors"))
    np.testing.assert_array_equal(loaded.transform(img), out)


def test_old_method_name_smcae_still_works_with_a_deprecation_message(tmp_path):
    from click.testing import CliRunner

    from synthgap.adapt.patch_smcae import PatchSmcae
    from synthgap.cli import main

    with pytest.warns(FutureWarning, match="'smcae' is deprecated.*use 'patch-smcae'"):
        ad = make_image_adapter("smcae", options={"iterations": 2})
    assert isinstance(ad, PatchSmcae) and ad.method == "patch-smcae"
    res = CliRunner().invoke(main, ["adapt", "fit", "--synthetic", str(tmp_path / "none"),
                                    "--real", str(tmp_path / "none"), "--method", "smcae",
                                    "-o", str(tmp_path / "m.safetensors")])
    assert "--method: method 'smcae' is deprecated" in res.output
