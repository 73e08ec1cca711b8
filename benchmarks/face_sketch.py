"""Benchmark 1 of the SMCAE paper: face sketch → photo identification on CUFS (CUHK students).

Data: HOG features (5,329-d, in [0, 1]) of artist sketches (synthetic) and photos (real) of the
same people, 88 training pairs and 100 test pairs, from the SMCAE authors' reference code
(`../shared/data/cufs_student_hog.npz`; override with `--data`).

Protocol: every adapter is fitted on the 88 training pairs only (sketch i ↔ photo i, aligned
pairing). Each of the 100 test sketches is identified among the 100 test photos by Euclidean
nearest neighbour; the table shows cumulative match scores (rank-1/5/10). Hyper-parameters
(CORAL's ε; for MCAE/SMCAE which representation is matched and with what weight next to the
CORAL-aligned HOG) are chosen by 2-fold cross-validation on the training pairs (fit on 44,
identify the other 44), never on the test pairs. The CV score is rank-1, ties broken by the
mean log ratio of the distance to the true photo over the distance to the nearest other photo.

Representations matched (sketch side ↔ photo side):
  raw                  HOG ↔ HOG
  CORAL                CORAL(HOG) ↔ HOG
  (S)MCAE output       adapted sketch (synthetic channel output) ↔ HOG
  (S)MCAE features     hidden activations of every layer ↔ the same for the photo
  CORAL ⊕ (S)MCAE      [CORAL(HOG), α·rep] ↔ [HOG, α·rep], both parts scaled to unit RMS norm

Usage:
    python benchmarks/face_sketch.py [--json] [--data PATH]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthgap.adapt.smcae import Smcae, SmcaeConfig
from synthgap.adapt.vector_baselines import Coral, CoralConfig, Mcae

_ROOT = Path(__file__).resolve().parents[1]
# `../shared/data` next to the repository; a git worktree one level deeper also finds it.
DEFAULT_DATA = next((p for p in (_ROOT.parent / "shared/data/cufs_student_hog.npz",
                                 _ROOT.parent.parent / "shared/data/cufs_student_hog.npz")
                     if p.is_file()), _ROOT.parent / "shared/data/cufs_student_hog.npz")
RANKS = (1, 5, 10)
CORAL_EPS = (1.0, 0.3, 0.1)
ALPHAS = (0.25, 0.5, 1.0)


def load(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise click.ClickException(
            f"{path}: CUFS HOG data not found. It lives in the project's shared data folder "
            "(../shared/data/cufs_student_hog.npz next to the repository); pass --data PATH")
    d = np.load(path)
    need = ("train_sketches", "train_photos", "test_sketches", "test_photos")
    missing = [k for k in need if k not in d.files]
    if missing:
        raise click.ClickException(f"{path}: missing arrays {missing}; expected {list(need)}")
    return {k: d[k].astype(np.float32) for k in need}


def distances(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances `(n_q, n_g)`."""
    q64, g64 = q.astype(np.float64), g.astype(np.float64)
    return np.maximum((q64 ** 2).sum(1)[:, None] + (g64 ** 2).sum(1)[None] - 2 * q64 @ g64.T, 0)


def cms(q: np.ndarray, g: np.ndarray) -> dict[str, float]:
    """Cumulative match scores: query i's true match is gallery i."""
    d = distances(q, g)
    rank = (d < np.diag(d)[:, None]).sum(1)  # 0 = correct match is nearest
    return {f"rank{k}": float((rank < k).mean()) for k in RANKS}


