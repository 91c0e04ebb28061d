"""The marginal backend for several groups of respondents.

Every group has its own model matrices, filled from one shared vector of sampled elements: a
parameter that the table ties across groups (a shared label, ``group_equal``) is one element
that fills a cell in every group's matrices. The log-likelihood is the sum of the groups'
sufficient-statistics likelihoods (:func:`bayes_rent.backend.marginal.pattern_loglik`), so its
cost does not grow with the number of respondents in any group.

With ``pooling="partial"`` the structural paths are not separate in each group: for every path,
the groups' values are drawn from a common distribution,

    β_g = β̄ + τ · z_g,   z_g ~ N(0, 1),

with the common path β̄ under the usual path prior and the spread τ under ``pooling_prior``
(an SD prior, estimated from the data), so a small group's path borrows strength from the
others in proportion to how much the groups agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayes_rent.backend.marginal import pattern_loglik
from bayes_rent.backend.parameters import PriorGroup, element_vector
from bayes_rent.data.observed import ObservedMoments
from bayes_rent.spec.implied import implied_moments
from bayes_rent.spec.layout import Layout
from bayes_rent.spec.priors import DEFAULT_PRIORS, parse_prior, prior_rv

#: SD prior of the between-group spread of a partially pooled path.
DEFAULT_POOLING_PRIOR = "gamma(1,0.5)[sd]"


@dataclass
class PooledPaths:
    """Paths whose group values share a common distribution (``pooling="partial"``).

    Attributes
    ----------
    names : list of str
        One name per pooled path (``"y ~ x"``).
    elements : numpy.ndarray
        Shape ``(n_groups, n_paths)``: the element of each group's value of each path.
    prior : str
        SD prior of the spread.
    """

    names: list[str]
    elements: np.ndarray
    prior: str = DEFAULT_POOLING_PRIOR
    centred: bool = False


def group_layouts(layout: Layout) -> list[Layout]:
    """One layout per group, all filled from the elements of the whole table.

    Parameters
    ----------
    layout : Layout
        The layout of the multi-group table (:func:`bayes_rent.spec.layout.build_layout`).

    Returns
    -------
    list of Layout
        In group order; each places only its own group's rows, and indexes the shared
        ``elements`` of ``layout``.

    Examples
    --------
    >>> from bayes_rent.spec.layout import build_layout
    >>> from bayes_rent.spec.groups import group_partable
    >>> from bayes_rent.spec.partable import build_partable
    >>> one = build_partable("f =~ x1 + x2 + x3", meanstructure=False)
    >>> lay = build_layout(group_partable(one, 2, ["loadings"]))
    >>> [len(g.partable) for g in group_layouts(lay)], len(lay.elements)
    ([7, 7], 10)
    """
    pt_all = layout.partable
    out = []
    for g in sorted(set(pt_all["group"]) - {0}):
        rows = pt_all.loc[pt_all["group"] == g].reset_index(drop=True)
        ids = set(rows["id"])
        out.append(Layout(
            partable=rows,
            observed=layout.observed,
            latent=layout.latent,
            phantom=layout.phantom,
            elements=layout.elements,
            row_element=layout.row_element,
            cells=[c for c in layout.cells if c[0] in ids],
            covariances=[c for c in layout.covariances if c[0] in ids],
        ))
    return out


def pooled_paths(layout: Layout, prior: str = DEFAULT_POOLING_PRIOR) -> PooledPaths:
    """The structural paths that partial pooling ties: free in every group, untied by labels.

    Raises
    ------
    ValueError
        When the model has no such path.
    """
    pt_all = layout.partable
    paths = pt_all.loc[(pt_all["op"] == "~") & pt_all["free"]]
    names, elements = [], []
    for (lhs, rhs), rows in paths.groupby(["lhs", "rhs"], sort=False):
        elems = [layout.row_element[r] for r in rows.sort_values("group")["id"]]
        if len(set(elems)) == len(elems):
            names.append(f"{lhs} ~ {rhs}")
            elements.append(elems)
    if not names:
        raise ValueError(
            "pooling='partial' needs free structural paths (~) that differ by group; this model "
            "has none (paths fixed, or tied by a label)"
        )
    return PooledPaths(names=names, elements=np.array(elements, dtype=int).T, prior=prior)


def build_multigroup_model(
    layouts: Sequence[Layout],
    observed: Sequence[ObservedMoments],
    groups: list[PriorGroup],
    group_names: Sequence[str],
    pooled: PooledPaths | None = None,
) -> pm.Model:
    """Build the PyMC model of a multi-group marginal fit.

    Parameters
    ----------
    layouts : sequence of Layout
        One per group (:func:`group_layouts`).
    observed : sequence of ObservedMoments
        Each group's pattern statistics, in the same order.
    groups : list of PriorGroup
        Sampled vectors with their priors (:func:`bayes_rent.backend.marginal.prior_groups`
        on the whole table's layout).
    group_names : sequence of str
        Labels of the groups (coordinates of dim ``group``).
    pooled : PooledPaths, optional
        With partial pooling: the pooled paths. Their elements are then not sampled under
        their own prior but built from ``path_means``, ``path_spread`` and ``path_z``;
        the vector ``paths`` is kept as a deterministic, so every result reads it as usual.

    Returns
    -------
    pymc.Model
        The data of group k are ``pm.Data`` named ``pattern_*_g{k}``.
    """
    coords = {g.dim: [layouts[0].elements[k].name for k in g.elements] for g in groups}
    coords["group"] = [str(n) for n in group_names]
    pooled_set: set[int] = set()
    if pooled is not None:
        coords["pooled_path"] = pooled.names
        pooled_set = set(pooled.elements.ravel().tolist())
        for g in groups:
            rest = [layouts[0].elements[k].name for k in g.elements if k not in pooled_set]
            if g.kind == "path" and rest and len(rest) < len(g.elements):
                coords[f"{g.dim}_shared"] = rest
    with pm.Model(coords=coords) as model:
        built = {}
        if pooled is not None:
            pooled_values = _pooled_path_values(pooled)
        for g in groups:
            if not any(k in pooled_set for k in g.elements):
                continue
            nat = pt.zeros(len(g.elements))
            rest = [i for i, k in enumerate(g.elements) if k not in pooled_set]
            if rest:
                _, own = prior_rv(f"{g.name}_shared", g.spec, g.kind, f"{g.dim}_shared",
                                  len(rest))
                nat = pt.set_subtensor(nat[rest], own)
            at = [i for i, k in enumerate(g.elements) if k in pooled_set]
            nat = pt.set_subtensor(nat[at], pooled_values[[g.elements[i] for i in at]])
            built[g.name] = pm.Deterministic(g.name, nat, dims=g.dim)
        elements = element_vector(groups, built)
        total = 0.0
        for k, (lay, stats) in enumerate(zip(layouts, observed, strict=True)):
            data = {name: pm.Data(f"{name}_g{k}", value)
                    for name, value in stats.as_data().items()}
            sigma, mu = implied_moments(lay, elements, xp=pt)
            total = total + pattern_loglik(
                sigma, mu, data["pattern_n"], data["pattern_mask"], data["pattern_mean"],
                data["pattern_factor"], xp=pt,
            )
        pm.Potential("loglik", total)
    return model


def _pooled_path_values(pooled: PooledPaths):
    """Element-indexed values of the pooled paths: β̄ + τ z, non-centred."""
    mean_spec = parse_prior(DEFAULT_PRIORS["path"])
    _, mean = prior_rv("path_means", mean_spec, "path", "pooled_path", len(pooled.names))
    spec = parse_prior(pooled.prior)
    if spec.scale in ("var", "prec"):
        _, spread = prior_rv(f"path_spread_{spec.scale}", spec, "sd", "pooled_path",
                             len(pooled.names))
        spread = pm.Deterministic("path_spread", spread, dims="pooled_path")
    else:
        _, spread = prior_rv("path_spread", spec, "sd", "pooled_path", len(pooled.names))
    if pooled.centred:
        group_values = pm.Normal("path_group", mean, spread, dims=("group", "pooled_path"))
    else:
        z = pm.Normal("path_z", 0.0, 1.0, dims=("group", "pooled_path"))
        group_values = mean[None, :] + spread[None, :] * z
    n_elements = int(pooled.elements.max()) + 1
    values = pt.zeros(n_elements)
    return pt.set_subtensor(values[pooled.elements.ravel()], group_values.ravel())


def data_for(observed: Sequence[ObservedMoments]) -> dict[str, np.ndarray]:
    """The ``pm.Data`` values of a multi-group model, for the sampler's compiled-model cache."""
    return {f"{name}_g{k}": value
            for k, stats in enumerate(observed) for name, value in stats.as_data().items()}


def pooled_initvals(
    point: dict[str, np.ndarray], pooled: PooledPaths, groups: list[PriorGroup],
    start: np.ndarray,
) -> dict[str, np.ndarray]:
    """A chain's starting point in the partially pooled parameterization.

    The groups' starting paths (``start``, by element) become the common path (their mean),
    the spread (their SD, at least 0.1 so no chain starts at the funnel's neck) and the
    standardized offsets ``path_z``.
    """
    point = dict(point)
    values = start[pooled.elements]
    mean = values.mean(0)
    spread = np.maximum(values.std(0), 0.1)
    point["path_means"] = mean
    spec = parse_prior(pooled.prior)
    if spec.scale == "var":
        point["path_spread_var"] = spread**2
    elif spec.scale == "prec":
        point["path_spread_prec"] = 1.0 / spread**2
    else:
        point["path_spread"] = spread
    if pooled.centred:
        point["path_group"] = values
    else:
        point["path_z"] = (values - mean) / spread
    pooled_set = set(pooled.elements.ravel().tolist())
    for g in groups:
        if any(k in pooled_set for k in g.elements):
            vector = point.pop(g.name)
            rest = [i for i, k in enumerate(g.elements) if k not in pooled_set]
            if rest:
                point[f"{g.name}_shared"] = vector[rest]
    return point


def shared_start(layouts: list[Layout], starts: list[np.ndarray]) -> np.ndarray:
    """One start point from each group's own optimum: an element shared by groups starts at
    the mean of their values, an element of one group at that group's value."""
    starts = np.array(starts)
    used = np.zeros(starts.shape, dtype=bool)
    for k, lay in enumerate(layouts):
        used[k, [lay.row_element[r] for r in lay.partable["id"] if r in lay.row_element]] = 1
    return (starts * used).sum(0) / np.maximum(used.sum(0), 1)
