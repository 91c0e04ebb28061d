"""Simulation-based calibration of a small CFA, and of a deliberately wrong one.

Run: ``nice -n 10 .venv/bin/python bench/bench_sbc.py [n_sims]`` (default 100).

The right model: the fits' priors are the priors the true values were drawn from; no
parameter's rank uniformity should be rejected at the 1 % level. The wrong model: the
true loadings come from normal(1.6, 0.3) while the fits assume normal(1, 0.3); the
loadings' ranks pile up at the top and are rejected.
"""

from __future__ import annotations

import sys
import time
import warnings

import bayes_rent as br

SYNTAX = "f =~ x1 + x2 + x3 + x4"
PRIORS = {"loadings": "normal(1,0.3)", "intercepts": "normal(0,1)",
          "variances": "gamma(10,10)[sd]"}
WRONG = {**PRIORS, "loadings": "normal(1.6,0.3)"}
OPTIONS = dict(n_respondents=200, draws=200, tune=200, chains=2, thin=2, executor="inline",
               progress=False)


def run(n_sims: int, generator_priors: dict | None, label: str) -> None:
    """Run one calibration and print its uniformity tests."""
    started = time.perf_counter()
    cal = br.sensitivity.calibrate(SYNTAX, n_sims, seed=20261207, priors=PRIORS,
                                   generator_priors=generator_priors, **OPTIONS)
    elapsed = time.perf_counter() - started
    tests = cal.test()
    print(f"\n{label}: {n_sims} simulations, L = {cal.n_draws} draws, "
          f"{cal.compiles} compile(s), {elapsed:.0f} s")
    print(tests.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    print(f"min p = {tests['p_value'].min():.4f}; rejected at 1 %: "
          f"{int((tests['p_value'] < 0.01).sum())} of {len(tests)}")


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    run(n, None, "right model")
    run(n, WRONG, "wrong model (generator loadings normal(1.6,0.3))")
