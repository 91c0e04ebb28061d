"""Benchmark: the posterior grey-coupling analysis, vectorised vs a per-draw Python loop.

Workload: 4 chains × 1 000 draws (4 000 draws) × 300 firms, 4 NC × 4 AC dimensions (16 pairs),
5 clusters, plus KR and IG scores — the shape of ``fit.scores()`` for the book's sub-model 5.

Three timings, side by side in one process:

1. ``core, vectorised``: the per-draw quantities both sides compute — grey relational coupling
   (ξ, γ, C(t), cluster and overall means) and the capacity model (U1, U2, C, T, D per firm and
   cluster) — with one call of :func:`bayes_rent.grey.coupling_from_scores`;
2. ``core, per-draw loop``: the same quantities with the public table functions called once per
   draw on 300 × 4 tables (the obvious alternative), and a hand-written NumPy loop (the fastest
   loop one would write without bayes-rent); results are checked against (1);
3. ``full analysis``: (1) plus Bayesian bootstrap over firms, Dirichlet-perturbed entropy weights,
   grey relational grades against KR and IG, and the level probabilities of every firm and
   cluster (P(D is "good coordination" or better), modal levels with HDIs).

Run: ``/work/venv/bin/python bench/bench_grey.py`` (``--loop-draws N`` times the API loop on the
first N draws only and scales up; the NumPy loop always runs on all draws).
"""

from __future__ import annotations

import argparse
import gc
import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

from bayes_rent import grey

CHAINS, DRAWS, FIRMS, CLUSTERS = 4, 1000, 300, 5
NC, AC = list(grey.NC_DIMENSIONS), list(grey.AC_DIMENSIONS)


