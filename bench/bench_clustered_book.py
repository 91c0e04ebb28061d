"""The book's clustered job: the six-construct second-order model with cluster random means.

Run from the repository root (one benchmark at a time on the shared machine)::

    nice -n 10 python bench/bench_clustered_book.py                      # defaults, ~5-15 min
    nice -n 10 python bench/bench_clustered_book.py --random-means top   # another option
    nice -n 10 python bench/bench_clustered_book.py --item-intercepts    # ν sampled as written
    nice -n 10 python bench/bench_clustered_book.py --compare            # both, side by side

The job is ``bayes-rent fit models/full_model.lav --data cluster_survey --survey
models/questionnaire.yaml --cluster cluster --seed 1``: 69 items of 320 firms in 8 clusters
read through the questionnaire map (reverse-keyed items recoded), 658 answers (~3 %) missing
in a scattered way, so the clustered backend samples them (data augmentation,
``missing_answers``). It runs through ``Model.fit`` with the default settings (4 chains x
(1 000 warm-up + 1 000 draws)) in a fresh process and prints

* ``prepare``: reading the survey, the statistics, start values and building the PyMC model;
* ``compile``: nutpie compiling the model (``nutpie.compile_pymc_model``), ``sampling``: the
  wall and CPU time (all threads) inside ``nutpie.sample``; ``total``: the whole
  ``Model.fit`` call, and ``end to end``: imports + reading + fit;
* max R-hat, min bulk ESS (as ``fit.convergence`` reports them), divergences, the gradients
  evaluated (leapfrog steps) and the CPU µs per gradient, and the machine's load average at
  the start and the end (the machine is shared: wall times follow the load, CPU times much
  less).
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
import json, os, sys, warnings
warnings.simplefilter("ignore")
import nutpie
import bayes_rent as br
IMPORT_S = time.perf_counter() - T0
LOAD0 = os.getloadavg()
options = json.loads(sys.argv[1])
timing = {}
_compile, _sample = nutpie.compile_pymc_model, nutpie.sample

def timed_compile(*args, **kwargs):
    wall = time.perf_counter()
    out = _compile(*args, **kwargs)
    timing["compile"] = time.perf_counter() - wall
    return out

def timed_sample(*args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    out = _sample(*args, **kwargs)
    timing.update(sampling=time.perf_counter() - wall, sampling_cpu=time.process_time() - cpu)
    return out

nutpie.compile_pymc_model, nutpie.sample = timed_compile, timed_sample
from bayes_rent.data.survey import models_dir
SYNTAX = (models_dir() / "full_model.lav").read_text()
start = time.perf_counter()
# what `bayes-rent fit ... --survey models/questionnaire.yaml --cluster cluster` reads
data = br.read_survey(br.datasets.cluster_survey(), br.book_schema(), reverse=True).data
fit = br.Model(SYNTAX).fit(data, cluster="cluster", seed=1, progressbar=False, **options)
total = time.perf_counter() - start
c = fit.convergence
stats = fit.idata.sample_stats
steps = int(stats["n_steps"].sum())
if "warmup_sample_stats" in fit.idata:
    steps += int(fit.idata.warmup_sample_stats["n_steps"].sum())
post = fit.idata.posterior
print("RESULT " + json.dumps(dict(
    import_s=IMPORT_S, total=total, end_to_end=IMPORT_S + total,
    compile=timing.get("compile", 0.0), sampling=timing["sampling"],
    sampling_cpu=timing["sampling_cpu"],
    prepare=total - timing["sampling"] - timing.get("compile", 0.0),
    max_rhat=float(c.max_r_hat), min_ess=float(c.min_ess_bulk), divergences=int(c.divergences),
    gradients=steps, us_per_gradient=timing["sampling_cpu"] / steps * 1e6,
    n_missing=int(post.sizes.get("missing_answer", 0)),
    random_means=list(map(str, post["latent"].values)),
    load_start=LOAD0[0], load_end=os.getloadavg()[0],
    settings={k: fit.settings.get(k) for k in ("draws", "tune", "chains", "target_accept")},
    worst=[f"{n} (R-hat {r:.3f}, ESS {e:.0f})" for n, r, e in zip(
        c.worst.index, c.worst["r_hat"], c.worst["ess_bulk"])][:4],
)))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-means", default=None,
                        help="cluster_options random_means (default: the package's)")
    parser.add_argument("--item-intercepts", action="store_true",
                        help="sample the item intercepts as written, not at the clusters' "
                             "grand mean (cluster_options grand_mean_intercepts=False)")
    parser.add_argument("--compare", action="store_true",
                        help="also run the job with the item intercepts as written, in a "
                             "second fresh process, and print the ratio")
    parser.add_argument("--target-accept", type=float, default=None)
    parser.add_argument("--draws", type=int, default=None)
    parser.add_argument("--tune", type=int, default=None)
    parser.add_argument("--chains", type=int, default=None)
    args = parser.parse_args()
    options: dict = {k: v for k, v in (("draws", args.draws), ("tune", args.tune),
                                        ("chains", args.chains)) if v is not None}
    if args.target_accept is not None:
        options["target_accept"] = args.target_accept
    cluster_options = {}
    if args.random_means:
        cluster_options["random_means"] = args.random_means
    if args.item_intercepts:
        cluster_options["grand_mean_intercepts"] = False
    if cluster_options:
        options["cluster_options"] = cluster_options
    runs = {"as chosen": options}
    if args.compare:
        # the same job with the item intercepts sampled as written, in its own process
        runs["item intercepts as written"] = {
            **options, "cluster_options": {**cluster_options, "grand_mean_intercepts": False}}
    results = {name: _run(name, opts) for name, opts in runs.items()}
    if args.compare:
        new, old = results.values()
        per_cpu = [r["min_ess"] / r["sampling_cpu"] for r in (new, old)]
        print(f"grand-mean intercepts against as written: min ESS per sampling CPU s "
              f"{per_cpu[0]:.2f} / {per_cpu[1]:.2f} = {per_cpu[0] / per_cpu[1]:.1f}x; "
              f"gradients {new['gradients'] / old['gradients']:.2f}x")


def _run(name: str, options: dict) -> dict:
    """One fit in a fresh process; prints and returns its figures."""
    proc = subprocess.run([sys.executable, "-c", WORKER, json.dumps(options)],
                          capture_output=True, text=True, cwd=ROOT, env=dict(os.environ))
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"worker failed:\n{proc.stderr[-3000:]}")
    r = json.loads(lines[-1][len("RESULT "):])
    print(f"{name}:")
    print("RESULT " + json.dumps(r))
    print(f"  settings {r['settings']}, {r['n_missing']} missing answers sampled, "
          f"random means of {len(r['random_means'])} latents")
    print(f"  imports {r['import_s']:.1f} s, prepare {r['prepare']:.1f} s, compile "
          f"{r['compile']:.1f} s, sampling {r['sampling']:.1f} s (CPU {r['sampling_cpu']:.1f} s),"
          f" fit {r['total']:.1f} s, end to end {r['end_to_end']:.1f} s")
    print(f"  max R-hat {r['max_rhat']:.3f}, min bulk ESS {r['min_ess']:.0f}, "
          f"{r['divergences']} divergences, {r['gradients']} gradients "
          f"({r['us_per_gradient']:.0f} CPU µs each), load {r['load_start']:.1f} -> "
          f"{r['load_end']:.1f}")
    print(f"  slowest: {'; '.join(r['worst'])}", flush=True)
    return r

if __name__ == "__main__":
    main()
