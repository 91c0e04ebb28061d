"""Where a cold fit's time goes: compile vs sampling, with empty and with filled caches.

Run from the repository root::

    python bench/bench_cold_fit.py                       # nutpie, NUMBA_OPT 3, 1 and 0
    python bench/bench_cold_fit.py --numba-opt 3 --numpyro-devices 4 1

Every configuration runs twice in fresh processes that share a new, empty numba and PyTensor
cache directory: the first run starts with empty caches, the second with the caches the first
one filled (what a user sees from the second session on). Each process fits PoliticalDemocracy
twice with default settings (4 chains x 1 000 draws after 1 000 warm-up, seed 1): ``cold`` is
the first fit (building and compiling included), ``warm`` the second (compiled model reused).
For nutpie, ``compile`` is the time inside ``nutpie.compile_pymc_model``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

WORKER = r"""
import json, os, sys, time, warnings
warnings.simplefilter("ignore")
import bayes_rent as br
import nutpie
sampler = sys.argv[1]
original = nutpie.compile_pymc_model
timings = {}
def timed(*args, **kwargs):
    start = time.perf_counter()
    out = original(*args, **kwargs)
    timings["compile"] = time.perf_counter() - start
    return out
nutpie.compile_pymc_model = timed
syntax = open("models/political_democracy.lav").read()
data = br.datasets.political_democracy()
out = {}
for run in ("cold", "warm"):
    start = time.perf_counter()
    fit = br.Model(syntax).fit(data, seed=1, sampler=sampler, progressbar=False)
    out[run] = time.perf_counter() - start
    out[run + "_compile"] = timings.pop("compile", float("nan"))
    out[run + "_min_ess"] = fit.convergence.min_ess_bulk
print("RESULT " + json.dumps(out))
"""


def run(sampler: str, env: dict[str, str]) -> dict[str, float]:
    """One fresh process: a cold and a warm fit."""
    proc = subprocess.run([sys.executable, "-c", WORKER, sampler], env={**os.environ, **env},
                          capture_output=True, text=True, check=True)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numba-opt", nargs="*", default=["3", "1", "0"])
    parser.add_argument("--numpyro-devices", nargs="*", default=[])
    args = parser.parse_args()
    configs = [("nutpie", f"NUMBA_OPT={opt}", {"NUMBA_OPT": opt}) for opt in args.numba_opt]
    configs += [
        ("numpyro", f"{d} XLA devices",
         {"XLA_FLAGS": f"--xla_force_host_platform_device_count={d}"})
        for d in args.numpyro_devices
    ]
    print(f"{'sampler':>8} {'setting':>16} {'caches':>7} {'cold s':>7} {'compile s':>9} "
          f"{'warm s':>7} {'min ESS':>8} {'load':>5}")
    for sampler, label, env in configs:
        with tempfile.TemporaryDirectory() as caches:
            env = dict(env, NUMBA_CACHE_DIR=f"{caches}/numba",
                       PYTENSOR_FLAGS=f"base_compiledir={caches}/pytensor")
            for caches_state in ("empty", "filled"):
                r = run(sampler, env)
                print(f"{sampler:>8} {label:>16} {caches_state:>7} {r['cold']:7.1f} "
                      f"{r['cold_compile']:9.1f} {r['warm']:7.1f} {r['cold_min_ess']:8.0f} "
                      f"{os.getloadavg()[0]:5.1f}", flush=True)


if __name__ == "__main__":
    main()
