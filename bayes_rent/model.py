"""``Model``: lavaan syntax in, a fitted Bayesian SEM out, by one route for every kind of model.

::

    syntax ─► parameter table ─► backend.prepare ─► run_sampler ─► Fit family
    (spec/)   (spec/partable.py)  (backend/)         (sampling.py)  (fit/)

:meth:`Model.fit` fills in the sampling defaults, lets :func:`~bayes_rent.backend.registry.
choose_backend` pick the kind of model, and runs prepare → sample → fit
(``docs/architecture.md``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from bayes_rent.backend import generic
from bayes_rent.backend.base import FitRequest
from bayes_rent.backend.multigroup import DEFAULT_POOLING_PRIOR
from bayes_rent.backend.registry import choose_backend
from bayes_rent.data.observed import DataError
from bayes_rent.fit import Fit, GroupFit, TwoLevelFit
from bayes_rent.sampling import DEFAULT_SAMPLER, run_sampler
from bayes_rent.spec.partable import build_partable, latent_variables, observed_variables
from bayes_rent.validation import apply_missing_codes, validate_fit_request

#: the Fit family member for each kind of result a backend prepares
FIT_KINDS = {"single": Fit, "groups": GroupFit, "twolevel": TwoLevelFit}
#: the settings that go to the sampler (a fit records a few more, e.g. the group column)
SAMPLER_OPTIONS = ("draws", "tune", "chains", "seed", "sampler", "progressbar", "target_accept")
#: Sampling defaults of continuous models (blavaan-like: 4 chains of 1 000 + 1 000).
SAMPLING = dict(draws=1000, tune=1000, chains=4, target_accept=None)
#: Sampling defaults with ordinal items: every gradient touches every answer, and this
#: configuration reached R-hat <= 1.01 and bulk ESS >= 400 fastest at N = 2 800
#: (bench/bench_ordinal.py, bench/README.md).
ORDINAL_SAMPLING = dict(draws=1250, tune=400, chains=2, target_accept=0.65)


class Model:
    """A structural equation model written in lavaan syntax.

    Parameters
    ----------
    syntax : str
        lavaan model syntax (``=~ ~ ~~ ~1 :=``, labels, fixed values, ``prior("...")``).
    std_lv : bool, optional
        Identify factors by fixing their variances to 1 instead of a marker loading; loading
        signs are resolved after sampling (blavaan's rule: each factor's first loading
        positive). By default (``None``) continuous models use markers, as lavaan does, and
        models with ordinal items use ``std_lv`` with each factor's first loading held
        positive while sampling: at N = 2 800 that converged where markers did not
        (bench/README.md, "Ordinal items at the size of a large survey"). ``std_lv=False``
        forces markers.
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
        std_lv: bool | None = None,
        meanstructure: bool = True,
        fixed_x: bool = False,
    ) -> None:
        self.syntax = syntax
        self.std_lv = bool(std_lv)
        # None: the choice is the backend's (std_lv for ordinal items, markers otherwise)
        self.std_lv_given = std_lv is not None
        self._options = dict(std_lv=self.std_lv, meanstructure=meanstructure, fixed_x=fixed_x)
        self.partable = build_partable(syntax, **self._options)

    def fit(
        self,
        data: pd.DataFrame,
        *,
        draws: int | None = None,
        tune: int | None = None,
        chains: int | None = None,
        seed: int | None = None,
        sampler: str = DEFAULT_SAMPLER,
        priors: Mapping[str, str] | None = None,
        progressbar: bool = True,
        ordered: bool | list[str] | None = None,
        group: str | None = None,
        group_equal: list[str] | tuple[str, ...] = (),
        pooling: str = "none",
        pooling_prior: str = DEFAULT_POOLING_PRIOR,
        target_accept: float | None = None,
        cluster: str | pd.Series | None = None,
        random_paths: bool | list[str] = False,
        cluster_options: Mapping[str, object] | None = None,
        missing_codes: Iterable[float] = (),
    ) -> Fit:
        """Sample the posterior of the model given the data.

        Parameters
        ----------
        data : pandas.DataFrame or dask.dataframe.DataFrame
            One row per respondent; the model's observed variables as columns. Missing
            values (NaN) are handled pattern-wise (full information, MAR). A Dask DataFrame
            (data larger than memory; continuous items, optionally ``group=``) is checked
            and reduced to its sufficient statistics on its cluster
            (:mod:`bayes_rent.data.distributed`); per-respondent results (``loo``,
            ``scores``, ``log_likelihood``) then need a pandas frame.
        draws, tune, chains : int, optional
            Draws kept per chain, warm-up iterations, number of chains. By default
            4 chains x (1 000 warm-up + 1 000 draws); with ordinal items 2 chains x (400 +
            1 250) at ``target_accept=0.65``, the configuration that reached R-hat <= 1.01
            and bulk ESS >= 400 fastest at N = 2 800 (bench/README.md, "Ordinal items at the
            size of a large survey"): the same effective sample size in far fewer gradients,
            each of which touches every answer.
        seed : int, optional
            Seed; the same seed gives the same draws.
        sampler : {"nutpie", "pymc", "numpyro"}
            NUTS implementation.
        priors : mapping, optional
            Prior overrides by parameter type (``"loadings"``, ``"=~"``), label, or
            ``"lhs op rhs"``; values are prior strings such as ``"normal(0,1)"``.
        progressbar : bool
            Show sampling progress.
        ordered : bool or list of str, optional
            Ordinal (Likert) items: ``True`` for every observed indicator, or a list. They
            are fitted by ordered probit in the theta parameterization (intercept 0,
            residual variance 1, one threshold per observed category boundary, named
            ``item | t1`` ...), with every respondent's latent scores sampled (the
            conditional backend); the other items stay continuous. Items with thresholds
            written in the syntax are ordinal in any case.
        group : str, optional
            Multiple groups: the column of ``data`` naming each respondent's group. Every
            group gets its own parameters (lavaan's configural model), except labels written
            in the syntax, which are the same in every group, and the kinds in
            ``group_equal``. Continuous items only. Returns a
            :class:`~bayes_rent.fit.group.GroupFit`.
        group_equal : list of str
            With ``group``: kinds of parameters equal across groups, by lavaan's names
            (``"loadings"``, ``"intercepts"``, ``"means"``, ``"thresholds"``,
            ``"regressions"``, ``"residuals"``, ``"residual.covariances"``,
            ``"lv.variances"``, ``"lv.covariances"``); equal intercepts free the latent means
            of groups 2.., as in lavaan.
        pooling : {"none", "partial"}
            With ``group``: ``"partial"`` draws each group's structural paths from a common
            distribution with an estimated spread (:mod:`bayes_rent.backend.multigroup`),
            so a small group borrows strength from the others.
        pooling_prior : str
            SD prior of that spread.
        target_accept : float, optional
            NUTS's target acceptance rate; raise it (e.g. to 0.95) when a fit reports
            divergences. By default the sampler's 0.8, 0.65 with ordinal items (see
            ``draws``), and 0.95 with ``pooling="partial"``
            (measured: 6 divergences in 2 000 draws at 0.8, none at 0.95; see
            ``tests/test_multigroup.py``).
        cluster : str or pandas.Series, optional
            Firms nested in clusters: the column of ``data`` with the cluster ids, or the
            ids. Every latent mean gets a random intercept per cluster, partially pooled
            (:mod:`bayes_rent.backend.clustered`); ``fit.cluster_results()`` gives the
            clusters' latent means per draw. Continuous items only.

            A syntax with ``level: 1`` / ``level: 2`` blocks (lavaan's two-level models: a
            within and a between model) is fitted by the two-level backend
            (:mod:`bayes_rent.backend.twolevel`) with the column as the cluster and returns a
            :class:`~bayes_rent.fit.twolevel.TwoLevelFit` (complete, continuous data).
        random_paths : bool or list of str
            With ``cluster``: let these structural paths (by name, or all with ``True``)
            vary by cluster around a common value, with an estimated spread.
        cluster_options : mapping, optional
            With ``cluster``: ``cluster_prior``, ``path_prior`` (SD priors of the random
            effects), ``centred`` (parameterization), ``random_means`` (which latent
            means vary by cluster: ``"all"``, ``"first_order"``, ``"top"`` or a list of
            names) and ``grand_mean_intercepts`` (default True: the sampler moves the item
            intercepts at the clusters' grand mean, the same posterior without a ridge), as
            for :func:`bayes_rent.backend.clustered.build_clustered_model`.
            Answers missing here and there are sampled, as without clusters.
        missing_codes : iterable of float
            Values that stand for a missing answer (e.g. ``-99``, ``999``); they become NaN
            before the data are checked. A column whose values look like such codes gets a
            warning that names it.

        Returns
        -------
        Fit

        Raises
        ------
        bayes_rent.errors.BayesRentError
            Before anything compiles, for any bad argument or data: ``OptionError``
            (``draws=-5``), ``DataError`` (a column absent, not numeric, constant or with
            infinite values; too few rows), ``IdentificationError`` (a factor with no scale).
        """
        # every argument and the data are checked before anything compiles; a Dask DataFrame
        # comes back as its statistics, computed on the cluster in the same pass
        on_cluster = validate_fit_request(
            self.partable, data, draws=draws, tune=tune, chains=chains, seed=seed,
            target_accept=target_accept, sampler=sampler, group=group, cluster=cluster,
            ordered=ordered, pooling=pooling, missing_codes=missing_codes,
        )
        data = apply_missing_codes(data, missing_codes) if on_cluster is None else on_cluster
        ordinal_requested = bool(ordered) or self.partable["op"].eq("|").any()
        defaults = ORDINAL_SAMPLING if ordinal_requested else SAMPLING
        request = FitRequest(
            draws=defaults["draws"] if draws is None else draws,
            tune=defaults["tune"] if tune is None else tune,
            chains=defaults["chains"] if chains is None else chains,
            target_accept=defaults["target_accept"] if target_accept is None else target_accept,
            seed=seed, sampler=sampler, progressbar=progressbar, priors=priors,
            ordered=ordered, group=group, group_equal=list(group_equal), pooling=pooling,
            pooling_prior=pooling_prior, cluster=cluster, random_paths=random_paths,
            cluster_options=cluster_options,
        )
        backend = choose_backend(self, data, request)
        prepared = backend.prepare(self, data, request)
        settings = prepared.settings
        options = {k: settings[k] for k in SAMPLER_OPTIONS}
        started = time.perf_counter()
        # continuous models: one log density compiled once per machine serves every structure
        # (backend/generic.py); the PyMC model's own compile is the route for the rest
        idata, reason = generic.sample_prepared(backend.name, prepared, **options)
        settings = {**settings, "density": reason or "generic"}
        if idata is None:
            idata = run_sampler(prepared.pm_model, prepared.key, prepared.data,
                                prepared.initvals, **options, **prepared.sampler_options)
        settings = {**settings, "elapsed": time.perf_counter() - started}
        return FIT_KINDS[prepared.fit_kind](
            model=self, backend=backend, idata=idata, sampler=request.sampler,
            settings=settings, **prepared.fit_parts,
        )

    def ordinal_items(self, ordered: bool | list[str] | None) -> list[str]:
        """The items treated as ordinal, in model order.

        ``ordered=True`` takes every observed indicator of a latent variable (not covariates
        in the structural part); a list names them; items with thresholds written in the
        syntax (``x1 | t1 + t2``) are ordinal in any case.

        Examples
        --------
        >>> Model("f =~ x1 + x2 + x3; y ~ f + z").ordinal_items(True)
        ['x1', 'x2', 'x3']
        """
        pt = self.partable
        observed = observed_variables(pt)
        lv = set(latent_variables(pt))
        chosen = set(pt.loc[pt["op"] == "|", "lhs"])
        if ordered is True:
            chosen |= {v for v in pt.loc[pt["op"] == "=~", "rhs"] if v not in lv}
        elif ordered:
            unknown = [v for v in ordered if v not in observed]
            if unknown:
                raise ValueError(
                    f"ordered: {', '.join(map(repr, unknown))} not an observed variable of the "
                    f"model (observed: {', '.join(observed)})"
                )
            chosen |= set(ordered)
        return [v for v in observed if v in chosen]

    def partable_for(self, categories: dict[str, np.ndarray], std_lv: bool) -> pd.DataFrame:
        """The parameter table with thresholds for the data's categories."""
        if not categories:
            return self.partable
        pt = build_partable(
            self.syntax, **{**self._options, "std_lv": std_lv},
            ordered={v: len(c) - 1 for v, c in categories.items()},
        )
        counts = pt.loc[pt["op"] == "|", "lhs"].value_counts()
        for item, cats in categories.items():
            if counts[item] != len(cats) - 1:
                raise DataError(
                    f"'{item}': the syntax gives {counts[item]} thresholds, but the data have "
                    f"{len(cats)} categories ({', '.join(f'{c:g}' for c in cats)}), which need "
                    f"{len(cats) - 1}"
                )
        return pt


