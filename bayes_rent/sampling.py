"""Running the sampler: nutpie (default), PyMC's NUTS, or numpyro.

Two things here matter more for speed than the sampler itself:

* compiled models are cached in the process and reused when the same model structure meets new
  data (a sensitivity sweep, a simulation replicate): nutpie's compiled model takes new
  ``pm.Data`` values without being rebuilt;
* BLAS threads are limited to one while sampling. The matrices are small, and on a busy 2-core
  machine OpenBLAS threading made each gradient 10–40× slower. The limit is scoped to the fit,
  so the user's environment is left as it was.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import arviz as az
import numpy as np
import pymc as pm
from threadpoolctl import threadpool_limits

SAMPLERS = ("nutpie", "pymc", "numpyro")
DEFAULT_SAMPLER = "nutpie"

_COMPILED: dict[str, object] = {}


def compiled_models() -> int:
    """How many models this process has compiled for nutpie so far (each structure once).

    A sensitivity sweep reads it before and after a fit to count the compiles it caused.

    Examples
    --------
    >>> compiled_models() >= 0
    True
    """
    return len(_COMPILED)


def _flat_initial_point(model: pm.Model, values: dict[str, np.ndarray]) -> Callable:
    """nutpie's initial-point function: the given point on the unconstrained scale, jittered.

    nutpie calls it once per chain with a chain-specific seed, so the jitter is reproducible.
    """
    from pymc.initial_point import make_initial_point_fn

    fn = make_initial_point_fn(
        model=model, overrides=values, jitter_rvs=set(), return_transformed=True
    )
    point = fn(0)
    names = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    flat = np.concatenate([np.ravel(point[n]) for n in names])

    def initial_point(seed) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return flat + rng.uniform(-0.1, 0.1, size=flat.shape)

    return initial_point


def run_sampler(
    model: pm.Model,
    key: str,
    data: dict[str, np.ndarray],
    initvals: list[dict[str, np.ndarray]],
    *,
    sampler: str = DEFAULT_SAMPLER,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int | None = None,
    progressbar: bool = True,
    target_accept: float | None = None,
    nutpie_backend: str = "numba",
) -> az.InferenceData:
    """Sample the model and return the posterior as InferenceData.

    Parameters
    ----------
    model : pymc.Model
        The model (its ``pm.Data`` are replaced by ``data``).
    key : str
        Structure key for the compile cache
        (:func:`bayes_rent.backend.base.structure_key`).
    data : dict
        Values of the model's ``pm.Data``.
    initvals : list of dict
        Starting values of the free variables per chain (constrained scale). nutpie starts
        from the first and jitters it on the unconstrained scale with its chain seeds.
    sampler : {"nutpie", "pymc", "numpyro"}
        Which NUTS implementation runs.
    draws, tune, chains : int
        Draws kept per chain, warm-up iterations per chain, number of chains.
    seed : int, optional
        Seed; the same seed gives the same draws.
    progressbar : bool
        Show progress while sampling.
    target_accept : float, optional
        NUTS's target acceptance rate (the sampler's default, 0.8, when None); higher values
        take smaller steps, which removes divergences in funnel-shaped posteriors.
    nutpie_backend : {"numba", "jax"}
        How nutpie compiles the log density and its gradient. numba is fastest for the small
        marginal models (each gradient costs microseconds, and JAX's per-call overhead would
        dominate); JAX compiles in seconds instead of tens of seconds and is faster for the
        conditional backend's large gradients (see ``bench/README.md``).

    Returns
    -------
    arviz.InferenceData
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, not {sampler!r}")
    seed = int(np.random.SeedSequence(seed).generate_state(1)[0]) if seed is None else seed
    cores = max(1, min(chains, os.cpu_count() or 1))
    with threadpool_limits(limits=1, user_api="blas"):
        if sampler == "nutpie":
            import nutpie

            cache_key = f"{key}:nutpie:{nutpie_backend}"
            if cache_key not in _COMPILED:
                options = {}
                if nutpie_backend == "jax":
                    # freeze_model=False keeps the data as shared inputs (so a compiled model
                    # takes new data); freezing them gave a wrong log density for models with
                    # a pm.Potential likelihood (about twice the true value, nutpie 0.16.8)
                    options = dict(backend="jax", gradient_backend="jax", freeze_model=False)
                _COMPILED[cache_key] = nutpie.compile_pymc_model(model, **options)
            compiled = _COMPILED[cache_key].with_data(**data)
            start = _flat_initial_point(model, initvals[0])
            # the numba and the JAX compiled models name their start-point function differently
            field = ("initial_point_func" if hasattr(compiled, "initial_point_func")
                     else "_make_initial_points")
            compiled = dataclasses.replace(compiled, **{field: start})
            extra = {} if target_accept is None else {"target_accept": target_accept}
            return nutpie.sample(
                compiled, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed,
                progress_bar=progressbar, **extra,
            )
        with model:
            pm.set_data(data)
            kwargs = dict(draws=draws, tune=tune, chains=chains, cores=cores, random_seed=seed,
                          progressbar=progressbar, initvals=initvals, init="adapt_diag",
                          compute_convergence_checks=False)
            if target_accept is not None:
                kwargs["target_accept"] = target_accept
            if sampler == "numpyro":
                kwargs["nuts_sampler"] = "numpyro"
            return pm.sample(**kwargs)
