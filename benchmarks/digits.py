"""Benchmark 2 of the SMCAE paper: do adapted synthetic digits help a few-shot digit classifier?

Real digits: scikit-learn's `load_digits()` (UCI optdigits test part, 1,797 8×8 images, 0–16).
Synthetic digits: glyphs of matplotlib's bundled TrueType fonts, rendered into 32×32 bitmaps
with random size, rotation, stroke width and shift, block-counted to 8×8 like UCI
(`benchmarks/_font_digits.py`).

For each K (real training digits per class) and seed: K real digits per class are the training
set, all other real digits the test set. Four training sets are compared, each with logistic
regression and 1-nearest-neighbour:
  real only | real + raw synthetic | real + CORAL synthetic | real + SMCAE synthetic
CORAL and SMCAE are fitted on the synthetic digits and the K real training digits only; SMCAE
pairs each synthetic digit with a random real training digit of the same class. How much
synthetic data to mix in (synthetic digits per class, 0 = none) is chosen by cross-validation
on the K real training digits only (min(K, 3) folds, each holding out real digits of
every class; with K = 1 the
real-only candidate has no training data and scores chance). The CV is nested: CORAL and SMCAE
are refitted for each fold without that fold's real digits (except K = 1, where a fold would
leave classes without real digits: there the adapters fitted on the one real digit per class
are used, which makes the selection optimistic for the adapted rows). Also printed:
classifiers trained on synthetic digits alone, scored on the real test digits.

Usage:
    python benchmarks/digits.py            # default: K in 1 3 5 10, 10 seeds (< 10 min, 2 cores)
    python benchmarks/digits.py --json     # ... and a JSON object as the last line
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _font_digits import render_digits

from synthgap.adapt.pairing import class_pairs, take_pairs
from synthgap.adapt.smcae import Smcae, SmcaeConfig
from synthgap.adapt.vector_baselines import Coral, CoralConfig
from synthgap.evaluate.stats import SeedSummary, seed_summary

METHODS = ("real only", "+ raw synth", "+ CORAL synth", "+ SMCAE synth")
CLASSIFIERS = ("logreg", "1-NN")


def make_classifier(name: str):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    if name == "logreg":
        return LogisticRegression(max_iter=300, C=1.0, tol=1e-3)
    return KNeighborsClassifier(n_neighbors=1)


def fit_predict(name: str, x: np.ndarray, y: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Train a classifier on (x, y) (inputs scaled 0–16 -> 0–1) and predict x_test."""
    if len(np.unique(y)) < 2:  # nothing to learn from: predict the only class (or chance)
        return np.full(len(x_test), y[0] if len(y) else -1)
    clf = make_classifier(name)
    clf.fit(x / 16.0, y)
    return clf.predict(x_test / 16.0)


def mix(x_real, y_real, x_syn, y_syn, per_class: int):
    """Real training digits plus the first `per_class` synthetic digits of each class."""
    if per_class == 0:
        return x_real, y_real
    keep = np.concatenate([np.flatnonzero(y_syn == c)[:per_class] for c in range(10)])
    return np.vstack([x_real, x_syn[keep]]), np.concatenate([y_real, y_syn[keep]])


def fold_of(y_real: np.ndarray, folds: int) -> np.ndarray:
    """CV fold of each real training digit: its rank within its class, modulo `folds`."""
    order = np.zeros(len(y_real), int)
    for c in range(10):
        idx = np.flatnonzero(y_real == c)
        order[idx] = np.arange(len(idx)) % folds
    return order


def choose_count(name, x_real, y_real, syn_per_fold, y_syn, grid, folds: int
                 ) -> tuple[int, float]:
    """Synthetic digits per class by CV on the K real training digits.

    `syn_per_fold[f]` is the synthetic set as adapted *without* fold f's real digits (so the
    held-out digits never shaped the synthetic data they are scored against).
    """
    order = fold_of(y_real, folds)
    scores = []
    for count in grid:
        correct = 0.0
        for f in range(folds):
            tr, te = order != f, order == f
            xt, yt = mix(x_real[tr], y_real[tr], syn_per_fold[f], y_syn, count)
            if len(yt) == 0:
                correct += 0.1 * te.sum()  # no training data at all: chance
                continue
            correct += (fit_predict(name, xt, yt, x_real[te]) == y_real[te]).sum()
        scores.append(correct / len(y_real))
    best = int(np.argmax(scores))  # first best: ties go to less synthetic data
    return grid[best], float(scores[best])


