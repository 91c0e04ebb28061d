"""Data simulated from a population model written in lavaan syntax (like lavaan's simulateData).

The population values are the fixed values of the syntax: ``f =~ 1*x1 + 0.8*x2``,
``y ~ 0.4*f``, ``f1 ~~ 0.3*f2``. Whatever the syntax leaves unvalued gets a documented default:
variances 1 (residual variances of indicators and of endogenous latents, variances of exogenous
latents), covariances, paths and loadings 0, intercepts 0. Data are multivariate normal with the
model-implied mean and covariance, so a fit of the same model should recover the values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from bayes_rent.spec.implied import implied_from_matrices, total_operator
from bayes_rent.spec.layout import build_layout
from bayes_rent.spec.partable import build_partable


def normal_draws(rng: np.random.Generator, cov: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws from N(0, cov), for a covariance that may be singular.

    The standard normals are multiplied by the symmetric square root of ``cov``, which, unlike
    an eigenvector basis, is unique: the same seed gives the same draws with any LAPACK build,
    also when ``cov`` has repeated eigenvalues.

    Examples
    --------
    >>> x = normal_draws(np.random.default_rng(0), np.diag([4.0, 0.0]), 10000)
    >>> round(float(x[:, 0].std()), 1), float(abs(x[:, 1]).max())
    (2.0, 0.0)
    """
    w, v = np.linalg.eigh(cov)
    root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    return rng.standard_normal((n, len(cov))) @ root


def population_values(syntax: str) -> pd.DataFrame:
    """The parameter table of a population model with every row's population value.

    Parameters
    ----------
    syntax : str
        lavaan syntax with fixed values as the population values.

    Returns
    -------
    pandas.DataFrame
        Parameter table (marker identification) with the column ``value`` filled for every row.

    Examples
    --------
    >>> pv = population_values("f =~ 1*x1 + 0.8*x2 + 0.6*x3")
    >>> pv.loc[pv.op == "=~", "value"].tolist()
    [1.0, 0.8, 0.6]
    """
    table = build_partable(syntax, meanstructure=True)
    value = table["value"].copy()
    unvalued = table["free"] | value.isna()
    variance = (table["op"] == "~~") & (table["lhs"] == table["rhs"])
    value[unvalued & variance] = 1.0
    value[unvalued & ~variance] = 0.0
    return table.assign(value=value, free=False)


def simulate_data(
    syntax: str, n: int, *, seed: int | None = None, missing_rate: float = 0.0
) -> pd.DataFrame:
    """Draw respondents from a population model.

    Parameters
    ----------
    syntax : str
        Population model in lavaan syntax; fixed values are the population values.
    n : int
        Number of respondents.
    seed : int, optional
        Seed of the random generator.
    missing_rate : float
        Share of answers deleted completely at random.

    Returns
    -------
    pandas.DataFrame
        One column per observed variable, in model order.

    Examples
    --------
    >>> d = simulate_data("f =~ 1*x1 + 0.8*x2 + 0.6*x3", n=20000, seed=1)
    >>> d.shape, round(float(d.corr().loc["x1", "x2"]), 2)  # 0.8 / sqrt(2 * 1.64) = 0.44
    ((20000, 3), 0.44)
    """
    table = population_values(syntax)
    layout = build_layout(table)
    implied = implied_from_matrices(layout.matrices(table["value"].fillna(0.0).to_numpy()))
    sigma, mu = implied.sigma, implied.mu
    rng = np.random.default_rng(seed)
    y = rng.multivariate_normal(mu, sigma, size=n, method="cholesky")
    if missing_rate:
        y[rng.random(y.shape) < missing_rate] = np.nan
    return pd.DataFrame(y, columns=layout.observed)


class ClusteredSample(NamedTuple):
    """Clustered data and the cluster-level values that generated them.

    Attributes
    ----------
    data : pandas.DataFrame
        One row per firm: the observed variables in model order and the cluster column.
    effects : pandas.DataFrame
        True random intercepts ``u_c``: one row per cluster, one column per latent variable
        (phantom latents of observed regressors excluded).
    paths : pandas.DataFrame
        True structural paths of every cluster (population value + ``δ_c``): one row per
        cluster, one column per ``~`` row named ``"lhs~rhs"``; with ``path_sd=0`` every row
        repeats the population values.
    """

    data: pd.DataFrame
    effects: pd.DataFrame
    paths: pd.DataFrame


