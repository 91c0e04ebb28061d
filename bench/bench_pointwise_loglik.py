"""Per-respondent log-likelihood (what ``fit.loo()`` needs) with scattered missing answers.

The book's full model on the shipped survey has 69 items and nearly one missingness pattern per
firm. ``bayes_rent.backend.marginal.respondent_loglik`` factors Σ once per draw and corrects
for each firm's missing answers through the precision matrix (a solve of the size of the
missing answers); the pattern-wise way factors Σ_oo once per pattern and draw. Both are run
side by side on the same draws of implied moments (random SPD matrices of the model's size),
their results compared, and the ratio printed.

Usage::

    python bench/bench_pointwise_loglik.py [--draws 400]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

import bayes_rent as br
from bayes_rent.backend.marginal import chunks, respondent_loglik
from bayes_rent.data.observed import moments


def per_pattern(y, pattern_of_row, mask, sigma, mu) -> np.ndarray:
    """The pattern-wise computation: one Cholesky factor of Σ_oo per pattern and draw."""
    rows_all = np.flatnonzero(pattern_of_row >= 0)
    col = np.empty(len(pattern_of_row), dtype=int)
    col[rows_all] = np.arange(len(rows_all))
    out = np.empty((sigma.shape[0], len(rows_all)))
    for k in range(mask.shape[0]):
        idx = np.flatnonzero(mask[k])
        rows = np.flatnonzero(pattern_of_row == k)
        yk = y[np.ix_(rows, idx)]
        for sl in chunks(sigma.shape[0], len(rows) * len(idx) + len(idx) ** 2):
            chol = np.linalg.cholesky(sigma[sl][:, idx[:, None], idx])
            z = (yk[None] - mu[sl][:, None, idx]) @ np.swapaxes(np.linalg.inv(chol), -1, -2)
            logdet = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
            out[sl, col[rows]] = -0.5 * (len(idx) * np.log(2 * np.pi) + logdet[:, None]
                                         + (z**2).sum(-1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=400)
    args = parser.parse_args()
    schema = br.book_schema()
    data = br.read_survey(br.datasets.cluster_survey(), schema, reverse=True).data
    items = [c for c in data.columns if c in set(schema.item_ids)]
    y = data[items].to_numpy(dtype=float)
    stats = moments(data[items])
    rng = np.random.default_rng(1)
    p = len(items)
    base = np.cov(np.nan_to_num(y, nan=np.nanmean(y)), rowvar=False) + 0.1 * np.eye(p)
    a = rng.normal(scale=0.05, size=(args.draws, p, p))
    sigma = base + a @ np.swapaxes(a, -1, -2)
    mu = np.nanmean(y, axis=0) + rng.normal(scale=0.05, size=(args.draws, p))
    print(f"{len(y)} firms, {p} items, {stats.mask.shape[0]} missingness patterns, "
          f"{args.draws} draws")
    with threadpool_limits(1):
        start = time.perf_counter()
        new = respondent_loglik(y, stats.pattern_of_row, stats.mask, sigma, mu)
        t_new = time.perf_counter() - start
        start = time.perf_counter()
        old = per_pattern(y, stats.pattern_of_row, stats.mask, sigma, mu)
        t_old = time.perf_counter() - start
    print(f"precision matrix: {t_new:.2f} s; per pattern: {t_old:.2f} s; "
          f"ratio {t_old / t_new:.1f}x; max |difference| {np.abs(new - old).max():.2e}")


if __name__ == "__main__":
    main()
