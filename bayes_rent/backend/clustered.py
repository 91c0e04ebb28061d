"""Firms nested in industrial clusters: the marginal backend with cluster random effects.

Every firm *i* of cluster *c* is a draw from the multivariate normal model of the marginal
backend (:mod:`bayes_rent.backend.marginal`), with the latent means shifted by the cluster's
random intercepts::

    u_c  = τ ⊙ z_c,        z_c ~ N(0, I)            (non-centred: u_c ~ N(0, diag(τ²)))
    Σ    = Λ (I − B)⁻¹ Ψ (I − B)⁻ᵀ Λᵀ + Θ           (the same for every cluster)
    μ_c  = ν + Λ (I − B)⁻¹ (α + u_c)

``u_c`` has one entry per latent variable (phantom latents of observed regressors excluded:
their means are the regression intercepts and stay fixed across clusters); ``random_means``
(:func:`random_mean_latents`) restricts it, in a higher-order model, to the first-order factors
(``"first_order"``) or to the constructs on top (``"top"``, the structural residuals' means).
The default stays ``"all"``: on the book's model (``bench/README.md``) ``"top"`` took 57 % of
the gradients but mixed worse (R-hat 1.064, bulk ESS 58 against 1.019 and 289). With
``random_paths`` the free structural paths vary by cluster too, ``B_c = B + δ_c`` with
``δ_c = τ_path ⊙ z_path,c`` per free path element, so Σ and μ both carry the cluster index.

Likelihood from sufficient statistics
-------------------------------------
The respondents are split into *cells*: one per (cluster, missingness pattern). For cell k with
n_k firms, pattern mean ȳ_k and within-cell covariance S_k (divided by n_k)::

    log L = Σ_k −n_k/2 [p_k log 2π + log|Σ_k| + tr(Σ_k⁻¹ S_k)
                        + (ȳ_k − μ_c(k))ᵀ Σ_k⁻¹ (ȳ_k − μ_c(k))]

which is exactly the sum of the firms' normal log-densities, so the cost depends on the number
of cells, not of firms. When Σ is common to all clusters (random intercepts only) the trace and
log-determinant terms of one missingness pattern are pooled over clusters (``W_p = Σ_k n_k S_k``,
the pattern's within-cluster scatter), so only one Cholesky factor per *pattern* is needed; only
the mean terms are per cell. With random paths there is one Cholesky per cell.

Scattered missing answers: data augmentation
--------------------------------------------
When answers are missing in a scattered way (the rule of
:attr:`bayes_rent.data.observed.ObservedMoments.scattered`, as in the marginal backend) nearly
every firm has a pattern of its own and the cells cost one Cholesky factor of a ~p×p matrix
each (the book's model: 237 patterns of 69 items, 273 cells). Then the missing answers are
sampled (``missing_answers``, dim ``missing_answer``, a flat prior: their density is the
model's own) and the likelihood is the complete-data one of the filled matrix
(:func:`augmented_cluster_loglik`; the sampler's graph is :func:`augmented_cluster_graph`): per
cluster c with n_c firms, the mean ȳ_c and the within-cluster scatter
W_c = Σ_i (y_i − ȳ_c)(y_i − ȳ_c)ᵀ of the filled data are recomputed in the graph, and::

    log L = −½ Σ_c [n_c (p log 2π + log|Σ_c|) + tr(Σ_c⁻¹ W_c) + n_c (ȳ_c − μ_c)ᵀ Σ_c⁻¹ (ȳ_c − μ_c)]

With Σ common to the clusters (random intercepts) the W_c are pooled and one Cholesky factor of
Σ serves every cluster; with random paths there is one per cluster. Integrating the sampled
answers out gives back the cell likelihood above, so the posterior of the parameters is the
same; the per-firm log-likelihood (:func:`respondent_loglik`) integrates them out exactly.

Intercepts at the clusters' grand mean
--------------------------------------
The data see the item intercepts only through ν + Λ(I − B)⁻¹ ū, ū the mean of the clusters'
effects, which only the effects' prior holds: ν and ū lie on a ridge that a diagonal mass
matrix crosses slowly (the book's model: item intercepts at R-hat 1.02, bulk ESS 289 after
4 × 1 000 draws; ``bench/README.md``). By default (``grand_mean_intercepts=True``) the sampler
therefore moves the grand-mean intercepts ``m = ν + Λ(I − B)⁻¹ ū`` (``intercepts_grand``,
a flat variable), and ν = m − Λ(I − B)⁻¹ ū is a deterministic under its own name with its
prior added as a potential (``intercepts_prior``). The map (ν, u) → (m, u) is a shear with
unit Jacobian, so the posterior is the same; only the sampler's coordinates change: the
likelihood depends on m and the clusters' deviations u_c − ū, and ū keeps nearly its prior
(the book's model, same seed and draws: max R-hat 1.005, min bulk ESS 1 090).
Only intercept vectors whose every element belongs to one item are moved, and not with
``random_paths`` (the clusters' operators differ there, so no single shift absorbs ū).

Priors
------
* ``cluster_sd`` (τ, dim ``latent``): ``gamma(1,0.5)[sd]``, the package's default prior for
  every standard deviation (blavaan's), so the between-cluster SD of a latent mean is treated like
  its within-cluster SD: mode at 0 (the data can switch the clustering off), mean 2, on the
  scale of the marker item. Override with ``cluster_prior=``.
* ``path_sd`` (τ_path, dim ``random_path``): also ``gamma(1,0.5)[sd]``; ``path_prior=``.
* The shared parameters get exactly the priors of :func:`bayes_rent.backend.marginal.build_model`
  (the same :class:`~bayes_rent.backend.marginal.PriorGroup` vectors, created by the same
  :func:`bayes_rent.spec.priors.prior_rv`).

Parameterization, by measurement (``bench/bench_pooling.py``, 8 clusters of 15-80 firms, 2
chains × 500 draws): with a true between-cluster SD of 0.5 the centred form (``centred=True``)
gave 1.2-2.3× the min-ESS per second of the non-centred one (3 replicates, no divergences in
either); with a true SD of 0.1 the centred form diverged in 5 of 5 fits (1-10 divergences) and
gave 0.4-1.1× its ESS per second, while the non-centred form diverged once in 5. The default is
non-centred: slower by at most ~2× when clusters differ strongly, but it does not fail where
they hardly differ, which is where the question "do clusters matter?" is asked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayes_rent.backend import marginal
from bayes_rent.backend.base import structure_key
from bayes_rent.backend.parameters import PriorGroup, element_draws, element_vector
from bayes_rent.data.observed import DataError
from bayes_rent.spec.implied import implied_moments, total_operator
from bayes_rent.spec.layout import Layout
from bayes_rent.spec.priors import parse_prior, prior_distribution, prior_rv

__all__ = [
    "ClusterMoments",
    "augmented_cluster_graph",
    "augmented_cluster_loglik",
    "augmented_data",
    "build_clustered_model",
    "cluster_implied_moments",
    "cluster_initvals",
    "cluster_loglik",
    "cluster_moments",
    "cluster_results",
    "clustered_structure_key",
    "grand_mean_groups",
    "grand_mean_shift",
    "random_mean_latents",
    "random_path_elements",
    "respondent_loglik",
]

#: Default prior of the between-cluster SDs (the package's default for every SD).
DEFAULT_CLUSTER_PRIOR = "gamma(1,0.5)[sd]"
DEFAULT_PATH_PRIOR = "gamma(1,0.5)[sd]"

_LOG_2PI = float(np.log(2.0 * np.pi))


# ------------------------------------------------------------------------ statistics
@dataclass
class ClusterMoments:
    """Sufficient statistics per (cluster, missingness pattern) cell.

    Attributes
    ----------
    variables : list of str
        Observed variables in model order.
    clusters : list of str
        Cluster names in model order (the ``cluster`` coordinate).
    n : numpy.ndarray
        Shape ``(K,)``: firms per cell.
    mask : numpy.ndarray
        Shape ``(K, p)``: 1 where the cell's pattern observes the variable.
    mean : numpy.ndarray
        Shape ``(K, p)``: cell means (0 where not observed).
    factor : numpy.ndarray
        Shape ``(K, p, p)``: ``F`` with ``F Fᵀ`` the cell's covariance divided by n (zero rows
        where not observed).
    cluster_index : numpy.ndarray
        Shape ``(K,)``: the cell's cluster (position in ``clusters``).
    pattern_index : numpy.ndarray
        Shape ``(K,)``: the cell's missingness pattern (row of ``patterns``).
    patterns : numpy.ndarray
        Shape ``(P, p)``: the distinct missingness patterns, complete first.
    cell_of_row : numpy.ndarray
        Shape ``(N,)``: each data row's cell, -1 for rows without any answer.
    n_total : int
        Firms used (rows with at least one answer).
    """

    variables: list[str]
    clusters: list[str]
    n: np.ndarray
    mask: np.ndarray
    mean: np.ndarray
    factor: np.ndarray
    cluster_index: np.ndarray
    pattern_index: np.ndarray
    patterns: np.ndarray
    cell_of_row: np.ndarray
    n_total: int

    @property
    def n_clusters(self) -> int:
        return len(self.clusters)

    @property
    def cluster_sizes(self) -> pd.Series:
        """Firms with answers per cluster."""
        sizes = np.bincount(self.cluster_index, weights=self.n, minlength=self.n_clusters)
        return pd.Series(sizes.astype(int), index=pd.Index(self.clusters, name="cluster"))

    def as_data(self, per_cluster_sigma: bool = False) -> dict[str, np.ndarray]:
        """The arrays the PyMC model holds as ``pm.Data``.

        *Blocks* carry a Cholesky factor each: one per pattern when Σ is common to all
        clusters (the cells' within-cell scatter pooled), one per cell when Σ varies by
        cluster. *Cells* carry the mean terms.

        Parameters
        ----------
        per_cluster_sigma : bool
            Whether the model has one Σ per cluster (random paths).

        Returns
        -------
        dict
            ``block_n (B,)``, ``block_mask (B, p)``, ``block_factor (B, p, p)``,
            ``block_group (B,)`` (which Σ: 0, or the cluster), ``cell_n (K,)``,
            ``cell_mean (K, p)``, ``cell_block (K,)``, ``cell_cluster (K,)``.
        """
        if per_cluster_sigma:
            block_n, block_mask, block_factor = self.n, self.mask, self.factor
            block_group = self.cluster_index
            cell_block = np.arange(len(self.n))
        else:
            n_pat, p = self.patterns.shape
            block_n = np.bincount(self.pattern_index, weights=self.n, minlength=n_pat)
            scatter = np.zeros((n_pat, p, p))
            # Σ_k n_k S_k over the pattern's cells: the within-cluster scatter of the pattern
            np.add.at(scatter, self.pattern_index,
                      self.n[:, None, None] * self.factor @ np.swapaxes(self.factor, -1, -2))
            block_factor = np.stack([psd_factor(s / n) for s, n in zip(
                scatter, block_n, strict=True)])
            block_mask = self.patterns
            block_group = np.zeros(n_pat, dtype=int)
            cell_block = self.pattern_index
        return {
            "block_n": np.asarray(block_n, dtype=float),
            "block_mask": np.asarray(block_mask, dtype=float),
            "block_factor": block_factor,
            "block_group": np.asarray(block_group, dtype=np.int64),
            "cell_n": self.n.astype(float),
            "cell_mean": self.mean,
            "cell_block": np.asarray(cell_block, dtype=np.int64),
            "cell_cluster": self.cluster_index.astype(np.int64),
        }


def psd_factor(cov: np.ndarray) -> np.ndarray:
    """``F`` with ``F Fᵀ = cov`` for a positive semi-definite matrix (eigen-factor)."""
    w, v = np.linalg.eigh(cov)
    return v * np.sqrt(np.clip(w, 0.0, None))


def cluster_codes(cluster, index: pd.Index) -> tuple[np.ndarray, list[str]]:
    """Integer codes of the clusters per row and the cluster names in order.

    A categorical keeps its category order; other ids are sorted, so the order does not
    depend on the order of the rows.
    """
    if isinstance(cluster, pd.Series):
        if not cluster.index.equals(index):
            if len(cluster) == len(index) and not cluster.index.isin(index).all():
                raise DataError(
                    "cluster: the cluster ids' index does not match the data's index; pass "
                    "them aligned (e.g. data['cluster']) or as a plain array"
                )
            cluster = cluster.reindex(index)
    else:
        values = np.asarray(cluster, dtype=object)
        if len(values) != len(index):
            raise DataError(f"cluster: {len(values)} ids for {len(index)} rows of data")
        cluster = pd.Series(values, index=index)
    missing = cluster.isna().to_numpy()
    if missing.any():
        rows = (np.flatnonzero(missing) + 1)[:10].tolist()
        raise DataError(
            f"cluster: {int(missing.sum())} firm(s) have no cluster id (rows {rows}"
            f"{' ...' if missing.sum() > 10 else ''}); every firm must belong to a cluster"
        )
    if isinstance(cluster.dtype, pd.CategoricalDtype):
        cats = cluster.cat.remove_unused_categories()
        return cats.cat.codes.to_numpy().astype(int), [str(c) for c in cats.cat.categories]
    codes, uniques = pd.factorize(cluster, sort=True)
    return codes.astype(int), [str(u) for u in uniques]


def cluster_moments(data: pd.DataFrame, cluster) -> ClusterMoments:
    """Sufficient statistics of the data per (cluster, missingness pattern) cell.

    Parameters
    ----------
    data : pandas.DataFrame
        Checked numeric data (:func:`bayes_rent.data.observed.check_data`), columns in model order;
        NaN = missing answer.
    cluster : pandas.Series or array-like
        Cluster id of every row (a Series is aligned on the data's index). A categorical keeps
        its category order; other ids are sorted.

    Returns
    -------
    ClusterMoments

    Raises
    ------
    bayes_rent.data.observed.DataError
        When a firm has no cluster id (rows named), or a cluster has fewer than two firms with
        answers (its between-cluster deviation could not be told from its firm's own).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> d = pd.DataFrame({"a": [1.0, 2, 3, np.nan, 5, 4], "b": [2.0, 1, 4, 3, 5, 5]})
    >>> m = cluster_moments(d, pd.Series(["y", "y", "x", "x", "x", "y"]))
    >>> m.clusters, m.cluster_sizes.tolist()
    (['x', 'y'], [3, 3])
    >>> m.n.tolist(), m.cluster_index.tolist(), m.mask.tolist()
    ([2, 1, 3], [0, 0, 1], [[1, 1], [0, 1], [1, 1]])
    """
    codes, names = cluster_codes(cluster, data.index)
    y = data.to_numpy(dtype=float)
    observed = ~np.isnan(y)
    keep = observed.any(axis=1)
    sizes = np.bincount(codes[keep], minlength=len(names))
    small = [(names[c], int(sizes[c])) for c in range(len(names)) if sizes[c] < 2]
    if small:
        detail = []
        for name, size in small:
            rows = (np.flatnonzero(codes == names.index(name)) + 1).tolist()
            detail.append(f"'{name}' ({size} firm{'s' if size != 1 else ''} with answers; "
                          f"rows {rows[:5]}{' ...' if len(rows) > 5 else ''})")
        raise DataError(
            "cluster: a cluster needs at least two firms with answers; "
            + ", ".join(detail)
            + ". Merge it with a similar cluster or drop its firms."
        )
    y, observed, rows_kept = y[keep], observed[keep], np.flatnonzero(keep)
    codes_kept = codes[keep]
    patterns, pat_inv, pat_counts = np.unique(
        observed, axis=0, return_inverse=True, return_counts=True
    )
    # complete rows first (as in bayes_rent.data.observed.moments), then the commoner patterns
    order = np.lexsort((-pat_counts, -patterns.sum(axis=1)))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    patterns, pat_inv = patterns[order], rank[pat_inv.ravel()]
    cells, cell_inv = np.unique(
        np.column_stack([codes_kept, pat_inv]), axis=0, return_inverse=True
    )
    cell_inv = cell_inv.ravel()
    k, p = len(cells), y.shape[1]
    n = np.bincount(cell_inv, minlength=k)
    mean = np.zeros((k, p))
    factor = np.zeros((k, p, p))
    for g in range(k):
        obs = patterns[cells[g, 1]]
        rows = y[cell_inv == g][:, obs]
        mu = rows.mean(axis=0)
        cov = (rows - mu).T @ (rows - mu) / rows.shape[0]
        idx = np.flatnonzero(obs)
        mean[g, idx] = mu
        factor[g][np.ix_(idx, idx)] = psd_factor(cov)
    cell_of_row = np.full(len(data), -1)
    cell_of_row[rows_kept] = cell_inv
    return ClusterMoments(
        variables=list(data.columns),
        clusters=names,
        n=n.astype(int),
        mask=patterns[cells[:, 1]].astype(int),
        mean=mean,
        factor=factor,
        cluster_index=cells[:, 0].astype(int),
        pattern_index=cells[:, 1].astype(int),
        patterns=patterns.astype(int),
        cell_of_row=cell_of_row,
        n_total=int(keep.sum()),
    )


# ------------------------------------------------------------------------ moments
def random_path_elements(layout: Layout, random_paths: bool | Sequence[str]) -> list[int]:
    """Layout elements whose value varies by cluster.

    Parameters
    ----------
    layout : Layout
        Placement of the parameter-table rows.
    random_paths : bool or list of str
        ``True`` for every free structural path (``~``), ``False`` for none, or element names
        (``"KR~RE"``, or the label of labelled paths).

    Returns
    -------
    list of int

    Examples
    --------
    >>> from bayes_rent.spec.partable import build_partable
    >>> from bayes_rent.spec.layout import build_layout
    >>> lay = build_layout(build_partable("f =~ x1 + x2\\ng =~ x3 + x4\\ng ~ f"))
    >>> [lay.elements[k].name for k in random_path_elements(lay, True)]
    ['g~f']
    """
    paths = layout.elements_of("path")
    if random_paths is True:
        chosen = paths
    elif random_paths is False or random_paths is None:
        chosen = []
    else:
        names = {layout.elements[k].name: k for k in paths}
        unknown = [r for r in random_paths if r not in names]
        if unknown:
            raise ValueError(
                f"random_paths: {unknown} are not free structural paths of the model "
                f"(free paths: {sorted(names)})"
            )
        chosen = [names[r] for r in random_paths]
    if random_paths is True and not chosen:
        raise ValueError("random_paths=True, but the model has no free structural path")
    return list(chosen)


#: Which latent means vary by cluster, by default: every latent's (phantoms excluded).
DEFAULT_RANDOM_MEANS = "all"


def random_mean_latents(layout: Layout, random_means: str | Sequence[str] = "all") -> list[int]:
    """Latent variables whose intercept varies by cluster (positions in ``layout.latent``).

    Parameters
    ----------
    layout : Layout
        Placement of the parameter-table rows.
    random_means : {"all", "first_order", "top"} or list of str
        ``"all"``: every latent (observed regressors' phantoms excluded); ``"first_order"``:
        the latents measured by items; ``"top"``: the latents that are not indicators of
        another latent (in a second-order model the constructs, whose intercepts are the means
        of the structural residuals); or latent names. Without higher-order factors the three
        are the same.

    Returns
    -------
    list of int

    Examples
    --------
    >>> from bayes_rent.spec.partable import build_partable
    >>> from bayes_rent.spec.layout import build_layout
    >>> lay = build_layout(build_partable(
    ...     "F =~ f1 + f2; f1 =~ x1 + x2 + x3; f2 =~ x4 + x5 + x6"))
    >>> [[lay.latent[k] for k in random_mean_latents(lay, w)] for w in ("first_order", "top")]
    [['f1', 'f2'], ['F']]
    """
    candidates = [k for k, ph in enumerate(layout.phantom) if not ph]
    table = layout.partable
    loadings = table[table["op"] == "=~"]
    if random_means == "all":
        chosen = candidates
    elif random_means == "first_order":
        measured = set(loadings.loc[loadings["rhs"].isin(layout.observed), "lhs"])
        chosen = [k for k in candidates if layout.latent[k] in measured]
    elif random_means == "top":
        lower = set(loadings.loc[loadings["rhs"].isin(layout.latent), "rhs"])
        chosen = [k for k in candidates if layout.latent[k] not in lower]
    elif isinstance(random_means, str):
        raise ValueError(
            f"random_means must be 'all', 'first_order', 'top' or a list of latent names, "
            f"not {random_means!r}"
        )
    else:
        names = {layout.latent[k]: k for k in candidates}
        unknown = [v for v in random_means if v not in names]
        if unknown:
            raise ValueError(f"random_means: {unknown} are not latent variables of the model "
                             f"(latents: {sorted(names)})")
        chosen = sorted(names[v] for v in random_means)
    if not chosen:
        raise ValueError("the model has no latent variable whose mean could vary by cluster")
    return chosen


def grand_mean_groups(
    layout: Layout, groups: list[PriorGroup], random_paths: bool | Sequence[str] = False,
) -> dict[str, np.ndarray]:
    """Intercept vectors the sampler moves at the clusters' grand mean, with their items.

    A vector qualifies when each of its elements is the intercept of one item (no label shared
    between items) and the model has no random paths.

    Parameters
    ----------
    layout : Layout
        Placement of the parameter-table rows.
    groups : list of PriorGroup
        The shared vectors.
    random_paths : bool or list of str
        As for :func:`build_clustered_model`.

    Returns
    -------
    dict
        Vector name -> the position in ``layout.observed`` of each element's item.

    Examples
    --------
    >>> from bayes_rent.spec.partable import build_partable
    >>> from bayes_rent.spec.layout import build_layout
    >>> from bayes_rent.backend.parameters import prior_groups
    >>> lay = build_layout(build_partable("f =~ x1 + x2 + x3"))
    >>> grand_mean_groups(lay, prior_groups(lay, None))
    {'intercepts': array([0, 1, 2])}
    """
    if random_path_elements(layout, random_paths):
        return {}
    item_of_row = {rid: i for rid, name, i, _ in layout.cells if name == "nu"}
    out = {}
    for g in groups:
        if g.kind != "intercept":
            continue
        rows = [layout.elements[k].rows for k in g.elements]
        if all(len(r) == 1 and r[0] in item_of_row for r in rows):
            out[g.name] = np.array([item_of_row[r[0]] for r in rows])
    return out


def grand_mean_shift(layout: Layout, elements, mean_effect, latent_index, xp=np):
    """Λ(I − B)⁻¹ ū: what the clusters' mean effect adds to every item's mean.

    Parameters
    ----------
    layout : Layout
        Placement of the parameter-table rows.
    elements : array
        Element values on their natural scale, ``(..., n_elements)`` (the intercepts do not
        enter).
    mean_effect : array
        ū, ``(..., m0)`` over the latents of ``latent_index``.
    latent_index : sequence of int
        The latents with random intercepts (:func:`random_mean_latents`).
    xp : module
        ``numpy`` (vectorized over leading draw axes) or ``pytensor.tensor``.

    Returns
    -------
    array
        ``(..., p)``.
    """
    mats = layout.matrices(layout.row_values(elements, xp=xp), xp=xp)
    la = mats["Lambda"] @ total_operator(mats["B"], xp)
    embed = np.zeros((len(latent_index), layout.n_latent))
    embed[np.arange(len(latent_index)), np.asarray(latent_index, dtype=int)] = 1.0
    return ((mean_effect @ embed)[..., None, :] @ _swap(la, xp))[..., 0, :]


def _path_cells(layout: Layout, path_elements: list[int]) -> np.ndarray:
    """Indicator matrices ``E[e]`` of the B cells each random path element fills."""
    m = layout.n_latent
    out = np.zeros((len(path_elements), m, m))
    for r, k in enumerate(path_elements):
        rows = set(layout.elements[k].rows)
        for rid, name, i, j in layout.cells:
            if rid in rows and name == "B":
                out[r, i, j] = 1.0
    return out


def _swap(a, xp):
    return np.swapaxes(a, -1, -2) if xp is np else pt.swapaxes(a, -1, -2)


def cluster_implied_moments(
    layout: Layout, elements, effects, path_effects=None, path_elements=None, xp=np,
    latent_index: Sequence[int] | None = None,
):
    """Model-implied moments of every cluster.

    Parameters
    ----------
    layout : Layout
        Placement of the parameter-table rows.
    elements : array
        Element values on their natural scale, shape ``(..., n_elements)``.
    effects : array
        Random intercepts ``u``, shape ``(..., C, m0)`` over the latents of
        ``latent_index``.
    path_effects : array, optional
        Path deviations ``δ``, shape ``(..., C, n_random)``; needs ``path_elements``.
    path_elements : list of int, optional
        Elements the columns of ``path_effects`` belong to (:func:`random_path_elements`).
    xp : module
        ``numpy`` (vectorized over leading draw axes) or ``pytensor.tensor`` (no leading axes).
    latent_index : sequence of int, optional
        The latents with random intercepts (:func:`random_mean_latents`); all non-phantom
        latents by default.

    Returns
    -------
    Sigma, mu : arrays
        ``(..., G, p, p)`` with G = 1 without path effects (Σ is common) and G = C with them;
        ``(..., C, p)``.

    Examples
    --------
    >>> from bayes_rent.spec.partable import build_partable
    >>> from bayes_rent.spec.layout import build_layout
    >>> lay = build_layout(build_partable("f =~ x1 + x2 + x3"))
    >>> x = np.array([0.8, 0.6, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0])  # λ, SDs, ν
    >>> s, mu = cluster_implied_moments(lay, x, np.array([[0.5], [-0.5]]))
    >>> s.shape, mu.round(2).tolist()
    ((1, 3, 3), [[0.5, 0.4, 0.3], [-0.5, -0.4, -0.3]])
    """
    mats = layout.matrices(layout.row_values(elements, xp=xp), xp=xp)
    lam, b, psi, theta = mats["Lambda"], mats["B"], mats["Psi"], mats["Theta"]
    m = layout.n_latent
    keep = (np.flatnonzero(~layout.phantom) if latent_index is None
            else np.asarray(latent_index, dtype=int))
    # u lives on the chosen latents; phantoms (observed regressors) get no shift
    embed = np.zeros((len(keep), m))
    embed[np.arange(len(keep)), keep] = 1.0
    shift = mats["alpha"][..., None, :] + effects @ embed  # (..., C, m)
    if path_effects is None:
        # Σ is common: the marginal backend's own moments, plus the clusters' mean shifts
        sigma, mu = implied_moments(layout, elements, xp=xp)
        la = lam @ total_operator(b, xp)
        mu_c = mu[..., None, :] + (effects @ embed) @ _swap(la, xp)
        return sigma[..., None, :, :], mu_c
    cells = _path_cells(layout, list(path_elements)).reshape(len(path_elements), m * m)
    delta = (path_effects @ cells).reshape((*path_effects.shape[:-1], m, m))
    bc = b[..., None, :, :] + delta  # (..., C, m, m)
    la = lam[..., None, :, :] @ total_operator(bc, xp)  # (..., C, p, m)
    sigma = la @ psi[..., None, :, :] @ _swap(la, xp) + theta[..., None, :, :]
    mu_c = mats["nu"][..., None, :] + (la @ shift[..., None])[..., 0]
    return sigma, mu_c


# ------------------------------------------------------------------------ likelihood
def cluster_loglik(sigma, mu, data: Mapping[str, object], xp=np):
    """Normal log-likelihood of clustered data from per-cell sufficient statistics.

    The generalization of :func:`bayes_rent.backend.marginal.pattern_loglik` to cells
    (cluster, pattern): the covariance terms are computed once per block (see
    :meth:`ClusterMoments.as_data`) and the mean terms per cell with μ of the cell's cluster.
    Unobserved variables get an identity block, as there, so all blocks share one batched
    Cholesky.

    Parameters
    ----------
    sigma : array
        ``(..., G, p, p)``: Σ per group (G = 1 when common, else per cluster).
    mu : array
        ``(..., C, p)``: μ per cluster.
    data : mapping
        The arrays of :meth:`ClusterMoments.as_data` (numpy, or the model's ``pm.Data``).
    xp : module
        ``numpy`` (vectorized over leading draw axes) or ``pytensor.tensor``.

    Returns
    -------
    array
        The log-likelihood with the leading shape of ``mu``; ``-inf`` where a Σ is not
        positive definite.

    Examples
    --------
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame(rng.normal(size=(40, 2)), columns=["a", "b"])
    >>> m = cluster_moments(d, np.repeat(["c1", "c2"], 20))
    >>> mu = np.array([[0.1, 0.0], [-0.1, 0.2]])
    >>> direct = sum(-0.5 * (d.to_numpy()[i * 20:(i + 1) * 20] - mu[i]) ** 2
    ...              - 0.5 * np.log(2 * np.pi) for i in range(2)).sum()
    >>> bool(np.isclose(cluster_loglik(np.eye(2)[None], mu, m.as_data()), direct))
    True
    """
    mask = data["block_mask"]
    group, cell_block = data["block_group"], data["cell_block"]
    both = mask[:, :, None] * mask[:, None, :]
    p = mask.shape[-1]
    if xp is np:
        mask, both = np.asarray(mask), np.asarray(both)
        padded = both * sigma[..., group, :, :] + (1.0 - both) * np.eye(p)
        try:
            chol = np.linalg.cholesky(padded)
        except np.linalg.LinAlgError:
            if padded.ndim == 3:
                return np.array(-np.inf)
            # draws are evaluated one by one so a single bad draw does not spoil the rest
            lead = sigma.shape[:-3]
            flat_s = sigma.reshape((-1, *sigma.shape[-3:]))
            flat_m = mu.reshape((-1, *mu.shape[-2:]))
            out = np.array([cluster_loglik(s, u, data) for s, u in zip(
                flat_s, flat_m, strict=True)])
            return out.reshape(lead)
        logdet = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
        trace = (np.linalg.solve(chol, data["block_factor"]) ** 2).sum((-2, -1))
        resid = (data["cell_mean"] - mu[..., data["cell_cluster"], :]) * mask[cell_block]
        quad = (np.linalg.solve(chol[..., cell_block, :, :], resid[..., None])[..., 0] ** 2).sum(-1)
        block = data["block_n"] * (mask.sum(-1) * _LOG_2PI + logdet + trace)
        return -0.5 * (block.sum(-1) + (data["cell_n"] * quad).sum(-1))
    padded = both * sigma[group] + (1.0 - both) * pt.eye(p)
    chol = pt.linalg.cholesky(padded, lower=True, on_error="nan")
    logdet = 2.0 * pt.log(pt.diagonal(chol, axis1=1, axis2=2)).sum(-1)
    z = pt.linalg.solve_triangular(chol, data["block_factor"], lower=True, b_ndim=2)
    resid = (data["cell_mean"] - mu[data["cell_cluster"]]) * mask[cell_block]
    q = pt.linalg.solve_triangular(chol[cell_block], resid, lower=True, b_ndim=1)
    block = data["block_n"] * (mask.sum(-1) * _LOG_2PI + logdet + (z**2).sum((1, 2)))
    ll = -0.5 * (block.sum() + (data["cell_n"] * (q**2).sum(-1)).sum())
    return pt.switch(pt.isnan(ll), -np.inf, ll)


def augmented_cluster_loglik(sigma, mu, filled, cluster_of_row: np.ndarray) -> float:
    """Complete-data normal log-likelihood of clustered data whose gaps hold sampled answers.

    The reference form, straight from the filled matrix: the clusters' means ȳ_c and
    within-cluster scatter matrices W_c, then the likelihood of the module docstring with one
    Cholesky factor per Σ. The sampler evaluates the same number through
    :func:`augmented_cluster_graph`.

    Parameters
    ----------
    sigma : numpy.ndarray
        ``(G, p, p)``: Σ per group (G = 1 when common to the clusters, else one per cluster).
    mu : numpy.ndarray
        ``(C, p)``: μ per cluster.
    filled : numpy.ndarray
        ``(N, p)`` data, every missing answer replaced by its sampled value.
    cluster_of_row : numpy.ndarray
        ``(N,)`` each row's cluster (0 … C−1); every cluster has a row.

    Returns
    -------
    float
        The log-likelihood; ``-inf`` where a Σ is not positive definite.

    Examples
    --------
    The sum of the firms' normal log-densities with their cluster's mean:

    >>> from scipy import stats
    >>> y = np.array([[0.1, 0.3], [0.5, -0.2], [1.0, 1.1], [0.2, 0.0]])
    >>> codes = np.array([0, 0, 1, 1]); mu = np.array([[0.0, 0.1], [0.5, 0.4]])
    >>> s = np.array([[[1.0, 0.3], [0.3, 2.0]]])
    >>> direct = sum(stats.multivariate_normal(mu[c], s[0]).logpdf(r) for r, c in zip(y, codes))
    >>> bool(np.isclose(augmented_cluster_loglik(s, mu, y, codes), direct))
    True
    """
    sigma, mu, filled = np.asarray(sigma), np.asarray(mu), np.asarray(filled)
    codes = np.asarray(cluster_of_row, dtype=int)
    n_clusters = mu.shape[0]
    counts = np.bincount(codes, minlength=n_clusters).astype(float)
    per_cluster = sigma.shape[0] > 1
    means = np.stack([filled[codes == c].mean(axis=0) for c in range(n_clusters)])
    centred = filled - means[codes]
    if per_cluster:
        scatter = np.stack([centred[codes == c].T @ centred[codes == c]
                            for c in range(n_clusters)])
    else:
        scatter = (centred.T @ centred)[None]
    try:
        chol = np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        return -np.inf
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
    trace = np.trace(np.linalg.solve(sigma, scatter), axis1=-2, axis2=-1)
    resid = means - mu
    inverse = np.linalg.inv(sigma[np.arange(n_clusters) if per_cluster else [0] * n_clusters])
    quad = np.einsum("cp,cpq,cq->c", resid, inverse, resid)
    n_sigma = counts if per_cluster else np.array([float(len(codes))])
    return float(-0.5 * (len(codes) * mu.shape[1] * _LOG_2PI + (n_sigma * logdet).sum()
                         + trace.sum() + (counts * quad).sum()))


def augmented_data(
    filled: np.ndarray,
    missing_cells: tuple[np.ndarray, np.ndarray],
    cluster_of_row: np.ndarray,
    per_cluster_sigma: bool = False,
) -> dict[str, np.ndarray]:
    """The observed answers' part of the augmented statistics: the ``pm.Data`` of the model.

    The data are centred at their column means (``augmented_shift``: the scatter matrices do
    not change, and the cross-products lose no digits to large item means) with the missing
    answers at 0; the graph adds the sampled answers' part (:func:`augmented_cluster_graph`).

    Parameters
    ----------
    filled : numpy.ndarray
        ``(N, p)`` data; the values at the missing cells are ignored.
    missing_cells : tuple of arrays
        Row and column indices of the missing answers.
    cluster_of_row : numpy.ndarray
        ``(N,)`` each row's cluster.
    per_cluster_sigma : bool
        Whether Σ varies by cluster (random paths): cross-products per cluster, else pooled.

    Returns
    -------
    dict
        ``augmented_shift (p,)``, ``augmented_sums (C, p)`` (the clusters' sums of the centred
        observed answers), ``augmented_cross (G, p, p)`` (their cross-products, per Σ) and
        ``augmented_rows (K, p)`` (the centred row of each of the K missing answers).
    """
    codes = np.asarray(cluster_of_row, dtype=int)
    values = np.array(filled, dtype=float)
    values[missing_cells] = np.nan
    shift = np.nanmean(values, axis=0)
    shift = np.where(np.isnan(shift), 0.0, shift)  # an item nobody answered
    centred = np.nan_to_num(values - shift, nan=0.0)
    n_clusters = int(codes.max()) + 1
    sums = np.zeros((n_clusters, values.shape[1]))
    np.add.at(sums, codes, centred)
    group = codes if per_cluster_sigma else np.zeros_like(codes)
    cross = np.zeros((int(group.max()) + 1, values.shape[1], values.shape[1]))
    np.add.at(cross, group, centred[:, :, None] * centred[:, None, :])
    return {"augmented_shift": shift, "augmented_sums": sums, "augmented_cross": cross,
            "augmented_rows": centred[missing_cells[0]]}


def augmented_cluster_graph(
    sigma, mu, answers, data: Mapping[str, object],
    missing_cells: tuple[np.ndarray, np.ndarray], cluster_of_row: np.ndarray,
):
    """:func:`augmented_cluster_loglik` as a PyTensor graph, from the observed part's statistics.

    With the data centred and the missing answers at 0 (``Y₀``, :func:`augmented_data`) and
    ``D`` holding the sampled answers' centred values at the missing cells, the clusters' sums
    are ``Gᵀ Y₀ + Gᵀ D`` and the cross-products ``Y₀ᵀY₀ + Y₀ᵀD + DᵀY₀ + DᵀD``: the answers'
    part costs O(p) per missing answer (and per pair of missing answers of one firm), so a
    gradient never touches the N × p matrix; W_c = cross-products − n_c ȳ_c ȳ_cᵀ.

    Parameters
    ----------
    sigma, mu : tensors
        ``(G, p, p)`` and ``(C, p)`` as for :func:`augmented_cluster_loglik`.
    answers : tensor
        ``(K,)`` the sampled answers, in the order of ``missing_cells``.
    data : mapping
        The arrays of :func:`augmented_data` (the model's ``pm.Data``).
    missing_cells : tuple of arrays
        Row and column indices of the K missing answers.
    cluster_of_row : numpy.ndarray
        ``(N,)`` each row's cluster.

    Returns
    -------
    tensor
        The log-likelihood; ``-inf`` where a Σ is not positive definite.
    """
    rows, cols = (np.asarray(a, dtype=int) for a in missing_cells)
    codes = np.asarray(cluster_of_row, dtype=int)
    n_clusters = int(codes.max()) + 1
    n_rows = len(codes)
    counts = np.bincount(codes, minlength=n_clusters).astype(float)
    per_cluster = sigma.type.shape[0] != 1
    group = codes[rows] if per_cluster else np.zeros(len(rows), dtype=int)
    n_sigma = counts if per_cluster else np.array([float(n_rows)])
    p = mu.shape[-1]
    shift, cross = data["augmented_shift"], data["augmented_cross"]
    n_groups = n_clusters if per_cluster else 1
    d = answers - shift[cols]
    # the clusters' sums: Gᵀ Y₀ + Gᵀ D (each answer added to its cluster and item)
    sums = pt.inc_subtensor(
        pt.zeros(n_clusters * p)[codes[rows] * p + cols], d
    ).reshape((n_clusters, p)) + data["augmented_sums"]
    means = sums / counts[:, None]
    # DᵀY₀ per Σ: the answer's row of Y₀, scaled, added to the row of its item
    rows_part = pt.inc_subtensor(
        pt.zeros((n_groups * p, p))[group * p + cols], d[:, None] * data["augmented_rows"]
    ).reshape((n_groups, p, p))
    # DᵀD: every pair of missing answers of one firm (the firm's own answers included)
    first, second = _pairs_in_rows(rows)
    pairs = pt.inc_subtensor(
        pt.zeros(n_groups * p * p)[(group[first] * p + cols[first]) * p + cols[second]],
        d[first] * d[second],
    ).reshape((n_groups, p, p))
    weighted = means * counts[:, None]
    if per_cluster:
        between = weighted[:, :, None] * means[:, None, :]
    else:
        between = pt.dot(weighted.T, means)[None]
    scatter = cross + rows_part + pt.swapaxes(rows_part, -1, -2) + pairs - between
    chol = pt.linalg.cholesky(sigma, lower=True, on_error="nan")
    logdet = 2.0 * pt.log(pt.diagonal(chol, axis1=1, axis2=2)).sum(-1)
    # tr(Σ⁻¹ W) = tr(L⁻¹ W L⁻ᵀ): two triangular solves of p×p, whatever the number of firms
    half = pt.linalg.solve_triangular(chol, scatter, lower=True, b_ndim=2)
    full = pt.linalg.solve_triangular(chol, pt.swapaxes(half, -1, -2), lower=True, b_ndim=2)
    trace = pt.diagonal(full, axis1=1, axis2=2).sum()
    chol_of_cluster = np.arange(n_clusters) if per_cluster else np.zeros(n_clusters, int)
    q = pt.linalg.solve_triangular(chol[chol_of_cluster], means + shift - mu, lower=True,
                                   b_ndim=1)
    ll = -0.5 * (n_rows * p * _LOG_2PI + (n_sigma * logdet).sum() + trace
                 + (counts * (q**2).sum(-1)).sum())
    return pt.switch(pt.isnan(ll), -np.inf, ll)


def _pairs_in_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (k, l) of missing answers in the same row, (k, k) included."""
    order = np.argsort(rows, kind="stable")
    bounds = np.flatnonzero(np.diff(rows[order])) + 1
    first, second = [], []
    for block in np.split(order, bounds):
        k, l_ = np.meshgrid(block, block, indexing="ij")
        first.append(k.ravel())
        second.append(l_.ravel())
    if not first:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    return np.concatenate(first), np.concatenate(second)


# ------------------------------------------------------------------------ the model
def build_clustered_model(
    layout: Layout,
    stats: ClusterMoments,
    groups: list[PriorGroup],
    *,
    random_paths: bool | Sequence[str] = False,
    cluster_prior: str = DEFAULT_CLUSTER_PRIOR,
    path_prior: str = DEFAULT_PATH_PRIOR,
    centred: bool = False,
    random_means: str | Sequence[str] = DEFAULT_RANDOM_MEANS,
    grand_mean_intercepts: bool = True,
    missing_cells: tuple[np.ndarray, np.ndarray] | None = None,
    filled: np.ndarray | None = None,
    cluster_of_row: np.ndarray | None = None,
) -> pm.Model:
    """Build the PyMC model of the marginal backend with cluster random effects.

    Parameters
    ----------
    layout : Layout
        Placement of the parameter-table rows.
    stats : ClusterMoments
        Per-cell statistics (:func:`cluster_moments`).
    groups : list of PriorGroup
        The shared parameters' vectors and priors
        (:func:`bayes_rent.backend.marginal.prior_groups`).
    random_paths : bool or list of str
        Structural paths that vary by cluster (:func:`random_path_elements`).
    cluster_prior, path_prior : str
        Priors of the between-cluster SDs of the latent intercepts and of the paths, on the SD
        scale (``[var]``/``[prec]`` move them, as for every SD).
    centred : bool
        Sample ``cluster_effects`` directly instead of through standardized ``cluster_z``.
    random_means : str or list of str
        Which latent intercepts vary by cluster (:func:`random_mean_latents`).
    grand_mean_intercepts : bool
        Sample the item intercepts at the clusters' grand mean (``intercepts_grand``; ν stays
        a deterministic under its name): the same posterior in coordinates without the ridge
        between ν and the clusters' mean effect (see the module's docstring).
    missing_cells : tuple of arrays, optional
        Row and column indices of the missing answers; switches on data augmentation
        (:func:`augmented_cluster_loglik`) in place of the cell likelihood.
    filled : numpy.ndarray, optional
        With ``missing_cells``: the ``(N, p)`` data, missing answers set to any value (the
        sampled ones replace them); its statistics are ``pm.Data``
        (:func:`augmented_data`).
    cluster_of_row : numpy.ndarray, optional
        With ``missing_cells``: each row's cluster (position in ``stats.clusters``).

    Returns
    -------
    pymc.Model
        The variables of :func:`bayes_rent.backend.marginal.build_model` (``loadings``,
        ``paths``, ``sds``, ... with the same dims), plus ``cluster_sd`` (dim ``latent``: the
        latents of ``random_means``), ``cluster_effects`` (dims ``cluster, latent``) and,
        with random paths, ``path_sd`` (dim ``random_path``) and ``path_effects``
        (``cluster, random_path``); the non-centred standard normals are ``cluster_z`` and
        ``path_z``.
        The statistics are ``pm.Data`` (:meth:`ClusterMoments.as_data`), so a compiled model
        takes a new data set with the same clusters. With ``missing_cells`` the missing
        answers are ``missing_answers`` (dim ``missing_answer``, named ``item[row]`` as in
        :func:`bayes_rent.backend.marginal.build_model`) and the data are the statistics of
        :func:`augmented_data`.

    Examples
    --------
    >>> from bayes_rent.spec.partable import build_partable
    >>> from bayes_rent.spec.layout import build_layout
    >>> from bayes_rent.backend.parameters import prior_groups
    >>> lay = build_layout(build_partable("f =~ x1 + x2 + x3"))
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame(rng.normal(size=(30, 3)), columns=lay.observed)
    >>> model = build_clustered_model(lay, cluster_moments(d, np.arange(30) % 3),
    ...                               prior_groups(lay, None))
    >>> model.named_vars_to_dims["cluster_effects"]
    ('cluster', 'latent')
    """
    bad = [g.name for g in groups if g.kind == "threshold"]
    if bad:
        raise ValueError(
            "the clustered marginal backend takes continuous indicators only; "
            f"the model has thresholds ({bad})"
        )
    paths = random_path_elements(layout, random_paths)
    latent_index = random_mean_latents(layout, random_means)
    latents = [layout.latent[k] for k in latent_index]
    coords = {g.dim: [layout.elements[k].name for k in g.elements] for g in groups}
    coords.update(cluster=list(stats.clusters), latent=latents)
    if paths:
        coords["random_path"] = [layout.elements[k].name for k in paths]
    if missing_cells is not None:
        coords["missing_answer"] = [
            f"{layout.observed[j]}[{i}]" for i, j in zip(*missing_cells, strict=True)
        ]
    with pm.Model(coords=coords) as model:
        if missing_cells is None:
            data = {k: pm.Data(k, v) for k, v in stats.as_data(bool(paths)).items()}
        grand = (grand_mean_groups(layout, groups, random_paths)
                 if grand_mean_intercepts else {})
        given = {name: pm.Flat(f"{name}_grand", dims=_group(groups, name).dim)
                 for name in grand}
        elements = element_vector(groups, given)
        effects = _random_effect("cluster", cluster_prior, "latent", len(latents), centred)
        if grand:
            shift = grand_mean_shift(layout, elements, effects.mean(axis=0), latent_index,
                                     xp=pt)
            for name, items in grand.items():
                g = _group(groups, name)
                nu = pm.Deterministic(name, given[name] - shift[items], dims=g.dim)
                pm.Potential(f"{name}_prior", pm.logp(prior_distribution(g.spec), nu).sum())
                elements = pt.set_subtensor(elements[np.asarray(g.elements)], nu)
        path_effects = None
        if paths:
            path_effects = _random_effect("path", path_prior, "random_path", len(paths), centred)
        sigma, mu = cluster_implied_moments(
            layout, elements, effects, path_effects, paths, xp=pt, latent_index=latent_index
        )
        if missing_cells is None:
            loglik = cluster_loglik(sigma, mu, data, xp=pt)
        else:
            # a flat prior leaves p(y_mis | y_obs, θ, u) exactly as the normal model implies
            answers = pm.Flat("missing_answers", dims="missing_answer")
            data = {k: pm.Data(k, v) for k, v in augmented_data(
                filled, missing_cells, cluster_of_row, bool(paths)).items()}
            loglik = augmented_cluster_graph(sigma, mu, answers, data, missing_cells,
                                             cluster_of_row)
        pm.Potential("loglik", loglik)
    return model


def _group(groups: list[PriorGroup], name: str) -> PriorGroup:
    return next(g for g in groups if g.name == name)


def _random_effect(prefix: str, prior: str, dim: str, size: int, centred: bool):
    """``{prefix}_sd`` (prior on the SD scale) and ``{prefix}_effects ~ N(0, sd²)``."""
    spec = parse_prior(prior)
    if spec.scale in ("var", "prec"):
        # the prior is on the variance or precision: sample that, and keep the SD by name
        _, sd = prior_rv(f"{prefix}_{spec.scale}", spec, "sd", dim, size)
        sd = pm.Deterministic(f"{prefix}_sd", sd, dims=dim)
    else:
        _, sd = prior_rv(f"{prefix}_sd", spec, "sd", dim, size)
    if centred:
        return pm.Normal(f"{prefix}_effects", 0.0, sd, dims=("cluster", dim))
    z = pm.Normal(f"{prefix}_z", 0.0, 1.0, dims=("cluster", dim))
    return pm.Deterministic(f"{prefix}_effects", z * sd, dims=("cluster", dim))


def clustered_structure_key(base_key: str, stats: ClusterMoments, *options: object) -> str:
    """Compile-cache key: the base model's key plus everything that shapes the clustered one.

    The cluster names are part of it: they are coordinates of the compiled model's output.
    """
    return structure_key(base_key, "clustered", tuple(stats.clusters), options)


def cluster_initvals(
    base: list[dict[str, np.ndarray]],
    layout: Layout,
    start: np.ndarray,
    *,
    n_clusters: int,
    random_paths: bool | Sequence[str] = False,
    cluster_prior: str = DEFAULT_CLUSTER_PRIOR,
    path_prior: str = DEFAULT_PATH_PRIOR,
    centred: bool = False,
    random_means: str | Sequence[str] = DEFAULT_RANDOM_MEANS,
    grand_mean_intercepts: bool = True,
    groups: list[PriorGroup] | None = None,
) -> list[dict[str, np.ndarray]]:
    """Per-chain starting values of the cluster variables, added to the shared ones.

    The effects start at 0 and their SDs at a quarter of the latent SDs of the start (a tenth
    of the path size for paths), so the chains start where the clusters do not matter yet and
    the data move them; ``run_sampler`` jitters around that point.

    Parameters
    ----------
    base : list of dict
        Starting values of the shared vectors, one dict per chain (as ``Model.fit`` makes
        them from :func:`bayes_rent.backend.start.start_values`).
    layout : Layout
        Placement of the parameter-table rows.
    start : numpy.ndarray
        Element values of the start.
    n_clusters : int
        Number of clusters.
    random_paths, cluster_prior, path_prior, centred, random_means, grand_mean_intercepts
        As for :func:`build_clustered_model`.
    groups : list of PriorGroup, optional
        The shared vectors; needed to start ``intercepts_grand`` where the model has it (the
        effects start at 0, so it starts at the intercepts' start).

    Returns
    -------
    list of dict
    """

    def sd_value(prefix: str, prior: str, sd: np.ndarray) -> tuple[str, np.ndarray]:
        scale = parse_prior(prior).scale
        if scale == "var":
            return f"{prefix}_var", sd**2
        if scale == "prec":
            return f"{prefix}_prec", 1.0 / sd**2
        return f"{prefix}_sd", sd

    mats = layout.matrices(layout.row_values(start))
    keep = random_mean_latents(layout, random_means)
    latent_sd = np.sqrt(np.clip(np.diag(mats["Psi"])[keep], 1e-4, None))
    paths = random_path_elements(layout, random_paths)
    grand = (grand_mean_groups(layout, groups, random_paths)
             if grand_mean_intercepts and groups is not None else {})
    out = []
    for point in base:
        point = dict(point)
        for g in grand:
            point[f"{g}_grand"] = point.pop(g)
        name, value = sd_value("cluster", cluster_prior, 0.25 * latent_sd)
        point[name] = value
        name = "cluster_effects" if centred else "cluster_z"
        point[name] = np.zeros((n_clusters, len(keep)))
        if paths:
            name, value = sd_value("path", path_prior, np.maximum(0.1 * np.abs(start[paths]), 0.02))
            point[name] = value
            point["path_effects" if centred else "path_z"] = np.zeros((n_clusters, len(paths)))
        out.append(point)
    return out


# ------------------------------------------------------------------------ results
def _posterior_parts(posterior: xr.Dataset, layout: Layout, groups: list[PriorGroup]):
    elements = element_draws(posterior, groups, len(layout.elements))
    effects = posterior["cluster_effects"].transpose("chain", "draw", "cluster", "latent").values
    latent_index = [layout.latent.index(str(v)) for v in posterior["latent"].values]
    path_effects = paths = None
    if "path_effects" in posterior:
        names = {layout.elements[k].name: k for k in layout.elements_of("path")}
        pe = posterior["path_effects"].transpose("chain", "draw", "cluster", "random_path")
        paths = [names[str(n)] for n in pe["random_path"].values]
        path_effects = pe.values
    return elements, effects, path_effects, paths, latent_index


def cluster_results(
    posterior: xr.Dataset, layout: Layout, groups: list[PriorGroup]
) -> xr.Dataset:
    """Per-cluster quantities for every posterior draw, labelled by cluster.

    Parameters
    ----------
    posterior : xarray.Dataset
        The posterior of a model from :func:`build_clustered_model`.
    layout : Layout
        The layout the model was built from.
    groups : list of PriorGroup
        Its shared vectors.

    Returns
    -------
    xarray.Dataset
        ``latent_intercept (chain, draw, cluster, latent)``: α + u_c;
        ``latent_mean (chain, draw, cluster, latent)``: the implied cluster mean of each
        latent, ((I − B_c)⁻¹ (α + u_c)), which for an endogenous latent includes the effects
        of its predictors' cluster means; ``item_mean (chain, draw, cluster, observed)``: μ_c;
        with random paths ``path (chain, draw, cluster, random_path)``: B + δ_c.

    Examples
    --------
    >>> res = fit.cluster_results()  # doctest: +SKIP
    >>> res["latent_mean"].mean(("chain", "draw")).to_pandas()  # doctest: +SKIP
    """
    elements, effects, path_effects, paths, keep = _posterior_parts(posterior, layout, groups)
    _, mu = cluster_implied_moments(layout, elements, effects, path_effects, paths,
                                    latent_index=keep)
    mats = layout.matrices(layout.row_values(elements))
    alpha = mats["alpha"][..., None, :].repeat(effects.shape[-2], axis=-2)
    alpha[..., keep] += effects
    b = mats["B"][..., None, :, :]
    if paths:
        m = layout.n_latent
        cells = _path_cells(layout, paths).reshape(len(paths), m * m)
        b = b + (path_effects @ cells).reshape((*path_effects.shape[:-1], m, m))
    kappa = (total_operator(b) @ alpha[..., None])[..., 0]
    coords = {
        "chain": posterior["chain"].values, "draw": posterior["draw"].values,
        "cluster": posterior["cluster"].values, "latent": posterior["latent"].values,
        "observed": layout.observed,
    }
    dims = ("chain", "draw", "cluster")
    out = xr.Dataset(
        {
            "latent_intercept": (dims + ("latent",), alpha[..., keep]),
            "latent_mean": (dims + ("latent",), kappa[..., keep]),
            "item_mean": (dims + ("observed",), mu),
        },
        coords=coords,
    )
    if paths:
        out["path"] = xr.DataArray(
            elements[..., None, paths] + path_effects, dims=dims + ("random_path",),
            coords={"random_path": posterior["random_path"].values},
        )
    return out


def respondent_loglik(
    posterior: xr.Dataset,
    layout: Layout,
    groups: list[PriorGroup],
    data: pd.DataFrame,
    stats: ClusterMoments,
) -> xr.DataArray:
    """Log-density of every firm's answers for every draw, with μ (and Σ) of its cluster.

    ``log N(y_i,o | μ_c(i),o, Σ_c(i),oo)`` given the draw's parameters *and cluster effects*,
    so PSIS-LOO on it estimates the predictive density of a new firm of a *known* cluster
    (leave-one-firm-out); leaving a whole cluster out would need u_c integrated out.

    Parameters
    ----------
    posterior : xarray.Dataset
        Posterior of a clustered model.
    layout : Layout
        Its layout.
    groups : list of PriorGroup
        Its shared vectors.
    data : pandas.DataFrame
        The checked data the model was fitted to (model order).
    stats : ClusterMoments
        Their cell statistics (gives each row's cell).

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, respondent)``; rows without answers are left out. Summed over
        respondents it equals :func:`cluster_loglik` at the same draws.
    """
    elements, effects, path_effects, paths, keep = _posterior_parts(posterior, layout, groups)
    sigma, mu = cluster_implied_moments(layout, elements, effects, path_effects, paths,
                                        latent_index=keep)
    c, d = mu.shape[:2]
    sigma = sigma.reshape((c * d, *sigma.shape[2:]))
    mu = mu.reshape((c * d, *mu.shape[2:]))
    y = data.to_numpy(dtype=float)
    rows_all = np.flatnonzero(stats.cell_of_row >= 0)
    col = np.empty(len(y), dtype=int)
    col[rows_all] = np.arange(len(rows_all))
    cell = stats.cell_of_row
    pattern_of_row = np.where(cell >= 0, stats.pattern_index[np.maximum(cell, 0)], -1)
    cluster_of_row = np.where(cell >= 0, stats.cluster_index[np.maximum(cell, 0)], -1)
    mask = stats.patterns.astype(bool)
    out = np.empty((c * d, len(rows_all)))
    for k in range(stats.n_clusters):
        rows = np.flatnonzero(cluster_of_row == k)
        g = k if sigma.shape[1] > 1 else 0
        # one factorization of Σ per draw serves every pattern of the cluster's firms (the
        # precision-matrix correction of the marginal backend), not one per pattern: with
        # scattered missing answers nearly every firm has a pattern of its own
        out[:, col[rows]] = marginal.respondent_loglik(
            y[rows], pattern_of_row[rows], mask, sigma[:, g], mu[:, k])
    return xr.DataArray(
        out.reshape(c, d, -1), dims=("chain", "draw", "respondent"),
        coords={"chain": posterior["chain"].values, "draw": posterior["draw"].values,
                "respondent": data.index[rows_all].to_numpy()},
    )


# ------------------------------------------------------------------------ one-call fit