def sem(syntax: str, data: pd.DataFrame, *, std_lv: bool | None = None, **kwargs) -> Fit:
    """Fit a structural equation model (lavaan's ``sem()``, the Bayesian way).

    Parameters
    ----------
    syntax : str
        lavaan model syntax.
    data : pandas.DataFrame
        Respondents' data.
    std_lv : bool, optional
        Identify factors by unit variances instead of marker loadings; by default markers,
        except for ordinal items (see :class:`Model`).
    **kwargs
        Passed to :meth:`Model.fit` (``draws``, ``tune``, ``chains``, ``seed``, ``sampler``,
        ``priors``, ``progressbar``, ``group``, ``cluster``, ``ordered``, ...).

    Returns
    -------
    Fit
        Or a :class:`~bayes_rent.fit.GroupFit` / :class:`~bayes_rent.fit.TwoLevelFit`.

    Examples
    --------
    >>> import bayes_rent as br
    >>> pd_data = br.datasets.political_democracy()
    >>> fit = br.sem("ind60 =~ x1 + x2 + x3", pd_data, seed=1)  # doctest: +SKIP
    >>> fit.summary().loc[:, ["lhs", "op", "rhs", "mean"]].head(3)  # doctest: +SKIP
    """
    model_kwargs = {k: kwargs.pop(k) for k in ("meanstructure", "fixed_x") if k in kwargs}
    return Model(syntax, std_lv=std_lv, **model_kwargs).fit(data, **kwargs)


def cfa(syntax: str, data: pd.DataFrame, *, std_lv: bool | None = None, **kwargs) -> Fit:
    """Fit a confirmatory factor analysis (lavaan's ``cfa()``); same options as :func:`sem`.

    Examples
    --------
    >>> import bayes_rent as br
    >>> hs = "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9"
    >>> fit = br.cfa(hs, br.datasets.holzinger_swineford(), seed=1)  # doctest: +SKIP
    """
    return sem(syntax, data, std_lv=std_lv, **kwargs)
