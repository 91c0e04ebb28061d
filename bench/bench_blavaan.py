"""bayes-rent against blavaan, side by side on this machine, both with their default settings.

Run from the repository root (other benchmarks may run at the same time: the load average
is recorded before and after every measurement)::

    nice -n 10 .venv/bin/python bench/bench_blavaan.py              # 5-20 min, load-dependent
    nice -n 10 .venv/bin/python bench/bench_blavaan.py --models PoliticalDemocracy
    .venv/bin/python bench/bench_blavaan.py --r-lib /work/rlib --json results.json

What it needs: R (``Rscript``) with blavaan 0.4-8 (on rstan), jsonlite and psych installed
in the R library given by ``--r-lib`` (default: the ``R_LIBS_USER`` environment variable, else
R's own library path). blavaan is a benchmark opponent only: never a dependency of
bayes-rent and never used by its tests. The script stops with a message naming what is
missing when Rscript or blavaan cannot be found.

Data and models (the same syntax and the same data file on both sides):

* ``PoliticalDemocracy`` (N = 75): ``models/political_democracy.lav`` (lavaan's tutorial SEM,
  ``bsem``), marker identification;
* ``HolzingerSwineford`` (N = 301): ``models/holzinger_swineford.lav`` (``bcfa``), markers;
* ``bfi`` (N = 2 436): psych's ``bfi[, 1:25]``, complete cases, exported from R to a CSV
  in ``--cache-dir``; five factors ``A =~ A1 + ... + A5``, ``C``, ``E``, ``N``, ``O``;
  continuous items, factors identified by unit variances on both sides (blavaan's
  ``std.lv = TRUE``, bayes-rent's ``std_lv=True``).

blavaan side: one ``Rscript`` process per model, ``bsem``/``bcfa`` with the defaults
(``target = "stan"``: 3 chains x (500 burn-in + 1 000 draws); rstan runs the chains one
after another unless ``--blavaan-cores`` sets ``options(mc.cores)``) and ``seed = 1``. Timed:
the fit call (``system.time`` inside R) and the whole process. Min ESS is
``blavInspect(fit, "neff")`` (rstan's ``n_eff``) over the free parameters; max R-hat is
``blavInspect(fit, "psrf")``; the rank-normalised bulk ESS and R-hat of the same draws
(``rstan::ess_bulk``, ``rstan::Rhat``: the definitions ArviZ uses on bayes-rent's side) are
printed beside them. min ESS/s = min ``n_eff`` / wall time of the fit call. blavaan's defaults
estimate no intercepts (no mean structure) and compute the posterior predictive p-value after
sampling; bayes-rent's estimate the intercepts and leave the PPP to ``fit.fit_indices()``.

bayes-rent side: one fresh Python process per model that fits twice with the defaults
(4 chains x (1 000 warm-up + 1 000 draws), seed 1). ``cold``: from the start of the process
to the end of the first fit (imports included); ``warm``: the second fit, end to end. min
ESS/s = the warm fit's min bulk ESS over the free parameters (``fit.convergence``) per second
of the warm fit's wall time. The CPU time of both fit calls (all threads and child processes)
is printed as well: on a loaded machine it changes far less than the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BFI_SYNTAX = "\n".join(
    f"{f} =~ " + " + ".join(f"{f}{i}" for i in range(1, 6)) for f in "ACENO"
) + "\n"

# name: (syntax file or None for bfi, blavaan function, std.lv, packaged data set or None)
MODELS = {
    "PoliticalDemocracy": ("models/political_democracy.lav", "bsem", False,
                           "political_democracy"),
    "HolzingerSwineford": ("models/holzinger_swineford.lav", "bcfa", False,
                           "holzinger_swineford"),
    "bfi": (None, "bcfa", True, None),
}

R_FIT = r"""
args <- commandArgs(trailingOnly = TRUE)
fun_name <- args[1]; model_file <- args[2]; data_csv <- args[3]
std_lv <- as.logical(args[4]); seed <- as.integer(args[5]); cores <- args[6]
out_json <- args[7]
suppressPackageStartupMessages(library(blavaan))
if (nzchar(cores)) options(mc.cores = as.integer(cores))
model <- paste(readLines(model_file), collapse = "\n")
data <- read.csv(data_csv)
fun <- get(fun_name, envir = asNamespace("blavaan"))
elapsed <- system.time(fit <- fun(model, data = data, std.lv = std_lv, seed = seed))
pt <- lavaan::parTable(fit)
nfree <- sum(pt$free > 0)
neff <- as.numeric(blavInspect(fit, "neff"))
psrf <- as.numeric(blavInspect(fit, "psrf"))
draws <- blavInspect(fit, "mcmc")
sims <- lapply(seq_len(nfree), function(j) sapply(draws, function(ch) as.numeric(ch[, j])))
stanfit <- fit@external$mcmcout
stan_s <- rstan::get_elapsed_time(stanfit)
jsonlite::write_json(list(
  fit_s = unname(elapsed[["elapsed"]]),
  fit_cpu_s = unname(elapsed[["user.self"]] + elapsed[["sys.self"]] +
                     elapsed[["user.child"]] + elapsed[["sys.child"]]),
  stan_warmup_s = sum(stan_s[, "warmup"]), stan_sample_s = sum(stan_s[, "sample"]),
  n_free = nfree, n_neff = length(neff),
  min_neff = min(neff[seq_len(nfree)]), min_neff_all = min(neff),
  max_psrf = max(psrf[seq_len(nfree)]),
  min_ess_bulk = min(sapply(sims, rstan::ess_bulk)),
  max_rhat_rank = max(sapply(sims, rstan::Rhat)),
  divergences = rstan::get_num_divergent(stanfit),
  chains = length(draws), draws = nrow(draws[[1]]),
  mc_cores = getOption("mc.cores", 1L),
  timing = lapply(fit@timing, function(x) unname(as.numeric(x)[1]))
), out_json, auto_unbox = TRUE, digits = NA)
"""

R_VERSIONS = r"""
suppressPackageStartupMessages(library(blavaan))
v <- function(p) as.character(packageVersion(p))
cat(jsonlite::toJSON(list(R = R.version.string, blavaan = v("blavaan"), rstan = v("rstan"),
  StanHeaders = v("StanHeaders"), lavaan = v("lavaan"),
  blavaan_path = find.package("blavaan")), auto_unbox = TRUE))
