"""Second-order recovery at the issue's size: 20 replicates at N = 400 (160 intervals).

The model, the data and the checks are those of ``tests/test_second_order.py`` (which runs 8
replicates in CI). Usage: ``python bench/bench_second_order.py [--replicates 20]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_second_order import coverage_study  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=20)
    args = parser.parse_args()
    start = time.perf_counter()
    covered, n, table = coverage_study(args.replicates)
    low, high = stats.binom.interval(0.99, n, 0.9)
    print(f"coverage of 90 % HDIs: {covered}/{n} = {covered / n:.3f}; central 99 % binomial "
          f"interval for 90 %: [{low:.0f}, {high:.0f}] -> "
          f"{'consistent' if low <= covered <= high else 'NOT consistent'}")
    print(table.round(3).to_string())
    print(f"wall {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
