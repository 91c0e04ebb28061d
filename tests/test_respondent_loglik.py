"""Respondent log-likelihood with latent scores integrated out, checked against quadrature.

The references below are written independently of the module: a plain loop over respondents
and items with ``scipy.stats.norm.cdf`` on 1-based thresholds, integrated by Gauss-Hermite
quadrature on the prior (converged: checked against a finer rule). Importance-sampling
estimates are compared within a few of their own Monte Carlo standard errors, and those
standard errors are themselves checked against the spread over seeds.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, norm

import bayes_rent.backend.respondent_loglik as rl
from bayes_rent.backend.respondent_loglik import (
    respondent_loglik,
    respondent_loglik_diagnostics,
)

# |IS - exact| < Z_TOL * mc_se for every (draw, respondent): with ~20-40 comparisons per test a
# 4-sigma bound fails by chance with probability ~1e-3 (and the seeds are fixed).
Z_TOL = 4.0


def answer_loglik(codes, values, ordinal, tau, lam, nu, theta, eta):
    """log p(y_i | eta) for one respondent and draw at the rows of ``eta`` (nodes, m).

    ``tau[j]`` lists the thresholds of item j (1-based in the usual notation: category k,
    0-based, lies between tau_k and tau_{k+1} with tau_0 = -inf and tau_K = +inf).
    """
    out = np.zeros(eta.shape[0])
    for j in range(len(ordinal)):
        mu = nu[j] + eta @ lam[j]
        sd = np.sqrt(theta[j])
        if ordinal[j]:
            if codes[j] < 0:
                continue
            cuts = [-np.inf, *tau[j], np.inf]
            k = codes[j]
            p = norm.cdf((cuts[k + 1] - mu) / sd) - norm.cdf((cuts[k] - mu) / sd)
            with np.errstate(divide="ignore"):  # far nodes underflow; logsumexp copes with -inf
                out += np.log(p)
        elif np.isfinite(values[j]):
            out += norm.logpdf(values[j], mu, sd)
    return out


def gauss_hermite(mean, cov, n):
    """Nodes (n**m, m) and log weights of a product rule for N(mean, cov)."""
    x, w = hermegauss(n)
    m = len(mean)
    grids = np.meshgrid(*([x] * m), indexing="ij")
    nodes = np.stack([g.ravel() for g in grids], axis=1)
    logw = sum(np.log(g.ravel()) for g in np.meshgrid(*([w] * m), indexing="ij"))
    logw = logw - 0.5 * m * np.log(2 * np.pi)
    return mean + nodes @ np.linalg.cholesky(cov).T, logw


def integrate(log_lik, mean, cov, n_nodes, passes=3):
    """log of int exp(log_lik(eta)) N(eta; mean, cov) d eta, and the posterior mean / E[eta eta'].

    Adaptive Gauss-Hermite: informative answers make the posterior much narrower than the
    prior, so after a first pass on the prior the rule is re-centred on the posterior (scale
    doubled) and the prior enters as a density ratio.
    """
    prior = multivariate_normal(mean, cov)
    centre, spread = np.asarray(mean, dtype=float), np.asarray(cov, dtype=float)
    for _ in range(passes):
        nodes, logw = gauss_hermite(centre, spread, n_nodes)
        proposal = multivariate_normal(centre, spread)
        lp = logw + prior.logpdf(nodes) - proposal.logpdf(nodes) + log_lik(nodes)
        total = logsumexp(lp)
        post = np.exp(lp - total)
        centre = post @ nodes
        second = np.einsum("n,nk,nl->kl", post, nodes, nodes)
        spread = 2.0 * (second - np.outer(centre, centre))
    return total, centre, second


def quadrature_loglik(model, n_nodes):
    """Reference (S, N) log-likelihood and the pooled posterior moments of the scores."""
    S, N = model["loadings"].shape[0], model["codes"].shape[0]
    m = model["loadings"].shape[2]
    ll = np.empty((S, N))
    post_mean = np.empty((S, N, m))
    post_sq = np.empty((S, N, m, m))
    for s in range(S):
        tau = [row[np.isfinite(row)] for row in model["thresholds"][s]]
        for i in range(N):

            def log_lik(nodes, s=s, i=i, tau=tau):
                return answer_loglik(
                    model["codes"][i],
                    model["values"][i],
                    model["ordinal"],
                    tau,
                    model["loadings"][s],
                    model["intercepts"][s],
                    model["residual_variances"][s],
                    nodes,
                )

            ll[s, i], post_mean[s, i], post_sq[s, i] = integrate(
                log_lik, model["latent_mean"][s], model["latent_cov"][s], n_nodes
            )
    # What the sampler's scores would give: moments pooled over all draws.
    mean = post_mean.mean(axis=0)
    cov = post_sq.mean(axis=0) - np.einsum("ik,il->ikl", mean, mean)
    return ll, mean, cov


def draws_around(rng, S, base, scale=0.05):
    """Fake posterior draws: multiplicative jitter keeps signs and structural zeros."""
    return base[None] * np.exp(rng.normal(scale=scale, size=(S, *base.shape)))


def cov_draws(rng, S, base, scale=0.05):
    """Jittered covariance draws ``D base D``, symmetric and positive definite."""
    d = np.exp(rng.normal(scale=scale, size=(S, base.shape[0])))
    return base[None] * d[:, :, None] * d[:, None, :]


def one_latent_ordinal(seed=0, S=3, N=6, p=5, loading=1.0):
    rng = np.random.default_rng(seed)
    n_cat = np.array([5, 4, 3, 5, 2, 4, 5, 3])[:p]
    thr = np.full((S, p, 4), np.inf)
    for j in range(p):
        base = np.linspace(-1.2, 1.2, n_cat[j] - 1) + rng.normal(scale=0.2)
        thr[:, j, : n_cat[j] - 1] = base + rng.normal(scale=0.05, size=(S, 1))
    codes = rng.integers(0, n_cat, size=(N, p))
    codes[rng.random((N, p)) < 0.15] = -1
    return dict(
        codes=codes,
        values=np.full((N, p), np.nan),
        ordinal=np.ones(p, dtype=bool),
        thresholds=thr,
        loadings=draws_around(rng, S, np.full((p, 1), loading) + 0.3 * rng.random((p, 1))),
        intercepts=np.zeros((S, p)),
        residual_variances=draws_around(rng, S, np.full(p, 0.6)),
        latent_mean=rng.normal(scale=0.1, size=(S, 1)),
        latent_cov=cov_draws(rng, S, np.ones((1, 1))),
    )


def mixed_two_latents(seed=1, S=2, N=8):
    """Two correlated latents; items 0-4 ordinal, 5-7 continuous; a cross-loading; missing."""
    rng = np.random.default_rng(seed)
    lam = np.array(
        [[1.0, 0], [0.8, 0], [0.9, 0.4], [0, 1.0], [0, 0.7], [0.8, 0], [0, 0.9], [0.5, 0.5]]
    )
    ordinal = np.array([True] * 5 + [False] * 3)
    p = len(ordinal)
    thr = np.full((S, p, 3), np.inf)
    thr[:, :5, :3] = np.array([-1.0, 0.1, 1.1]) + rng.normal(scale=0.1, size=(S, 5, 1))
    thr[:, 4, 2] = np.inf  # a three-category item
    thr[:, 5:] = np.nan  # ignored for continuous items
    codes = rng.integers(0, 4, size=(N, p))
    codes[:, 4] = rng.integers(0, 3, size=N)
    values = rng.normal(scale=1.2, size=(N, p))
    values[:, :5] = np.nan
    codes[:, 5:] = -1
    codes[0, :5] = -1  # continuous answers only
    values[1, 5:] = np.nan  # ordinal answers only
    codes[2, [0, 3]] = -1
    values[3, 6] = np.nan
    corr = np.array([[1.0, 0.5], [0.5, 1.0]])
    return dict(
        codes=codes,
        values=values,
        ordinal=ordinal,
        thresholds=thr,
        loadings=draws_around(rng, S, lam),
        intercepts=np.where(ordinal, 0.0, rng.normal(scale=0.3, size=(S, p))),
        residual_variances=draws_around(rng, S, np.where(ordinal, 1.0, 0.5)),
        latent_mean=rng.normal(scale=0.2, size=(S, 2)),
        latent_cov=cov_draws(rng, S, corr * np.outer([1.0, 1.2], [1.0, 1.2])),
    )


def test_one_latent_ordinal_matches_quadrature():
    model = one_latent_ordinal()
    ref, mean, cov = quadrature_loglik(model, 80)
    ref_fine, _, _ = quadrature_loglik(model, 120)
    assert np.max(np.abs(ref - ref_fine)) < 1e-8  # the reference itself is converged

    out = respondent_loglik_diagnostics(
        **model, proposal_mean=mean, proposal_cov=cov, n_importance=1000, seed=3
    )
    err = np.abs(out.loglik - ref)
    assert np.all(out.mc_se < 0.02)  # the bound below is a tight one
    assert np.all(err < Z_TOL * out.mc_se)
    assert not out.exact.any()
    assert np.all(out.pareto_k < out.pareto_k_threshold)


def test_continuous_only_is_exact_multivariate_normal():
    rng = np.random.default_rng(5)
    S, N, p = 3, 7, 5
    lam = draws_around(rng, S, np.array([[1.0, 0], [0.7, 0.2], [0.9, 0], [0, 1.0], [0, 0.6]]))
    nu = rng.normal(size=(S, p))
    theta = draws_around(rng, S, np.full(p, 0.4))
    mu = rng.normal(scale=0.5, size=(S, 2))
    cov = cov_draws(rng, S, np.array([[1.0, 0.3], [0.3, 0.8]]))
    values = rng.normal(size=(N, p))
    values[rng.random((N, p)) < 0.3] = np.nan
    values[0] = np.nan  # nothing answered: log-likelihood 0
    kwargs = dict(
        codes=np.full((N, p), -1),
        values=values,
        ordinal=np.zeros(p, dtype=bool),
        thresholds=None,
        loadings=lam,
        intercepts=nu,
        residual_variances=theta,
        latent_mean=mu,
        latent_cov=cov,
    )
    ref = np.zeros((S, N))
    for s in range(S):
        implied = lam[s] @ cov[s] @ lam[s].T + np.diag(theta[s])
        for i in range(N):
            o = np.isfinite(values[i])
            if o.any():
                mvn = multivariate_normal(nu[s, o] + lam[s, o] @ mu[s], implied[np.ix_(o, o)])
                ref[s, i] = mvn.logpdf(values[i, o])
    out = respondent_loglik_diagnostics(**kwargs, seed=0)
    assert np.max(np.abs(out.loglik - ref)) < 1e-8
    assert out.exact.all() and np.all(out.mc_se == 0)
    # No Monte Carlo at all: a proposal and another seed change nothing.
    other = respondent_loglik(
        **kwargs, proposal_mean=np.zeros((N, 2)), proposal_cov=np.tile(np.eye(2), (N, 1, 1)), seed=9
    )
    np.testing.assert_array_equal(other, out.loglik)


@pytest.mark.parametrize("with_proposal", [False, True])
def test_two_latents_mixed_items_match_2d_quadrature(with_proposal):
    model = mixed_two_latents()
    ref, mean, cov = quadrature_loglik(model, 30)
    ref_fine, _, _ = quadrature_loglik(model, 45)
    assert np.max(np.abs(ref - ref_fine)) < 1e-8  # the reference itself is converged

    # The fallback (prior given the continuous answers) needs far more samples for the same error.
    extra = dict(proposal_mean=mean, proposal_cov=cov) if with_proposal else {}
    n_importance = 2000 if with_proposal else 20000
    out = respondent_loglik_diagnostics(**model, **extra, n_importance=n_importance, seed=11)
    assert out.exact.tolist() == [True] + [False] * 7
    assert np.max(np.abs(out.loglik[:, 0] - ref[:, 0])) < 1e-8  # closed form
    mixed = ~out.exact
    assert np.all(out.mc_se[:, mixed] < 0.02)
    assert np.all(np.abs(out.loglik - ref)[:, mixed] < Z_TOL * out.mc_se[:, mixed])


def test_phantom_covariate_is_conditioned_on():
    """eta = alpha + beta x + zeta with x observed: integrate eta only, given x."""
    rng = np.random.default_rng(21)
    S, N = 2, 6
    alpha, beta, psi = np.array([0.2, 0.3]), np.array([0.6, 0.5]), np.array([0.7, 0.8])
    mu_x, var_x = np.array([1.0, 1.1]), np.array([2.0, 1.8])
    # Phantom first, so that its position in the latent order is exercised.
    latent_mean = np.stack([mu_x, alpha + beta * mu_x], axis=1)
    latent_cov = np.empty((S, 2, 2))
    latent_cov[:, 0, 0] = var_x
    latent_cov[:, 0, 1] = latent_cov[:, 1, 0] = beta * var_x
    latent_cov[:, 1, 1] = beta**2 * var_x + psi
    # Items 0-3 ordinal on eta, item 4 ordinal with a direct effect of x, item 5 continuous.
    lam = np.array([[0, 1.0], [0, 0.8], [0, 1.2], [0, 0.9], [0.4, 0.7], [0, 1.0]])
    ordinal = np.array([True] * 5 + [False])
    thr = np.tile(np.array([-0.5, 0.4, 1.3]), (S, 6, 1))
    x = rng.normal(1.0, 1.4, size=N)
    codes = rng.integers(0, 4, size=(N, 6))
    codes[:, 5] = -1
    codes[1, 2] = -1
    values = np.full((N, 6), np.nan)
    values[:, 5] = rng.normal(0.8, 1.0, size=N)
    values[4, 5] = np.nan
    theta = np.tile([0.8, 0.8, 0.8, 0.8, 0.8, 0.5], (S, 1))
    nu = np.tile([0, 0, 0, 0, 0, 0.1], (S, 1)).astype(float)

    def reference(n_nodes):
        ll = np.empty((S, N))
        moments = np.empty((S, N, 2))
        tau = [np.array([-0.5, 0.4, 1.3])] * 6
        for s in range(S):
            for i in range(N):

                def log_lik(eta, s=s, i=i):
                    full = np.concatenate([np.full_like(eta, x[i]), eta], axis=1)
                    return answer_loglik(
                        codes[i], values[i], ordinal, tau, lam, nu[s], theta[s], full
                    )

                # The structural equation itself, not Gaussian conditioning of the joint.
                cond_mean, cond_var = alpha[s] + beta[s] * x[i], psi[s]
                total, mean, second = integrate(log_lik, [cond_mean], [[cond_var]], n_nodes)
                ll[s, i] = norm.logpdf(x[i], mu_x[s], np.sqrt(var_x[s])) + total
                moments[s, i] = mean[0], second[0, 0]
        return ll, moments

    ref, moments = reference(60)
    assert np.max(np.abs(ref - reference(90)[0])) < 1e-8  # the reference itself is converged
    score_mean = moments[..., 0].mean(axis=0)
    score_var = moments[..., 1].mean(axis=0) - score_mean**2

    out = respondent_loglik_diagnostics(
        codes,
        values,
        ordinal,
        thr,
        np.tile(lam, (S, 1, 1)),
        nu,
        theta,
        latent_mean,
        latent_cov,
        phantom=np.array([True, False]),
        phantom_values=x[:, None],
        proposal_mean=score_mean[:, None],
        proposal_cov=score_var[:, None, None],
        n_importance=2000,
        seed=2,
    )
    assert np.all(out.mc_se < 0.02)
    assert np.all(np.abs(out.loglik - ref) < Z_TOL * out.mc_se)


def test_good_proposal_beats_prior_and_bad_proposal_is_flagged():
    # Eight strong items: the posterior of a score is much narrower than its prior.
    model = one_latent_ordinal(seed=4, S=2, N=5, p=8, loading=1.5)
    ref, mean, cov = quadrature_loglik(model, 60)
    assert np.max(np.abs(ref - quadrature_loglik(model, 90)[0])) < 1e-8
    seeds = range(20)
    good = np.stack(
        [
            respondent_loglik_diagnostics(
                **model, proposal_mean=mean, proposal_cov=cov, seed=k, diagnostic_draws=0
            ).loglik
            for k in seeds
        ]
    )
    prior_runs = [respondent_loglik_diagnostics(**model, seed=k, diagnostic_draws=0) for k in seeds]
    prior = np.stack([r.loglik for r in prior_runs])
    sd_good, sd_prior = good.std(axis=0, ddof=1), prior.std(axis=0, ddof=1)
    assert np.all(sd_good < sd_prior / 4)
    # Both are consistent: their averages over seeds agree with quadrature, up to the standard
    # error of a 20-run mean and the Jensen bias of a log of a mean (about -sd**2 / 2).
    for runs, sd in ((good, sd_good), (prior, sd_prior)):
        bound = Z_TOL * sd / np.sqrt(len(seeds)) + sd**2
        assert np.all(np.abs(runs.mean(axis=0) - ref) < bound)
    # The reported standard error tracks the spread over seeds.
    reported = np.mean([r.mc_se for r in prior_runs], axis=0)
    assert np.all((reported > sd_prior / 2) & (reported < sd_prior * 2))

    fine = respondent_loglik_diagnostics(**model, proposal_mean=mean, proposal_cov=cov, seed=0)
    bad = respondent_loglik_diagnostics(
        **model, proposal_mean=mean + 3 * np.sqrt(cov[:, :, 0]), proposal_cov=0.01 * cov, seed=0
    )
    assert not fine.unreliable.any()
    assert bad.unreliable.all()
    assert np.all(bad.ess < fine.ess / 2)


def test_chunking_does_not_change_the_estimate(monkeypatch):
    model = mixed_two_latents(S=7)
    whole = respondent_loglik_diagnostics(**model, seed=4, diagnostic_draws=3)
    monkeypatch.setattr(rl, "_CHUNK_ELEMENTS", 1)  # one draw per block
    blocks = respondent_loglik_diagnostics(**model, seed=4, diagnostic_draws=3)
    np.testing.assert_allclose(blocks.loglik, whole.loglik, rtol=0, atol=1e-12)
    np.testing.assert_allclose(blocks.ess, whole.ess, rtol=1e-10)
    np.testing.assert_allclose(blocks.pareto_k, whole.pareto_k, rtol=1e-10)


def test_log_ndtr_diff_keeps_precision_in_both_tails():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 80

    def exact(lo, hi):
        lo, hi = mpmath.mpf(lo), mpmath.mpf(hi)
        if lo > 0:  # an exact identity; mpmath's ncdf is relatively accurate for x < 0
            lo, hi = -hi, -lo
        return float(mpmath.log(mpmath.ncdf(hi) - mpmath.ncdf(lo)))

    rng = np.random.default_rng(8)
    lo = rng.normal(scale=np.repeat([3.0, 20.0], 150))
    a = np.concatenate([[-np.inf, -40.0, -1.0, 0.3, 8.0, 35.0, 5.0, -2.0, 4.5], lo])
    width = np.concatenate([[np.nan] * 9, 10 ** rng.uniform(-4, 1, size=300)])
    b = np.concatenate(
        [[-38.0, -39.5, 1e-9, 0.3 + 1e-4, 9.0, np.inf, 5.0 + 1e-4, np.inf, 4.6], lo + width[9:]]
    )
    ref = np.array([exact(x, y) for x, y in zip(a, b, strict=True)])
    assert ref.min() < -1000  # the far tails are really exercised
    # Naive log(ndtr(b) - ndtr(a)) is -inf or off by orders of magnitude on many of these.
    np.testing.assert_allclose(rl._log_ndtr_diff(a, b), ref, rtol=0, atol=1e-9)


def test_code_outside_the_categories_is_rejected():
    model = one_latent_ordinal(S=1, N=2, p=3)
    model["codes"][0, 2] = 2  # item 2 has three categories: codes 0..2 are fine
    respondent_loglik(**model, n_importance=2)
    model["codes"][0, 2] = 3
    with pytest.raises(ValueError, match="only 3 categories"):
        respondent_loglik(**model, n_importance=2)
