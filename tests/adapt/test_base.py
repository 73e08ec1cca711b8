import numpy as np
import pytest

from synthgap.adapt.base import (
    ADAPTERS,
    Adapter,
    Chain,
    NotFittedError,
    adapters,
    as_vectors,
    load_adapter,
    register,
)
from synthgap.adapt.modelfile import ModelFileError, save_model
from synthgap.adapt.vector_baselines import Coral, CoralConfig, Identity


def _data(seed=0, n=30, d=6):
    rng = np.random.default_rng(seed)
    syn = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    real = rng.normal(size=(n + 5, d)) * 2.0 + 1.0
    return syn, real


def test_registry_lists_builtins_by_domain():
    vec = adapters("vector")
    assert {"identity", "coral"} <= set(vec)
    assert "chain" not in vec and "chain" in ADAPTERS
    assert all(c.domain == "vector" for c in vec.values())


def test_register_rejects_duplicate_and_nameless():
    class Nameless(Identity):
        method = ""

    with pytest.raises(ValueError, match="non-empty `method"):
        register(Nameless)

    class Clash(Identity):
        method = "coral"

    with pytest.raises(ValueError, match="already used by"):
        register(Clash)


def test_not_fitted_errors(tmp_path):
    with pytest.raises(NotFittedError, match="not fitted"):
        Coral().transform(np.zeros((2, 3)))
    with pytest.raises(NotFittedError, match="not fitted"):
        Identity().save(tmp_path / "m.safetensors")


def test_as_vectors_errors():
    with pytest.raises(ValueError, match="x: expected a 2-D"):
        as_vectors(np.zeros(3), "x")
    with pytest.raises(ValueError, match="expected 4 dimensions"):
        as_vectors(np.zeros((2, 3)), "x", dim=4)
    with pytest.raises(ValueError, match="NaN"):
        as_vectors(np.array([[np.nan]]), "x")
    with pytest.raises(ValueError, match="numeric"):
        as_vectors(np.array([["a"]]), "x")
    assert as_vectors(np.zeros((1, 2), np.float32), "x").dtype == np.float32
    assert as_vectors(np.zeros((1, 2), np.int64), "x").dtype == np.float64


def test_chain_fit_transform_equals_manual_composition(tmp_path):
    syn, real = _data()
    chain = Chain([Coral(CoralConfig(eps=0.1)), Identity()]).fit(syn, real, rng=np.random.default_rng(1))
    manual = Coral(CoralConfig(eps=0.1)).fit(syn, real, rng=np.random.default_rng(2))
    np.testing.assert_allclose(chain.transform(syn), manual.transform(syn))
    path = chain.save(tmp_path / "chain.safetensors")
    back = Adapter.load(path)
    assert isinstance(back, Chain) and [s.method for s in back.steps] == ["coral", "identity"]
    np.testing.assert_array_equal(back.transform(syn), chain.transform(syn))
    assert back.steps[0].config.eps == 0.1


def test_chain_rejects_bad_steps():
    with pytest.raises(ValueError, match="at least one"):
        Chain([])
    with pytest.raises(TypeError, match=r"steps\[1\]"):
        Chain([Identity(), "coral"])


def test_load_dispatch_and_bad_kinds(tmp_path):
    syn, real = _data()
    p = Coral().fit(syn, real, rng=np.random.default_rng(0)).save(tmp_path / "c.safetensors")
    assert isinstance(load_adapter(p), Coral)
    with pytest.raises(ModelFileError, match="expected 'identity'"):
        Identity.load(p)
    q = save_model(tmp_path / "u.safetensors", {"w": np.zeros(2)}, {"kind": "nosuch"})
    with pytest.raises(ModelFileError, match="unknown adapter kind 'nosuch'"):
        load_adapter(q)
    r = save_model(tmp_path / "bad.safetensors", {"mean_syn": np.zeros(2)}, {"kind": "coral"})
    with pytest.raises(ModelFileError, match=r"bad.safetensors.*missing"):
        Coral.load(r)