def adapters_for(xs, ys, xr, yr, smcae_cfg: SmcaeConfig, coral_eps: float, fit_per_class: int,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Raw, CORAL- and SMCAE-adapted synthetic digits, adapters fitted on (xs, xr) only.

    SMCAE is fitted on the first `fit_per_class` synthetic digits of each class (compute
    budget), each paired with a random real digit of its class (class pairing); it then
    adapts all synthetic digits.
    """
    coral = Coral(CoralConfig(eps=coral_eps)).fit(xs, xr, rng=rng)
    sub = np.concatenate([np.flatnonzero(ys == c)[:fit_per_class] for c in range(10)])
    ps, pr = take_pairs(class_pairs(ys[sub], yr, rng=rng), xs[sub], xr)
    smcae = Smcae(smcae_cfg).fit(ps, pr, rng=rng)
    return {"+ raw synth": xs, "+ CORAL synth": np.clip(coral.transform(xs), 0, 16),
            "+ SMCAE synth": smcae.transform(xs)}


def run_seed(k: int, seed: int, real_x, real_y, n_syn: int, grid, smcae_cfg: SmcaeConfig,
             coral_eps: float, fit_per_class: int) -> dict:
    rng = np.random.default_rng([seed, k])
    train = np.concatenate([rng.choice(np.flatnonzero(real_y == c), k, replace=False)
                            for c in range(10)])
    test = np.setdiff1d(np.arange(len(real_y)), train)
    xr, yr, xte, yte = real_x[train], real_y[train], real_x[test], real_y[test]
    xs, ys = render_digits(n_syn, rng=np.random.default_rng([seed, 1000]))
    t0 = time.perf_counter()
    synth = adapters_for(xs, ys, xr, yr, smcae_cfg, coral_eps, fit_per_class, rng)
    t_fit = time.perf_counter() - t0
    # Nested CV: adapters refitted without each fold's real digits. With K = 1 a fold would
    # leave a class without real digits, so the adapters fitted on all K are used (optimistic
    # for the adapted rows; the test digits are still never seen).
    folds = min(k, 3)
    order = fold_of(yr, folds)
    per_fold = [adapters_for(xs, ys, xr[order != f], yr[order != f], smcae_cfg, coral_eps,
                             fit_per_class, rng) if k > 1 else synth for f in range(folds)]
    out: dict = {"smcae_fit_s": t_fit, "n_test": len(yte)}
    for name in CLASSIFIERS:
        out[(name, "real only")] = (_correct(fit_predict(name, xr, yr, xte), yte), 0)
        for method, x_syn in synth.items():
            count, _ = choose_count(name, xr, yr, [pf[method] for pf in per_fold], ys, grid,
                                    folds)
            xt, yt = mix(xr, yr, x_syn, ys, count)
            out[(name, method)] = (_correct(fit_predict(name, xt, yt, xte), yte), count)
            out[(name, "synth only " + method[2:])] = (
                _correct(fit_predict(name, x_syn, ys, xte), yte), -1)
    return out


def _correct(predicted: np.ndarray, truth: np.ndarray) -> int:
    """How many test digits are classified right."""
    return int((predicted == truth).sum())


def row_summary(runs: list[dict], classifier: str, method: str) -> SeedSummary:
    """Accuracy of one (classifier, training set) over the seeds' runs: mean and sample std
    (ddof 1; NaN with one seed) by `synthgap.evaluate.stats.seed_summary` (every seed of one K
    has the same number of test digits)."""
    correct = np.array([[r[(classifier, method)][0]] for r in runs])
    return seed_summary(correct, np.array([runs[0]["n_test"]]))


@click.command()
@click.option("--shots", default="1,3,5,10", show_default=True,
              help="K values: real training digits per class.")
@click.option("--seeds", default=10, show_default=True, help="Random splits per K.")
@click.option("--n-syn", default=100, show_default=True, help="Synthetic digits per class.")
@click.option("--fit-per-class", default=30, show_default=True,
              help="Synthetic digits per class (paired) that SMCAE is fitted on.")
@click.option("--iterations", default=100, show_default=True,
              help="SMCAE L-BFGS iterations per layer and for fine-tuning.")
@click.option("--hidden", default="256,128,256", show_default=True,
              help="SMCAE hidden sizes (the reference 1000,500,1000 does not fit 40 trainings "
                   "into the 10-minute budget on 2 cores).")
@click.option("--lam", default=3e-4, show_default=True,
              help="SMCAE weight decay λ (reference 3e-3).")
@click.option("--gamma", default=10.0, show_default=True, help="SMCAE balance weight γ.")
@click.option("--threads", default=1, show_default=True,
              help="Torch/BLAS threads. One is fastest on a busy 2-core machine: with two, "
                   "threads of small operations wait on each other.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object as the last line.")
def main(shots: str, seeds: int, n_syn: int, fit_per_class: int, iterations: int, hidden: str,
         lam: float, gamma: float, threads: int, as_json: bool) -> None:
    from sklearn.datasets import load_digits

    set_threads(threads)
    d = load_digits()
    real_x, real_y = d.data.astype(np.float64), d.target.astype(np.int64)
    ks = [int(s) for s in shots.split(",")]
    grid = [0, 10, 30, n_syn] if n_syn > 30 else [0, n_syn]
    cfg = SmcaeConfig(hidden_sizes=tuple(int(h) for h in hidden.split(",")),
                      pretrain_iterations=iterations, finetune_iterations=iterations,
                      gamma=gamma, lam=lam)
    print(f"digits: real = sklearn load_digits ({len(real_y)}), synthetic = {n_syn}/class "
          f"font digits; SMCAE {cfg.hidden_sizes} λ={lam} γ={gamma} L-BFGS {iterations} "
          f"it/stage, fitted on {fit_per_class}/class class-paired digits; "
          f"mixing grid (synthetic per class) {grid} chosen by CV on the K real digits")
    t_start = time.perf_counter()
    results: dict = {}
    for k in ks:
        runs = [run_seed(k, s, real_x, real_y, n_syn, grid, cfg, coral_eps=1.0,
                         fit_per_class=fit_per_class) for s in range(seeds)]
        results[k] = runs
        print(f"\nK = {k} real digits per class, {seeds} seeds "
              f"(CORAL + SMCAE fit {np.mean([r['smcae_fit_s'] for r in runs]):.1f} s per seed)")
        print(f"{'training set':<22}" + "".join(f"{c:>28}" for c in CLASSIFIERS))
        rows = [*METHODS, "synth only raw synth", "synth only CORAL synth",
                "synth only SMCAE synth"]
        for m in rows:
            cells = []
            for c in CLASSIFIERS:
                acc = row_summary(runs, c, m)
                counts = [r[(c, m)][1] for r in runs]
                chosen = "" if m == "real only" or m.startswith("synth only") else \
                    f" n/cls {int(np.median(counts))}"
                cells.append(f"{acc.mean:.3f} ± {acc.std:.3f}{chosen}")
            print(f"{m:<22}" + "".join(f"{x:>28}" for x in cells))
        for c in CLASSIFIERS:
            base, best, raw = (row_summary(runs, c, m).mean
                               for m in ("real only", "+ SMCAE synth", "+ raw synth"))
            verdict = ["beats" if best > x else "does NOT beat" for x in (base, raw)]
            print(f"  {c}: real + SMCAE synth {verdict[0]} real only ({best:.3f} vs {base:.3f}) "
                  f"and {verdict[1]} real + raw synth ({raw:.3f})")
    elapsed = time.perf_counter() - t_start
    print(f"\n(n/cls: median over seeds of the synthetic digits per class chosen by CV; "
          f"total {elapsed:.0f} s)")
    if as_json:
        summary = {
            f"K={k}": {
                c: {m: _json_row(row_summary(runs, c, m), [int(r[(c, m)][1]) for r in runs])
                    for m in (*METHODS, "synth only raw synth", "synth only CORAL synth",
                              "synth only SMCAE synth")}
                for c in CLASSIFIERS}
            for k, runs in results.items()}
        summary["seconds"] = elapsed
        print(json.dumps(summary))


def _json_row(acc: SeedSummary, chosen: list[int]) -> dict:
    """One row of the JSON line (std null with one seed)."""
    return {"mean": acc.mean, "std": None if np.isnan(acc.std) else acc.std,
            "seeds": list(acc.seeds), "chosen_per_class": chosen}


def set_threads(n: int) -> None:
    """Limit torch and BLAS threads for this benchmark process (never done in the library)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(n)


if __name__ == "__main__":
    main()
