"""Time to an answer: bayes-rent's samplers against each other and against semopy's ML fit.

Run from the repository root::

    python bench/bench_samplers.py            # PoliticalDemocracy + six-construct model

For each sampler a fresh process fits the model twice: the first fit includes building and
compiling the model (cold), the second reuses the compiled model (warm). Reported: wall time of
each, sampling time, minimum bulk ESS and min-ESS per second of sampling. semopy's ML fit of the
same model runs in the same script for reference (it returns point estimates, not a posterior).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

WORKER = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
import bayes_rent as br
from bayes_rent import sampling
sys.path.insert(0, "tests")
from test_recovery import ANALYSIS, POPULATION
from bayes_rent.data.population import simulate_data
name, sampler = sys.argv[1], sys.argv[2]
if name == "political_democracy":
    syntax = open("models/political_democracy.lav").read()
    data = br.datasets.political_democracy()
else:
    syntax, data = ANALYSIS, simulate_data(POPULATION, 300, seed=1)
t_import = time.perf_counter() - t0
model = br.Model(syntax)
out = {"import_s": t_import}
for run in ("cold", "warm"):
    # time spent inside the sampler call, split from model building and compiling
    inner = {}
    original = sampling.run_sampler
    def timed(*a, **k):
        t = time.perf_counter(); r = original(*a, **k); inner["s"] = time.perf_counter() - t
        return r
    import bayes_rent.model as bm
    bm.run_sampler = timed
    t = time.perf_counter()
    fit = model.fit(data, seed=1, sampler=sampler, progressbar=False)
    out[run + "_s"] = time.perf_counter() - t
    out[run + "_sampler_call_s"] = inner["s"]
    out[run + "_min_ess"] = fit.convergence.min_ess_bulk
    out[run + "_max_rhat"] = fit.convergence.max_r_hat
    out[run + "_divergences"] = fit.convergence.divergences
print("RESULT " + json.dumps(out))
"""


def semopy_time(name: str) -> float:
    """Wall time of semopy's ML fit (model building included), best of three."""
    import semopy

    import bayes_rent as br

    if name == "political_democracy":
        desc = open("models/political_democracy.lav").read().split("indirect :=")[0]
        desc = desc.replace("a*", "").replace("b*", "").replace("c*", "")
        data = br.datasets.political_democracy()
    else:
        sys.path.insert(0, "tests")
        from test_recovery import ANALYSIS, POPULATION

        from bayes_rent.data.population import simulate_data

        desc, data = ANALYSIS, simulate_data(POPULATION, 300, seed=1)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        semopy.Model(desc).fit(data)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["political_democracy", "six_construct"])
    parser.add_argument("--samplers", nargs="+", default=["nutpie", "numpyro", "pymc"])
    args = parser.parse_args()
    rows = []
    for name in args.models:
        ml = semopy_time(name)
        print(f"\n== {name}: semopy ML fit {ml:.3f} s")
        for sampler in args.samplers:
            proc = subprocess.run(
                [sys.executable, "-c", WORKER, name, sampler], capture_output=True, text=True
            )
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if not line:
                print(f"{sampler}: failed\n{proc.stderr[-2000:]}")
                continue
            r = json.loads(line[0][7:])
            r.update(model=name, sampler=sampler, semopy_s=ml)
            rows.append(r)
            ess_rate = r["warm_min_ess"] / r["warm_sampler_call_s"]
            print(
                f"{sampler:8s} cold {r['cold_s']:6.1f} s "
                f"(sampler call {r['cold_sampler_call_s']:5.1f})"
                f" | warm {r['warm_s']:6.1f} s (sampler call {r['warm_sampler_call_s']:5.1f})"
                f" | min ESS {r['warm_min_ess']:6.0f}, {ess_rate:6.0f}/s"
                f" | max R-hat {r['warm_max_rhat']:.4f}, divergences {r['warm_divergences']}"
                f" | warm / semopy = {r['warm_s'] / ml:6.0f}x"
            )
    print("\nRESULTS " + json.dumps(rows))


if __name__ == "__main__":
    main()
