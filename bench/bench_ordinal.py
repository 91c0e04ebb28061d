"""Ordinal fit of a large Likert survey: 25 five-point items, 5 factors, N = 2 800.

Wall time, max R-hat, min bulk ESS over the parameter-table rows and min bulk ESS per second of
sampling, for several samplers and sampler options side by side in one run, with BLAS limited
to one thread as in every fit. The data are simulated from a known model (theta
parameterization). A configuration passes when max R-hat <= 1.01, min bulk ESS >= 400 and there
are no divergences.

``total`` is the wall time of ``Model.fit`` (start values, compilation, sampling, summaries);
``setup`` is the part of the sampler call outside the sampling loop (PyTensor compilation; for
PyMC and numpyro also the post-processing of the draws). JAX compiles lazily, so for
``nutpie-jax`` and ``numpyro`` its compilation falls inside the sampling time.

The model, data handling, start values and convergence report are the package's own
(``Model.fit(ordered=True)``); only the call of the sampler is replaced, so that options the
public API does not expose (nutpie's JAX backend, its low-rank mass matrix, numpyro's chain
method, the target acceptance rate) can be compared:

==================  =================================================================
``default``         ``Model(syntax).fit(data, ordered=True, seed=...)`` and nothing
                    else: the package's defaults for ordinal items (nutpie's JAX backend,
                    std_lv with positive first loadings, 2 x (400 + 1 250), target_accept
                    0.65); identification, draws and target_accept options are ignored
``nutpie``          nutpie, numba backend (the package's default sampler)
``nutpie-jax``      nutpie, log density and gradient compiled by JAX
``nutpie-lowrank``  nutpie, numba backend, ``low_rank_modified_mass_matrix=True``
``numpyro``         ``pm.sample(nuts_sampler="numpyro")``, one chain per core, no jitter
``numpyro-vec``     the same with ``chain_method="vectorized"``
``pymc``            PyMC's own NUTS (``pm.sample``), C backend
==================  =================================================================

Usage::

    python bench/bench_ordinal.py        # the package's defaults for ordinal items
    python bench/bench_ordinal.py --configs nutpie-jax numpyro nutpie --n 700
    python bench/bench_ordinal.py --target-accept 0.8 --marker
    python bench/bench_ordinal.py --gradient    # ms per log density + gradient: numba, C, JAX
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import bayes_rent as br
import bayes_rent.model as br_model
from bayes_rent.data.population import simulate_ordinal_data
from bayes_rent.sampling import _flat_initial_point

FACTORS = 5
ITEMS = 5
THRESHOLDS = [-1.8, -0.7, 0.5, 1.6]
CONFIGS = ("default", "nutpie", "nutpie-jax", "nutpie-lowrank", "numpyro", "numpyro-vec", "pymc")


def population() -> str:
    """Five correlated factors, five items each, one structural path f5 ~ f1."""
    loadings = [1.0, 0.8, 1.2, 0.9, 1.1]
    lines = []
    for f in range(1, FACTORS + 1):
        terms = [f"{lam}*y{(f - 1) * ITEMS + k + 1}" for k, lam in enumerate(loadings)]
        lines.append(f"f{f} =~ " + " + ".join(terms))
    lines.append("f5 ~ 0.5*f1")
    for f in range(1, FACTORS):
        lines.append(f"f{f} ~~ 1*f{f}")
        lines += [f"f{f} ~~ 0.3*f{g}" for g in range(f + 1, FACTORS)]
    lines.append("f5 ~~ 0.75*f5")
    return "\n".join(lines)


def analysis() -> str:
    lines = [
        f"f{f} =~ " + " + ".join(f"y{(f - 1) * ITEMS + k + 1}" for k in range(ITEMS))
        for f in range(1, FACTORS + 1)
    ]
    return "\n".join(lines + ["f5 ~ f1"])


def make_runner(config: str, timings: dict, target_accept: float | None = None):
    """A stand-in for :func:`bayes_rent.sampling.run_sampler` that runs ``config`` and records
    compile and sampling wall time in ``timings``."""

    def run(model, key, data, initvals, *, sampler, draws, tune, chains, seed, progressbar,
            **_settings):  # further settings of Model.fit (target_accept): the bench's own
        cores = max(1, min(chains, os.cpu_count() or 1))
        with threadpool_limits(limits=1, user_api="blas"):
            if config.startswith("nutpie"):
                import nutpie

                start = time.perf_counter()
                backend = {}
                if config == "nutpie-jax":
                    # freeze_model=False: the model has start values, which freezing rejects
                    backend = dict(backend="jax", gradient_backend="jax", freeze_model=False)
                compiled = nutpie.compile_pymc_model(model, **backend).with_data(**data)
                init = _flat_initial_point(model, initvals[0])
                # the numba model takes initial_point_func, the JAX one _make_initial_points
                field = ("_make_initial_points" if hasattr(compiled, "_make_initial_points")
                         else "initial_point_func")
                compiled = dataclasses.replace(compiled, **{field: init})
                timings["compile"] = time.perf_counter() - start
                start = time.perf_counter()
                idata = nutpie.sample(
                    compiled, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed,
                    progress_bar=progressbar,
                    low_rank_modified_mass_matrix=config == "nutpie-lowrank",
                    **({} if target_accept is None else {"target_accept": target_accept}),
                )
                timings["sample"] = time.perf_counter() - start
                return idata
            import pymc as pm

            kwargs = dict(draws=draws, tune=tune, chains=chains, cores=cores, random_seed=seed,
                          progressbar=progressbar, initvals=initvals, init="adapt_diag",
                          compute_convergence_checks=False)
            if target_accept is not None:
                kwargs["target_accept"] = target_accept
            if config.startswith("numpyro"):
                kwargs["nuts_sampler"] = "numpyro"
                kwargs["nuts_sampler_kwargs"] = {
                    "chain_method": "vectorized" if config == "numpyro-vec" else "parallel",
                    # start where the package starts; pm.sample would add U(-1, 1) to every
                    # free value (14 000 scores included)
                    "jitter": False,
                }
            with model:
                pm.set_data(data)
                start = time.perf_counter()
                idata = pm.sample(**kwargs)
            total = time.perf_counter() - start
            # pm.sample's sampling_time covers warm-up and draws, not the compilation
            timings["sample"] = float(idata.posterior.attrs.get("sampling_time", total))
            timings["compile"] = total - timings["sample"]
            return idata

    return run


def timed_sampler(run_sampler, timings: dict):
    """The package's own sampler call, timed (JAX compiles lazily, inside sampling)."""

    def run(*args, **kwargs):
        start = time.perf_counter()
        idata = run_sampler(*args, **kwargs)
        timings["compile"], timings["sample"] = 0.0, time.perf_counter() - start
        return idata

    return run


