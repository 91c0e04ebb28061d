"""The five kinds of model and the rule that picks one for a fit.

=============  ===============================================================================
backend        what it fits
=============  ===============================================================================
marginal       continuous items, latent variables integrated out (sufficient statistics)
conditional    ordinal (Likert) items: ordered probit given sampled latent scores
clustered      firms nested in clusters: random latent means (and paths) per cluster
multigroup     several groups of respondents (lavaan's ``group=``)
twolevel       ``level: 1`` / ``level: 2`` blocks: a within and a between model
=============  ===============================================================================

Every backend prepares a :class:`~bayes_rent.backend.base.Prepared` for the one route of
``Model.fit`` and answers :meth:`~bayes_rent.backend.base.Backend.pointwise_loglik` for its
fits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from bayes_rent.backend import clustered, conditional, multigroup, twolevel
from bayes_rent.backend.base import Backend, FitRequest, Prepared, structure_key
from bayes_rent.backend.marginal import build_model, respondent_loglik
from bayes_rent.backend.parameters import (
    chain_initvals,
    checked_prior_groups,
    element_draws,
    prior_structure,
    prior_values,
)
from bayes_rent.backend.start import conditional_start, start_values
from bayes_rent.data.distributed import DaskData
from bayes_rent.data.observed import DataError, check_data, moments
from bayes_rent.spec.groups import group_labels, group_partable
from bayes_rent.spec.identification import check_markers
from bayes_rent.spec.implied import implied_moments
from bayes_rent.spec.layout import build_layout
from bayes_rent.spec.partable import observed_variables

__all__ = ["BACKENDS", "choose_backend"]


def _single_group_table(model, frame: pd.DataFrame, ordinal: list[str]):
    """The table (with thresholds for the data's categories), layout and sampled vectors."""
    categories = conditional.ordinal_categories(frame, ordinal)
    std_lv = model.std_lv if model.std_lv_given or not ordinal else True
    table = model.partable_for(categories, std_lv)
    if not std_lv:
        table = check_markers(table, frame)
    return categories, std_lv, table


def _setup(model, data: pd.DataFrame, request: FitRequest, ordinal: list[str],
           priors_as_data: bool = False):
    """What the single-group backends share: checked data, table, layout, priors, key.

    With ``priors_as_data`` the key leaves out the priors' arguments, which the model then
    takes as data: every setting of a prior family shares one compiled model.
    """
    frame = check_data(data, observed_variables(model.partable))
    categories, std_lv, table = _single_group_table(model, frame, ordinal)
    layout = build_layout(table)
    groups = checked_prior_groups(layout, request.priors)
    key = structure_key(
        table[["lhs", "op", "rhs", "free", "value", "label"]].to_csv(),
        prior_structure(groups) if priors_as_data
        else [(g.name, g.spec, g.elements) for g in groups],
    )
    return frame, categories, std_lv, table, layout, groups, key


def _respondent_array(fit, values: np.ndarray, respondents) -> xr.DataArray:
    post = fit.idata.posterior
    return xr.DataArray(
        values, dims=("chain", "draw", "respondent"), name="y",
        coords={"chain": post["chain"].values, "draw": post["draw"].values,
                "respondent": np.asarray(respondents)},
    )


def _marginal_loglik(fit, layout, stats, data: pd.DataFrame, elements: np.ndarray):
    """Per-respondent normal log-likelihood of one group's data, ``(chain, draw, n)``."""
    sigma, mu = implied_moments(layout, elements)
    c, d, p = mu.shape
    ll = respondent_loglik(data.to_numpy(dtype=float), stats.pattern_of_row, stats.mask,
                           sigma.reshape(c * d, p, p), mu.reshape(c * d, p))
    return _respondent_array(fit, ll.reshape(c, d, -1),
                             data.index[stats.pattern_of_row >= 0].to_numpy())


class MarginalBackend(Backend):
    """Continuous items; the latent variables integrated out (:mod:`.marginal`)."""

    name = "marginal"

    def prepare(self, model, data, request) -> Prepared:
        frame, _, _, table, layout, groups, key = _setup(model, data, request, [],
                                                         priors_as_data=True)
        stats = moments(frame)
        missing_cells = filled = None
        if stats.scattered:
            values = frame.to_numpy(dtype=float)
            missing_cells = np.nonzero(np.isnan(values))
            filled = np.where(np.isnan(values), np.nanmean(values, axis=0), values)
            key = structure_key(key, "augmented", missing_cells)
        pm_model = build_model(layout, stats, groups, missing_cells=missing_cells, filled=filled)
        start = start_values(layout, stats, std_lv=model.std_lv, data=frame)
        initvals = chain_initvals(start, groups, request.chains, request.seed)
        if missing_cells is not None:
            for point in initvals:
                point["missing_answers"] = filled[missing_cells]
        model_data = stats.as_data() if missing_cells is None else {"filled_data": filled}
        model_data.update(prior_values(groups))
        return Prepared(
            pm_model, key, model_data, initvals, "single",
            dict(partable=table, layout=layout, groups=groups, data=frame, moments=stats),
            request.settings,
        )

    def pointwise_loglik(self, fit) -> xr.DataArray:
        elements = element_draws(fit.idata.posterior, fit.groups, len(fit.layout.elements))
        return _marginal_loglik(fit, fit.layout, fit.moments, fit.data, elements)


class ConditionalBackend(Backend):
    """Ordinal items by ordered probit, latent scores sampled (:mod:`.conditional`)."""

    name = "conditional"
    discrepancy = "ordinal"
    samples_scores = True
    chisq_undefined = (
        "BRMSEA, BGammaHat, BCFI, BTLI and SRMR are defined through the χ² of the "
        "multivariate normal likelihood, which a model with ordinal items does not have. "
        "Its PPP uses the item pairs' cross tables (bayes_rent.results.ordinal_ppp; "
        "fit.fit_indices() reports it); compare models with fit.loo() and br.compare()."
    )

    def prepare(self, model, data, request) -> Prepared:
        ordinal = model.ordinal_items(request.ordered)
        frame, categories, std_lv, table, layout, groups, key = _setup(
            model, data, request, ordinal)
        responses = conditional.arrange_responses(frame, layout, categories)
        pm_model = conditional.build_model(layout, groups, responses)
        start, scores = conditional_start(layout, frame, responses, std_lv=std_lv)
        initvals = [
            conditional.sampled_point(layout, groups, start, point, scores, responses)
            for point in chain_initvals(start, groups, request.chains, request.seed)
        ]
        anchors = [tuple(conditional.threshold_anchors(layout, g, responses).tolist())
                   for g in groups if g.kind == "threshold"]
        key = structure_key(key, "conditional", responses.codes.shape, responses.values.shape,
                            anchors)
        return Prepared(
            pm_model, key, responses.as_data(), initvals, "single",
            dict(partable=table, layout=layout, groups=groups, data=frame,
                 moments=moments(frame), responses=responses),
            request.settings,
            # one gradient touches every answer: JAX's compiled gradient is the faster one here
            sampler_options=dict(nutpie_backend="jax"),
        )

    def pointwise_loglik(self, fit) -> xr.DataArray:
        return conditional.ordinal_pointwise_loglik(fit)


class ClusteredBackend(Backend):
    """Firms nested in clusters: random latent means (and paths) (:mod:`.clustered`)."""

    name = "clustered"
    discrepancy = None
    chisq_undefined = (
        "PPP and the χ²-based fit indices are not computed for a model with clusters yet "
        "(the saturated model would need the clusters' means); use fit.loo() and "
        "br.compare() to compare models."
    )

    def prepare(self, model, data, request) -> Prepared:
        frame, _, _, table, layout, groups, key = _setup(model, data, request, [])
        ids = request.cluster_ids(data)
        stats = clustered.cluster_moments(frame, ids)
        options = dict(request.cluster_options or {})
        options["random_paths"] = [
            layout.elements[k].name
            for k in clustered.random_path_elements(layout, request.random_paths)
        ]
        key = clustered.clustered_structure_key(key, stats, *sorted(options.items()))
        pooled = moments(frame)
        augmentation = {}
        if pooled.scattered:
            # nearly every firm its own pattern, so one Cholesky factor per cell would cost
            # more than sampling the missing answers (the marginal backend's rule and remedy)
            values = frame.to_numpy(dtype=float)
            missing_cells = np.nonzero(np.isnan(values))
            filled = np.where(np.isnan(values), np.nanmean(values, axis=0), values)
            codes, _ = clustered.cluster_codes(ids, frame.index)
            augmentation = dict(missing_cells=missing_cells, filled=filled,
                                cluster_of_row=codes)
            key = structure_key(key, "augmented", missing_cells, codes)
        pm_model = clustered.build_clustered_model(layout, stats, groups, **options,
                                                   **augmentation)
        # the cluster effects start at 0, the shared parameters at the pooled data's optimum
        start = start_values(layout, pooled, std_lv=model.std_lv, data=frame)
        initvals = clustered.cluster_initvals(
            chain_initvals(start, groups, request.chains, request.seed), layout, start,
            n_clusters=stats.n_clusters, groups=groups, **options,
        )
        sampler_options = {}
        if augmentation:
            model_data = clustered.augmented_data(filled, missing_cells, codes,
                                                  bool(options["random_paths"]))
            for point in initvals:
                # the missing answers start at their column's mean, as in the marginal backend
                point["missing_answers"] = filled[missing_cells]
            # a gradient costs about a millisecond here, so JAX's per-call overhead does not
            # show, and JAX compiles the book's model in ~15 s where numba took ~190 s
            sampler_options = dict(nutpie_backend="jax")
        else:
            model_data = stats.as_data(bool(options["random_paths"]))
        return Prepared(
            pm_model, key, model_data, initvals, "single",
            dict(partable=table, layout=layout, groups=groups, data=frame, moments=pooled,
                 clusters=stats),
            {**request.settings, "cluster_options": options},
            sampler_options=sampler_options,
        )

    def pointwise_loglik(self, fit) -> xr.DataArray:
        return clustered.respondent_loglik(
            fit.idata.posterior, fit.layout, fit.groups, fit.data, fit.clusters
        )


class MultigroupBackend(Backend):
    """Several groups of respondents, each with its own parameters (:mod:`.multigroup`)."""

    name = "multigroup"

    def prepare(self, model, data, request) -> Prepared:
        column = request.group
        # a Dask frame's groups were found on its cluster, with their statistics
        names = (data.group_names if isinstance(data, DaskData)
                 else group_labels(data[column]))
        observed = observed_variables(model.partable)
        frame = check_data(data, observed)
        single = model.partable if model.std_lv else check_markers(model.partable, frame)
        table = group_partable(single, len(names), request.group_equal, std_lv=model.std_lv,
                               free_paths=request.pooling == "partial")
        layout = build_layout(table)
        groups = checked_prior_groups(layout, request.priors)
        layouts = multigroup.group_layouts(layout)
        parts = [
            check_data(frame.loc[(data[column] == name).to_numpy()], observed,
                       source=f"group {name!r} of column '{column}'")
            for name in names
        ]
        stats = [moments(part) for part in parts]
        pooled = (multigroup.pooled_paths(layout, request.pooling_prior)
                  if request.pooling == "partial" else None)
        if pooled is not None and any(g.kind == "path" and g.name != "paths" for g in groups):
            raise ValueError(
                "pooling='partial' puts the default path prior on the common paths; priors "
                "for single paths cannot be combined with it"
            )
        pm_model = multigroup.build_multigroup_model(layouts, stats, groups, names, pooled)
        start = multigroup.shared_start(
            layouts, [start_values(lay, s, std_lv=model.std_lv, data=part)
                      for lay, s, part in zip(layouts, stats, parts, strict=True)])
        initvals = chain_initvals(start, groups, request.chains, request.seed)
        settings = {**request.settings, "group": column}
        if pooled is not None:
            initvals = [multigroup.pooled_initvals(p, pooled, groups, start) for p in initvals]
            if settings["target_accept"] is None:
                # the common-path/spread funnel: smaller steps remove its divergences
                settings["target_accept"] = 0.95
        key = structure_key(
            table[["lhs", "op", "rhs", "group", "free", "value", "label"]].to_csv(),
            [(g.name, g.spec, g.elements) for g in groups], "groups", names,
            None if pooled is None else (pooled.names, pooled.prior),
        )
        return Prepared(
            pm_model, key, multigroup.data_for(stats), initvals, "groups",
            dict(group_names=names, group_column=column, group_layouts=layouts,
                 group_moments=stats, pooled=pooled, partable=table, layout=layout,
                 groups=groups, data=frame.assign(**{column: data[column].to_numpy()}),
                 moments=moments(frame)),
            settings,
        )

    def pointwise_loglik(self, fit) -> xr.DataArray:
        elements = element_draws(fit.idata.posterior, fit.groups, len(fit.layout.elements))
        column = fit.data[fit.group_column]
        parts = [
            _marginal_loglik(fit, lay, stats,
                             fit.data.loc[column == name].drop(columns=fit.group_column),
                             elements)
            for name, lay, stats in zip(fit.group_names, fit.group_layouts, fit.group_moments,
                                        strict=True)
        ]
        return xr.concat(parts, dim="respondent")


class TwoLevelBackend(Backend):
    """``level:`` blocks: within and between models from per-size statistics."""

    name = "twolevel"
    discrepancy = None
    chisq_undefined = (
        "PPP and the χ²-based fit indices are not computed for two-level models yet; use "
        "fit.loo() (one cluster left out at a time) and br.compare() to compare models."
    )

    def prepare(self, model, data, request) -> Prepared:
        table = model.partable
        layout = twolevel.build_twolevel_layout(table)
        frame = check_data(pd.DataFrame(data), layout.observed)
        between_only = [v for v in layout.between if v not in layout.within]
        ids = request.cluster_ids(data)
        stats = twolevel.twolevel_statistics(frame, ids, layout.within, between_only)
        groups = checked_prior_groups(layout.combined, request.priors, table)
        key = structure_key(
            "twolevel", table[["lhs", "op", "rhs", "level", "free", "value", "label"]].to_csv(),
            [(g.name, g.spec, g.elements) for g in groups], len(stats.size_values),
        )
        pm_model = twolevel.build_twolevel_model(layout, stats, groups)
        start = twolevel.twolevel_start(layout, stats, std_lv=model.std_lv)
        return Prepared(
            pm_model, key, stats.as_data(),
            chain_initvals(start, groups, request.chains, request.seed), "twolevel",
            dict(partable=table, layout=layout.combined, groups=groups, data=frame,
                 moments=stats, twolevel=layout, cluster_ids=np.asarray(ids)),
            request.settings,
        )

    def pointwise_loglik(self, fit) -> xr.DataArray:
        """Per-cluster log-likelihood (all its firms): ``(chain, draw, cluster)``."""
        tl = fit.twolevel
        post = fit.idata.posterior
        elements = element_draws(post, fit.groups, len(tl.combined.elements))
        ll = twolevel.cluster_loglik(*twolevel.twolevel_moments(tl, elements), fit.statistics)
        return xr.DataArray(
            ll, dims=("chain", "draw", "cluster"), name="y",
            coords={"chain": post["chain"].values, "draw": post["draw"].values,
                    "cluster": fit.statistics.clusters},
        )


BACKENDS: dict[str, Backend] = {
    b.name: b for b in (MarginalBackend(), ConditionalBackend(), ClusteredBackend(),
                        MultigroupBackend(), TwoLevelBackend())
}


def choose_backend(model, data: pd.DataFrame, request: FitRequest) -> Backend:
    """The backend for a model and the options of a fit, after checking they go together.

    Examples
    --------
    >>> from bayes_rent.model import Model
    >>> request = FitRequest(draws=10, tune=10, chains=1, seed=1, sampler="nutpie",
    ...                      progressbar=False, target_accept=None, ordered=True)
    >>> choose_backend(Model("f =~ x1 + x2 + x3"), None, request).name
    'conditional'
    """
    table = model.partable
    if "level" in table.columns and (table["level"] == 2).any():
        _refuse(request, "two-level models (level: blocks)", ordered=request.ordered,
                group=request.group, random_paths=request.random_paths,
                cluster_options=request.cluster_options, group_equal=request.group_equal,
                pooling=request.pooling != "none")
        if request.cluster is None:
            raise ValueError("a two-level model (level: blocks) needs cluster=: the column "
                             "with the cluster ids")
        return BACKENDS["twolevel"]
    if request.pooling not in ("none", "partial"):
        raise ValueError(f"pooling must be 'none' or 'partial', not {request.pooling!r}")
    ordinal = bool(model.ordinal_items(request.ordered))
    if request.group is not None:
        if ordinal or request.cluster is not None:
            raise NotImplementedError(
                "group= is supported for continuous items without clusters; ordinal items "
                "or cluster= together with groups are not supported yet"
            )
        if request.group not in data.columns:
            raise DataError(f"group column '{request.group}' is not in the data")
        return BACKENDS["multigroup"]
    if request.pooling != "none" or request.group_equal:
        raise ValueError("group_equal and pooling apply to multi-group fits: give group=")
    if ordinal:
        if request.cluster is not None:
            raise NotImplementedError("cluster= with ordinal items is not supported yet")
        return BACKENDS["conditional"]
    return BACKENDS["clustered" if request.cluster is not None else "marginal"]


def _refuse(request: FitRequest, what: str, **options) -> None:
    given = [k for k, v in options.items() if v]
    if given:
        raise NotImplementedError(f"{', '.join(given)} not supported for {what} yet")

