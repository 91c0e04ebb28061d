"""Marginal likelihood (latent variables integrated out) against the conditional one.

Run from the repository root::

    python bench/bench_marginal_vs_conditional.py

Both parameterizations of the six-construct model (RE, SE, NC, AC → KR → IG) are fitted with
nutpie on the same simulated data at N = 300 and N = 30 000, side by side in this script:

* marginal: bayes-rent's backend, the likelihood from (N, mean, covariance);
* conditional: the same priors, the latent scores of every firm sampled (centred), each item
  normal given the scores.

Reported: compile time, sampling time, minimum bulk ESS over the structural parameters, and
min-ESS per second of sampling; then the ratio marginal / conditional.
"""

from __future__ import annotations

import sys
import time
import warnings

import arviz as az
import numpy as np
import nutpie
import pymc as pm
import pytensor.tensor as pt
from threadpoolctl import threadpool_limits

sys.path.insert(0, "tests")
from test_recovery import ANALYSIS, POPULATION  # noqa: E402

import bayes_rent as br  # noqa: E402
import bayes_rent.model as bayes_model  # noqa: E402
from bayes_rent.data.population import simulate_data  # noqa: E402
from bayes_rent.spec.partable import latent_variables  # noqa: E402

warnings.simplefilter("ignore")


def conditional_model(data, partable) -> pm.Model:
    """The same measurement and structural model with latent scores as parameters."""
    factors = latent_variables(partable)
    loadings = partable[partable.op == "=~"]
    items = list(loadings["rhs"])
    factor_of = {r.rhs: factors.index(r.lhs) for r in loadings.itertuples()}
    marker = {r.rhs for r in loadings.itertuples() if not r.free}
    free_items = [i for i in items if i not in marker]
    paths = partable[partable.op == "~"]
    exo = [f for f in factors if f not in set(paths["lhs"])]
    y = data[items].to_numpy()
    n = len(y)
    coords = {"firm": np.arange(n), "factor": factors, "item": items,
              "free_loading": free_items, "path": [f"{r.lhs}~{r.rhs}" for r in paths.itertuples()]}
    with pm.Model(coords=coords) as model:
        lam_free = pm.Normal("loadings", 0, 10, dims="free_loading")
        beta = pm.Normal("paths", 0, 10, dims="path")
        nu = pm.Normal("intercepts", 0, 32, dims="item")
        theta_sd = pm.Gamma("residual_sd", 1, 0.5, dims="item")
        chol, _, _ = pm.LKJCholeskyCov("exo_cov", n=len(exo), eta=1,
                                        sd_dist=pm.Gamma.dist(1, 0.5, shape=len(exo)))
        zeta_sd = pm.Gamma("disturbance_sd", 1, 0.5, shape=len(factors) - len(exo))
        exo_scores = pm.MvNormal("exo_scores", mu=np.zeros(len(exo)), chol=chol,
                                 shape=(n, len(exo)))
        scores = {f: exo_scores[:, k] for k, f in enumerate(exo)}
        endo = [f for f in factors if f not in exo]
        for k, f in enumerate(endo):
            mean = 0
            for j, r in enumerate(paths.itertuples()):
                if r.lhs == f:
                    mean = mean + beta[j] * scores[r.rhs]
            scores[f] = pm.Normal(f"{f}_scores", mean, zeta_sd[k], shape=n)
        eta = pt.stack([scores[f] for f in factors], axis=1)
        lam = pt.ones(len(items))
        lam = pt.set_subtensor(lam[[items.index(i) for i in free_items]], lam_free)
        fac = np.array([factor_of[i] for i in items])
        pm.Normal("y", nu + lam * eta[:, fac], theta_sd, observed=y)
    return model


def timed_fit(model, data, **kwargs):
    """Fit, and return the fit with the seconds spent inside the sampler call."""
    inner = {}
    original = bayes_model.run_sampler

    def timed(*a, **k):
        t = time.perf_counter()
        out = original(*a, **k)
        inner["s"] = time.perf_counter() - t
        return out

    bayes_model.run_sampler = timed
    try:
        fit = model.fit(data, **kwargs)
    finally:
        bayes_model.run_sampler = original
    return fit, inner["s"]


def run(compiled, draws, tune, chains, seed):
    with threadpool_limits(1, user_api="blas"):
        t = time.perf_counter()
        idata = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, cores=2,
                              seed=seed, progress_bar=False)
        return idata, time.perf_counter() - t


def main() -> None:
    print(f"{'N':>6} {'form':12} {'compile s':>9} {'sample s':>9} {'min ESS':>8} "
          f"{'ESS/s':>8} {'R-hat':>6}")
    # N = 30 000 runs shorter chains: the conditional model has 180 000 latent scores
    for n, (draws, tune, chains) in ((300, (1000, 1000, 4)), (30_000, (200, 200, 2))):
        data = simulate_data(POPULATION, n, seed=1)
        model = br.Model(ANALYSIS)
        results = {}
        # marginal: bayes-rent itself (the fit compiles once; time the second, warm fit)
        t = time.perf_counter()
        model.fit(data, seed=0, draws=50, tune=50, chains=2, progressbar=False)
        compile_s = time.perf_counter() - t
        # time the sampler call alone, as for the conditional model below
        fit, sample_s = timed_fit(
            model, data, seed=1, draws=draws, tune=tune, chains=chains, progressbar=False
        )
        structural = fit.summary().query("op == '~'")
        results["marginal"] = (compile_s, sample_s, structural["ess_bulk"].min(),
                               structural["r_hat"].max())
        c, smp, ess, rhat = results["marginal"]
        print(f"{n:6d} {'marginal':12} {c:9.1f} {smp:9.1f} {ess:8.0f} {ess / smp:8.1f} "
              f"{rhat:6.3f}", flush=True)
        # conditional: latent scores sampled
        cmodel = conditional_model(data, model.partable)
        t = time.perf_counter()
        compiled = nutpie.compile_pymc_model(cmodel)
        compile_c = time.perf_counter() - t
        idata, sample_c = run(compiled, draws, tune, chains, 1)
        s = az.summary(idata, var_names=["paths"])
        results["conditional"] = (compile_c, sample_c, s["ess_bulk"].min(), s["r_hat"].max())
        c, smp, ess, rhat = results["conditional"]
        print(f"{n:6d} {'conditional':12} {c:9.1f} {smp:9.1f} {ess:8.0f} {ess / smp:8.1f} "
              f"{rhat:6.3f}")
        ratio = (results["marginal"][2] / results["marginal"][1]) / (
            results["conditional"][2] / results["conditional"][1]
        )
        print(f"{n:6d} marginal / conditional min-ESS per second: {ratio:.1f}x")


if __name__ == "__main__":
    main()
