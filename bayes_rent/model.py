"""``Model``: lavaan syntax in, a fitted Bayesian SEM out.

The flow, one module per step::

    syntax text ─► parameter table ─► layout ─► PyMC model ─► sampler ─► Fit
    (syntax.py)    (partable.py)      (backend/layout.py, backend/marginal.py) (sample.py) (fit.py)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from bayes_rent.backend.layout import build_layout
from bayes_rent.backend.marginal import build_model, prior_groups
from bayes_rent.backend.start import start_values
from bayes_rent.fit import Fit
from bayes_rent.identification import check_markers
from bayes_rent.observed import check_data, moments
from bayes_rent.partable import build_partable, observed_variables
from bayes_rent.priors import check_override_keys
from bayes_rent.sample import DEFAULT_SAMPLER, run_sampler, structure_key


class Model:
    """A structural equation model written in lavaan syntax.

    Parameters
    ----------
    syntax : str
        lavaan model syntax (``=~ ~ ~~ ~1 :=``, labels, fixed values, ``prior("...")``).
    std_lv : bool
        Identify factors by fixing their variances to 1 instead of a marker loading; loading
        signs are resolved after sampling.
    meanstructure : bool
        Estimate intercepts (needed with missing data; on by default).
    fixed_x : bool
        lavaan's conditional treatment of observed exogenous regressors (no variances for
        them). Off by default: the Bayesian model is joint.

    Examples
    --------
    >>> m = Model("ind60 =~ x1 + x2 + x3")
    >>> int(m.partable["free"].sum())  # 2 loadings, 4 variances, 3 intercepts
    9
    """

    def __init__(
        self,
        syntax: str,
        *,
        std_lv: bool = False,
        meanstructure: bool = True,
        fixed_x: bool = False,
    ) -> None:
        self.syntax = syntax
        self.std_lv = std_lv
        self.partable = build_partable(
            syntax, std_lv=std_lv, meanstructure=meanstructure, fixed_x=fixed_x
        )

    def fit(
        self,
        data: pd.DataFrame,
        *,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        seed: int | None = None,
        sampler: str = DEFAULT_SAMPLER,
        priors: Mapping[str, str] | None = None,
        progressbar: bool = True,
        ordered: bool | list[str] | None = None,
        group: str | None = None,
        cluster: str | None = None,
    ) -> Fit:
        """Sample the posterior of the model given the data.

        Parameters
        ----------
        data : pandas.DataFrame
            One row per respondent; the model's observed variables as columns. Missing
            values (NaN) are handled pattern-wise (full information, MAR).
        draws, tune, chains : int
            Draws kept per chain, warm-up iterations, number of chains.
        seed : int, optional
            Seed; the same seed gives the same draws.
        sampler : {"nutpie", "pymc", "numpyro"}
            NUTS implementation.
        priors : mapping, optional
            Prior overrides by parameter type (``"loadings"``, ``"=~"``), label, or
            ``"lhs op rhs"``; values are prior strings such as ``"normal(0,1)"``.
        progressbar : bool
            Show sampling progress.
        ordered, group, cluster
            Ordinal items, multiple groups and clustered firms: not in this release.

        Returns
        -------
        Fit

        Raises
        ------
        bayes_rent.observed.DataError
            When a column is absent, not numeric or constant, or there are too few rows.
        """
        for name, value in (("ordered", ordered), ("group", group), ("cluster", cluster)):
            if value:
                raise NotImplementedError(
                    f"{name}= is not supported yet: this release fits continuous indicators "
                    "in a single group with the marginal backend."
                )
        pt = self.partable
        observed = observed_variables(pt)
        frame = check_data(pd.DataFrame(data), observed)
        if not self.std_lv:
            pt = check_markers(pt, frame)
        layout = build_layout(pt)
        check_override_keys(
            priors,
            set(pt["label"][pt["label"] != ""])
            | {f"{a}{o}{b}" for a, o, b in pt[["lhs", "op", "rhs"]].itertuples(index=False)},
        )
        groups = prior_groups(layout, priors)
        stats = moments(frame)
        key = structure_key(
            pt[["lhs", "op", "rhs", "free", "value", "label"]].to_csv(),
            [(g.name, g.spec, g.elements) for g in groups],
        )
        missing_cells = filled = None
        if stats.scattered:
            values = frame.to_numpy(dtype=float)
            missing_cells = np.nonzero(np.isnan(values))
            filled = np.where(np.isnan(values), np.nanmean(values, axis=0), values)
            key = structure_key(key, "augmented", missing_cells)
        model = build_model(layout, stats, groups, missing_cells=missing_cells, filled=filled)
        start = start_values(layout, stats, std_lv=self.std_lv, data=frame)
        initvals = _chain_initvals(start, groups, chains, seed)
        if missing_cells is not None:
            for point in initvals:
                point["missing_answers"] = filled[missing_cells]
        model_data = stats.as_data() if missing_cells is None else {"filled_data": filled}
        idata = run_sampler(
            model, key, model_data, initvals, sampler=sampler, draws=draws, tune=tune,
            chains=chains, seed=seed, progressbar=progressbar,
        )
        return Fit(
            model=self, partable=pt, layout=layout, groups=groups, idata=idata, data=frame,
            moments=stats, sampler=sampler,
            settings=dict(draws=draws, tune=tune, chains=chains, sampler=sampler, seed=seed),
        )


def _chain_initvals(
    start: np.ndarray, groups, chains: int, seed: int | None
) -> list[dict[str, np.ndarray]]:
    """Per-chain starting values of the sampled vectors, jittered around the optimum.

    The jitter is applied on the unconstrained scale (log SD, atanh correlation), so every
    start is valid, and it is small so no chain starts in the degenerate region.
    """
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(chains):
        point = {}
        for g in groups:
            x = start[g.elements]
            jit = rng.uniform(-0.1, 0.1, size=x.shape)
            if g.kind == "sd":
                x = x * np.exp(jit)
                x = x**2 if g.spec.scale == "var" else 1 / x**2 if g.spec.scale == "prec" else x
            elif g.kind == "correlation":
                x = np.tanh(np.arctanh(np.clip(x, -0.99, 0.99)) + jit)
                if g.spec.family == "beta":
                    x = (x + 1) / 2
            else:
                x = x + jit * np.maximum(np.abs(x), 0.1)
            if g.spec.family == "uniform":
                lo, hi = g.spec.args
                x = np.clip(x, lo + 1e-6 * (hi - lo), hi - 1e-6 * (hi - lo))
            point[g.name] = x
        out.append(point)
    return out


def sem(syntax: str, data: pd.DataFrame, *, std_lv: bool = False, **kwargs) -> Fit:
    """Fit a structural equation model (lavaan's ``sem()``, the Bayesian way).

    Parameters
    ----------
    syntax : str
        lavaan model syntax.
    data : pandas.DataFrame
        Respondents' data.
    std_lv : bool
        Identify factors by unit variances instead of marker loadings.
    **kwargs
        Passed to :meth:`Model.fit` (``draws``, ``tune``, ``chains``, ``seed``, ``sampler``,
        ``priors``, ``progressbar``).

    Returns
    -------
    Fit

    Examples
    --------
    >>> import bayes_rent as br
    >>> fit = br.sem("ind60 =~ x1 + x2 + x3", br.datasets.political_democracy(),
    ...              draws=200, tune=200, chains=2, seed=1, progressbar=False)  # doctest: +SKIP
    >>> fit.summary().loc[:, ["lhs", "op", "rhs", "mean"]].head(3)  # doctest: +SKIP
    """
    model_kwargs = {k: kwargs.pop(k) for k in ("meanstructure", "fixed_x") if k in kwargs}
    return Model(syntax, std_lv=std_lv, **model_kwargs).fit(data, **kwargs)


def cfa(syntax: str, data: pd.DataFrame, *, std_lv: bool = False, **kwargs) -> Fit:
    """Fit a confirmatory factor analysis (lavaan's ``cfa()``); same options as :func:`sem`.

    Examples
    --------
    >>> import bayes_rent as br
    >>> hs = "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9"
    >>> fit = br.cfa(hs, br.datasets.holzinger_swineford(), seed=1)  # doctest: +SKIP
    """
    return sem(syntax, data, std_lv=std_lv, **kwargs)
