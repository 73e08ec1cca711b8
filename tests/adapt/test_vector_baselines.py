import numpy as np
import pytest

from synthgap.adapt.base import Adapter, Chain, adapters
from synthgap.adapt.smcae import SmcaeConfig
from synthgap.adapt.vector_baselines import (
    Coral,
    CoralConfig,
    Identity,
    Mcae,
    coral_power_apply,
    low_rank_covariance,
    mcae_config,
)

# Small settings per method so the contract runs fast; a method without an entry is built with
# its defaults (so a newly registered adapter is still covered).
SMALL = {
    "coral": lambda: Coral(CoralConfig(eps=0.5)),
    "mcae": lambda: Mcae(mcae_config(hidden=5, pretrain_iterations=15)),
    "smcae": lambda: adapters()["smcae"](SmcaeConfig(hidden_sizes=(5, 3, 5), pretrain_iterations=10,
                                                     finetune_iterations=10)),
}


def _make(method):
    return SMALL[method]() if method in SMALL else adapters()[method]()


def _data():
    rng = np.random.default_rng(0)
    real = rng.uniform(size=(30, 7))
    syn = 0.5 * real + 0.2 + 0.05 * rng.normal(size=real.shape)
    return syn, real


@pytest.mark.parametrize("method", [*sorted(adapters("vector")), "chain"])
def test_contract(method, tmp_path):
    syn, real = _data()

    def make():
        return Chain([Coral(), _make("mcae")]) if method == "chain" else _make(method)

    a = make().fit(syn, real, rng=np.random.default_rng(3))
    b = make().fit(syn, real, rng=np.random.default_rng(3))
    out = a.transform(syn[:11])
    assert out.shape == (11, 7) and np.isfinite(out).all()
    np.testing.assert_array_equal(out, b.transform(syn[:11]))
    back = Adapter.load(a.save(tmp_path / f"{method}.safetensors"))
    assert type(back) is type(a)
    np.testing.assert_array_equal(back.transform(syn[:11]), out)
    with pytest.raises(ValueError, match="expected 7 dimensions"):
        a.transform(syn[:, :3])


def test_every_builtin_registered():
    assert {"identity", "coral", "mcae", "smcae"} <= set(adapters("vector"))


def test_identity_is_identity():
    syn, real = _data()
    np.testing.assert_array_equal(Identity().fit(syn, real, rng=np.random.default_rng(0)).transform(syn), syn)


def test_low_rank_power_matches_dense():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 10))
    _mean, u, s = low_rank_covariance(x)
    cov = np.cov(x, rowvar=False)
    np.testing.assert_allclose(u @ np.diag(s) @ u.T, cov, atol=1e-10)
    w, v = np.linalg.eigh(cov + 0.3 * np.eye(10))
    dense = v @ np.diag(w ** -0.5) @ v.T
    q = rng.normal(size=(3, 10))
    np.testing.assert_allclose(coral_power_apply(q, u, s, 0.3, -0.5), q @ dense, atol=1e-10)


def test_coral_matches_real_second_order_statistics():
    rng = np.random.default_rng(2)
    syn = rng.normal(size=(500, 3)) @ np.array([[2.0, 0, 0], [0.5, 1, 0], [0, 0, 0.2]]) + 5
    real = rng.normal(size=(400, 3)) @ np.array([[0.3, 0.1, 0], [0, 1, 0], [0, 0.4, 2]]) - 1
    out = Coral(CoralConfig(eps=1e-6)).fit(syn, real, rng=rng).transform(syn)
    np.testing.assert_allclose(out.mean(0), real.mean(0), atol=1e-6)
    np.testing.assert_allclose(np.cov(out, rowvar=False), np.cov(real, rowvar=False), atol=1e-3)
    with pytest.raises(ValueError, match="eps"):
        CoralConfig(eps=0)
