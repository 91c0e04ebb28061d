"""A 12-setting prior sweep in one process against 12 cold fits in fresh processes.

Run: ``nice -n 10 .venv/bin/python bench/bench_sweep.py``

Both sides run PoliticalDemocracy with the same sampling options and include the start of
Python and the import of bayes_rent: the sweep is one process that fits the 12 path priors
(``executor="inline"``), the cold side starts a fresh process for each fit.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SDS = ["0.02", "0.05", "0.1", "0.2", "0.3", "0.5", "1", "2", "3", "5", "10", "100"]
OPTIONS = "draws=500, tune=500, chains=2, progressbar=False"
PRELUDE = f"""
import warnings; warnings.simplefilter("ignore")
import sys; sys.path.insert(0, {str(ROOT / 'tests')!r})
import pandas as pd
from conftest import POLITICAL_DEMOCRACY
import bayes_rent as br
data = pd.read_csv({str(ROOT / 'tests' / 'data' / 'PoliticalDemocracy.csv')!r})
"""
SWEEP = PRELUDE + f"""
grid = {{"paths": [f"normal(0,{{s}})" for s in {SDS!r}]}}
sw = br.sensitivity.prior_sweep(POLITICAL_DEMOCRACY, data, grid, seed=1, executor="inline",
                                progress=False, {OPTIONS})
print("compiles", sw.compiles, "density", set(sw.densities))
"""
COLD = PRELUDE + """
fit = br.sem(POLITICAL_DEMOCRACY, data, priors={{"paths": "normal(0,{sd})"}}, seed=1, {options})
"""


def timed(code: str) -> tuple[float, str]:
    """Wall time of a fresh Python process running ``code``, and its output."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return time.perf_counter() - started, out.stdout.strip()


if __name__ == "__main__":
    sweep, note = timed(SWEEP)
    print(f"sweep, 12 settings in one process: {sweep:.1f} s ({note})")
    cold = [timed(COLD.format(sd=sd, options=OPTIONS))[0] for sd in SDS]
    print(f"12 cold fits in fresh processes: {sum(cold):.1f} s "
          f"(each {min(cold):.1f}-{max(cold):.1f} s)")
    print(f"ratio: {sum(cold) / sweep:.2f}x")
