"""Ordinal fit of a large Likert survey: 25 five-point items, 5 factors, N = 2 800.

Wall time (compile included, and sampling alone), max R-hat, min bulk ESS and min bulk ESS per
second of sampling for each sampler, side by side in one run, with BLAS limited to one thread as
in every fit. The data are simulated from a known model (theta parameterization).

Usage::

    python bench/bench_ordinal.py                       # nutpie, numpyro, pymc
    python bench/bench_ordinal.py --samplers nutpie --n 2800 --draws 1000 --tune 1000
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import bayes_rent as br
from bayes_rent.population import simulate_ordinal_data

FACTORS = 5
ITEMS = 5
THRESHOLDS = [-1.8, -0.7, 0.5, 1.6]


def population() -> str:
    """Five correlated factors, five items each, one structural path f5 ~ f1."""
    loadings = [1.0, 0.8, 1.2, 0.9, 1.1]
    lines = []
    for f in range(1, FACTORS + 1):
        terms = [f"{lam}*y{(f - 1) * ITEMS + k + 1}" for k, lam in enumerate(loadings)]
        lines.append(f"f{f} =~ " + " + ".join(terms))
    lines.append("f5 ~ 0.5*f1")
    for f in range(1, FACTORS):
        lines.append(f"f{f} ~~ 1*f{f}")
        lines += [f"f{f} ~~ 0.3*f{g}" for g in range(f + 1, FACTORS)]
    lines.append("f5 ~~ 0.75*f5")
    return "\n".join(lines)


def analysis() -> str:
    lines = [
        f"f{f} =~ " + " + ".join(f"y{(f - 1) * ITEMS + k + 1}" for k in range(ITEMS))
        for f in range(1, FACTORS + 1)
    ]
    return "\n".join(lines + ["f5 ~ f1"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samplers", nargs="+", default=["nutpie", "numpyro", "pymc"])
    parser.add_argument("--n", type=int, default=2800)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--std-lv", action="store_true")
    args = parser.parse_args()

    data = simulate_ordinal_data(population(), args.n, THRESHOLDS, seed=2800)
    print(f"N = {args.n}, {FACTORS * ITEMS} items, {FACTORS} factors, std_lv={args.std_lv}, "
          f"{args.chains} chains x ({args.tune} tune + {args.draws} draws)")
    print(f"{'sampler':>8} {'total s':>8} {'sample s':>9} {'max R-hat':>9} {'min ESS':>8} "
          f"{'ESS/s':>7} {'diverg.':>7}")
    for sampler in args.samplers:
        model = br.Model(analysis(), std_lv=args.std_lv)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = model.fit(data, ordered=True, sampler=sampler, seed=1, draws=args.draws,
                            tune=args.tune, chains=args.chains, progressbar=False)
        total = time.perf_counter() - start
        post = fit.idata.posterior
        sampling = float(post.attrs.get("sampling_time", np.nan))
        if not np.isfinite(sampling):
            sampling = total
        c = fit.convergence
        print(f"{sampler:>8} {total:8.0f} {sampling:9.0f} {c.max_r_hat:9.3f} "
              f"{c.min_ess_bulk:8.0f} {c.min_ess_bulk / sampling:7.2f} {c.divergences:7d}",
              flush=True)


if __name__ == "__main__":
    main()