def cv_score(q: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    """(rank-1, −mean log(d_true / d_nearest_other)): larger is better on both."""
    d = distances(q, g)
    true = np.diag(d).copy()
    np.fill_diagonal(d, np.inf)
    return float((true < d.min(1)).mean()), float(-np.mean(np.log((true + 1e-12)
                                                                   / (d.min(1) + 1e-12))))


def unit(a: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Scale `a` by the RMS row norm of `ref` (so fused parts weigh as chosen)."""
    return a / np.sqrt((ref.astype(np.float64) ** 2).sum(1).mean())


def representations(model, coral: Coral, sk: np.ndarray, ph: np.ndarray
                    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every candidate (sketch side, photo side) pair of representations of one model."""
    out_s = model.transform(sk)
    f_s, f_p = model.features(sk), model.features(ph)
    c_s = coral.transform(sk)
    reps = {"output": (out_s, ph), "features": (f_s, f_p)}
    for a in ALPHAS:
        reps[f"CORAL ⊕ output α={a}"] = (np.hstack([unit(c_s, ph), a * unit(out_s, ph)]),
                                          np.hstack([unit(ph, ph), a * unit(ph, ph)]))
        reps[f"CORAL ⊕ features α={a}"] = (np.hstack([unit(c_s, ph), a * unit(f_s, f_p)]),
                                            np.hstack([unit(ph, ph), a * unit(f_p, f_p)]))
    return reps


def fit_models(s: np.ndarray, p: np.ndarray, cfgs: dict[str, SmcaeConfig], eps: float,
               seed: int) -> tuple[Coral, dict]:
    rng = np.random.default_rng(seed)
    coral = Coral(CoralConfig(eps=eps)).fit(s, p, rng=rng)
    models = {}
    for name, cfg in cfgs.items():
        cls = Mcae if name == "MCAE" else Smcae
        models[name] = cls(cfg).fit(s, p, rng=np.random.default_rng([seed, len(models)]))
    return coral, models


@click.command()
@click.option("--data", type=click.Path(path_type=Path), default=DEFAULT_DATA, show_default=True,
              help="The CUFS HOG .npz file.")
@click.option("--hidden", default="1000,500,1000", show_default=True,
              help="SMCAE hidden sizes (MCAE uses the first); the reference is 1000,500,1000.")
@click.option("--iterations", default=60, show_default=True,
              help="L-BFGS iterations per greedy layer and for fine-tuning.")
@click.option("--gamma", default=0.01, show_default=True,
              help="Balance weight γ. Channel costs J grow with d (≈100 here vs ≈1 for the "
                   "reference's image patches), so the reference γ = 10…90 would dominate.")
@click.option("--history", default=5, show_default=True, help="L-BFGS memory.")
@click.option("--seed", default=0, show_default=True)
@click.option("--threads", default=1, show_default=True,
              help="Torch/BLAS threads. One is fastest on a busy 2-core machine: with two, "
                   "threads of small operations wait on each other.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object as the last line.")
def main(data: Path, hidden: str, iterations: int, gamma: float, history: int, seed: int,
         threads: int, as_json: bool) -> None:
    set_threads(threads)
    t_start = time.perf_counter()
    d = load(data)
    hs = tuple(int(h) for h in hidden.split(","))
    common = dict(pretrain_iterations=iterations, finetune_iterations=iterations, gamma=gamma,
                  lbfgs_history=history)
    cfgs = {"MCAE": SmcaeConfig(hidden_sizes=hs[:1], **common),
            "SMCAE": SmcaeConfig(hidden_sizes=hs, **common)}
    s_tr, p_tr = d["train_sketches"], d["train_photos"]
    perm = np.random.default_rng(seed).permutation(len(s_tr))
    half = len(perm) // 2
    folds = [(perm[:half], perm[half:]), (perm[half:], perm[:half])]

    # ---- cross-validation on the training pairs only ------------------------------------
    cv: dict[str, list[tuple[float, float]]] = {}
    for i, (fit_idx, val_idx) in enumerate(folds):
        sv, pv = s_tr[val_idx], p_tr[val_idx]
        for eps in CORAL_EPS:
            c = Coral(CoralConfig(eps=eps)).fit(s_tr[fit_idx], p_tr[fit_idx],
                                                rng=np.random.default_rng(seed))
            cv.setdefault(f"CORAL ε={eps}", []).append(cv_score(c.transform(sv), pv))
        coral, models = fit_models(s_tr[fit_idx], p_tr[fit_idx], cfgs, 1.0, seed + 1 + i)
        for name, m in models.items():
            for rep, (q, g) in representations(m, coral, sv, pv).items():
                cv.setdefault(f"{name} {rep}", []).append(cv_score(q, g))
        print(f"cv fold {i + 1}/2 done ({time.perf_counter() - t_start:.0f} s)", file=sys.stderr)
    mean_cv = {k: tuple(np.mean(v, axis=0)) for k, v in cv.items()}

    def best(prefix: str) -> str:
        keys = [k for k in mean_cv if k.startswith(prefix)]
        return max(keys, key=lambda k: mean_cv[k])

    best_eps = float(best("CORAL ε=").split("=")[1])
    choice = {name: best(f"{name} ") for name in cfgs}
    choice_plain = {name: max([f"{name} output", f"{name} features"], key=lambda k: mean_cv[k])
                    for name in cfgs}

    # ---- final fit on all 88 training pairs, test on the 100 test pairs -----------------
    s_te, p_te = d["test_sketches"], d["test_photos"]
    coral, models = fit_models(s_tr, p_tr, cfgs, best_eps, seed)
    rows: dict[str, dict[str, float]] = {"raw (no adaptation)": cms(s_te, p_te),
                                         f"CORAL (ε={best_eps})": cms(coral.transform(s_te), p_te)}
    for name, m in models.items():
        reps = representations(m, coral, s_te, p_te)
        for key in dict.fromkeys([choice_plain[name], choice[name]]):
            rep = key[len(name) + 1:]
            rows[f"{name} {rep}"] = cms(*reps[rep])
    elapsed = time.perf_counter() - t_start

    print(f"CUFS student sketch → photo, HOG {s_tr.shape[1]}-d, fit on {len(s_tr)} train pairs, "
          f"identify {len(s_te)} test sketches among {len(p_te)} test photos (Euclidean 1-NN)")
    print(f"SMCAE hidden {hs}, γ={gamma}, L-BFGS {iterations} it/stage (memory {history}); "
          f"CV (2 folds on train pairs) picked: CORAL ε={best_eps}; "
          + "; ".join(f"{k}: {v[len(k) + 1:]}" for k, v in choice.items()))
    print(f"{'method':<36}{'rank-1':>8}{'rank-5':>8}{'rank-10':>9}   cv rank-1 (train)")
    for name, r in rows.items():
        key = name if name in mean_cv else None
        if name.startswith("CORAL ("):
            key = f"CORAL ε={best_eps}"
        cvs = f"{mean_cv[key][0]:.3f}" if key in mean_cv else ""
        print(f"{name:<36}{r['rank1']:>8.2f}{r['rank5']:>8.2f}{r['rank10']:>9.2f}   {cvs}")
    raw1 = rows["raw (no adaptation)"]["rank1"]
    coral1 = rows[f"CORAL (ε={best_eps})"]["rank1"]
    for name in cfgs:
        r1 = rows[f"{name} {choice[name][len(name) + 1:]}"]["rank1"]
        print(f"{name} (CV-chosen representation) rank-1 {r1:.2f}: "
              f"{'beats' if r1 > raw1 else 'does NOT beat'} raw ({raw1:.2f}), "
              f"{'beats' if r1 > coral1 else 'does NOT beat'} CORAL ({coral1:.2f})")
    print("fit log: " + "; ".join(f"{n}: {m.training_log}" for n, m in models.items()),
          file=sys.stderr)
    print(f"total {elapsed:.0f} s")
    if as_json:
        print(json.dumps({**rows, "cv_choice": choice, "coral_eps": best_eps,
                          "seconds": elapsed}))


def set_threads(n: int) -> None:
    """Limit torch and BLAS threads for this benchmark process (never done in the library)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(n)


if __name__ == "__main__":
    main()