def gradient_costs(data, std_lv: bool, repeats: int = 50) -> None:
    """ms per log density + gradient of the fitted model: numba, C, JAX (one thread each)."""
    import jax
    import pymc as pm
    from pymc.sampling.jax import get_jaxified_logp

    jax.config.update("jax_enable_x64", True)
    captured = {}

    class _Captured(Exception):
        pass

    def capture(model, key, model_data, initvals, **_):
        captured.update(model=model, data=model_data)
        raise _Captured

    br_model.run_sampler = capture
    try:
        br.Model(analysis(), std_lv=std_lv).fit(data, ordered=True, chains=1, seed=1)
    except _Captured:
        pass
    model = captured["model"]
    with model:
        pm.set_data(captured["data"])
    point = model.initial_point()
    values = model.value_vars

    def per_call(fn, call_args):
        fn(*call_args)
        start = time.perf_counter()
        for _ in range(repeats):
            fn(*call_args)
        return (time.perf_counter() - start) / repeats * 1e3

    with threadpool_limits(limits=1, user_api="blas"):
        out = {}
        for mode in ("NUMBA", "FAST_RUN"):
            fn = model.logp_dlogp_function(ravel_inputs=True, mode=mode)
            fn.set_extra_values({})
            flat = np.concatenate([np.ravel(point[v.name]) for v in values])
            out[mode] = per_call(fn, [flat])
        jax_logp = get_jaxified_logp(model)
        value_and_grad = jax.jit(jax.value_and_grad(lambda *x: jax_logp(x)))
        jax_args = [jax.numpy.asarray(point[v.name]) for v in values]

        def jax_call(*a):
            value_and_grad(*a)[0].block_until_ready()

        out["JAX"] = per_call(jax_call, jax_args)
    for name, ms in out.items():
        text = f"{ms:.2f} ms" if isinstance(ms, float) else ms
        print(f"  log density + gradient, {name:8s}: {text}")
    print(f"  load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["default"], choices=CONFIGS)
    parser.add_argument("--n", type=int, default=2800)
    parser.add_argument("--draws", type=int, default=1250)
    parser.add_argument("--tune", type=int, default=400)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--marker", action="store_true",
                        help="marker identification instead of std_lv=True")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--target-accept", type=float, default=0.65,
                        help="NUTS target acceptance rate (the samplers' own default is 0.8)")
    parser.add_argument("--gradient", action="store_true",
                        help="only time one log density + gradient per backend")
    args = parser.parse_args()
    std_lv = not args.marker

    data = simulate_ordinal_data(population(), args.n, THRESHOLDS, seed=2800)
    print(f"N = {args.n}, {FACTORS * ITEMS} items, {FACTORS} factors, "
          f"{'std_lv' if std_lv else 'marker'}, {args.chains} chains x ({args.tune} tune + "
          f"{args.draws} draws), target_accept {args.target_accept}, {os.cpu_count()} cores")
    if args.gradient:
        gradient_costs(data, std_lv)
        return
    print(f"{'config':>14} {'total s':>8} {'setup s':>8} {'sample s':>9} {'max R-hat':>9} "
          f"{'min ESS':>8} {'ESS/s':>7} {'diverg.':>7} {'pass':>5} {'load':>10}")
    package_sampler = br_model.run_sampler
    for config in args.configs:
        timings: dict[str, float] = {}
        load = os.getloadavg()[0]
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if config == "default":
                br_model.run_sampler = timed_sampler(package_sampler, timings)
                fit = br.Model(analysis()).fit(data, ordered=True, seed=args.seed,
                                               progressbar=False)
            else:
                br_model.run_sampler = make_runner(config, timings, args.target_accept)
                fit = br.Model(analysis(), std_lv=std_lv).fit(
                    data, ordered=True, seed=args.seed, draws=args.draws, tune=args.tune,
                    chains=args.chains, progressbar=False,
                )
        total = time.perf_counter() - start
        c = fit.convergence
        ok = c.max_r_hat <= 1.01 and c.min_ess_bulk >= 400 and c.divergences == 0
        print(f"{config:>14} {total:8.0f} {timings['compile']:8.0f} {timings['sample']:9.0f} "
              f"{c.max_r_hat:9.3f} {c.min_ess_bulk:8.0f} {c.min_ess_bulk / timings['sample']:7.2f} "
              f"{c.divergences:7d} {'yes' if ok else 'no':>5} "
              f"{load:4.1f}-{os.getloadavg()[0]:4.1f}", flush=True)


if __name__ == "__main__":
    main()
