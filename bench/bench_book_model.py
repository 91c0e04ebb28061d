"""The book's main job on both routes: the six-construct model with scattered missing answers.

Run from the repository root (one benchmark at a time on the shared machine)::

    nice -n 10 python bench/bench_book_model.py              # both routes, ~16 min (loaded)
    nice -n 10 python bench/bench_book_model.py --routes generic

The job is ``bayes-rent fit models/full_model.lav --data cluster_survey --survey
models/questionnaire.yaml --seed 1``: 69 items of 320 firms read through the questionnaire
map (reverse-keyed items recoded), 658 answers (~3 %) missing in a scattered way, so the
marginal backend samples them (data augmentation, ``missing_answers``). Each route runs in its
own fresh process, which fits the model twice with the defaults (4 chains x (1 000 warm-up +
1 000 draws), seed 1):

* ``cold``: the first fit, end to end (imports + reading the survey + the fit);
  ``warm``: the second fit of the same process;
* ``sampling``: the wall and CPU time (all threads) inside ``nutpie.sample``; min bulk ESS
  (of the model's free parameters, as ``fit.convergence`` reports it) per second of each. On
  the shared machine the CPU figure is the steadier one: a niced process waits for a core;
* ``µs per log density + gradient``: the C callback nutpie calls, at the start point, through
  ctypes (~1 µs of it is ctypes), best of 5 x 2 000 calls, CPU time, BLAS at one thread.

Routes: ``pymc`` is ``Model.fit`` with the generic density switched off (the PyMC model
compiled by nutpie, the route of augmented fits before the generic kernel served them);
``generic`` is ``Model.fit`` as it is. The generic kernel is compiled once per machine: run
any generic fit (or ``tests/test_generic_density.py``) once before, so the cold figure is that
of a machine whose numba cache is filled.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import time
T0 = time.perf_counter()
import ctypes, json, os, sys, warnings
warnings.simplefilter("ignore")
import numpy as np
import nutpie
import bayes_rent as br
from bayes_rent.backend import generic
IMPORT_S = time.perf_counter() - T0
route = sys.argv[1]
timing = {}
_sample = nutpie.sample

def timed_sample(*args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    out = _sample(*args, **kwargs)
    timing.update(wall=time.perf_counter() - wall, cpu=time.process_time() - cpu)
    return out

nutpie.sample = timed_sample
if route == "pymc":
    # Model.fit with the generic density switched off: the PyMC model compiled by nutpie
    generic.sample_prepared = lambda *args, **kwargs: (None, "PyMC route")

from bayes_rent.data.survey import models_dir
SYNTAX = (models_dir() / "full_model.lav").read_text()

def one_fit():
    start = time.perf_counter()
    # what `bayes-rent fit ... --survey models/questionnaire.yaml` reads
    data = br.read_survey(br.datasets.cluster_survey(), br.book_schema(), reverse=True).data
    fit = br.Model(SYNTAX).fit(data, seed=1, progressbar=False)
    c = fit.convergence
    post = fit.idata.posterior
    return dict(total=time.perf_counter() - start, sampling=timing["wall"],
                sampling_cpu=timing["cpu"], min_ess=float(c.min_ess_bulk),
                max_rhat=float(c.max_r_hat), divergences=int(c.divergences),
                density=fit.settings["density"], load=os.getloadavg()[0],
                n_missing=int(post.sizes.get("missing_answer", 0)))

sys.path.insert(0, "bench")
from timing import best_cpu_us, ctypes_call

cold = one_fit()
cold["end_to_end"] = IMPORT_S + cold["total"]
warm = one_fit()
from threadpoolctl import threadpool_limits
with threadpool_limits(limits=1, user_api="blas"):  # as while sampling
    if route == "pymc":
        from bayes_rent.sampling import _COMPILED
        compiled = next(iter(_COMPILED.values()))
        x = np.ascontiguousarray(compiled.initial_point_func(1), dtype=float)
    else:
        from bayes_rent.backend.base import FitRequest
        from bayes_rent.backend.registry import choose_backend
        data = br.read_survey(br.datasets.cluster_survey(), br.book_schema(), reverse=True).data
        model = br.Model(SYNTAX)
        request = FitRequest(draws=1, tune=1, chains=1, seed=1, sampler="nutpie",
                             progressbar=False, target_accept=None)
        backend = choose_backend(model, data, request)
        prepared = backend.prepare(model, data, request)
        structure, _ = generic.structure_for(backend.name, prepared)
        x = generic.flat_point(structure, prepared.initvals[0])
        compiled = generic.native_model(structure, prepared.data)
    call = ctypes_call(compiled.compiled_logp_func, x, compiled.user_data.ctypes.data)[0]
    assert call() == 0
    grad_us = best_cpu_us(call, n=2000)
print("RESULT " + json.dumps(dict(import_s=IMPORT_S, cold=cold, warm=warm, grad_us=grad_us,
                                  ndim=int(x.size))))
"""


def run_worker(route: str) -> dict:
    """One route in a fresh process; its RESULT line."""
    proc = subprocess.run([sys.executable, "-c", WORKER, route], capture_output=True,
                          text=True, cwd=ROOT, env=dict(os.environ))
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"{route} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def report(results: dict) -> None:
    """One line per route and fit."""
    print(f"  {'route':>8} {'fit':>4} {'density':>8} {'time':>7} {'sampling':>8} {'cpu':>6} "
          f"{'min ESS':>7} {'ESS/s':>6} {'ESS/cpu s':>9} {'R-hat':>6} {'div':>3} {'load':>5}")
    for route, r in results.items():
        for kind in ("cold", "warm"):
            f = r[kind]
            total = f["end_to_end"] if kind == "cold" else f["total"]
            density = "generic" if f["density"] == "generic" else "pymc"
            print(f"  {route:>8} {kind:>4} {density:>8} {total:7.1f} {f['sampling']:8.1f} "
                  f"{f['sampling_cpu']:6.1f} {f['min_ess']:7.0f} "
                  f"{f['min_ess'] / f['sampling']:6.1f} "
                  f"{f['min_ess'] / f['sampling_cpu']:9.1f} "
                  f"{f['max_rhat']:6.3f} {f['divergences']:3d} {f['load']:5.1f}")
        print(f"  {'':>8} {r['ndim']} coordinates ({r['cold']['n_missing']} missing answers), "
              f"imports {r['import_s']:.1f} s, {r['grad_us']:.0f} µs per log density + "
              "gradient")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", nargs="*", default=["pymc", "generic"],
                        choices=["pymc", "generic"])
    args = parser.parse_args()
    results = {}
    for route in args.routes:
        results[route] = run_worker(route)
        print(f"RESULT {route} " + json.dumps(results[route]), flush=True)
    report(results)


if __name__ == "__main__":
    main()
