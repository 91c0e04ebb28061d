"""The book's model with ``--ordered``: the ordinal defaults on the 69-item survey, per seed.

Run from the repository root (one benchmark at a time on the shared machine)::

    nice -n 5 python bench/bench_book_ordered.py                   # seeds 1-5, ~2 min each
    nice -n 5 python bench/bench_book_ordered.py --compare --seeds 1 2
    nice -n 5 python bench/bench_book_ordered.py --draws 2500

The job is ``bayes-rent fit models/full_model.lav --data cluster_survey --survey
models/questionnaire.yaml --ordered --seed S``: 69 five-point items of 320 firms read through
the questionnaire map (reverse-keyed items recoded), ~3 % of answers missing, six second-order
constructs over 18 dimensions, fitted by the conditional backend with the package's ordinal
defaults (``Model.fit(data, ordered=True, seed=S)``, nothing else). Per seed it prints the
wall and CPU time of ``Model.fit`` (all threads of this process, the compile included), max
R-hat and min bulk ESS over the parameter-table rows, divergences, the package's verdict, the
load average before and after, and the three slowest parameters.

``--compare`` also runs each seed with three of the sampler's coordinate changes of
2026-12-07 switched off: the items' loadings sampled as they are (not per unit of their
factor's SD), the second-order loadings as they are (not as a Fisher z), and the scores of
the constructs without items sampled with the others (not integrated out of the latent
density). The posterior is the same (``tests/test_ordinal.py`` holds each identity); only the
sampler's geometry differs. (The fourth change of that day, the scores' mean sampled apart
from their zero-sum deviations, has no switch and stays on.)
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path
from unittest import mock

import numpy as np
from bench_ordinal_messy import slowest

import bayes_rent as br
from bayes_rent import sampling
from bayes_rent.backend import conditional

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def as_written():
    """The conditional backend with three reparameterizations switched off."""
    with mock.patch.object(conditional, "loading_factors", lambda layout: {}), \
            mock.patch.object(conditional, "second_order_loadings", lambda *args: {}), \
            mock.patch.object(conditional, "measured_latents",
                              lambda layout: np.ones(layout.n_latent, dtype=bool)):
        yield


def fit_once(model: br.Model, data, seed: int, written: bool, **options):
    """One fit with the defaults, compile included; returns the fit, wall and CPU seconds."""
    # both coordinates share one structure key: each fit compiles its own model, as the CLI
    sampling._COMPILED.clear()
    context = as_written() if written else nullcontext()
    with context, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start, cpu = time.perf_counter(), time.process_time()
        fit = model.fit(data, ordered=True, seed=seed, progressbar=False, **options)
        return fit, time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--compare", action="store_true",
                        help="also run each seed with the coordinates as written")
    parser.add_argument("--draws", type=int, help="default: the package's")
    args = parser.parse_args()
    options = {} if args.draws is None else {"draws": args.draws}
    survey = br.read_survey(br.datasets.cluster_survey(), br.book_schema(), reverse=True)
    model = br.Model((ROOT / "models" / "full_model.lav").read_text())
    print(f"book model, {survey.data.shape[0]} firms, {os.cpu_count()} cores; options: "
          f"{options or 'the ordinal defaults'}")
    print(f"{'seed':>4} {'coordinates':>12} {'total s':>8} {'CPU s':>6} {'max R-hat':>9} "
          f"{'min ESS':>8} {'diverg.':>7} {'pass':>5} {'load':>10}", flush=True)
    for seed in args.seeds:
        for written in ([False, True] if args.compare else [False]):
            load = os.getloadavg()[0]
            fit, total, cpu = fit_once(model, survey.data, seed, written, **options)
            c = fit.convergence
            label = "as written" if written else "default"
            print(f"{seed:4d} {label:>12} {total:8.0f} {cpu:6.0f} {c.max_r_hat:9.3f} "
                  f"{c.min_ess_bulk:8.0f} {c.divergences:7d} "
                  f"{'yes' if c.converged else 'no':>5} "
                  f"{load:4.1f}-{os.getloadavg()[0]:4.1f}", flush=True)
            print("     slowest: " + slowest(c), flush=True)


if __name__ == "__main__":
    main()