def _cluster_sizes(cluster_sizes: Mapping[str, int] | Sequence[int]) -> dict[str, int]:
    """``{cluster: firms}``; a sequence names the clusters ``c1, c2, ...``."""
    sizes = (dict(cluster_sizes) if isinstance(cluster_sizes, Mapping)
             else {f"c{k + 1}": int(s) for k, s in enumerate(cluster_sizes)})
    if any(s < 1 for s in sizes.values()):
        raise ValueError("every cluster needs at least one firm")
    return sizes


def _add_clusters(data: pd.DataFrame, sizes: Mapping[str, int], cluster_column: str) -> pd.Index:
    """Add the cluster column to ``data`` (rows cluster by cluster); the clusters' index."""
    data[cluster_column] = np.repeat(list(sizes), list(sizes.values()))
    return pd.Index(list(sizes), name=cluster_column)


def simulate_clustered_data(
    syntax: str,
    cluster_sizes: Mapping[str, int] | Sequence[int],
    between_sd: float | Mapping[str, float],
    seed: int | None = None,
    *,
    path_sd: float | Mapping[str, float] = 0.0,
    missing_rate: float = 0.0,
    cluster_column: str = "cluster",
) -> ClusteredSample:
    """Draw firms nested in clusters from a population model with cluster random effects.

    The within-cluster model is the one of :func:`simulate_data` (population values from the
    syntax). Cluster c shifts the latent intercepts and, optionally, the structural paths::

        u_c ~ N(0, diag(between_sd²))      one entry per latent variable
        δ_c ~ N(0, diag(path_sd²))         one entry per ``~`` row
        B_c = B + δ_c,   Σ_c = Λ (I − B_c)⁻¹ Ψ (I − B_c)⁻ᵀ Λᵀ + Θ
        μ_c = ν + Λ (I − B_c)⁻¹ (α + u_c)

    and its firms are independent draws from N(μ_c, Σ_c). The random stream draws all u_c
    (cluster by cluster), then all δ_c, then the firms cluster by cluster, then the missing
    answers, so the same seed gives the same data.

    Parameters
    ----------
    syntax : str
        Population model in lavaan syntax; fixed values are the population values.
    cluster_sizes : mapping of str to int, or sequence of int
        Firms per cluster; a sequence names the clusters ``c1, c2, ...``.
    between_sd : float or mapping
        SD of the random intercepts, one for all latents or per latent (absent ones: 0).
    seed : int, optional
        Seed of the random generator.
    path_sd : float or mapping
        SD of the path deviations, one for all ``~`` rows or per ``"lhs~rhs"``.
    missing_rate : float
        Share of answers deleted completely at random.
    cluster_column : str
        Name of the cluster column.

    Returns
    -------
    ClusteredSample

    Examples
    --------
    >>> sim = simulate_clustered_data("f =~ 1*x1 + 0.8*x2", [400, 400], 1.0, seed=2)
    >>> sim.effects["f"].round(2).tolist()  # the true cluster means of f
    [0.19, -0.52]
    >>> sim.data.groupby("cluster")["x1"].mean().round(2).tolist()  # x1 = f + error
    [0.18, -0.62]
    """
    sizes = _cluster_sizes(cluster_sizes)
    table = population_values(syntax)
    layout = build_layout(table)
    mats = layout.matrices(table["value"].fillna(0.0).to_numpy())
    latents = [v for v, ph in zip(layout.latent, layout.phantom, strict=True) if not ph]
    path_rows = table.loc[table["op"] == "~"]
    path_names = [f"{a}~{b}" for a, b in zip(path_rows["lhs"], path_rows["rhs"], strict=True)]
    lv = {v: k for k, v in enumerate(layout.latent)}

    def per(value, names):
        if isinstance(value, Mapping):
            unknown = set(value) - set(names)
            if unknown:
                raise ValueError(f"unknown names {sorted(unknown)}; expected some of {names}")
            return np.array([float(value.get(n, 0.0)) for n in names])
        return np.full(len(names), float(value))

    rng = np.random.default_rng(seed)
    n_c = len(sizes)
    effects = rng.normal(size=(n_c, len(latents))) * per(between_sd, latents)
    deltas = rng.normal(size=(n_c, len(path_names))) * per(path_sd, path_names)
    keep = [lv[v] for v in latents]
    blocks, paths = [], []
    for c, n in enumerate(sizes.values()):
        b = mats["B"].copy()
        for k, (a, r) in enumerate(zip(path_rows["lhs"], path_rows["rhs"], strict=True)):
            b[lv[a], lv[r]] += deltas[c, k]
        paths.append([b[lv[a], lv[r]] for a, r in zip(
            path_rows["lhs"], path_rows["rhs"], strict=True)])
        alpha = mats["alpha"].copy()
        alpha[keep] += effects[c]
        implied = implied_from_matrices({**mats, "B": b, "alpha": alpha})
        blocks.append(rng.multivariate_normal(implied.mu, implied.sigma, size=n,
                                              method="cholesky"))
    y = np.vstack(blocks)
    if missing_rate:
        y[rng.random(y.shape) < missing_rate] = np.nan
    data = pd.DataFrame(y, columns=layout.observed)
    index = _add_clusters(data, sizes, cluster_column)
    return ClusteredSample(
        data=data,
        effects=pd.DataFrame(effects, index=index, columns=latents),
        paths=pd.DataFrame(np.array(paths).reshape(n_c, len(path_names)), index=index,
                           columns=path_names),
    )