def make_scores(seed: int = 0) -> tuple[xr.DataArray, np.ndarray]:
    """Posterior-like scores (chain, draw, respondent, construct) and cluster labels."""
    rng = np.random.default_rng(seed)
    f = rng.normal(size=FIRMS)
    nc = 0.8 * f[:, None] + 0.6 * rng.normal(size=(FIRMS, 4))
    ac = 0.5 * f[:, None] + 0.8 * rng.normal(size=(FIRMS, 4))
    kr = 0.5 * nc.mean(1) + 0.5 * ac.mean(1) + 0.5 * rng.normal(size=FIRMS)
    ig = 0.6 * kr + 0.8 * rng.normal(size=FIRMS)
    true = np.column_stack([nc, ac, kr, ig])
    draws = true + 0.3 * rng.normal(size=(CHAINS, DRAWS, *true.shape))
    scores = xr.DataArray(draws, dims=("chain", "draw", "respondent", "construct"),
                          coords={"construct": [*NC, *AC, "KR", "IG"],
                                  "respondent": [f"firm{i:03d}" for i in range(FIRMS)]})
    clusters = np.repeat([f"cluster{k}" for k in range(CLUSTERS)], FIRMS // CLUSTERS)
    return scores, clusters


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Best wall time of ``repeat`` runs and the last result."""
    best, out = np.inf, None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def core_vectorised(scores: xr.DataArray, clusters: np.ndarray) -> grey.PosteriorCoupling:
    return grey.coupling_from_scores(scores, NC, AC, cluster=clusters)


def core_api_loop(scores: xr.DataArray, clusters: np.ndarray, n_draws: int) -> dict[str, Any]:
    """The same quantities, calling the public table functions once per draw."""
    stacked = scores.stack(sample=("chain", "draw")).transpose("sample", "respondent",
                                                               "construct")
    xv, yv = stacked.sel(construct=NC).values, stacked.sel(construct=AC).values
    codes = np.unique(clusters, return_inverse=True)[1]
    out = {"grey_C": [], "gamma": [], "D": [], "D_cluster": []}
    for s in range(n_draws):
        g = grey.grey_coupling(xv[s], yv[s])
        u1 = grey.subsystem_index(grey.normalize(xv[s], feature_range=(0.01, 0.99)))
        u2 = grey.subsystem_index(grey.normalize(yv[s], feature_range=(0.01, 0.99)))
        cc = grey.coupling_coordination(np.column_stack([u1, u2]))
        d = cc["D"].to_numpy()
        out["grey_C"].append(g.coupling.values)
        out["gamma"].append(g.degree_matrix.values)
        out["D"].append(d)
        out["D_cluster"].append([d[codes == k].mean() for k in range(CLUSTERS)])
    return {k: np.asarray(v) for k, v in out.items()}


def core_numpy_loop(scores: xr.DataArray, clusters: np.ndarray) -> dict[str, Any]:
    """A hand-written NumPy loop over draws (no bayes-rent), the fastest obvious alternative."""
    stacked = scores.stack(sample=("chain", "draw")).transpose("sample", "respondent",
                                                               "construct")
    xv, yv = stacked.sel(construct=NC).values, stacked.sel(construct=AC).values
    codes = np.unique(clusters, return_inverse=True)[1]
    n = xv.shape[0]
    grey_c, gamma, d_all, d_cl = (np.empty((n, FIRMS)), np.empty((n, 4, 4)),
                                  np.empty((n, FIRMS)), np.empty((n, CLUSTERS)))
    for s in range(n):
        zx = (xv[s] - xv[s].mean(0)) / xv[s].std(0, ddof=1)
        zy = (yv[s] - yv[s].mean(0)) / yv[s].std(0, ddof=1)
        delta = np.abs(zx[:, :, None] - zy[:, None, :])
        dmin, dmax = delta.min(), delta.max()
        xi = (dmin + 0.5 * dmax) / (delta + 0.5 * dmax)
        grey_c[s] = xi.mean(axis=(1, 2))
        gamma[s] = xi.mean(axis=0)
        mx = 0.01 + 0.98 * (xv[s] - xv[s].min(0)) / (xv[s].max(0) - xv[s].min(0))
        my = 0.01 + 0.98 * (yv[s] - yv[s].min(0)) / (yv[s].max(0) - yv[s].min(0))
        u1, u2 = mx.mean(1), my.mean(1)
        c = 2 * np.sqrt(u1 * u2) / (u1 + u2)
        d = np.sqrt(c * (u1 + u2) / 2)
        d_all[s] = d
        d_cl[s] = np.bincount(codes, weights=d) / np.bincount(codes)
    return {"grey_C": grey_c, "gamma": gamma, "D": d_all, "D_cluster": d_cl}


def full_analysis(scores: xr.DataArray, clusters: np.ndarray) -> dict[str, Any]:
    res = grey.coupling_from_scores(scores, NC, AC, cluster=clusters, outcomes=["KR", "IG"],
                                    x_weights="entropy", y_weights="entropy", dirichlet=100.0,
                                    bootstrap=True, seed=1)
    return {
        "result": res,
        "firm_levels": res.level_probabilities("D"),
        "p_good": res.prob_at_least("good coordination"),
        "cluster_levels": res.levels("D_cluster"),
        "coupling_levels": res.levels("C_cluster"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loop-draws", type=int, default=CHAINS * DRAWS,
                        help="draws for the public-API loop (scaled to all draws)")
    args = parser.parse_args()
    n_total = CHAINS * DRAWS
    scores, clusters = make_scores()
    print(f"workload: {CHAINS}×{DRAWS} draws × {FIRMS} firms × (4 × 4) pairs, "
          f"{CLUSTERS} clusters; ξ array {n_total * FIRMS * 16 * 8 / 2**20:.0f} MiB")

    t_vec, vec = timed(lambda: core_vectorised(scores, clusters))
    t_np, loop_np = timed(lambda: core_numpy_loop(scores, clusters), repeat=1)
    n_api = min(args.loop_draws, n_total)
    t_api_part, loop_api = timed(lambda: core_api_loop(scores, clusters, n_api), repeat=1)
    t_api = t_api_part * n_total / n_api

    post = vec.posterior.stack(sample=("chain", "draw")).transpose("sample", ...)
    for key in ("grey_C", "gamma", "D", "D_cluster"):
        v = post[key].values
        np.testing.assert_allclose(v, loop_np[key], rtol=1e-10, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(v[:n_api], loop_api[key], rtol=1e-10, atol=1e-12,
                                   err_msg=key)
    print("results: vectorised = per-draw loops (grey C(t), γ, D, cluster D) ✓")

    t_full, full = timed(lambda: full_analysis(scores, clusters))
    del full
    gc.collect()
    tracemalloc.start()
    full_analysis(scores, clusters)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    scaled = "" if n_api == n_total else f" (timed on {n_api} draws, scaled)"
    print(f"core, vectorised (coupling_from_scores):  {t_vec:7.2f} s")
    print(f"core, per-draw loop, bayes-rent API:      {t_api:7.2f} s{scaled}"
          f"   ratio {t_api / t_vec:6.1f}×")
    print(f"core, per-draw loop, hand-written NumPy:  {t_np:7.2f} s"
          f"   ratio {t_np / t_vec:6.1f}×")
    print(f"full analysis, vectorised:                {t_full:7.2f} s   (target < 5 s: "
          f"{'met' if t_full < 5 else 'NOT met'})")
    print(f"  (bootstrap + Dirichlet entropy weights + KR/IG grades + level probabilities of "
          f"{FIRMS} firms and {CLUSTERS} clusters)")
    print(f"peak traced memory of the full analysis:  {peak / 2**20:7.0f} MiB "
          f"(process max RSS {rss:.0f} MiB)")


if __name__ == "__main__":
    main()
