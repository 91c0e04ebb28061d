"""Per-respondent log-likelihood and latent scores with scattered missing answers.

The book's full model on the shipped survey has 69 items and nearly one missingness pattern per
firm. ``bayes_rent.backend.marginal.respondent_loglik`` factors Σ once per draw and corrects
for each firm's missing answers through the precision matrix (a solve of the size of the
missing answers); the pattern-wise way factors Σ_oo once per pattern and draw. Both are run
side by side on the same draws of implied moments (random SPD matrices of the model's size),
their results compared, and the ratio printed. The same holds for the posterior of the latent
scores (``fit.scores()``, which the grey coupling of sub-model 5 reads): one draw per
respondent and posterior draw by ``bayes_rent.results.scores.conditional_score_draws``
(Matheron's rule, through the same precision matrix) against the pattern-wise way (a solve
with Σ_oo, the conditional covariance and its Cholesky factor per pattern), for 24 latent
variables as in the book's full model; the conditional means of the two are compared.

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
from bayes_rent.results.scores import conditional_score_draws, conditional_score_means


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


def scores_per_pattern(lam, phi, kappa, sigma, mu, y, pattern_of_row, mask, rng):
    """One score draw per respondent and draw with a solve of Σ_oo per pattern; the means."""
    draws = np.empty(sigma.shape[:1] + (len(y), phi.shape[-1]))
    means = np.empty_like(draws)
    for k, pattern in enumerate(mask.astype(bool)):
        rows = np.flatnonzero(pattern_of_row == k)
        o = np.flatnonzero(pattern)
        lam_o = lam[:, o]
        gain = np.swapaxes(np.linalg.solve(sigma[:, o[:, None], o], lam_o @ phi), -1, -2)
        resid = y[rows][:, o][None] - mu[:, None, o]
        means[:, rows] = kappa[:, None] + resid @ np.swapaxes(gain, -1, -2)
        chol = np.linalg.cholesky(phi - gain @ lam_o @ phi)
        z = rng.standard_normal((len(sigma), len(rows), phi.shape[-1]))
        draws[:, rows] = means[:, rows] + z @ np.swapaxes(chol, -1, -2)
    return draws, means


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
    print(f"log-likelihood, precision matrix: {t_new:.2f} s; per pattern: {t_old:.2f} s; "
          f"ratio {t_old / t_new:.1f}x; max |difference| {np.abs(new - old).max():.2e}")

    k = 24
    lam = rng.normal(scale=0.5, size=(args.draws, p, k))
    b = rng.normal(scale=0.3, size=(args.draws, k, k))
    phi = b @ np.swapaxes(b, -1, -2) + np.eye(k)
    kappa = rng.normal(size=(args.draws, k))
    theta = np.broadcast_to(0.5 * np.eye(p), (args.draws, p, p))
    sigma = lam @ phi @ np.swapaxes(lam, -1, -2) + theta
    keep = stats.pattern_of_row >= 0
    observed = stats.mask.astype(bool)[stats.pattern_of_row[keep]]
    step = max(1, 2_000_000 // (int(keep.sum()) * p))  # as fit.scores() slices the draws
    with threadpool_limits(1):
        start = time.perf_counter()
        for i in range(0, args.draws, step):
            sl = slice(i, i + step)
            conditional_score_draws(lam[sl], phi[sl], kappa[sl], theta[sl], sigma[sl], mu[sl],
                                    y[keep], observed, rng)
        t_new = time.perf_counter() - start
        start = time.perf_counter()
        _, m_old = scores_per_pattern(lam, phi, kappa, sigma, mu, y[keep],
                                      stats.pattern_of_row[keep], stats.mask, rng)
        t_old = time.perf_counter() - start
    m_new = conditional_score_means(lam, phi, kappa, sigma, mu, y[keep], observed)
    print(f"score draws ({k} latents), precision matrix: {t_new:.2f} s; per pattern: "
          f"{t_old:.2f} s; ratio {t_old / t_new:.1f}x; max |difference| of the conditional "
          f"means {np.abs(m_new - m_old).max():.2e}")

if __name__ == "__main__":
    main()