"""

R_BFI = r"""
out <- commandArgs(trailingOnly = TRUE)[1]
d <- na.omit(psych::bfi[, 1:25])
write.csv(d, out, row.names = FALSE)
cat(nrow(d), "\n")
"""

WORKER = r"""
import time
import json, sys, warnings
spawned = float(sys.argv[4])
import pandas as pd
import bayes_rent as br
from bayes_rent.results.diagnostics import ConvergenceWarning
imported = time.time()
syntax = open(sys.argv[1]).read()
data = pd.read_csv(sys.argv[2])
std_lv = True if sys.argv[3] == "1" else None  # None: bayes-rent's default (markers)

def one_fit():
    start, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = br.Model(syntax, std_lv=std_lv).fit(data, seed=1, progressbar=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    c = fit.convergence
    return dict(wall=wall, cpu=cpu, end=time.time(), min_ess=float(c.min_ess_bulk),
                max_rhat=float(c.max_r_hat), divergences=int(c.divergences),
                converged=bool(c.converged), density=str(fit.settings.get("density", "")),
                settings={k: str(v) for k, v in fit.settings.items()},
                warnings=[str(w.message)[:300] for w in caught
                          if issubclass(w.category, ConvergenceWarning)])

cold = one_fit()
warm = one_fit()
print("RESULT " + json.dumps(dict(import_s=imported - spawned, cold=cold, warm=warm,
                                  version=br.__version__)))
"""


def load() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def r_env(r_lib: str | None) -> dict:
    env = dict(os.environ)
    if r_lib:
        env["R_LIBS_USER"] = r_lib
    return env


def check_r(r_lib: str | None) -> dict:
    """R, blavaan and rstan versions; exits with a clear message when something is missing."""
    if shutil.which("Rscript") is None:
        sys.exit("bench_blavaan: Rscript not found on PATH; install R and blavaan 0.4-8 "
                 "(a benchmark opponent only) first.")
    proc = subprocess.run(["Rscript", "-e", R_VERSIONS], capture_output=True, text=True,
                          env=r_env(r_lib))
    if proc.returncode != 0:
        sys.exit(f"bench_blavaan: could not load blavaan (and jsonlite) in R with "
                 f"R_LIBS_USER={r_lib!r}; install blavaan 0.4-8 there or pass --r-lib.\n"
                 f"{proc.stderr[-1500:]}")
    return json.loads(proc.stdout)


def data_file(name: str, cache: Path, r_lib: str | None) -> Path:
    """The data set as a CSV in the cache directory, read by both sides."""
    path = cache / f"{name}.csv"
    if path.exists():
        return path
    dataset = MODELS[name][3]
    if dataset is None:  # bfi, exported from R
        proc = subprocess.run(["Rscript", "-e", R_BFI, str(path)], capture_output=True,
                              text=True, env=r_env(r_lib))
        if proc.returncode != 0:
            sys.exit(f"bench_blavaan: exporting psych::bfi failed (is psych installed?)\n"
                     f"{proc.stderr[-1500:]}")
    else:
        import bayes_rent as br

        getattr(br.datasets, dataset)().to_csv(path, index=False)
    return path


def syntax_file(name: str, cache: Path) -> Path:
    source = MODELS[name][0]
    if source is not None:
        return ROOT / source
    path = cache / "bfi.lav"
    path.write_text(BFI_SYNTAX)
    return path


def run_blavaan(name: str, cache: Path, r_lib: str | None, cores: int | None) -> dict:
    _, fun, std_lv, _ = MODELS[name]
    with tempfile.TemporaryDirectory() as tmp:
        script, out = Path(tmp) / "fit.R", Path(tmp) / "out.json"
        script.write_text(R_FIT)
        cmd = ["Rscript", str(script), fun, str(syntax_file(name, cache)),
               str(data_file(name, cache, r_lib)), "TRUE" if std_lv else "FALSE", "1",
               "" if cores is None else str(cores), str(out)]
        before, start = load(), time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=r_env(r_lib))
        process_s = time.perf_counter() - start
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"blavaan fit of {name} failed:\n{proc.stderr[-3000:]}")
        result = json.loads(out.read_text())
    log = cache / f"blavaan_{name}.log"
    log.write_text(proc.stdout + proc.stderr)
    return dict(result, process_s=process_s, load_before=before, load_after=load())


def run_bayes_rent(name: str, cache: Path) -> dict:
    std_lv = MODELS[name][2]
    cmd = [sys.executable, "-c", WORKER, str(syntax_file(name, cache)),
           str(data_file(name, cache, None)), "1" if std_lv else "0"]
    before = load()
    spawned = time.time()
    proc = subprocess.run([*cmd, repr(spawned)], capture_output=True, text=True, cwd=ROOT)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"bayes-rent fit of {name} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    result["cold_s"] = result["cold"]["end"] - spawned
    return dict(result, load_before=before, load_after=load())


def verdict(max_rhat: float, min_ess: float) -> str:
    """bayes-rent's convergence rule (R-hat <= 1.01, bulk ESS >= 400), applied to both sides."""
    return "" if max_rhat <= 1.01 and min_ess >= 400 else " (not converged)"


def report(results: dict, versions: dict) -> None:
    print(f"\n{versions['R']}; blavaan {versions['blavaan']}, rstan {versions['rstan']}, "
          f"StanHeaders {versions['StanHeaders']}, lavaan {versions['lavaan']}")
    print("\n| data | blavaan wall (fit / process) | blavaan min n_eff (bulk ESS) | "
          "blavaan max R-hat (rank) | blavaan min ESS/s | bayes-rent cold | bayes-rent warm | "
          "bayes-rent warm min ESS, max R-hat | bayes-rent warm min ESS/s | load "
          "(blavaan; bayes-rent) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        b, p = r["blavaan"], r["bayes_rent"]
        w = p["warm"]
        b_rate = b["min_neff"] / b["fit_s"]
        p_rate = w["min_ess"] / w["wall"]
        print(f"| {name} | {b['fit_s']:.1f} s / {b['process_s']:.1f} s | "
              f"{b['min_neff']:.0f} ({b['min_ess_bulk']:.0f}) | "
              f"{b['max_psrf']:.3f} ({b['max_rhat_rank']:.3f}) | {b_rate:.1f}"
              f"{verdict(b['max_psrf'], b['min_neff'])} | "
              f"{p['cold_s']:.1f} s | {w['wall']:.1f} s | {w['min_ess']:.0f}, "
              f"{w['max_rhat']:.3f} | {p_rate:.0f}{verdict(w['max_rhat'], w['min_ess'])} | "
              f"{b['load_before']:.1f}→{b['load_after']:.1f}; "
              f"{p['load_before']:.1f}→{p['load_after']:.1f} |")
    print()
    for name, r in results.items():
        b, p = r["blavaan"], r["bayes_rent"]
        w = p["warm"]
        b_rate = b["min_neff"] / b["fit_s"]
        stan_s = b["stan_warmup_s"] + b["stan_sample_s"]
        if verdict(b["max_psrf"], b["min_neff"]):
            ess_ratio = "n/a (blavaan did not converge)"
        else:
            ess_ratio = (f"{w['min_ess'] / w['wall'] / b_rate:.1f}x (against blavaan's bulk "
                         f"ESS: {w['min_ess'] / w['wall'] / (b['min_ess_bulk'] / b['fit_s']):.1f}"
                         f"x; against n_eff per second of Stan time only: "
                         f"{w['min_ess'] / w['wall'] / (b['min_neff'] / stan_s):.1f}x)")
        print(f"{name}: blavaan fit wall / bayes-rent cold = {b['fit_s'] / p['cold_s']:.1f}x "
              f"(process: {b['process_s'] / p['cold_s']:.1f}x); bayes-rent warm ESS/s / "
              f"blavaan ESS/s = {ess_ratio}")
        print(f"  blavaan: {b['chains']} chains x {b['draws']} draws, mc.cores {b['mc_cores']}, "
              f"Stan warm-up {b['stan_warmup_s']:.1f} s + sampling {b['stan_sample_s']:.1f} s "
              f"(summed over chains: min n_eff {b['min_neff'] / stan_s:.1f}/s of Stan time), "
              f"{b['divergences']} divergences; bayes-rent: import "
              f"{p['import_s']:.1f} s, cold fit {p['cold']['wall']:.1f} s, "
              f"{w['divergences']} divergences, density {w['density'] or '-'}")
        if "cpu" in w:  # CPU seconds (all threads): what load on a shared machine changes least
            print(f"  CPU time: blavaan fit {b['fit_cpu_s']:.1f} s (min n_eff "
                  f"{b['min_neff'] / b['fit_cpu_s']:.1f} per CPU second); bayes-rent warm fit "
                  f"{w['cpu']:.1f} s (min ESS {w['min_ess'] / w['cpu']:.0f} per CPU second)")
        steps = {k: v for k, v in b.get("timing", {}).items() if v >= 0.5}
        if steps:  # blavaan's own split of the fit call (Estimate: Stan; PostPred, TEST: PPP)
            print("  blavaan's timing: " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()))
        for msg in w["warnings"] + p["cold"]["warnings"][:1]:
            print(f"  bayes-rent warning: {msg}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--r-lib", default=os.environ.get("R_LIBS_USER"),
                        help="R library holding blavaan (default: $R_LIBS_USER)")
    parser.add_argument("--blavaan-cores", type=int, default=None,
                        help="options(mc.cores) for rstan (default: rstan's, 1: serial chains)")
    parser.add_argument("--cache-dir", type=Path,
                        default=Path.home() / ".cache" / "bayes-rent-bench",
                        help="where the data CSVs and blavaan's logs go")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    versions = check_r(args.r_lib)
    print(f"blavaan {versions['blavaan']} from {versions['blavaan_path']}; "
          f"load {load():.2f} at start", flush=True)
    results = {}
    for name in args.models:
        blav = run_blavaan(name, args.cache_dir, args.r_lib, args.blavaan_cores)
        print(f"{name}: blavaan fit {blav['fit_s']:.1f} s, min n_eff {blav['min_neff']:.0f}, "
              f"max R-hat {blav['max_psrf']:.3f} (load {blav['load_before']:.2f}→"
              f"{blav['load_after']:.2f})", flush=True)
        mine = run_bayes_rent(name, args.cache_dir)
        print(f"{name}: bayes-rent cold {mine['cold_s']:.1f} s, warm {mine['warm']['wall']:.1f} "
              f"s, min ESS {mine['warm']['min_ess']:.0f} (load {mine['load_before']:.2f}→"
              f"{mine['load_after']:.2f})", flush=True)
        results[name] = dict(blavaan=blav, bayes_rent=mine)
    report(results, versions)
    if args.json:
        args.json.write_text(json.dumps(dict(versions=versions, results=results), indent=1))


if __name__ == "__main__":
    main()
