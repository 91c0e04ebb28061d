"""Two-level models (lavaan's ``level: 1`` / ``level: 2``): the marginal backend per level.

Every firm *i* of cluster *j* is the sum of a cluster part and a firm part (lavaan's model)::

    y_ij = y_B,j + y_W,ij,     y_B,j ~ N(μ, Σ_B),     y_W,ij ~ N(μ_W, Σ_W)

    Σ_W = Λ_W (I − B_W)⁻¹ Ψ_W (I − B_W)⁻ᵀ Λ_Wᵀ + Θ_W          (the ``level: 1`` model)
    Σ_B = Λ_B (I − B_B)⁻¹ Ψ_B (I − B_B)⁻ᵀ Λ_Bᵀ + Θ_B          (the ``level: 2`` model)
    μ   = ν_B + Λ_B (I − B_B)⁻¹ α_B                            (means live at level 2)

Each level's matrices come from its own :class:`~bayes_rent.spec.layout.Layout`, built from
the level's rows of the parameter table, and its implied moments from
:func:`~bayes_rent.spec.implied.implied_moments`. A variable only in the within model has no
between part (its rows and columns of Σ_B are 0) and keeps its mean at level 1 (μ_W); a
variable only in the between model (a cluster-level variable, constant within clusters) has no
within part.

Likelihood from sufficient statistics
-------------------------------------
With complete data, J clusters of sizes n_j, cluster means ȳ_j and the pooled within-cluster
scatter ``S_PW = Σ_j Σ_i (y_ij − ȳ_j)(y_ij − ȳ_j)ᵀ`` (over the p_W within variables)::

    log L = Σ_j log N(ȳ_j; μ, Σ_B + Σ_W / n_j)
            − (N − J)/2 (p_W log 2π + log|Σ_W|) − ½ tr(Σ_W⁻¹ S_PW)
            − ½ p_W Σ_j log n_j

which is exactly the normal density of the stacked cluster vectors (covariance
``I ⊗ Σ_W + 11ᵀ ⊗ Σ_B``): an orthogonal (Helmert) rotation of each cluster splits it into
√n_j ȳ_j and n_j − 1 independent N(0, Σ_W) deviations; the last term is the Jacobian of going
from √n_j ȳ_j to ȳ_j. Clusters of equal size share ``V_s = Σ_B + Σ_W / s``, so the between
term is computed per distinct size s from the J_s clusters' mean and scatter of their ȳ_j: one
Cholesky factor per distinct size plus one for Σ_W, whatever the number of firms or clusters.

Missing answers are refused (:class:`~bayes_rent.data.observed.DataError` naming the columns): the
sufficient statistics above need complete rows, and an exact pattern-wise version would need one
factor per (cluster, pattern) with cross-firm covariances, which is not implemented.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayes_rent.backend.clustered import cluster_codes, psd_factor
from bayes_rent.backend.parameters import PriorGroup, element_vector
from bayes_rent.backend.start import start_values
from bayes_rent.data.observed import DataError, ObservedMoments
from bayes_rent.spec.implied import implied_from_matrices, implied_moments
from bayes_rent.spec.layout import Element, Layout, build_layout
from bayes_rent.spec.partable import latent_variables, observed_variables

__all__ = [
    "TwoLevelLayout",
    "TwoLevelStatistics",
    "build_twolevel_layout",
    "build_twolevel_model",
    "cluster_posterior",
    "is_two_level",
    "twolevel_loglik",
    "twolevel_moments",
    "twolevel_start",
    "twolevel_statistics",
]

_LOG_2PI = float(np.log(2.0 * np.pi))


def is_two_level(partable: pd.DataFrame) -> bool:
    """Whether a parameter table has between-level (``level == 2``) rows.

    Examples
    --------
    >>> from bayes_rent.spec.partable import build_partable
    >>> is_two_level(build_partable("f =~ x1 + x2 + x3"))
    False
    >>> is_two_level(build_partable("level: 1\\n fw =~ y1 + y2\\nlevel: 2\\n fb =~ y1 + y2"))
    True
    """
    return "level" in partable.columns and bool((partable["level"] == 2).any())


# ------------------------------------------------------------------------ layout
@dataclass
class TwoLevelLayout:
    """Both levels' layouts and the one vector of sampled elements they share.

    Attributes
    ----------
    partable : pandas.DataFrame
        The two-level parameter table.
    levels : dict of int to Layout
        The layout of each level, built from that level's rows (row ids kept).
    element_map : dict of int to numpy.ndarray
        For each level, the position in :attr:`combined` ``.elements`` of each of its layout's
        elements. A label written in both levels ties them to one element.
    combined : Layout
        A layout that carries only the shared elements and the whole table; it is what
        :func:`~bayes_rent.backend.marginal.prior_groups` and
        :func:`~bayes_rent.backend.marginal.priors_table` read. Element names of level-2
        parameters end in ``.l2`` (lavaan's convention), so every coordinate is unique.
    observed : list of str
        Every observed variable: the within variables in model order, then the between-only
        ones.
    select : dict of int to numpy.ndarray
        ``(p, p_level)`` 0/1 matrices that place a level's variables among :attr:`observed`.
    rows : dict of int to numpy.ndarray
        Positions of each level's rows in the parameter table.
    """

    partable: pd.DataFrame
    levels: dict[int, Layout]
    element_map: dict[int, np.ndarray]
    combined: Layout
    observed: list[str]
    select: dict[int, np.ndarray] = field(default_factory=dict)
    rows: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def within(self) -> list[str]:
        """The observed variables of the within (level-1) model."""
        return self.levels[1].observed

    @property
    def between(self) -> list[str]:
        """The observed variables of the between (level-2) model."""
        return self.levels[2].observed

    def level_elements(self, elements, level: int):
        """A level's element values from the shared vector (numpy draws or a tensor)."""
        return elements[..., self.element_map[level]]


def build_twolevel_layout(partable: pd.DataFrame) -> TwoLevelLayout:
    """Place the rows of a two-level parameter table, one layout per level.

    Parameters
    ----------
    partable : pandas.DataFrame
        A table with a ``level`` column (:func:`bayes_rent.spec.partable.build_partable` of syntax
        with ``level:`` blocks).

    Returns
    -------
    TwoLevelLayout

    Raises
    ------
    ValueError
        When a label ties parameters of different kinds across the levels.

    Examples
    --------
    >>> from bayes_rent.spec.partable import build_partable
    >>> tl = build_twolevel_layout(build_partable(
    ...     "level: 1\\n fw =~ y1 + y2 + y3\\nlevel: 2\\n fb =~ y1 + y2 + y3"))
    >>> [e.name for e in tl.combined.elements if e.kind == "loading"]
    ['fw=~y2', 'fw=~y3', 'fb=~y2.l2', 'fb=~y3.l2']
    >>> tl.within, tl.between
    (['y1', 'y2', 'y3'], ['y1', 'y2', 'y3'])
    """
    table = partable.reset_index(drop=True)
    levels: dict[int, Layout] = {}
    rows: dict[int, np.ndarray] = {}
    for level in (1, 2):
        mask = (table["level"] == level).to_numpy()
        rows[level] = np.flatnonzero(mask)
        levels[level] = build_layout(table.loc[mask].reset_index(drop=True))
    elements: list[Element] = []
    by_label: dict[str, int] = {}
    element_map: dict[int, np.ndarray] = {}
    row_element: dict[int, int] = {}
    labels = table.set_index("id")["label"]
    for level, lay in levels.items():
        index = []
        for e in lay.elements:
            label = labels.at[e.rows[0]]
            if label and label in by_label:
                k = by_label[label]
                if elements[k].kind != e.kind:
                    raise ValueError(
                        f"label '{label}' ties parameters of different kinds across the levels "
                        f"({elements[k].kind} and {e.kind})"
                    )
                elements[k].rows.extend(e.rows)
            else:
                # lavaan names between-level parameters with a '.l2' suffix
                name = e.name if label or level == 1 else f"{e.name}.l2"
                elements.append(Element(kind=e.kind, name=name, rows=list(e.rows),
                                        prior=e.prior))
                k = len(elements) - 1
                if label:
                    by_label[label] = k
            index.append(k)
            for r in e.rows:
                row_element[r] = k
        element_map[level] = np.array(index, dtype=int)
    within = levels[1].observed
    observed = within + [v for v in levels[2].observed if v not in within]
    select = {}
    for level, lay in levels.items():
        sel = np.zeros((len(observed), lay.n_observed))
        sel[[observed.index(v) for v in lay.observed], np.arange(lay.n_observed)] = 1.0
        select[level] = sel
    combined = Layout(
        partable=table, observed=observed, latent=[], phantom=np.zeros(0, dtype=bool),
        elements=elements, row_element=row_element,
    )
    return TwoLevelLayout(
        partable=table, levels=levels, element_map=element_map, combined=combined,
        observed=observed, select=select, rows=rows,
    )


def twolevel_moments(layout: TwoLevelLayout, elements, xp=np):
    """Within and between implied covariances and the mean, on all observed variables.

    Parameters
    ----------
    layout : TwoLevelLayout
        Placement of the rows.
    elements : array
        Shared element values on their natural scale, shape ``(..., n_elements)``.
    xp : module
        ``numpy`` (vectorized over leading draw axes) or ``pytensor.tensor``.

    Returns
    -------
    sigma_w, sigma_b, mu : arrays
        ``(..., p, p)``, ``(..., p, p)`` and ``(..., p)`` over :attr:`TwoLevelLayout.observed`:
        Σ_W is 0 on between-only variables, Σ_B on within-only ones; μ adds the level-1 means
        of within-only variables to the level-2 means.
    sigma_ww : array
        ``(..., p_W, p_W)``: Σ_W on the within variables only (positive definite).
    """
    out = {}
    for level, lay in layout.levels.items():
        out[level] = implied_moments(lay, layout.level_elements(elements, level), xp=xp)
    (s_w, m_w), (s_b, m_b) = out[1], out[2]
    p_w, p_b = layout.select[1], layout.select[2]
    if xp is not np:
        p_w, p_b = pt.as_tensor_variable(p_w), pt.as_tensor_variable(p_b)
    sigma_w = p_w @ s_w @ p_w.T
    sigma_b = p_b @ s_b @ p_b.T
    if xp is np:
        mu = (p_w @ m_w[..., None])[..., 0] + (p_b @ m_b[..., None])[..., 0]
    else:
        mu = p_w @ m_w + p_b @ m_b
    return sigma_w, sigma_b, mu, s_w


# ------------------------------------------------------------------------ statistics
@dataclass
class TwoLevelStatistics:
    """Sufficient statistics of complete two-level data.

    Attributes
    ----------
    variables : list of str
        All observed variables (the order of :attr:`TwoLevelLayout.observed`).
    within : list of str
        The within variables (the rows of ``within_scatter``).
    clusters : list of str
        Cluster names (the ``cluster`` coordinate).
    sizes : numpy.ndarray
        ``(J,)`` firms per cluster.
    means : numpy.ndarray
        ``(J, p)`` cluster means.
    within_scatter : numpy.ndarray
        ``(p_W, p_W)``: ``S_PW``, the pooled within-cluster scatter of the within variables.
    n_total : int
        Firms.
    """

    variables: list[str]
    within: list[str]
    clusters: list[str]
    sizes: np.ndarray
    means: np.ndarray
    within_scatter: np.ndarray
    n_total: int
    # (J, p_W, p_W): each cluster's own within scatter (sums to within_scatter); used for the
    # per-cluster log-likelihood of LOO, not by the sampler
    cluster_scatter: np.ndarray | None = None

    @property
    def n_clusters(self) -> int:
        return len(self.clusters)

    @property
    def cluster_sizes(self) -> pd.Series:
        """Firms per cluster."""
        return pd.Series(self.sizes, index=pd.Index(self.clusters, name="cluster"))

    @property
    def size_values(self) -> np.ndarray:
        """The distinct cluster sizes, ascending."""
        return np.unique(self.sizes)

    @property
    def size_index(self) -> np.ndarray:
        """``(J,)``: each cluster's position in :attr:`size_values`."""
        return np.searchsorted(self.size_values, self.sizes)

    def as_data(self) -> dict[str, np.ndarray]:
        """The arrays the PyMC model holds as ``pm.Data``.

        Returns
        -------
        dict
            Per distinct size s: ``size_value (S,)``, ``size_count (S,)`` (J_s),
            ``size_mean (S, p)`` (mean of the J_s cluster means) and ``size_factor (S, p, p)``
            (``F Fᵀ`` = their scatter about ``size_mean`` divided by J_s); ``within_factor
            (p_W, p_W)`` with ``F Fᵀ = S_PW / (N − J)``; the scalars ``within_n`` (N − J) and
            ``log_size_sum`` (Σ_j log n_j).
        """
        values, index = self.size_values, self.size_index
        n_sizes, p = len(values), self.means.shape[1]
        count = np.bincount(index, minlength=n_sizes).astype(float)
        mean = np.zeros((n_sizes, p))
        np.add.at(mean, index, self.means)
        mean /= count[:, None]
        dev = self.means - mean[index]
        scatter = np.zeros((n_sizes, p, p))
        np.add.at(scatter, index, dev[:, :, None] * dev[:, None, :])
        factor = np.stack([psd_factor(s / c) for s, c in zip(scatter, count, strict=True)])
        within_n = self.n_total - self.n_clusters
        return {
            "size_value": values.astype(float),
            "size_count": count,
            "size_mean": mean,
            "size_factor": factor,
            "within_factor": psd_factor(self.within_scatter / within_n),
            "within_n": np.asarray(float(within_n)),
            "log_size_sum": np.asarray(float(np.log(self.sizes).sum())),
        }


def twolevel_statistics(
    data: pd.DataFrame, cluster, within: list[str], between_only: list[str] = ()
) -> TwoLevelStatistics:
    """Cluster sizes, cluster means and the pooled within-cluster scatter of complete data.

    Parameters
    ----------
    data : pandas.DataFrame
        Checked numeric data (:func:`bayes_rent.data.observed.check_data`), columns in the order of
        :attr:`TwoLevelLayout.observed`.
    cluster : pandas.Series or array-like
        Cluster id of every row (a Series is aligned on the data's index). A categorical keeps
        its category order; other ids are sorted.
    within : list of str
        The within variables (those of the ``level: 1`` model).
    between_only : list of str
        Cluster-level variables (only in the ``level: 2`` model); they must be constant within
        every cluster.

    Returns
    -------
    TwoLevelStatistics

    Raises
    ------
    bayes_rent.data.observed.DataError
        For missing answers (columns named; two-level models need complete data), a firm
        without a cluster id, a between-only variable that varies within a cluster, fewer than
        two clusters, or too few firms beyond one per cluster to estimate the within
        covariance.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"a": [1.0, 2, 4, 6], "b": [0.0, 1, 1, 3]})
    >>> s = twolevel_statistics(d, ["x", "x", "y", "y"], ["a", "b"])
    >>> s.means.tolist(), s.within_scatter.tolist()
    ([[1.5, 0.5], [5.0, 2.0]], [[2.5, 2.5], [2.5, 2.5]])
    """
    missing = data.isna().sum()
    missing = missing[missing > 0]
    if len(missing):
        raise DataError(
            "two-level models need complete data; missing answers in "
            + ", ".join(f"'{c}' ({n} rows)" for c, n in missing.items())
            + ". Drop or impute those rows first."
        )
    codes, names = cluster_codes(cluster, data.index)
    n_clusters = len(names)
    if n_clusters < 2:
        raise DataError(f"cluster: a two-level model needs at least two clusters, not "
                        f"{n_clusters}")
    y = data.to_numpy(dtype=float)
    sizes = np.bincount(codes, minlength=n_clusters)
    means = np.zeros((n_clusters, y.shape[1]))
    np.add.at(means, codes, y)
    means /= sizes[:, None]
    dev = y - means[codes]
    varying = [v for v in between_only
               if np.abs(dev[:, data.columns.get_loc(v)]).max() > 1e-9 * (1 + np.abs(y).max())]
    if varying:
        raise DataError(
            f"{', '.join(map(repr, varying))} only in the between model (level 2) but "
            "vary within clusters; a cluster-level variable must be constant in each cluster "
            "(or add it to the 'level: 1' block)"
        )
    cols = [data.columns.get_loc(v) for v in within]
    scatter = dev[:, cols].T @ dev[:, cols]
    per_cluster = np.zeros((n_clusters, len(cols), len(cols)))
    np.add.at(per_cluster, codes, dev[:, cols, None] * dev[:, None, cols])
    if len(y) - n_clusters < len(within):
        raise DataError(
            f"{len(y)} firms in {n_clusters} clusters leave {len(y) - n_clusters} degrees of "
            f"freedom within clusters, too few for {len(within)} within variables"
        )
    return TwoLevelStatistics(
        variables=list(data.columns), within=list(within), clusters=names,
        sizes=sizes.astype(int), means=means, within_scatter=scatter, n_total=len(y),
        cluster_scatter=per_cluster,
    )


# ------------------------------------------------------------------------ likelihood
def twolevel_loglik(sigma_w, sigma_b, mu, sigma_ww, data: Mapping, xp=np):
    """The exact two-level normal log-likelihood from the statistics of :meth:`as_data`.

    Parameters
    ----------
    sigma_w, sigma_b, mu, sigma_ww : arrays
        From :func:`twolevel_moments`; numpy arrays may carry leading draw axes.
    data : mapping
        :meth:`TwoLevelStatistics.as_data` (numpy arrays or the model's ``pm.Data``).
    xp : module
        ``numpy`` or ``pytensor.tensor``.

    Returns
    -------
    array
        The log-likelihood (leading shape of ``sigma_w``); ``-inf`` where a covariance is not
        positive definite.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> d = pd.DataFrame({"a": [1.0, 2, 4, 6, 3], "b": [0.0, 1, 1, 3, 1]})
    >>> s = twolevel_statistics(d, ["x", "x", "y", "y", "y"], ["a", "b"])
    >>> sw, sb, mu = np.eye(2), 0.5 * np.eye(2), np.array([3.0, 1.0])
    >>> ll = twolevel_loglik(sw, sb, mu, sw, s.as_data())
    >>> from scipy.stats import multivariate_normal as mvn  # the stacked clusters' density
    >>> direct = sum(
    ...     mvn(np.tile(mu, n), np.kron(np.eye(n), sw) + np.kron(np.ones((n, n)), sb)).logpdf(
    ...         d.to_numpy()[rows].ravel())
    ...     for n, rows in ((2, [0, 1]), (3, [2, 3, 4])))
    >>> round(float(ll), 6) == round(float(direct), 6)
    True
    """
    value, count = data["size_value"], data["size_count"]
    mean, factor = data["size_mean"], data["size_factor"]
    within_n, log_sizes = data["within_n"], data["log_size_sum"]
    p, p_w = mean.shape[-1], data["within_factor"].shape[-1]
    if xp is np:
        v = sigma_b[..., None, :, :] + sigma_w[..., None, :, :] / value[:, None, None]
        try:
            chol = np.linalg.cholesky(v)
            chol_w = np.linalg.cholesky(sigma_ww)
        except np.linalg.LinAlgError:
            return np.full(np.shape(sigma_w)[:-2], -np.inf)
        resid = mean - mu[..., None, :]
        logdet = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
        trace = (np.linalg.solve(chol, factor) ** 2).sum((-2, -1))
        quad = (np.linalg.solve(chol, resid[..., None])[..., 0] ** 2).sum(-1)
        between = (-0.5 * count * (p * _LOG_2PI + logdet + trace + quad)).sum(-1)
        logdet_w = 2.0 * np.log(np.diagonal(chol_w, axis1=-2, axis2=-1)).sum(-1)
        trace_w = (np.linalg.solve(chol_w, data["within_factor"]) ** 2).sum((-2, -1))
        within = -0.5 * within_n * (p_w * _LOG_2PI + logdet_w + trace_w)
        return between + within - 0.5 * p_w * log_sizes
    v = sigma_b[None] + sigma_w[None] / value[:, None, None]
    chol = pt.linalg.cholesky(v, lower=True, on_error="nan")
    resid = mean - mu[None]
    logdet = 2.0 * pt.log(pt.diagonal(chol, axis1=1, axis2=2)).sum(-1)
    z = pt.linalg.solve_triangular(chol, factor, lower=True, b_ndim=2)
    q = pt.linalg.solve_triangular(chol, resid, lower=True, b_ndim=1)
    between = (-0.5 * count * (p * _LOG_2PI + logdet + (z**2).sum((1, 2))
                               + (q**2).sum(-1))).sum()
    chol_w = pt.linalg.cholesky(sigma_ww, lower=True, on_error="nan")
    logdet_w = 2.0 * pt.log(pt.diagonal(chol_w)).sum()
    z_w = pt.linalg.solve_triangular(chol_w, data["within_factor"], lower=True, b_ndim=2)
    within = -0.5 * within_n * (p_w * _LOG_2PI + logdet_w + (z_w**2).sum())
    ll = between + within - 0.5 * p_w * log_sizes
    return pt.switch(pt.isnan(ll), -np.inf, ll)


def cluster_loglik(sigma_w, sigma_b, mu, sigma_ww, statistics: TwoLevelStatistics):
    """Each cluster's log-likelihood (all its firms together), vectorized over draws.

    Clusters are independent given θ, so this is the unit for leave-one-cluster-out LOO:
    firms in one cluster share their cluster's between part and are not independent. For
    cluster j with n_j firms, mean ȳ_j and within scatter S_j::

        ℓ_j = log N(ȳ_j; μ, Σ_B + Σ_W / n_j)
              − ½ [(n_j − 1)(p_W log 2π + log|Σ_WW|) + tr(Σ_WW⁻¹ S_j) + p_W log n_j]

    and Σ_j ℓ_j is :func:`twolevel_loglik`.

    Parameters
    ----------
    sigma_w, sigma_b, mu, sigma_ww : numpy.ndarray
        From :func:`twolevel_moments`, with leading draw axes.
    statistics : TwoLevelStatistics
        With ``cluster_scatter`` (as :func:`twolevel_statistics` computes it).

    Returns
    -------
    numpy.ndarray
        Shape ``(..., J)``.
    """
    n = statistics.sizes.astype(float)
    p, p_w = statistics.means.shape[1], sigma_ww.shape[-1]
    v = sigma_b[..., None, :, :] + sigma_w[..., None, :, :] / n[:, None, None]
    chol = np.linalg.cholesky(v)
    resid = statistics.means - mu[..., None, :]
    quad = (np.linalg.solve(chol, resid[..., None])[..., 0] ** 2).sum(-1)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
    between = -0.5 * (p * _LOG_2PI + logdet + quad)
    chol_w = np.linalg.cholesky(sigma_ww)
    logdet_w = 2.0 * np.log(np.diagonal(chol_w, axis1=-2, axis2=-1)).sum(-1)
    inv_w = np.linalg.inv(sigma_ww)
    trace = np.einsum("...ij,cji->...c", inv_w, statistics.cluster_scatter)
    within = -0.5 * ((n - 1) * (p_w * _LOG_2PI + logdet_w[..., None]) + trace + p_w * np.log(n))
    return between + within


def build_twolevel_model(
    layout: TwoLevelLayout, statistics: TwoLevelStatistics, groups: list[PriorGroup]
) -> pm.Model:
    """Build the PyMC model of a two-level model (latent variables of both levels integrated out).

    Parameters
    ----------
    layout : TwoLevelLayout
        Placement of the rows.
    statistics : TwoLevelStatistics
        The data's sufficient statistics.
    groups : list of PriorGroup
        Sampled vectors with their priors,
        :func:`~bayes_rent.backend.marginal.prior_groups` of ``layout.combined``.

    Returns
    -------
    pymc.Model
        Free variables named after the parameter kinds (``loadings``, ``sds``, ...) with
        labelled dims whose coordinates are the element names (level-2 ones end in ``.l2``);
        the statistics are ``pm.Data`` so the compiled model can take a new data set with the
        same number of distinct cluster sizes.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayes_rent.backend.parameters import prior_groups
    >>> from bayes_rent.spec.partable import build_partable
    >>> from bayes_rent.data.population import simulate_twolevel_data
    >>> syntax = "level: 1\\n fw =~ y1 + y2 + y3\\nlevel: 2\\n fb =~ y1 + y2 + y3"
    >>> sim = simulate_twolevel_data(syntax, [10] * 20, seed=1)
    >>> tl = build_twolevel_layout(build_partable(syntax))
    >>> stats = twolevel_statistics(sim.data[tl.observed], sim.data["cluster"], tl.within)
    >>> model = build_twolevel_model(tl, stats, prior_groups(tl.combined, None))
    >>> list(model.coords["loading"])
    ['fw=~y2', 'fw=~y3', 'fb=~y2.l2', 'fb=~y3.l2']
    """
    elements_all = layout.combined.elements
    coords = {g.dim: [elements_all[k].name for k in g.elements] for g in groups}
    with pm.Model(coords=coords) as model:
        data = {name: pm.Data(name, value) for name, value in statistics.as_data().items()}
        elements = element_vector(groups)
        sigma_w, sigma_b, mu, sigma_ww = twolevel_moments(layout, elements, xp=pt)
        pm.Potential("loglik", twolevel_loglik(sigma_w, sigma_b, mu, sigma_ww, data, xp=pt))
    return model


# ------------------------------------------------------------------------ starting values
def twolevel_start(
    layout: TwoLevelLayout, statistics: TwoLevelStatistics, *, std_lv: bool = False
) -> np.ndarray:
    """Starting element values: each level's model fitted to its own moment estimate.

    The within model is fitted (penalized ML, :func:`~bayes_rent.backend.start.start_values`)
    to the pooled within covariance ``S_PW / (N − J)``, the between model to the method-of-
    moments between covariance ``cov(ȳ_j) − S_W · mean(1/n_j)`` with its eigenvalues kept
    positive. It is a start for the sampler, not an estimate.

    Returns
    -------
    numpy.ndarray
        Shared element values on their natural scale.
    """
    obs = statistics.variables
    within_n = statistics.n_total - statistics.n_clusters
    s_w = statistics.within_scatter / within_n
    grand = statistics.means.mean(axis=0)
    between_vars = layout.between
    within_vars = layout.within
    # within-only variables keep their mean at level 1; the others have deviations of mean 0
    mean_w = np.array([0.0 if v in between_vars else grand[obs.index(v)] for v in within_vars])
    full_w = np.zeros((len(obs), len(obs)))
    iw = [obs.index(v) for v in within_vars]
    full_w[np.ix_(iw, iw)] = s_w
    ib = [obs.index(v) for v in between_vars]
    cov_means = np.cov(statistics.means, rowvar=False, bias=True).reshape(len(obs), len(obs))
    s_b = (cov_means - full_w * np.mean(1.0 / statistics.sizes))[np.ix_(ib, ib)]
    w, vec = np.linalg.eigh(s_b)
    floor = 0.05 * max(float(np.mean(np.diag(s_w))), 1e-6) if len(iw) else 1e-3
    s_b = (vec * np.maximum(w, floor)) @ vec.T

    def moments_of(cov: np.ndarray, mean: np.ndarray, n: int, names: list[str]):
        return ObservedMoments(
            variables=names, n=np.array([n]), mask=np.ones((1, len(names)), dtype=int),
            mean=mean[None, :], factor=psd_factor(cov)[None], n_total=n,
            pattern_of_row=np.zeros(n, dtype=int),
        )

    out = np.zeros(len(layout.combined.elements))
    fits = {
        1: moments_of(s_w, mean_w, within_n, within_vars),
        2: moments_of(s_b, grand[ib], statistics.n_clusters, between_vars),
    }
    for level, stats in fits.items():
        out[layout.element_map[level]] = start_values(layout.levels[level], stats,
                                                      std_lv=std_lv)
    return out


# ------------------------------------------------------------------------ cluster results
def cluster_posterior(
    layout: TwoLevelLayout, statistics: TwoLevelStatistics, elements: np.ndarray,
    coords: Mapping[str, np.ndarray], *, kind: str = "mean", seed: int | None = None,
) -> xr.Dataset:
    """Each cluster's between latent variables and item means given its data, per draw.

    Given θ, the within deviations are independent of the cluster part, so a cluster's mean
    vector ȳ_j carries all its data say about its between values: with
    ``V_j = Σ_B + Σ_W / n_j`` and η the between latent variables (all-y form,
    ``η = (I − B)⁻¹ (α + ζ)``)::

        E[η_j | ȳ_j]  = E[η] + Cov(η, y_B) V_j⁻¹ (ȳ_j − μ)
        Var[η_j | ȳ_j] = Cov(η) − Cov(η, y_B) V_j⁻¹ Cov(y_B, η)

    and likewise for the cluster's item means μ + y_B,j. Everything is computed at once for
    all draws, with one inverse per distinct cluster size.

    Parameters
    ----------
    layout : TwoLevelLayout
    statistics : TwoLevelStatistics
    elements : numpy.ndarray
        ``(chain, draw, n_elements)`` element draws.
    coords : mapping
        ``chain`` and ``draw`` coordinates.
    kind : {"mean", "draws"}
        ``"mean"``: the conditional means per draw (their spread over draws is the parameter
        uncertainty only; ``latent_sd`` gives the rest); ``"draws"``: one draw from the
        conditional distribution per posterior draw (their spread is the full posterior).
    seed : int, optional
        Seed for ``kind="draws"``.

    Returns
    -------
    xarray.Dataset
        ``latent (chain, draw, cluster, construct)``, ``latent_sd`` (the conditional SDs,
        same dims), ``item_mean (chain, draw, cluster, item)``; the ``cluster`` dim carries a
        ``cluster_size`` coordinate. Phantom latents (observed variables of the between
        structural model) are left out of ``construct``.
    """
    if kind not in ("mean", "draws"):
        raise ValueError(f"kind must be 'mean' or 'draws', not {kind!r}")
    lay2 = layout.levels[2]
    sigma_w, sigma_b, mu, _ = twolevel_moments(layout, elements)
    mats = lay2.matrices(lay2.row_values(layout.level_elements(elements, 2)))
    implied = implied_from_matrices(mats)
    cov_eta, mean_eta = implied.latent_cov, implied.latent_mean
    # Cov(η, y_B) on all observed variables (0 for within-only ones)
    cross = cov_eta @ np.swapaxes(mats["Lambda"], -1, -2) @ layout.select[2].T
    sizes = statistics.size_values.astype(float)
    v = sigma_b[..., None, :, :] + sigma_w[..., None, :, :] / sizes[:, None, None]
    v_inv = np.linalg.inv(v)                                     # (c, d, S, p, p)
    gain = cross[..., None, :, :] @ v_inv                        # (c, d, S, m, p)
    resid = statistics.means - mu[..., None, :]                  # (c, d, J, p)
    idx = statistics.size_index
    eta = mean_eta[..., None, :] + np.einsum("cdjmp,cdjp->cdjm", gain[..., idx, :, :], resid)
    var = cov_eta[..., None, :, :] - gain @ np.swapaxes(cross, -1, -2)[..., None, :, :]
    var = var[..., idx, :, :]
    item_gain = sigma_b[..., None, :, :] @ v_inv
    items = mu[..., None, :] + np.einsum("cdjqp,cdjp->cdjq", item_gain[..., idx, :, :], resid)
    if kind == "draws":
        rng = np.random.default_rng(seed)
        # conditional covariances are PSD but can be singular (phantoms): symmetric root
        w, vec = np.linalg.eigh((var + np.swapaxes(var, -1, -2)) / 2)
        root = vec * np.sqrt(np.clip(w, 0.0, None))[..., None, :]
        eta = eta + (root @ rng.standard_normal(eta.shape + (1,)))[..., 0]
    real = ~lay2.phantom
    constructs = [v for v, ph in zip(lay2.latent, lay2.phantom, strict=True) if not ph]
    sd = np.sqrt(np.clip(np.diagonal(var, axis1=-2, axis2=-1), 0.0, None))
    dims = ("chain", "draw", "cluster", "construct")
    ib = [layout.observed.index(v) for v in layout.between]
    return xr.Dataset(
        {
            "latent": (dims, eta[..., real]),
            "latent_sd": (dims, sd[..., real]),
            "item_mean": (("chain", "draw", "cluster", "item"), items[..., ib]),
        },
        coords={
            "chain": coords["chain"], "draw": coords["draw"],
            "cluster": statistics.clusters, "construct": constructs, "item": layout.between,
            "cluster_size": ("cluster", statistics.sizes),
        },
        attrs={"level": 2, "kind": kind},
    )


def level_variables(partable: pd.DataFrame, level: int) -> tuple[list[str], list[str]]:
    """Observed and latent variables of one level of a two-level table.

    Examples
    --------
    >>> from bayes_rent.spec.partable import build_partable
    >>> pt = build_partable("level: 1\\n fw =~ y1 + y2\\nlevel: 2\\n fb =~ y1 + y2 + w")
    >>> level_variables(pt, 2)
    (['y1', 'y2', 'w'], ['fb'])
    """
    rows = partable[partable["level"] == level]
    return observed_variables(rows), latent_variables(rows)
