"""Simulation-based calibration (Talts et al. 2018; Modrák et al. 2023).

Draw parameters from the prior, data from the model given them, fit, and rank each true
value among its posterior draws. When the sampler and the model are right, every rank is
uniform on ``0..L``. Every simulation has the same structure and new data (``pm.Data``), so
one compiled model serves them all in a process.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from scipy import stats

from bayes_rent.backend.parameters import PriorGroup, checked_prior_groups
from bayes_rent.data.population import normal_draws
from bayes_rent.model import Model
from bayes_rent.results.diagnostics import ConvergenceWarning
from bayes_rent.sampling import compiled_models
from bayes_rent.sensitivity.executors import InlineExecutor, local_executor
from bayes_rent.spec.implied import implied_moments
from bayes_rent.spec.layout import Layout, build_layout
from bayes_rent.spec.priors import natural_values, prior_distribution


def prior_draws(groups: list[PriorGroup], n_sims: int, rng: np.random.Generator
                ) -> dict[str, np.ndarray]:
    """``n_sims`` draws of every sampled vector from its prior, ``{name: (n_sims, size)}``."""
    out = {}
    for g in groups:
        dist = prior_distribution(g.spec)
        raw = pm.draw(dist, draws=n_sims * len(g.elements), random_seed=rng)
        out[g.name] = np.reshape(raw, (n_sims, len(g.elements)))
    return out


def simulate_datasets(layout: Layout, groups: list[PriorGroup], raw: Mapping[str, np.ndarray],
                      n_respondents: int, rng: np.random.Generator) -> list[pd.DataFrame]:
    """One data set per prior draw, drawn from the model-implied normal distribution."""
    n_sims = len(next(iter(raw.values())))
    elements = np.zeros((n_sims, len(layout.elements)))
    for g in groups:
        elements[:, g.elements] = natural_values(raw[g.name], g.spec, g.kind)
    sigma, mu = implied_moments(layout, elements)
    if (np.linalg.eigvalsh(sigma)[:, 0] <= 0).any():
        raise ValueError("a prior draw gives a covariance matrix that is not positive "
                         "definite; give tighter priors (priors=)")
    return [pd.DataFrame(normal_draws(rng, s, n_respondents) + m, columns=layout.observed)
            for s, m in zip(sigma, mu, strict=True)]


def rank_simulation(model: Model, data: pd.DataFrame, truth: Mapping[str, pd.Series],
                    priors: Mapping[str, str] | None, seed: int, thin: int,
                    fit_options: Mapping[str, object]) -> dict:
    """Fit one simulated data set and rank the true values among the (thinned) draws.

    Returns ``ranks`` (a Series by ``group[element]``), ``n_draws`` (L) and ``compiles``.
    """
    before = compiled_models()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = model.fit(data, priors=None if priors is None else dict(priors), seed=seed,
                        **fit_options)
    post = fit.idata.posterior
    ranks = {}
    n_draws = 0
    for name, values in truth.items():
        dim = [d for d in post[name].dims if d not in ("chain", "draw")][0]
        draws = post[name].isel(draw=slice(None, None, thin)).stack(s=("chain", "draw"))
        draws = draws.sel({dim: list(values.index)}).transpose(dim, "s").values
        n_draws = draws.shape[1]
        for element, rank in zip(values.index, (draws < values.to_numpy()[:, None]).sum(1),
                                 strict=True):
            ranks[f"{name}[{element}]"] = int(rank)
    return dict(ranks=pd.Series(ranks), n_draws=n_draws, compiles=compiled_models() - before)


def uniformity_test(ranks: np.ndarray, n_draws: int, bins: int) -> tuple[float, float]:
    """Chi-square test that ranks ``0..n_draws`` are uniform, over ``bins`` bins.

    The expected count of a bin is exact: the number of rank values in it over
    ``n_draws + 1``. Returns the statistic and the p-value (``bins - 1`` degrees of freedom).

    Examples
    --------
    >>> r = np.random.default_rng(0).integers(0, 101, 1000)
    >>> bool(uniformity_test(r, 100, 10)[1] > 0.01)
    True
    """
    edges = np.linspace(0, n_draws + 1, bins + 1)
    values = np.arange(n_draws + 1)
    expected = np.histogram(values, edges)[0] / (n_draws + 1) * len(ranks)
    observed = np.histogram(ranks, edges)[0]
    statistic, p_value = stats.chisquare(observed, expected)
    return float(statistic), float(p_value)


@dataclass
class Calibration:
    """The ranks of a simulation-based calibration.

    Attributes
    ----------
    ranks : xarray.DataArray
        Dims ``(sim, parameter)``; each rank is in ``0..n_draws``.
    n_draws : int
        Posterior draws each true value was ranked among (after thinning).
    truth : xarray.DataArray
        The prior draws the data were simulated from, same dims.
    compiles : int
        Models compiled for the simulations.
    """

    ranks: xr.DataArray
    n_draws: int
    truth: xr.DataArray
    compiles: int = 0

    def test(self, bins: int | None = None) -> pd.DataFrame:
        """Per parameter: chi-square test of uniform ranks (``statistic``, ``df``,
        ``p_value``). By default ``min(20, n_sims // 10)`` bins (at least 2), so that
        every bin expects 10 simulations or more."""
        n_sims = self.ranks.sizes["sim"]
        bins = bins or max(2, min(20, n_sims // 10))
        rows = []
        for name in self.ranks["parameter"].values:
            stat, p = uniformity_test(self.ranks.sel(parameter=name).values, self.n_draws, bins)
            rows.append(dict(parameter=name, statistic=stat, df=bins - 1, p_value=p))
        return pd.DataFrame(rows)

    def plot_ranks(self, bins: int | None = None):
        """Rank histograms, one panel per parameter, with the uniform count's 99 % band."""
        import matplotlib.pyplot as plt

        n_sims = self.ranks.sizes["sim"]
        bins = bins or max(2, min(20, n_sims // 10))
        names = list(self.ranks["parameter"].values)
        cols = min(4, len(names))
        fig, axes = plt.subplots(-(-len(names) // cols), cols, squeeze=False,
                                 figsize=(3 * cols, 2.2 * -(-len(names) // cols)))
        low, high = stats.binom.ppf([0.005, 0.995], n_sims, 1 / bins)
        for ax, name in zip(axes.flat, names, strict=False):
            ax.axhspan(low, high, color="grey", alpha=0.3)
            ax.hist(self.ranks.sel(parameter=name).values, bins=np.linspace(
                0, self.n_draws + 1, bins + 1))
            ax.set_title(name, fontsize=8)
        for ax in list(axes.flat)[len(names):]:
            ax.set_visible(False)
        fig.tight_layout()
        return axes

    def plot_ecdf(self):
        """ECDF difference of the normalized ranks (Säilynoja et al. 2022), with ArviZ."""
        import arviz as az

        fractional = (self.ranks + 0.5) / (self.n_draws + 1)
        names = list(self.ranks["parameter"].values)
        cols = min(4, len(names))
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(-(-len(names) // cols), cols, squeeze=False,
                                 figsize=(3 * cols, 2.2 * -(-len(names) // cols)))
        for ax, name in zip(axes.flat, names, strict=False):
            az.plot_ecdf(fractional.sel(parameter=name).values, cdf=stats.uniform(0, 1).cdf,
                         difference=True, confidence_bands=True, ax=ax)
            ax.set_title(name, fontsize=8)
        for ax in list(axes.flat)[len(names):]:
            ax.set_visible(False)
        fig.tight_layout()
        return axes


def calibrate(
    model: Model | str, n_sims: int, *, executor: Executor | str | None = None,
    seed: int | None = None, n_respondents: int = 200, priors: Mapping[str, str] | None = None,
    generator_priors: Mapping[str, str] | None = None, thin: int = 1, progress: bool = True,
    **fit_options,
) -> Calibration:
    """Simulation-based calibration of a model, its priors and the sampler.

    Parameters
    ----------
    model : Model or str
        The model (marker or fixed-variance identification; continuous items).
    n_sims : int
        Number of simulated data sets (100 or more for a test at the 1 % level).
    executor : concurrent.futures.Executor or "inline", optional
        As for :func:`~bayes_rent.sensitivity.sweep.prior_sweep`.
    seed : int, optional
        Seed of the prior draws, the data and the fits.
    n_respondents : int
        Respondents per simulated data set.
    priors : mapping, optional
        The priors of the fits (proper and reasonably tight: every draw must give a valid
        model and data a sampler can fit).
    generator_priors : mapping, optional
        The priors the true values are drawn from; by default ``priors``. Giving other
        priors here checks that SBC notices a model that is wrong.
    thin : int
        Keep every ``thin``-th draw before ranking (ranks of autocorrelated draws are not
        uniform).
    progress : bool
        Show a progress bar over simulations.
    **fit_options
        Passed to :meth:`Model.fit` (keep ``draws`` small: 100–200 per chain).

    Returns
    -------
    Calibration

    Examples
    --------
    >>> cal = calibrate("f =~ x1 + x2 + x3", 100, seed=1, executor="inline",
    ...                 priors=tight, draws=100)  # doctest: +SKIP
    >>> cal.test()["p_value"].min() > 0.01  # doctest: +SKIP
    True
    """
    from tqdm.auto import tqdm

    model = Model(model) if isinstance(model, str) else model
    rng = np.random.default_rng(seed)
    layout = build_layout(model.partable)
    fit_groups = checked_prior_groups(layout, priors)
    gen_groups = checked_prior_groups(layout, priors if generator_priors is None
                                      else generator_priors)
    raw = prior_draws(gen_groups, n_sims, rng)
    datasets = simulate_datasets(layout, gen_groups, raw, n_respondents, rng)
    names = {g.name: [layout.elements[k].name for k in g.elements] for g in fit_groups}
    by_element = {k: (g.name, j) for g in gen_groups for j, k in enumerate(g.elements)}
    seeds = rng.integers(0, 2**31 - 1, size=n_sims)
    fit_options = {"progressbar": False, **fit_options}
    pool = (InlineExecutor() if executor == "inline"
            else local_executor(n_sims) if executor is None else executor)
    try:
        futures = {}
        for s in range(n_sims):
            truth = {g.name: pd.Series(
                [raw[by_element[k][0]][s, by_element[k][1]] for k in g.elements],
                index=names[g.name]) for g in fit_groups}
            futures[pool.submit(rank_simulation, model, datasets[s], truth, priors,
                                int(seeds[s]), thin, fit_options)] = (s, truth)
        results = {}
        for future in tqdm(as_completed(futures), total=n_sims, disable=not progress,
                           desc="calibration"):
            results[futures[future][0]] = (future.result(), futures[future][1])
    finally:
        if executor is None:
            pool.shutdown(cancel_futures=True)
    return _collect([results[s] for s in range(n_sims)])


def _collect(results: list[tuple[dict, dict]]) -> Calibration:
    """Stack the simulations' ranks and true values into a :class:`Calibration`."""
    ranks = pd.DataFrame([r["ranks"] for r, _ in results])
    truth = pd.DataFrame([{f"{k}[{e}]": x for k, v in t.items() for e, x in v.items()}
                          for _, t in results])
    dims = ("sim", "parameter")
    coords = {"sim": np.arange(len(ranks)), "parameter": list(ranks.columns)}
    return Calibration(
        ranks=xr.DataArray(ranks.to_numpy(), dims=dims, coords=coords),
        n_draws=int(results[0][0]["n_draws"]),
        truth=xr.DataArray(truth[list(ranks.columns)].to_numpy(), dims=dims, coords=coords),
        compiles=sum(int(r["compiles"]) for r, _ in results),
    )
