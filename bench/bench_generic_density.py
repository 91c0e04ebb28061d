"""The generic density against the PyMC/nutpie route: gradient cost, cold and warm fits, ESS/s.

Run from the repository root (one benchmark at a time on the shared machine)::

    nice -n 10 python bench/bench_generic_density.py                 # ~5-8 min
    nice -n 10 python bench/bench_generic_density.py --new-machine   # + empty caches, ~+4 min

For each model (PoliticalDemocracy's SEM, Holzinger–Swineford's CFA) the script draws one
residual covariance at random and adds it, so the structure is one this machine has never
compiled. Each route then runs in its own fresh process, which fits that structure twice with
the defaults (4 chains x (1 000 warm-up + 1 000 draws), seed 1):

* ``cold``: the first fit, end to end (imports + the fit); ``warm``: the second fit;
* ``sampling``: the time inside ``nutpie.sample`` of the warm fit, wall and CPU (all
  threads); min bulk ESS of the free parameters per second of that wall time;
* ``µs per log density + gradient`` at the start point, best of 5 x 20 000 calls, CPU time,
  BLAS at one thread as while sampling: the C callback nutpie calls (PyMC route: the one
  nutpie compiled for the model; ``native``: the generic one), called through ctypes (~1 µs
  of it is ctypes); the numba kernel called from Python; the Python callback of
  ``from_pyfunc``.

Routes: ``pymc`` (``Model.fit`` with the generic density switched off: the PyMC model
compiled by nutpie), ``pyfunc`` (``fit_generic(native=False)`` of
``tests/test_generic_density.py``, Model.fit with the generic switch: the generic density
through ``nutpie.from_pyfunc``) and ``native`` (``fit_generic(native=True)``: the same density
through C callbacks). ``--new-machine`` adds a ``native`` cold fit with empty
numba and PyTensor caches (a new machine: the kernel and PyTensor's own C helpers are compiled
first). The PyMC route with empty caches is measured by ``bench_cold_fit.py`` (100 s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
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
from bayes_rent.backend import generic, generic_kernels
sys.path.insert(0, "tests")
from test_generic_density import fit_generic  # Model.fit with the generic switch in it
IMPORT_S = time.perf_counter() - T0
route, syntax, dataset = sys.argv[1:4]
data = getattr(br.datasets, dataset)()
timing = {}
_sample = nutpie.sample

def timed_sample(*args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    out = _sample(*args, **kwargs)
    timing.update(wall=time.perf_counter() - wall, cpu=time.process_time() - cpu)
    return out

nutpie.sample = timed_sample

def one_fit():
    start = time.perf_counter()
    model = br.Model(syntax)
    if route == "pymc":
        # Model.fit with the generic density switched off: the PyMC model compiled by nutpie
        generic.sample_prepared = lambda *args, **kwargs: (None, "PyMC route")
        fit = model.fit(data, seed=1, progressbar=False)
    else:
        fit = fit_generic(model, data, seed=1, progressbar=False, native=route == "native")
    c = fit.convergence
    return dict(total=time.perf_counter() - start, sampling=timing["wall"],
                sampling_cpu=timing["cpu"], min_ess=float(c.min_ess_bulk),
                max_rhat=float(c.max_r_hat), divergences=int(c.divergences),
                density=getattr(fit, "density", "pymc"), load=os.getloadavg()[0])

sys.path.insert(0, "bench")
from timing import best_cpu_us, ctypes_call

cold = one_fit()
cold["end_to_end"] = IMPORT_S + cold["total"]
warm = one_fit()
grad = {}
from threadpoolctl import threadpool_limits
with threadpool_limits(limits=1, user_api="blas"):  # as while sampling
    if route == "pymc":
        from bayes_rent.sampling import _COMPILED
        compiled = next(iter(_COMPILED.values()))
        x = np.ascontiguousarray(compiled.initial_point_func(1), dtype=float)
        call = ctypes_call(compiled.compiled_logp_func, x, compiled.user_data.ctypes.data)[0]
        assert call() == 0
        grad["C callback (ctypes)"] = best_cpu_us(call)
    else:
        from bayes_rent.backend.base import FitRequest
        from bayes_rent.backend.registry import choose_backend
        request = FitRequest(draws=1, tune=1, chains=1, seed=1, sampler="nutpie",
                             progressbar=False, target_accept=None)
        backend = choose_backend(br.Model(syntax), data, request)
        prepared = backend.prepare(br.Model(syntax), data, request)
        structure, _ = generic.structure_for(backend.name, prepared)
        x = generic.flat_point(structure, prepared.initvals[0])
        moments = generic.pack_moments(prepared.data)
        kernel, ints, reals = generic_kernels.logp_dlogp, structure.ints, structure.reals
        grad["kernel (numba call)"] = best_cpu_us(lambda: kernel(x, ints, reals, moments))
        if route == "native":
            model = generic.native_model(structure, prepared.data)
            call = ctypes_call(model.compiled_logp_func, x, model.user_data.ctypes.data)[0]
            assert call() == 0
            grad["C callback (ctypes)"] = best_cpu_us(call)
        else:
            model = generic.compile_model(structure, prepared.data)
            callback, shared = model._make_logp_func(), model._shared_data
            grad["from_pyfunc callback"] = best_cpu_us(lambda: callback(np.array(x), **shared))
print("RESULT " + json.dumps(dict(import_s=IMPORT_S, cold=cold, warm=warm, grad_us=grad)))
"""

