"""Calibration of the ordinal PPP: 20 correct and 20 misspecified fits.

The models and data are those of ``tests/test_ordinal_ppp.py`` (two factors, ten 5-point
items, N = 300; the misspecified population adds a cross-loading of 0.8 of y5 on the second
factor, which the analysis model leaves out), with a new data seed per replicate. For both
discrepancies (the correlation component, the default, and the Pearson χ² over all cells) it
counts how often the correct model's PPP is above 0.05 and the misspecified model's below.

Usage: ``nice -n 10 python bench/bench_ordinal_ppp.py [--replicates 20] [--draws 300]``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import FIVE_POINT  # noqa: E402
from test_ordinal_ppp import ANALYSIS, CROSS_LOADING, POPULATION  # noqa: E402

import bayes_rent as br  # noqa: E402
from bayes_rent.data.population import simulate_ordinal_data  # noqa: E402
from bayes_rent.results.ordinal_ppp import ordinal_ppp_draws  # noqa: E402


def run(population: str, seed: int, draws: int, tune: int, chains: int) -> dict:
    data = simulate_ordinal_data(population, 300, FIVE_POINT, seed=seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", br.ConvergenceWarning)
        fit = br.cfa(ANALYSIS, data, ordered=True, seed=seed, draws=draws, tune=tune,
                     chains=chains, progressbar=False)
    t1 = time.perf_counter()
    out = ordinal_ppp_draws(fit, seed=seed)
    t2 = time.perf_counter()
    return {"ppp": out.attrs["ppp"], "ppp_pearson": out.attrs["ppp_pearson"],
            "fit_s": t1 - t0, "ppp_s": t2 - t1, "r_hat": fit.convergence.max_r_hat}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--tune", type=int, default=300)
    parser.add_argument("--chains", type=int, default=2)
    args = parser.parse_args()
    start = time.perf_counter()
    results = {}
    for name, population, base in (("correct", POPULATION, 100), ("cross-loading",
                                                                   CROSS_LOADING, 200)):
        rows = []
        for r in range(args.replicates):
            row = run(population, base + r, args.draws, args.tune, args.chains)
            rows.append(row)
            print(f"{name:14s} replicate {r + 1:2d}: PPP {row['ppp']:.3f}, Pearson PPP "
                  f"{row['ppp_pearson']:.3f}, max R-hat {row['r_hat']:.3f}, fit "
                  f"{row['fit_s']:.1f} s, PPP {row['ppp_s']:.2f} s", flush=True)
        results[name] = rows
    n = args.replicates
    print(f"\n{args.chains} chains x {args.draws} draws (tune {args.tune}), N = 300, "
          f"10 five-point items, {n} + {n} replicates")
    for key, label in (("ppp", "correlation (default)"), ("ppp_pearson", "Pearson, all cells")):
        good = np.array([r[key] for r in results["correct"]])
        bad = np.array([r[key] for r in results["cross-loading"]])
        print(f"{label:22s}: correct model PPP > 0.05 in {(good > 0.05).sum()}/{n} "
              f"(median {np.median(good):.2f}, min {good.min():.3f}); omitted cross-loading "
              f"PPP < 0.05 in {(bad < 0.05).sum()}/{n} (median {np.median(bad):.3f}, "
              f"max {bad.max():.3f})")
    ppp_s = [r["ppp_s"] for rows in results.values() for r in rows]
    print(f"PPP computation: median {np.median(ppp_s):.2f} s per fit "
          f"({args.chains * args.draws} draws, 45 pairs); wall {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