def simulate_ordinal_data(
    syntax: str,
    n: int,
    thresholds: Mapping[str, Sequence[float]] | Sequence[float],
    *,
    seed: int | None = None,
    missing_rate: float = 0.0,
) -> pd.DataFrame:
    """Draw Likert answers from a population model (ordered probit, theta parameterization).

    The latent responses y* are drawn as in :func:`simulate_data`, with the items' residual
    variances as the syntax gives them (1 unless valued, which is the theta parameterization's
    scale), and cut at the thresholds: an answer is 1 + the number of thresholds below y*.

    Parameters
    ----------
    syntax, n, seed, missing_rate
        As for :func:`simulate_data`.
    thresholds : sequence of float, or mapping of item to sequence of float
        Increasing cut points on the latent-response scale: one set for every observed
        variable, or a set per item (items not in the mapping stay continuous).

    Returns
    -------
    pandas.DataFrame
        Integer answers 1..K (floats where answers are missing), continuous columns as drawn.

    Examples
    --------
    >>> d = simulate_ordinal_data("f =~ 1*x1 + 0.8*x2 + 0.6*x3", 1000, [-1.0, 0.0, 1.0], seed=1)
    >>> sorted(d["x1"].unique().tolist())
    [1, 2, 3, 4]
    """
    latent = simulate_data(syntax, n, seed=seed)
    cuts = (
        dict(thresholds) if isinstance(thresholds, Mapping)
        else {v: thresholds for v in latent.columns}
    )
    out = latent.copy()
    for item, tau in cuts.items():
        tau = np.asarray(tau, dtype=float)
        if np.any(np.diff(tau) <= 0):
            raise ValueError(f"thresholds of '{item}' must increase: {tau.tolist()}")
        out[item] = np.searchsorted(tau, latent[item].to_numpy()) + 1
    if missing_rate:
        rng = np.random.default_rng(None if seed is None else seed + 1)
        out = out.mask(rng.random(out.shape) < missing_rate)
    return out


class TwoLevelSample(NamedTuple):
    """Two-level data and the cluster-level values that generated them.

    Attributes
    ----------
    data : pandas.DataFrame
        One row per firm: the observed variables (within variables in model order, then the
        between-only ones) and the cluster column.
    latent : pandas.DataFrame
        True values of the between latent variables: one row per cluster, one column per
        latent variable of the ``level: 2`` model (phantoms excluded).
    between : pandas.DataFrame
        True cluster parts μ + y_B,j of the between variables: one row per cluster.
    """

    data: pd.DataFrame
    latent: pd.DataFrame
    between: pd.DataFrame