MODELS = {
    "PoliticalDemocracy": ("models/political_democracy.lav", "political_democracy"),
    "HolzingerSwineford": ("models/holzinger_swineford.lav", "holzinger_swineford"),
}


def new_structure(path: str, rng: random.Random) -> tuple[str, str]:
    """The model with one residual covariance the file does not have, drawn at random."""
    syntax = (ROOT / path).read_text()
    import bayes_rent as br

    table = br.Model(syntax).partable
    observed = [v for v in dict.fromkeys(table.loc[table["op"] == "=~", "rhs"])
                if v not in set(table["lhs"][table["op"] == "=~"])]
    have = {frozenset((a, b)) for a, o, b in table[["lhs", "op", "rhs"]].itertuples(index=False)
            if o == "~~"}
    pairs = [(a, b) for i, a in enumerate(observed) for b in observed[i + 1:]
             if frozenset((a, b)) not in have]
    a, b = rng.choice(pairs)
    return syntax + f"\n{a} ~~ {b}\n", f"{a} ~~ {b}"


def run_worker(route: str, syntax: str, dataset: str, env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-c", WORKER, route, syntax, dataset],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})})
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"{route} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--new-machine", action="store_true")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the added residual covariance (default: random)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for name in args.models:
        path, dataset = MODELS[name]
        syntax, added = new_structure(path, rng)
        print(f"\n{name} + '{added}' (a structure this machine has not compiled)")
        results = {route: run_worker(route, syntax, dataset)
                   for route in ("pymc", "pyfunc", "native")}
        if args.new_machine:
            with tempfile.TemporaryDirectory() as caches:
                env = dict(NUMBA_CACHE_DIR=f"{caches}/numba",
                           PYTENSOR_FLAGS=f"base_compiledir={caches}/pytensor")
                results["native, empty caches"] = run_worker("native", syntax, dataset, env)
        report(results)


def report(results: dict) -> None:
    print(f"  {'route':>22} {'import':>6} {'cold e2e':>8} {'warm':>6} {'sampling':>8} "
          f"{'cpu':>6} {'min ESS':>7} {'ESS/s':>6} {'R-hat':>6} {'div':>3} {'load':>5}")
    for route, r in results.items():
        w = r["warm"]
        print(f"  {route:>22} {r['import_s']:6.1f} {r['cold']['end_to_end']:8.1f} "
              f"{w['total']:6.2f} {w['sampling']:8.2f} {w['sampling_cpu']:6.2f} "
              f"{w['min_ess']:7.0f} {w['min_ess'] / w['sampling']:6.0f} {w['max_rhat']:6.3f} "
              f"{w['divergences']:3d} {w['load']:5.1f}")
        for k, v in r["grad_us"].items():
            print(f"  {'':>22} µs per log density + gradient, {k}: {v:.1f}")
    p = results["pymc"]
    ess = lambda r: r["warm"]["min_ess"] / r["warm"]["sampling"]  # noqa: E731
    for route in ("pyfunc", "native"):
        g = results[route]
        print(f"  pymc / {route}: cold {p['cold']['end_to_end'] / g['cold']['end_to_end']:.1f}x, "
              f"warm {p['warm']['total'] / g['warm']['total']:.1f}x, sampling cpu "
              f"{p['warm']['sampling_cpu'] / g['warm']['sampling_cpu']:.1f}x, ESS/s "
              f"{ess(g) / ess(p):.1f}x ({route} / pymc)")

if __name__ == "__main__":
    main()
