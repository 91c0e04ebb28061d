"""The probabilistic grey-coupling index: coupling computed over posterior draws.

:func:`coupling_from_scores` takes posterior firm-level latent scores — ``fit.scores()``, a
``DataArray`` with dims ``(chain, draw, respondent, construct)`` — and computes, for every draw at
once (NumPy/xarray broadcasting, no Python loop over draws):

* the grey relational coupling of the NC dimensions (X) and AC dimensions (Y): ``ξ_ij(t)``,
  ``γ_ij`` with row and column means, the coupling degree ``C(t)`` of each firm, and its cluster and
  overall means (:func:`~bayes_rent.grey.grey_coupling`);
* the capacity coupling–coordination model: subsystem indices ``U1`` (NC) and ``U2`` (AC) from
  min–max normalised, weighted dimension scores, ``C``, ``T = aU1 + bU2``, ``D = √(CT)``, the
  relative development ``U1/U2``, per firm, per cluster (mean over its firms) and overall
  (:func:`~bayes_rent.grey.coupling_coordination`);
* optionally, grey relational grades of the coupling indices against outcome scores (KR, IG).

Two further sources of uncertainty can be switched on. ``bootstrap=True`` draws Bayesian-bootstrap
weights over firms (Rubin 1981), one Dirichlet(1, …, 1) vector per posterior draw, so that
population summaries (γ, cluster and overall means, grades) also reflect which firms happened to be
sampled. ``dirichlet=κ`` perturbs the indicator weights, ``w ~ Dirichlet(κ·w₀)`` per draw.

The result's ``posterior`` is an ``xarray.Dataset`` with ``chain``/``draw`` dims, so ArviZ works on
it directly (:meth:`PosteriorCoupling.summary`, :meth:`~PosteriorCoupling.plot_posterior`,
:meth:`~PosteriorCoupling.plot_forest`), and level probabilities such as
``P(D is "good coordination" or better)`` are shares of draws
(:meth:`PosteriorCoupling.levels`).

Carrying the coupling's uncertainty into a follow-up regression
---------------------------------------------------------------
:func:`regression_over_draws` regresses an outcome on the coupling index once per posterior draw
(if the outcome is itself a posterior score it is paired draw by draw, preserving their joint
posterior) and combines the fits with Rubin's (1987) rules, treating the draws as multiple
imputations of the unobserved index: the estimate is the mean coefficient, the variance is the
within-draw sampling variance plus ``(1 + 1/M)`` times the between-draw variance. The between part
is exactly the uncertainty of the coupling index, and its share of the total is reported. The
draws must come from a model that also saw the outcome (as the joint SEM's ``fit.scores()`` do);
draws of the index from a model without the outcome act as noisy regressors and attenuate the
slope (classical errors-in-variables). A fully
Bayesian alternative is to model the index as a latent predictor measured with error, e.g. in PyMC
``d_true ~ Normal(mu, s); d_obs ~ Normal(d_true, sd_post)`` with the posterior mean and sd of each
firm's D as ``d_obs`` and ``sd_post``.

A caveat, found in the tests: Deng's coefficient sees differences only relative to Δmax, so the
grey relational coupling degree is blind to a uniform rescaling of all differences. It is a
*relative* index: within one analysis it ranks firms and clusters (coupled firms have smaller
differences than uncoupled ones and get a higher grey ``C``), but its level is not comparable
between separate data sets — a sample of strongly coupled firms and a sample of uncoupled firms
analysed separately get nearly the same grey ``C``. The capacity ``C`` and ``D`` separate the two
samples (``P > 0.95`` in the simulation test).

References
----------
Rubin, D. B. (1981). The Bayesian bootstrap. *The Annals of Statistics*, 9(1), 130–134.
Rubin, D. B. (1987). *Multiple Imputation for Nonresponse in Surveys*. Wiley.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from .coordination import coupling_coordination, subsystem_index
from .coupling import GreyCouplingResult, grey_coupling
from .levels import (
    COORDINATION_BANDS,
    COUPLING_BANDS,
    DEVELOPMENT_BANDS,
    RELATIONAL_BANDS,
    Bands,
    make_bands,
)
from .levels import level_probabilities as _level_probabilities
from .levels import prob_at_least as _prob_at_least
from .normalize import normalize
from .relational import relational_coefficients, relational_grade
from .weights import dirichlet_weights, entropy_weights, user_weights

if TYPE_CHECKING:
    import arviz as az

__all__ = [
    "AC_DIMENSIONS",
    "NC_DIMENSIONS",
    "PosteriorCoupling",
    "RegressionOverDraws",
    "bayesian_bootstrap_weights",
    "coupling_from_scores",
    "regression_over_draws",
    "system_dimensions",
]

# The defaults are the ids of the book's questionnaire map, not read from it: grey/ imports
# nothing else of bayes_rent. tests/test_grey_defaults.py keeps them equal to book_schema().
#: The network-capability dimensions of the book's questionnaire map (construct ``NC`` of
#: ``models/questionnaire.yaml``), as the shipped models name their latent variables.
NC_DIMENSIONS: tuple[str, ...] = ("nc_vision", "nc_construction", "nc_relmgmt", "nc_portfolio")
#: The absorptive-capability dimensions (construct ``AC`` of the map).
AC_DIMENSIONS: tuple[str, ...] = (
    "ac_acquisition", "ac_assimilation", "ac_transformation", "ac_exploitation",
)


def system_dimensions(schema: Any, construct: str) -> tuple[str, ...]:
    """The dimensions of one construct in a questionnaire map: the latent variables it sums.

    Parameters
    ----------
    schema
        A questionnaire map: a :class:`bayes_rent.SurveySchema` (anything whose
        ``construct(id).dimensions`` have an ``id``), or a mapping from construct to
        dimension names.
    construct
        The construct, e.g. ``"NC"``.

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> from bayes_rent.grey import system_dimensions
    >>> system_dimensions({"NC": ["vision", "reach"], "AC": ["uptake"]}, "NC")
    ('vision', 'reach')
    >>> import bayes_rent as br
    >>> system_dimensions(br.book_schema(), "AC")[:2]
    ('ac_acquisition', 'ac_assimilation')
    """
    if isinstance(schema, Mapping):
        if construct not in schema:
            raise KeyError(f"no construct {construct!r} in the map (constructs: {list(schema)})")
        names = tuple(str(d) for d in schema[construct])
    else:
        names = tuple(str(d.id) for d in schema.construct(construct).dimensions)
    if not names:
        raise ValueError(
            f"construct {construct!r} has no dimensions in the questionnaire map; name the "
            "constructs of the system with x= and y="
        )
    return names


def _systems(
    x: Sequence[Hashable] | None, y: Sequence[Hashable] | None, schema: Any,
    system_names: tuple[str, str],
) -> tuple[Sequence[Hashable], Sequence[Hashable], bool]:
    """x and y as given, else from the map (``schema``, or the book's); and whether defaulted."""
    defaults = (NC_DIMENSIONS, AC_DIMENSIONS)
    picked = []
    for given, name, default in zip((x, y), system_names, defaults, strict=True):
        if given is not None:
            picked.append(given)
        else:
            picked.append(default if schema is None else system_dimensions(schema, name))
    return picked[0], picked[1], x is None or y is None


def bayesian_bootstrap_weights(
    sizes: Mapping[str, int],
    n: int,
    *,
    sample_dim: str = "respondent",
    coords: Any = None,
    seed: int | np.random.Generator | None = None,
) -> xr.DataArray:
    """Bayesian-bootstrap weights: a Dirichlet(1, …, 1) vector over ``n`` units per draw.

    Parameters
    ----------
    sizes
        Batch dimensions, e.g. ``{"chain": 4, "draw": 1000}``.
    n
        Number of units (firms).
    sample_dim
        Name of the unit dimension.
    coords
        Optional labels of the units.
    seed
        Seed or generator.

    Returns
    -------
    DataArray
        Dims ``(*sizes, sample_dim)``, each vector summing to 1.

    Examples
    --------
    >>> from bayes_rent.grey import bayesian_bootstrap_weights
    >>> w = bayesian_bootstrap_weights({"draw": 3}, 5, seed=0)
    >>> w.dims, w.sum("respondent").round(12).values.tolist()
    (('draw', 'respondent'), [1.0, 1.0, 1.0])
    """
    rng = np.random.default_rng(seed)
    g = rng.standard_exponential(size=(*sizes.values(), n))
    g /= g.sum(axis=-1, keepdims=True)
    c = {sample_dim: np.asarray(coords)} if coords is not None else None
    return xr.DataArray(g, dims=(*sizes, sample_dim), coords=c, name="bootstrap_weight")


def _default_bands(var: str) -> Bands:
    if var.startswith(("gamma", "grade")):
        return RELATIONAL_BANDS
    if var.startswith("ratio"):
        return DEVELOPMENT_BANDS
    if var.startswith("D"):
        return COORDINATION_BANDS
    if var.startswith(("C", "grey_C")):
        return COUPLING_BANDS
    raise ValueError(f"no default level bands for {var!r}; pass bands=")


def _default_top(bands: Bands) -> str:
    return {"coordination": "good coordination", "coupling": "high-level coupling",
            "relation": "strong"}.get(bands.title, bands.names[-1])


@dataclass
class PosteriorCoupling:
    """Posterior of the grey coupling and coupling–coordination indices.

    Attributes
    ----------
    posterior
        ``Dataset`` with ``chain``/``draw`` dims. Variables: ``grey_C`` (per firm),
        ``grey_C_overall``, ``grey_C_cluster``, ``gamma`` (x, y), ``gamma_cluster`` (cluster,
        x, y), ``gamma_x``, ``gamma_y``, ``U``
        (system), ``C``, ``T``, ``D``, ``ratio`` (U1/U2) per firm and their ``_cluster`` and
        ``_overall`` means, ``grade`` (outcome, index) and the indicator weights when they vary.
    grey
        The underlying :class:`~bayes_rent.grey.GreyCouplingResult` (``coefficients`` is kept only
        with ``keep_coefficients=True``).
    settings
        The options used.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from bayes_rent.grey import coupling_from_scores
    >>> names = ["vision", "construction", "acquisition", "assimilation", "KR"]
    >>> dims = ("chain", "draw", "respondent", "construct")
    >>> s = xr.DataArray(np.random.default_rng(0).normal(size=(2, 100, 40, 5)), dims=dims,
    ...                  coords={"construct": names})
    >>> res = coupling_from_scores(s, x=names[:2], y=names[2:4], outcomes=["KR"],
    ...                            cluster=np.repeat(["a", "b"], 20))
    >>> res.prob_at_least("good coordination", var="D_cluster").index.tolist()
    ['a', 'b']
    >>> res.levels("D_cluster").columns[:4].tolist()
    ['mean', 'sd', 'hdi_low', 'hdi_high']
    >>> res.outcome_grades().index.get_level_values("index").tolist()
    ['D', 'C', 'grey_C', 'NC', 'AC']
    >>> res.drivers()[["system", "indicator"]].values.tolist()
    [['x', 'vision'], ['x', 'construction'], ['y', 'acquisition'], ['y', 'assimilation']]
    >>> idata = res.to_inference_data()  # for az.summary, az.plot_posterior, az.plot_forest
    """

    posterior: xr.Dataset
    grey: GreyCouplingResult
    settings: dict[str, Any] = field(default_factory=dict)

    def _bands(self, var: str, bands: Any) -> Bands:
        if bands is not None:
            return make_bands(bands)
        b = _default_bands(var)
        if b.title == "development":
            # Name the lagging system: "NC lags" rather than "first system lags".
            first, second = (str(v) for v in self.posterior["U"]["system"].values)
            b = make_bands([(x.upper, x.name.replace("first system", first)
                             .replace("second system", second), x.name_zh) for x in b.bands],
                           title=b.title)
        return b

    def to_inference_data(self) -> az.InferenceData:
        """The posterior as ``arviz.InferenceData`` (group ``posterior``)."""
        import arviz as az  # lazy: arviz is slow to import and only needed here

        return az.InferenceData(posterior=self.posterior)

    def summary(
        self, var_names: Sequence[str] | None = None, hdi_prob: float = 0.9, **kwargs: Any
    ) -> pd.DataFrame:
        """``az.summary`` of the chosen variables (default the cluster and overall indices).

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> from bayes_rent.grey import coupling_from_scores
        >>> rng = np.random.default_rng(0)
        >>> names = ["vision", "construction", "acquisition", "assimilation"]
        >>> s = xr.DataArray(rng.normal(size=(2, 50, 30, 4)),
        ...                  dims=("chain", "draw", "respondent", "construct"),
        ...                  coords={"construct": names})
        >>> res = coupling_from_scores(s, x=names[:2], y=names[2:])
        >>> list(res.summary(["D_overall"], kind="stats").columns)
        ['mean', 'sd', 'hdi_5%', 'hdi_95%']
        """
        import arviz as az  # lazy: arviz is slow to import and only needed here

        if var_names is None:
            var_names = [v for v in self.posterior.data_vars
                         if v.endswith(("_overall", "_cluster"))]
        return az.summary(self.to_inference_data(), var_names=list(var_names),
                          hdi_prob=hdi_prob, **kwargs)

    def level_probabilities(self, var: str = "D", bands: Any = None) -> pd.DataFrame:
        """Posterior probability of every band for each unit of ``var`` (rows) and band (columns).

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> from bayes_rent.grey import coupling_from_scores
        >>> names = ["vision", "construction", "acquisition", "assimilation"]
        >>> s = xr.DataArray(np.random.default_rng(0).normal(size=(2, 50, 30, 4)),
        ...                  dims=("chain", "draw", "respondent", "construct"))
        >>> s = s.assign_coords(construct=names)
        >>> p = coupling_from_scores(s, x=names[:2], y=names[2:]).level_probabilities("D")
        >>> p.shape, bool(np.allclose(p.sum(axis=1), 1.0))
        ((30, 10), True)
        """
        b = self._bands(var, bands)
        probs = _level_probabilities(self.posterior[var], b).drop_vars("level_zh")
        if probs.ndim == 1:
            return probs.to_pandas().to_frame().T
        return probs.to_pandas()

    def prob_at_least(self, level: str | None = None, var: str = "D",
                      bands: Any = None) -> pd.Series | float:
        """``P(var is in band `level` or higher)`` per unit, e.g. P(D ≥ "good coordination")."""
        b = self._bands(var, bands)
        p = _prob_at_least(self.posterior[var], b, level or _default_top(b))
        return float(p) if p.ndim == 0 else p.to_pandas()

    def levels(self, var: str = "D", bands: Any = None, hdi_prob: float = 0.9,
               at_least: str | None = None) -> pd.DataFrame:
        """Per unit: posterior mean, sd and HDI of ``var``, its most probable band and P(≥ band).

        Parameters
        ----------
        var
            A per-unit variable: ``"D"``, ``"C"``, ``"grey_C"``, ``"D_cluster"``, … or an overall
            one.
        bands
            Band table (default by variable: D → 10 coordination bands, C → 4 coupling bands).
        hdi_prob
            Probability mass of the highest-density interval.
        at_least
            The band for the exceedance probability (default "good coordination" for D,
            "high-level coupling" for C).

        Returns
        -------
        DataFrame
            Columns ``mean``, ``sd``, ``hdi_low``, ``hdi_high``, ``level`` (modal band),
            ``level_zh``, ``p_level`` and ``p_at_least_<band>``.
        """
        import arviz as az  # lazy: arviz is slow to import and only needed here

        b = self._bands(var, bands)
        da = self.posterior[var]
        top = at_least or _default_top(b)
        probs = _level_probabilities(da, b)
        modal = probs.argmax("level")
        hdi = az.hdi(da, hdi_prob=hdi_prob)
        hdi = hdi[var] if isinstance(hdi, xr.Dataset) else hdi
        out = xr.Dataset({
            "mean": da.mean(("chain", "draw")),
            "sd": da.std(("chain", "draw")),
            "hdi_low": hdi.isel(hdi=0, drop=True),
            "hdi_high": hdi.isel(hdi=1, drop=True),
            "level": xr.DataArray(np.asarray(b.names, dtype=object))[modal],
            "level_zh": xr.DataArray(np.asarray(b.names_zh, dtype=object))[modal],
            "p_level": probs.max("level"),
            "p_at_least_" + re.sub(r"\W+", "_", top): _prob_at_least(da, b, top),
        })
        out = out.drop_vars([c for c in out.coords if c not in out.dims])
        if not out.dims:
            return pd.DataFrame([{k: v.item() for k, v in out.data_vars.items()}], index=[var])
        return out.to_dataframe()

    def outcome_grades(self, hdi_prob: float = 0.9) -> pd.DataFrame:
        """Posterior summary of the grey relational grades of the indices against the outcomes."""
        import arviz as az  # lazy: arviz is slow to import and only needed here

        if "grade" not in self.posterior:
            raise ValueError("no outcome grades: call coupling_from_scores(..., outcomes=[...])")
        g = self.posterior["grade"]
        hdi = az.hdi(g, hdi_prob=hdi_prob)
        hdi = hdi["grade"] if isinstance(hdi, xr.Dataset) else hdi
        out = xr.Dataset({"mean": g.mean(("chain", "draw")), "sd": g.std(("chain", "draw")),
                          "hdi_low": hdi.isel(hdi=0, drop=True),
                          "hdi_high": hdi.isel(hdi=1, drop=True)})
        return out.to_dataframe(dim_order=["outcome", "index"])

    def drivers(self, hdi_prob: float = 0.9) -> pd.DataFrame:
        """Row and column means of γ with intervals, and the probability of ranking first."""
        import arviz as az  # lazy: arviz is slow to import and only needed here

        rows = []
        for system, var in (("x", "gamma_x"), ("y", "gamma_y")):
            da = self.posterior[var]
            hdi = az.hdi(da, hdi_prob=hdi_prob)
            hdi = hdi[var] if isinstance(hdi, xr.Dataset) else hdi
            first = (da == da.max(system)).mean(("chain", "draw"))
            for lab in da[system].values:
                rows.append({"system": system, "indicator": lab,
                             "mean": float(da.sel({system: lab}).mean()),
                             "hdi_low": float(hdi.sel({system: lab})[0]),
                             "hdi_high": float(hdi.sel({system: lab})[1]),
                             "p_first": float(first.sel({system: lab}))})
        return pd.DataFrame(rows)

    def plot_posterior(self, var_names: Sequence[str] = ("D_overall",), **kwargs: Any) -> Any:
        """``az.plot_posterior`` of the chosen variables (``hdi_prob`` 0.9 unless given)."""
        import arviz as az  # lazy: arviz is slow to import and only needed here

        kwargs.setdefault("hdi_prob", 0.9)
        return az.plot_posterior(self.to_inference_data(), var_names=list(var_names), **kwargs)

    def plot_forest(self, var_names: Sequence[str] = ("D_cluster",), **kwargs: Any) -> Any:
        """``az.plot_forest`` of the chosen variables, e.g. D of every cluster or firm."""
        import arviz as az  # lazy: arviz is slow to import and only needed here

        kwargs.setdefault("hdi_prob", 0.9)
        kwargs.setdefault("combined", True)
        return az.plot_forest(self.to_inference_data(), var_names=list(var_names), **kwargs)


def _indicator_weights(
    spec: Any, Z: xr.DataArray, dim: str, resp: str, dirichlet: float | None,
    sizes: Mapping[str, int], rng: np.random.Generator,
) -> xr.DataArray:
    labels = list(Z[dim].values)
    if spec is None or (isinstance(spec, str) and spec == "equal"):
        w = xr.DataArray(np.full(len(labels), 1.0 / len(labels)), dims=(dim,),
                         coords={dim: labels})
    elif isinstance(spec, str) and spec == "entropy":
        # Per draw: the entropy of the normalised scores over firms.
        w = entropy_weights(Z, sample_dim=resp, indicator_dim=dim)
    elif isinstance(spec, str):
        raise ValueError(f"weights must be 'equal', 'entropy' or given values, got {spec!r}")
    elif isinstance(spec, xr.DataArray):
        w = spec
    else:
        s = user_weights(getattr(spec, "weights", spec),
                         labels if isinstance(spec, Mapping | pd.Series) else None)
        w = xr.DataArray(s.to_numpy(), dims=(dim,), coords={dim: labels})
    if dirichlet is not None:
        extra = {d: n for d, n in sizes.items() if d not in w.dims}
        w = dirichlet_weights(w.transpose(..., dim), dirichlet, sizes=extra, seed=rng)
    return w


def _cluster_labels(cluster: Any, scores: xr.DataArray, resp: str) -> np.ndarray | None:
    if cluster is None:
        return None
    if isinstance(cluster, str) and cluster in scores.coords:
        lab = scores[cluster]
        if lab.dims != (resp,):
            raise ValueError(f"coordinate {cluster!r} must lie along {resp!r}, has {lab.dims}")
        return lab.values
    if isinstance(cluster, xr.DataArray):
        return cluster.transpose(resp).values
    if isinstance(cluster, pd.Series):
        labels = cluster.reindex(scores[resp].values).to_numpy()
        if pd.isna(labels).any():
            raise ValueError("cluster does not give a cluster for every respondent")
        return labels
    labels = np.asarray(cluster)
    if labels.shape != (scores.sizes[resp],):
        raise ValueError(f"cluster needs one label per respondent ({scores.sizes[resp]}), got "
                         f"shape {labels.shape}")
    return labels


def _aggregate(
    da: xr.DataArray, resp: str, weights: xr.DataArray | None, clusters: np.ndarray | None
) -> tuple[xr.DataArray, xr.DataArray | None]:
    """Overall and per-cluster (weighted) means over the firms.

    Weighted means are multiply-then-sum rather than ``xr.dot``: ``einsum``'s summation order can
    depend on the batch shape, and a batch must reproduce the per-draw result exactly.
    """
    if weights is None:
        overall = da.mean(resp)
    else:
        overall = (da * (weights / weights.sum(resp))).sum(resp)
    if clusters is None:
        return overall, None
    codes, uniques = pd.factorize(clusters, sort=True)
    parts = []
    # A loop over the (few) clusters, not over draws.
    for k in range(len(uniques)):
        idx = np.flatnonzero(codes == k)
        sub = da.isel({resp: idx})
        if weights is None:
            parts.append(sub.mean(resp))
        else:
            w = weights.isel({resp: idx})
            parts.append((sub * (w / w.sum(resp))).sum(resp))
    by = xr.concat(parts, dim=pd.Index(uniques, name="cluster"))
    return overall, by.transpose(*[d for d in da.dims if d != resp], "cluster", ...)


def coupling_from_scores(
    scores: xr.DataArray,
    x: Sequence[Hashable] | None = None,
    y: Sequence[Hashable] | None = None,
    *,
    schema: Any = None,
    cluster: Any = None,
    rho: float = 0.5,
    extremes: str = "all",
    grey_normalize: str | None = "zscore",
    method: str = "standard",
    x_weights: Any = "equal",
    y_weights: Any = "equal",
    system_weights: Any = None,
    system_names: tuple[str, str] = ("NC", "AC"),
    feature_range: tuple[float, float] = (0.01, 0.99),
    dirichlet: float | None = None,
    bootstrap: bool | xr.DataArray = False,
    outcomes: Sequence[Hashable] | None = None,
    keep_coefficients: bool = False,
    seed: int | np.random.Generator | None = None,
    respondent_dim: str = "respondent",
    construct_dim: str = "construct",
) -> PosteriorCoupling:
    """Posterior of the NC–AC coupling indices from posterior firm-level scores.

    Parameters
    ----------
    scores
        Posterior latent scores, dims ``(chain, draw, respondent, construct)`` (the interface of
        ``fit.scores()``); any dims other than respondent and construct are kept as batch dims.
    x, y
        Constructs forming system X and system Y. By default the dimensions of the constructs
        ``system_names`` (``NC``, ``AC``) in the questionnaire map ``schema``; without a map,
        those of the book's map (:data:`NC_DIMENSIONS`, :data:`AC_DIMENSIONS`: ``nc_vision``,
        ..., ``ac_exploitation``), the names ``models/full_model.lav`` gives them, so
        ``coupling_from_scores(fit.scores())`` works on the book's model as it is.
    schema
        A questionnaire map for the defaults of ``x`` and ``y``: a
        :class:`bayes_rent.SurveySchema` (``br.book_schema()``,
        ``br.SurveySchema.from_yaml(...)``) or a mapping ``{"NC": [...], "AC": [...]}``; see
        :func:`system_dimensions`.
    cluster
        Cluster of each respondent: the name of a coordinate of ``scores`` along the respondent
        dim, or one label per respondent (array, ``Series`` indexed by respondent, ``DataArray``).
    rho, extremes, grey_normalize
        Options of :func:`~bayes_rent.grey.grey_coupling`.
    method
        Capacity coupling form: ``"standard"``, ``"wang"`` or ``"fan"``.
    x_weights, y_weights
        Indicator weights for ``U1``/``U2``: ``"equal"``, ``"entropy"`` (computed per draw), a
        mapping/``Series``/sequence, an :class:`~bayes_rent.grey.AHPResult`, or a ``DataArray``
        over the construct dim that may vary over ``chain``/``draw``.
    system_weights
        ``(a, b)`` of ``T = aU1 + bU2`` (default equal).
    system_names
        Labels of the two systems.
    feature_range
        Min–max target of the dimension scores before weighting (per draw, over firms); the
        default (0.01, 0.99) keeps every ``U`` away from 0, where ``C`` is undefined.
    dirichlet
        Concentration ``κ`` of Dirichlet-perturbed indicator weights (``None``: fixed weights).
    bootstrap
        ``True`` for Bayesian-bootstrap weights over firms (one Dirichlet(1, …, 1) vector per
        draw), or a ``DataArray`` of weights ``(chain, draw, respondent)`` to use.
    outcomes
        Outcome constructs (e.g. ``["KR", "IG"]``): adds ``grade`` — the grey relational grade
        (Deng, ``extremes="all"``, min–max normalised per draw) of D, C, grey C, U1 and U2 against
        each outcome.
    keep_coefficients
        Keep ``ξ`` for every draw, firm and pair (large: 150 MB for 4000 × 300 × 16).
    seed
        Seed for the bootstrap and Dirichlet draws.
    respondent_dim, construct_dim
        Dimension names of ``scores``.

    Returns
    -------
    PosteriorCoupling
        The posterior of the indices, with the grey result and the settings used.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from bayes_rent.grey import coupling_from_scores
    >>> rng = np.random.default_rng(0)
    >>> names = ["vision", "construction", "acquisition", "assimilation", "KR"]
    >>> s = xr.DataArray(rng.normal(size=(2, 100, 40, 5)),
    ...                  dims=("chain", "draw", "respondent", "construct"),
    ...                  coords={"construct": names})
    >>> res = coupling_from_scores(s, x=names[:2], y=names[2:4], cluster=np.repeat(["a", "b"], 20),
    ...                            outcomes=["KR"], bootstrap=True, dirichlet=50.0, seed=1)
    >>> res.posterior["D_cluster"].dims
    ('chain', 'draw', 'cluster')
    >>> res.posterior["gamma"].dims
    ('chain', 'draw', 'x', 'y')
    >>> res.levels("D_cluster").shape[0]
    2
    """
    resp, con = respondent_dim, construct_dim
    x, y = _checked_systems(scores, x, y, schema, system_names, outcomes, resp, con)
    rng = np.random.default_rng(seed)
    batch = [d for d in scores.dims if d not in (resp, con)]
    sizes = {d: scores.sizes[d] for d in batch}
    X = scores.sel({con: list(x)}).transpose(*batch, resp, con)
    Y = scores.sel({con: list(y)}).transpose(*batch, resp, con)
    clusters = _cluster_labels(cluster, scores, resp)
    bw = _bootstrap_weights(bootstrap, scores, sizes, resp, rng)

    grey = grey_coupling(X, Y, rho, extremes=extremes, normalize=grey_normalize,
                         groups=clusters, group_dim="cluster", sample_weights=bw,
                         keep_coefficients=keep_coefficients, sample_dim=resp, x_dim=con,
                         y_dim=con)

    zx = normalize(X, "minmax", feature_range=feature_range, sample_dim=resp, indicator_dim=con)
    zy = normalize(Y, "minmax", feature_range=feature_range, sample_dim=resp, indicator_dim=con)
    wx = _indicator_weights(x_weights, zx, con, resp, dirichlet, sizes, rng)
    wy = _indicator_weights(y_weights, zy, con, resp, dirichlet, sizes, rng)
    u1 = subsystem_index(zx, wx, sample_dim=resp, indicator_dim=con)
    u2 = subsystem_index(zy, wy, sample_dim=resp, indicator_dim=con)
    U = xr.concat([u1, u2], dim=pd.Index(list(system_names), name="system"), coords="minimal")
    U = U.transpose(*batch, resp, "system")
    cc = coupling_coordination(U, system_weights, method, system_dim="system")

    data = _posterior_variables(grey, U, cc, (u1 / u2).rename("ratio"), (resp, bw, clusters))
    for name, w, dim in (("x_weights", wx, "x"), ("y_weights", wy, "y")):
        if set(w.dims) - {con}:
            data[name] = w.rename({con: dim})
    if outcomes:
        index = xr.concat(
            [cc["D"], cc["C"], grey.coupling, u1, u2],
            dim=pd.Index(["D", "C", "grey_C", *system_names], name="index"), coords="minimal",
        ).transpose(*batch, resp, "index")
        ref = scores.sel({con: list(outcomes)}).rename({con: "outcome"})
        data["grade"] = _outcome_grade(ref.transpose(*batch, resp, "outcome"), index, rho, bw,
                                       resp)

    post = xr.Dataset(data)
    post = post.drop_vars([c for c in post.coords if c == con])
    settings = {"x": list(x), "y": list(y), "rho": rho, "extremes": extremes,
                "grey_normalize": grey_normalize, "method": method, "x_weights": str(x_weights),
                "y_weights": str(y_weights), "dirichlet": dirichlet,
                "bootstrap": bw is not None, "feature_range": feature_range}
    post.attrs.update({k: str(v) for k, v in settings.items()})
    return PosteriorCoupling(post, grey, settings)


def _checked_systems(
    scores: Any,
    x: Sequence[Hashable] | None,
    y: Sequence[Hashable] | None,
    schema: Any,
    system_names: tuple[str, str],
    outcomes: Sequence[Hashable] | None,
    resp: str,
    con: str,
) -> tuple[list[Hashable], list[Hashable]]:
    """Check ``scores`` and resolve the constructs of systems X and Y (with their defaults)."""
    if not isinstance(scores, xr.DataArray):
        raise TypeError("scores must be an xarray.DataArray (chain, draw, respondent, construct)")
    for d in (resp, con):
        if d not in scores.dims:
            raise ValueError(f"scores has no dimension {d!r}; dims are {scores.dims}")
    x, y, defaulted = _systems(x, y, schema, system_names)
    available = list(scores[con].values) if con in scores.coords else []
    wanted = [*x, *y, *(outcomes or [])]
    missing = [c for c in wanted if c not in available]
    if missing:
        hint = ""
        if defaulted:
            source = "the book's questionnaire map" if schema is None else "the map given"
            hint = (f" (the default systems are the {system_names[0]} and {system_names[1]} "
                    f"dimensions of {source}; name them with x= and y=, or pass schema=)")
        raise ValueError(f"constructs {missing} are not in scores; available: {available}{hint}")
    if len(system_names) != 2:
        raise ValueError("system_names needs two names")
    return x, y


def _bootstrap_weights(
    bootstrap: bool | xr.DataArray,
    scores: xr.DataArray,
    sizes: Mapping[Hashable, int],
    resp: str,
    rng: np.random.Generator,
) -> xr.DataArray | None:
    """The Bayesian-bootstrap weights over firms asked for by ``bootstrap``, or None."""
    if isinstance(bootstrap, xr.DataArray):
        return bootstrap
    if not bootstrap:
        return None
    rcoords = scores[resp].values if resp in scores.coords else None
    return bayesian_bootstrap_weights(sizes, scores.sizes[resp], sample_dim=resp,
                                      coords=rcoords, seed=rng)


def _posterior_variables(
    grey: GreyCouplingResult,
    U: xr.DataArray,
    cc: xr.Dataset,
    ratio: xr.DataArray,
    pooling: tuple[str, xr.DataArray | None, Any],
) -> dict[str, xr.DataArray]:
    """The per-firm indices and their overall and cluster means; ``pooling = (resp, bw,
    clusters)``."""
    data: dict[str, xr.DataArray] = {
        "grey_C": grey.coupling, "grey_C_overall": grey.overall, "gamma": grey.degree_matrix,
        "gamma_x": grey.x_means, "gamma_y": grey.y_means, "U": U,
        "C": cc["C"], "T": cc["T"], "D": cc["D"], "ratio": ratio,
    }
    if grey.group_coupling is not None:
        data["grey_C_cluster"] = grey.group_coupling
        data["gamma_cluster"] = grey.group_degree_matrix
    for var in ("C", "T", "D", "U", "ratio"):
        overall, by = _aggregate(data[var], *pooling)
        data[f"{var}_overall"] = overall
        if by is not None:
            data[f"{var}_cluster"] = by
    return data


def _outcome_grade(
    ref: xr.DataArray, index: xr.DataArray, rho: float, bw: xr.DataArray | None, resp: str
) -> xr.DataArray:
    """Grey relational grade of the indices ``(..., resp, index)`` against each outcome
    ``(..., resp, outcome)``, both min-max normalised per draw."""
    ref = normalize(ref, "minmax", sample_dim=resp, indicator_dim="outcome")
    comp = normalize(index, "minmax", sample_dim=resp, indicator_dim="index")
    batch = [d for d in ref.dims if d not in (resp, "outcome")]
    xi = relational_coefficients(ref.transpose("outcome", *batch, resp), comp, rho,
                                 extremes="all", sample_dim=resp, indicator_dim="index")
    return relational_grade(xi, bw, sample_dim=resp, indicator_dim="index")


@dataclass
class RegressionOverDraws:
    """Per-draw OLS fits and their combination by Rubin's rules.

    Attributes
    ----------
    draws
        Coefficients per draw, dims ``(sample, term)``.
    std_errors
        Their OLS standard errors, dims ``(sample, term)``.
    table
        One row per term: ``estimate``, ``se_within``, ``se_between``, ``se_total``, ``df``,
        ``ci_low``, ``ci_high`` and ``frac_index_uncertainty`` — the share of the total variance
        due to the uncertainty of the draw-varying inputs (Rubin's ``(1 + 1/M)B / T``).
    """

    draws: xr.DataArray
    std_errors: xr.DataArray
    table: pd.DataFrame


def regression_over_draws(
    outcome: xr.DataArray | pd.Series | np.ndarray,
    predictors: Mapping[str, Any],
    *,
    obs_dim: str = "respondent",
    add_intercept: bool = True,
    n_draws: int | None = None,
    ci_prob: float = 0.95,
    seed: int | np.random.Generator | None = None,
) -> RegressionOverDraws:
    """Regress an outcome on posterior indices draw by draw and combine with Rubin's rules.

    Parameters
    ----------
    outcome
        Outcome per unit: fixed (``Series``/array along ``obs_dim``) or posterior draws (a
        ``DataArray`` with ``chain``/``draw``), paired draw by draw with the predictors.
    predictors
        ``{name: values}``; each a ``DataArray`` (possibly with ``chain``/``draw``, e.g.
        ``res.posterior["D"]``) or fixed values per unit.
    obs_dim
        The unit dimension.
    add_intercept
        Add an intercept column.
    n_draws
        Use a random subset of this many draws (default all).
    ci_prob
        Coverage of the t intervals.
    seed
        Seed for the draw subset.

    Returns
    -------
    RegressionOverDraws
        The per-draw fits and the combined table.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from bayes_rent.grey import regression_over_draws
    >>> rng = np.random.default_rng(0)
    >>> d_true = rng.uniform(0.3, 0.9, 200)
    >>> d = xr.DataArray(d_true + rng.normal(0, 0.05, (2, 100, 200)),
    ...                  dims=("chain", "draw", "respondent"))
    >>> kr = xr.DataArray(1.0 + 2.0 * d_true + rng.normal(0, 0.3, 200), dims=("respondent",))
    >>> fit = regression_over_draws(kr, {"D": d})
    >>> fit.table.index.tolist()
    ['Intercept', 'D']
    >>> bool(0 < fit.table.loc["D", "frac_index_uncertainty"] < 1)
    True
    """
    def as_da(v: Any, name: str) -> xr.DataArray:
        if isinstance(v, xr.DataArray):
            if obs_dim not in v.dims:
                raise ValueError(f"{name} has no dimension {obs_dim!r}")
            return v
        if isinstance(v, pd.Series):
            return xr.DataArray(v.to_numpy(dtype=float), dims=(obs_dim,))
        return xr.DataArray(np.asarray(v, dtype=float), dims=(obs_dim,))

    y = as_da(outcome, "outcome")
    cols = {k: as_da(v, k) for k, v in predictors.items()}
    terms = (["Intercept"] if add_intercept else []) + list(cols)
    if add_intercept:
        cols = {"Intercept": xr.ones_like(y.isel({d: 0 for d in y.dims if d != obs_dim},
                                                 drop=True)), **cols}
    Xd = xr.concat(list(cols.values()), dim=pd.Index(terms, name="term"), coords="minimal",
                   join="override")
    sdims = [d for d in (*Xd.dims, *y.dims) if d not in (obs_dim, "term")]
    sdims = list(dict.fromkeys(sdims))
    if not sdims:
        raise ValueError("neither the outcome nor the predictors vary over draws")
    Xd, y = xr.broadcast(Xd, y, exclude=[obs_dim, "term"])
    Xs = Xd.stack(sample=sdims).transpose("sample", obs_dim, "term")
    ys = y.stack(sample=sdims).transpose("sample", obs_dim)
    if n_draws is not None and n_draws < Xs.sizes["sample"]:
        pick = np.sort(np.random.default_rng(seed).choice(Xs.sizes["sample"], n_draws,
                                                          replace=False))
        Xs, ys = Xs.isel(sample=pick), ys.isel(sample=pick)
    A, b = Xs.values, ys.values
    n, p = A.shape[1], A.shape[2]
    if n <= p:
        raise ValueError(f"{n} units for {p} coefficients")
    # Batched normal equations: one small p × p solve per draw.
    xtx = np.einsum("snp,snq->spq", A, A)
    xty = np.einsum("snp,sn->sp", A, b)
    beta = np.linalg.solve(xtx, xty[..., None])[..., 0]
    resid = b - np.einsum("snp,sp->sn", A, beta)
    s2 = (resid**2).sum(axis=1) / (n - p)
    se = np.sqrt(s2[:, None] * np.diagonal(np.linalg.inv(xtx), axis1=1, axis2=2))
    M = beta.shape[0]
    qbar = beta.mean(axis=0)
    W = (se**2).mean(axis=0)
    B = beta.var(axis=0, ddof=1) if M > 1 else np.zeros(p)
    T = W + (1.0 + 1.0 / M) * B
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (1.0 + 1.0 / M) * B / W
        df = np.where(B > 0, (M - 1) * (1.0 + 1.0 / r) ** 2, n - p)
    tq = stats.t.ppf(0.5 + ci_prob / 2.0, df)
    table = pd.DataFrame({
        "estimate": qbar, "se_within": np.sqrt(W), "se_between": np.sqrt(B),
        "se_total": np.sqrt(T), "df": df, "ci_low": qbar - tq * np.sqrt(T),
        "ci_high": qbar + tq * np.sqrt(T), "frac_index_uncertainty": (1.0 + 1.0 / M) * B / T,
    }, index=pd.Index(terms, name="term"))
    coords = {"term": terms}
    return RegressionOverDraws(
        draws=xr.DataArray(beta, dims=("sample", "term"), coords=coords, name="beta"),
        std_errors=xr.DataArray(se, dims=("sample", "term"), coords=coords, name="se"),
        table=table,
    )