def simulate_twolevel_data(
    syntax: str,
    cluster_sizes: Mapping[str, int] | Sequence[int],
    seed: int | None = None,
    *,
    cluster_column: str = "cluster",
) -> TwoLevelSample:
    """Draw firms nested in clusters from a two-level population model (``level:`` blocks).

    Population values are the fixed values of the syntax, with the defaults of
    :func:`population_values` (unvalued variances 1, everything else 0). As in lavaan's
    two-level model, every firm is a cluster part plus a firm part::

        η_B,j = (I − B_B)⁻¹ (α_B + ζ_j),   ζ_j ~ N(0, Ψ_B)
        y_B,j = ν_B + Λ_B η_B,j + ε_j,      ε_j ~ N(0, Θ_B)        one per cluster
        y_ij  = y_B,j + y_W,ij,             y_W,ij ~ N(μ_W, Σ_W)   one per firm

    where Σ_W, μ_W are the implied moments of the ``level: 1`` model (μ_W is 0 except for
    within-only variables with an intercept). The random stream draws all ζ_j, then all ε_j,
    then the firms cluster by cluster, so the same seed gives the same data.

    Parameters
    ----------
    syntax : str
        Two-level population model in lavaan syntax; fixed values are the population values.
    cluster_sizes, seed, cluster_column
        As for :func:`simulate_clustered_data`.

    Returns
    -------
    TwoLevelSample

    Raises
    ------
    ValueError
        When the syntax has no ``level:`` blocks, or a cluster has no firm.

    Examples
    --------
    >>> syntax = '''
    ... level: 1
    ...     fw =~ 1*y1 + 0.8*y2 + 0.6*y3
    ... level: 2
    ...     fb =~ 1*y1 + 0.5*y2 + 0.5*y3
    ...     fb ~~ 0.5*fb
    ... '''
    >>> sim = simulate_twolevel_data(syntax, [5000, 5000], seed=3)
    >>> sim.latent["fb"].round(2).tolist()  # the clusters' true between factor values
    [1.44, -1.81]
    >>> sim.data.groupby("cluster")["y1"].mean().round(2).tolist()  # fb + ε_j + firm noise
    [1.89, -2.0]
    """
    sizes = _cluster_sizes(cluster_sizes)
    table = population_values(syntax)
    if "level" not in table.columns:
        raise ValueError(
            "the syntax has no 'level:' blocks; use simulate_data or simulate_clustered_data"
        )
    layouts, mats = {}, {}
    for level in (1, 2):
        rows = table.loc[table["level"] == level].reset_index(drop=True)
        layouts[level] = build_layout(rows)
        mats[level] = layouts[level].matrices(rows["value"].fillna(0.0).to_numpy())
    within, between = layouts[1], layouts[2]
    observed = within.observed + [v for v in between.observed if v not in within.observed]
    rng = np.random.default_rng(seed)
    n_c = len(sizes)
    b = mats[2]
    a_b = total_operator(b["B"])
    zeta = normal_draws(rng, b["Psi"], n_c)
    eps = normal_draws(rng, b["Theta"], n_c)
    eta = (b["alpha"] + zeta) @ a_b.T
    y_b = b["nu"] + eta @ b["Lambda"].T + eps
    within_moments = implied_from_matrices(mats[1])
    y_w = within_moments.mu + normal_draws(rng, within_moments.sigma, sum(sizes.values()))
    cluster_of = np.repeat(np.arange(n_c), list(sizes.values()))
    y = np.zeros((len(cluster_of), len(observed)))
    y[:, [observed.index(v) for v in within.observed]] += y_w
    y[:, [observed.index(v) for v in between.observed]] += y_b[cluster_of]
    data = pd.DataFrame(y, columns=observed)
    index = _add_clusters(data, sizes, cluster_column)
    real = ~between.phantom
    return TwoLevelSample(
        data=data,
        latent=pd.DataFrame(eta[:, real], index=index,
                            columns=[v for v, r in zip(between.latent, real, strict=True) if r]),
        between=pd.DataFrame(y_b, index=index, columns=between.observed),
    )
