"""A 10⁷-row table from parquet through Dask against 300 rows in memory: statistics and fit time.

Run from the repository root (one benchmark at a time on the shared machine)::

    nice -n 10 .venv/bin/python bench/bench_dask_moments.py               # ~1.5 min
    nice -n 10 .venv/bin/python bench/bench_dask_moments.py --rows 1000000   # quicker

The population is lavaan's ML solution of PoliticalDemocracy (its implied means and
covariances, ``tests/data/PoliticalDemocracy_implied.json``). Rows are drawn partition by
partition (seed ``[1, partition]``), y1 is missing in 15 % of them and x2, x3 together in
10 % more (three missingness patterns), and each partition is written as a parquet file to a
temporary directory; the table is never in memory as a whole. Then, in this one process:

1. a warm-up fit (numba's cached kernel loaded; not counted);
2. 300 rows in a pandas DataFrame: ``br.sem`` with the defaults (4 chains x (1 000 warm-up +
   1 000 draws), seed 1), wall time and the sampling time (``fit.settings["elapsed"]``);
3. the parquet files as a Dask DataFrame (``dd.read_parquet``, local threaded scheduler, two
   threads): ``br.sem`` with the same settings, wall time (validation and statistics in one
   pass over the files, start values, sampling) and its sampling time;
4. the pass alone again (``validate_fit_request``: checks and statistics), wall and CPU time
   (all threads; less sensitive than wall time to other work on a shared machine).

The files were just written, so the operating system's page cache holds them: the pass
measures reading parquet from memory-speed storage plus the arithmetic, not a cold disk.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SYNTAX = """
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ ind60
dem65 ~ ind60 + dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
"""


def population() -> tuple[list[str], np.ndarray, np.ndarray]:
    implied = json.loads((ROOT / "tests/data/PoliticalDemocracy_implied.json").read_text())
    implied = implied["implied"]
    return (implied["cov"]["rownames"], np.array(implied["mean"]["values"], dtype=float),
            np.array(implied["cov"]["values"], dtype=float))


def simulate(n: int, seed: list[int] | int) -> pd.DataFrame:
    names, mean, cov = population()
    rng = np.random.default_rng(seed)
    y = rng.multivariate_normal(mean, cov, size=n, method="cholesky")
    u = rng.random(n)
    y[u < 0.15, names.index("y1")] = np.nan
    rows = np.flatnonzero((u >= 0.15) & (u < 0.25))
    y[np.ix_(rows, [names.index("x2"), names.index("x3")])] = np.nan
    return pd.DataFrame(y, columns=names)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--partitions", type=int, default=50)
    parser.add_argument("--small", type=int, default=300)
    args = parser.parse_args()

    import dask
    import dask.dataframe as dd

    import bayes_rent as br
    from bayes_rent.spec.partable import build_partable
    from bayes_rent.validation import validate_fit_request

    warnings.simplefilter("ignore")  # convergence notes of the warm-up fit
    dask.config.set(scheduler="threads", num_workers=2)
    small = simulate(args.small, 1)
    br.sem(SYNTAX, small, draws=20, tune=20, chains=1, seed=1, progressbar=False)

    started = time.perf_counter()
    fit_small = br.sem(SYNTAX, small, seed=1, progressbar=False)
    small_total = time.perf_counter() - started
    small_sampling = fit_small.settings["elapsed"]

    folder = Path(tempfile.mkdtemp(prefix="bayes-rent-bench-"))
    try:
        started = time.perf_counter()
        per = -(-args.rows // args.partitions)
        for i in range(args.partitions):
            n = min(per, args.rows - i * per)
            part = simulate(n, [1, i])
            part.index = pd.RangeIndex(i * per, i * per + n)
            part.to_parquet(folder / f"part.{i:04d}.parquet")
        written = time.perf_counter() - started
        size = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
        rss_before = peak_mib()

        ddf = dd.read_parquet(folder)
        started = time.perf_counter()
        fit_big = br.sem(SYNTAX, ddf, seed=1, progressbar=False)
        big_total = time.perf_counter() - started
        big_sampling = fit_big.settings["elapsed"]
        started, cpu = time.perf_counter(), time.process_time()
        validate_fit_request(build_partable(SYNTAX), ddf)
        big_pass = time.perf_counter() - started
        # CPU time of all the process's threads: less sensitive to other work on the machine
        big_pass_cpu = time.process_time() - cpu
        rss_after = peak_mib()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    truth = pd.read_csv(ROOT / "tests/data/PoliticalDemocracy_sem_estimates.csv")
    print(f"table: {args.rows:,} rows x 11 columns in {args.partitions} parquet files, "
          f"{size:.0f} MiB on disk ({args.rows * 11 * 8 / 2**20:.0f} MiB as float64), written "
          f"in {written:.1f} s")
    print(f"process peak RSS: {rss_before:.0f} MiB before the Dask fit, {rss_after:.0f} MiB "
          "after it")
    print(f"{'':28s}{'total fit':>12s}{'sampling':>12s}{'stats pass':>12s}")
    print(f"{f'{args.small} rows, pandas':28s}{small_total:11.1f}s{small_sampling:11.1f}s"
          f"{'':>12s}")
    print(f"{f'{args.rows:,} rows, Dask':28s}{big_total:11.1f}s{big_sampling:11.1f}s"
          f"{big_pass:11.1f}s")
    print(f"statistics pass: {big_pass:.1f} s wall, {big_pass_cpu:.1f} s CPU "
          f"({1e6 * big_pass_cpu / args.rows:.2f} µs CPU per row)")
    print(f"ratio total fit (Dask {args.rows:,} / pandas {args.small}): "
          f"{big_total / small_total:.2f}; Dask total / pandas sampling: "
          f"{big_total / small_sampling:.2f}")
    print(f"density: {fit_big.settings['density']}; converged: "
          f"{fit_big.convergence.converged}; patterns: {fit_big.moments.n.tolist()}")
    summary = fit_big.summary()
    free = summary.loc[summary["free"].astype(bool) & summary["op"].isin(["=~", "~"])]
    merged = free.merge(truth, on=["lhs", "op", "rhs"], suffixes=("", "_lavaan"))
    if "est" in merged:
        error = (merged["mean"] - merged["est"]).abs().max()
        print(f"largest |posterior mean - population value| of loadings and paths: {error:.4f}")


if __name__ == "__main__":
    main()
