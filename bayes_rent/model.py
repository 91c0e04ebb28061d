"""``Model``: lavaan syntax in, a fitted Bayesian SEM out.

The flow, one module per step::

    syntax text ─► parameter table ─► layout ─► PyMC model ─► sampler ─► Fit
    (syntax.py)    (partable.py)      (backend/layout.py, backend/marginal.py) (sample.py) (fit.py)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from bayes_rent.backend import clustered, conditional
from bayes_rent.backend.marginal import build_model
from bayes_rent.backend.multigroup import (
    DEFAULT_POOLING_PRIOR,
    build_multigroup_model,
    group_layouts,
    pooled_initvals,
    pooled_paths,
)
from bayes_rent.backend.multigroup import data_for as multigroup_data
from bayes_rent.backend.parameters import PriorGroup, chain_initvals, checked_prior_groups
from bayes_rent.backend.start import conditional_start, start_values
from bayes_rent.data.observed import DataError, check_data, moments
from bayes_rent.fit.base import Fit
from bayes_rent.fit.group import GroupFit
from bayes_rent.sampling import DEFAULT_SAMPLER, run_sampler, structure_key
from bayes_rent.spec.groups import group_labels, group_partable
from bayes_rent.spec.identification import check_markers
from bayes_rent.spec.layout import Layout, build_layout
from bayes_rent.spec.partable import build_partable, latent_variables, observed_variables

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
        self._std_lv_given = std_lv is not None
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
    ) -> Fit:
        """Sample the posterior of the model given the data.

        Parameters
        ----------
        data : pandas.DataFrame
            One row per respondent; the model's observed variables as columns. Missing
            values (NaN) are handled pattern-wise (full information, MAR).
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
            within and a between model) is fitted by :func:`bayes_rent.fit.twolevel.fit_twolevel`
            with the column as the cluster and returns a
            :class:`~bayes_rent.fit.twolevel.TwoLevelFit` (complete, continuous data).
        random_paths : bool or list of str
            With ``cluster``: let these structural paths (by name, or all with ``True``)
            vary by cluster around a common value, with an estimated spread.
        cluster_options : mapping, optional
            With ``cluster``: ``cluster_prior``, ``path_prior`` (SD priors of the random
            effects) and ``centred`` (parameterization), as for
            :func:`bayes_rent.backend.clustered.build_clustered_model`.

        Returns
        -------
        Fit

        Raises
        ------
        bayes_rent.data.observed.DataError
            When a column is absent, not numeric or constant, or there are too few rows.
        """
        ordinal_requested = bool(ordered) or self.partable["op"].eq("|").any()
        defaults = ORDINAL_SAMPLING if ordinal_requested else SAMPLING
        draws = defaults["draws"] if draws is None else draws
        tune = defaults["tune"] if tune is None else tune
        chains = defaults["chains"] if chains is None else chains
        target_accept = defaults["target_accept"] if target_accept is None else target_accept
        if "level" in self.partable.columns and (self.partable["level"] == 2).any():
            # 'level:' blocks: the two-level backend (bayes_rent.fit.twolevel, a TwoLevelFit)
            from bayes_rent.fit.twolevel import fit_twolevel

            return fit_twolevel(
                self, data, cluster=cluster, draws=draws, tune=tune, chains=chains, seed=seed,
                sampler=sampler, priors=priors, progressbar=progressbar, ordered=ordered,
                group=group, random_paths=random_paths, cluster_options=cluster_options,
                target_accept=target_accept, group_equal=group_equal, pooling=pooling,
            )
        settings = dict(draws=draws, tune=tune, chains=chains, sampler=sampler, seed=seed,
                        progressbar=progressbar, target_accept=target_accept)
        if pooling not in ("none", "partial"):
            raise ValueError(f"pooling must be 'none' or 'partial', not {pooling!r}")
        if group is not None:
            if ordered or self.partable["op"].eq("|").any() or cluster is not None:
                raise NotImplementedError(
                    "group= is supported for continuous items without clusters; ordinal items "
                    "or cluster= together with groups are not supported yet"
                )
            return self._fit_groups(
                data, group, list(group_equal), pooling, pooling_prior, priors, settings
            )
        if pooling != "none" or group_equal:
            raise ValueError("group_equal and pooling apply to multi-group fits: give group=")
        observed = observed_variables(self.partable)
        ids = data[cluster] if isinstance(cluster, str) else cluster
        frame = check_data(pd.DataFrame(data), observed)
        ordinal = self.ordinal_items(ordered)
        categories = conditional.ordinal_categories(frame, ordinal)
        std_lv = self.std_lv if self._std_lv_given or not ordinal else True
        pt = self._partable_for(categories, std_lv)
        if not std_lv:
            pt = check_markers(pt, frame)
        layout = build_layout(pt)
        groups = checked_prior_groups(layout, priors)
        key = structure_key(
            pt[["lhs", "op", "rhs", "free", "value", "label"]].to_csv(),
            [(g.name, g.spec, g.elements) for g in groups],
        )
        if ordinal and ids is not None:
            raise NotImplementedError("cluster= with ordinal items is not supported yet")
        if ordinal:
            return self._fit_conditional(
                frame, pt, layout, groups, key, categories, settings, std_lv
            )
        if ids is not None:
            return self._fit_clustered(
                frame, pt, layout, groups, key, ids, settings,
                dict(cluster_options or {}, random_paths=random_paths),
            )
        return self._fit_marginal(frame, pt, layout, groups, key, settings)

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

    def _partable_for(self, categories: dict[str, np.ndarray], std_lv: bool) -> pd.DataFrame:
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

    def _fit_groups(
        self, data: pd.DataFrame, column: str, group_equal: list[str], pooling: str,
        pooling_prior: str, priors: Mapping[str, str] | None, settings: dict,
    ) -> GroupFit:
        if column not in data.columns:
            raise DataError(f"group column '{column}' is not in the data")
        names = group_labels(data[column])
        observed = observed_variables(self.partable)
        frame = check_data(pd.DataFrame(data), observed)
        single = self.partable if self.std_lv else check_markers(self.partable, frame)
        pt = group_partable(single, len(names), group_equal, std_lv=self.std_lv,
                            free_paths=pooling == "partial")
        layout = build_layout(pt)
        groups = checked_prior_groups(layout, priors)
        layouts = group_layouts(layout)
        parts = [
            check_data(frame.loc[(data[column] == name).to_numpy()], observed,
                       source=f"group {name!r} of column '{column}'")
            for name in names
        ]
        stats = [moments(part) for part in parts]
        pooled = pooled_paths(layout, pooling_prior) if pooling == "partial" else None
        if pooled is not None and any(g.kind == "path" and g.name != "paths" for g in groups):
            raise ValueError(
                "pooling='partial' puts the default path prior on the common paths; priors "
                "for single paths cannot be combined with it"
            )
        model = build_multigroup_model(layouts, stats, groups, names, pooled)
        # each group's penalized-ML optimum; an element shared by groups starts at their mean
        starts = np.array([
            start_values(lay, s, std_lv=self.std_lv, data=part)
            for lay, s, part in zip(layouts, stats, parts, strict=True)
        ])
        used = np.zeros(starts.shape, dtype=bool)
        for k, lay in enumerate(layouts):
            used[k, [lay.row_element[r] for r in lay.partable["id"] if r in lay.row_element]] = 1
        start = (starts * used).sum(0) / np.maximum(used.sum(0), 1)
        initvals = chain_initvals(start, groups, settings["chains"], settings["seed"])
        if pooled is not None:
            initvals = [pooled_initvals(point, pooled, groups, start) for point in initvals]
            if settings["target_accept"] is None:
                # the common-path/spread funnel: smaller steps remove its divergences
                settings = {**settings, "target_accept": 0.95}
        key = structure_key(
            pt[["lhs", "op", "rhs", "group", "free", "value", "label"]].to_csv(),
            [(g.name, g.spec, g.elements) for g in groups], "groups", names,
            None if pooled is None else (pooled.names, pooled.prior),
        )
        idata = run_sampler(model, key, multigroup_data(stats), initvals, **settings)
        return GroupFit(
            group_names=names, group_column=column, group_layouts=layouts,
            group_moments=stats, pooled=pooled,
            model=self, partable=pt, layout=layout, groups=groups, idata=idata,
            data=frame.assign(**{column: data[column].to_numpy()}), moments=moments(frame),
            sampler=settings["sampler"], settings={**settings, "group": column},
        )

    def _fit_marginal(
        self, frame: pd.DataFrame, pt: pd.DataFrame, layout: Layout,
        groups: list[PriorGroup], key: str, settings: dict,
    ) -> Fit:
        stats = moments(frame)
        missing_cells = filled = None
        if stats.scattered:
            values = frame.to_numpy(dtype=float)
            missing_cells = np.nonzero(np.isnan(values))
            filled = np.where(np.isnan(values), np.nanmean(values, axis=0), values)
            key = structure_key(key, "augmented", missing_cells)
        model = build_model(layout, stats, groups, missing_cells=missing_cells, filled=filled)
        start = start_values(layout, stats, std_lv=self.std_lv, data=frame)
        initvals = chain_initvals(start, groups, settings["chains"], settings["seed"])
        if missing_cells is not None:
            for point in initvals:
                point["missing_answers"] = filled[missing_cells]
        model_data = stats.as_data() if missing_cells is None else {"filled_data": filled}
        idata = run_sampler(model, key, model_data, initvals, **settings)
        return Fit(
            model=self, partable=pt, layout=layout, groups=groups, idata=idata, data=frame,
            moments=stats, sampler=settings["sampler"], settings=settings,
        )

    def _fit_clustered(
        self, frame: pd.DataFrame, pt: pd.DataFrame, layout: Layout,
        groups: list[PriorGroup], key: str, ids, settings: dict, options: dict,
    ) -> Fit:
        stats = clustered.cluster_moments(frame, ids)
        paths = [
            layout.elements[k].name
            for k in clustered.random_path_elements(layout, options.pop("random_paths"))
        ]
        options = {"random_paths": paths, **options}
        key = clustered.clustered_structure_key(key, stats, *sorted(options.items()))
        model = clustered.build_clustered_model(layout, stats, groups, **options)
        # the cluster effects start at 0, the shared parameters at the pooled data's optimum
        start = start_values(layout, moments(frame), std_lv=self.std_lv, data=frame)
        initvals = clustered.cluster_initvals(
            chain_initvals(start, groups, settings["chains"], settings["seed"]), layout,
            start, n_clusters=stats.n_clusters, **options,
        )
        idata = run_sampler(model, key, stats.as_data(bool(paths)), initvals, **settings)
        return Fit(
            model=self, partable=pt, layout=layout, groups=groups, idata=idata, data=frame,
            moments=moments(frame), sampler=settings["sampler"],
            settings={**settings, "cluster_options": options}, clusters=stats,
        )

    def _fit_conditional(
        self, frame: pd.DataFrame, pt: pd.DataFrame, layout: Layout,
        groups: list[PriorGroup], key: str, categories: dict[str, np.ndarray], settings: dict,
        std_lv: bool,
    ) -> Fit:
        responses = conditional.arrange_responses(frame, layout, categories)
        model = conditional.build_model(layout, groups, responses)
        start, scores = conditional_start(layout, frame, responses, std_lv=std_lv)
        initvals = [
            conditional.sampled_point(layout, groups, start, point, scores)
            for point in chain_initvals(start, groups, settings["chains"], settings["seed"])
        ]
        key = structure_key(key, "conditional", responses.codes.shape, responses.values.shape)
        # one gradient touches every answer: JAX's compiled gradient is the faster one here
        idata = run_sampler(model, key, responses.as_data(), initvals, nutpie_backend="jax",
                            **settings)
        return Fit(
            model=self, partable=pt, layout=layout, groups=groups, idata=idata, data=frame,
            moments=moments(frame), sampler=settings["sampler"], settings=settings,
            responses=responses,
        )


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


def cfa(syntax: str, data: pd.DataFrame, *, std_lv: bool | None = None, **kwargs) -> Fit:
    """Fit a confirmatory factor analysis (lavaan's ``cfa()``); same options as :func:`sem`.

    Examples
    --------
    >>> import bayes_rent as br
    >>> hs = "visual =~ x1 + x2 + x3\\ntextual =~ x4 + x5 + x6\\nspeed =~ x7 + x8 + x9"
    >>> fit = br.cfa(hs, br.datasets.holzinger_swineford(), seed=1)  # doctest: +SKIP
    """
    return sem(syntax, data, std_lv=std_lv, **kwargs)
