"""The generating model behind the simulated cluster survey (a stand-in for the book's data).

The book's survey of Suzhou cluster firms is not public, so bayes-rent ships data that this
documented model produced with a fixed seed. Everything it draws from is returned as ``truth``,
so any estimate can be checked against the value that generated the data.

The generating model
--------------------
For firm *i* in cluster *c* (all latent variables on the latent-response scale):

1. **Clusters.** Each construct *C* has a cluster random intercept
   ``u[c, C] ~ N(0, cluster_sd**2)`` (default SD 0.35 for every construct).
2. **Exogenous constructs** RE, SE, NC, AC: ``C_i = u[c, C] + w_i`` with the within-cluster part
   ``w_i ~ MVN(0, Phi)``, ``Phi`` a correlation matrix (unit variances; NC and AC the most
   correlated, since the book studies their coupling).
3. **Mediator and outcome**::

       KR_i = u[c, KR] + a_RE RE_i + a_SE SE_i + a_NC NC_i + a_AC AC_i + zeta_KR
       IG_i = alpha_IG + u[c, IG] + b KR_i + c_RE RE_i + c_SE SE_i + c_NC NC_i + c_AC AC_i
              + g' covariates_i + zeta_IG

   so KR mediates every construct's effect on IG while the direct paths stay (the book's
   sub-models 1-4 and the full model). ``alpha_IG`` centres the covariate term.
4. **Second order.** Dimension *d* of construct *C*: ``eta_d = gamma_d C + delta_d`` with
   ``delta_d ~ N(0, 1 - gamma_d**2)``.
5. **Items.** Latent response ``y*_j = lambda_j eta_d + eps_j`` with
   ``eps_j ~ N(0, 1 - lambda_j**2)``, cut into ``k`` ordered categories by thresholds
   ``tau_j1 < ... < tau_j(k-1)``: the answer is ``1 + #{t : y*_j > tau_jt}``. The thresholds
   lean positive, as Likert answers in firm surveys do (about 3.5 on average on 5 points). A
   reverse-keyed item is generated the same way and then recorded reversed (``k + 1 - x``), so
   its ``truth`` rows describe the item *after* ``read_survey(..., reverse=True)``.
6. **Covariates** (questionnaire part 1): ``industry`` (each cluster has a main industry, 85% of
   its firms), ``firm_size`` (employee band 1-4, larger in electronics and metallurgy),
   ``firm_age`` (years; textile clusters older) and ``export_share`` (% of sales; highest in
   electronics). They act on IG only.
7. **Missing answers** are missing at random: each answer is missing with a chance that depends
   only on the firm's size band (always observed; smaller firms skip more), scaled so that about
   ``missing_rate`` of all answers are missing. Covariates are complete.

Item loadings (0.65-0.85), second-order loadings (0.70-0.90) and threshold shifts are drawn once
from a parameter stream of the seed and rounded to two decimals, so they are the same for every
``n_firms`` with the same seed; the firms are drawn from a separate data stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from graphlib import CycleError, TopologicalSorter

import numpy as np
import pandas as pd

from bayes_rent.data.survey.schema import SurveySchema

__all__ = [
    "BOOK_PATHS",
    "CLUSTER_INDUSTRY",
    "COVARIATE_EFFECTS",
    "EXOGENOUS_CORRELATIONS",
    "RESIDUAL_VARIANCES",
    "SEED",
    "SUZHOU_CLUSTERS",
    "simulate_cluster_survey",
]

#: Seed of the shipped data set (the book appeared in May 2018).
SEED = 20180501

#: Eight industrial clusters around Suzhou and how many firms each contributes (320 in all).
SUZHOU_CLUSTERS: dict[str, int] = {
    "Suzhou Industrial Park electronics": 70,  # 苏州工业园区电子信息
    "Kunshan IT": 62,  # 昆山IT（笔记本电脑）
    "Wujiang silk textiles": 44,  # 吴江（盛泽）丝绸纺织
    "Changshu garments": 38,  # 常熟服装
    "Zhangjiagang metallurgy": 30,  # 张家港冶金
    "Taicang precision machinery": 28,  # 太仓（中德）精密机械
    "Suzhou New District medical devices": 27,  # 苏州高新区医疗器械
    "Zhenhu embroidery": 21,  # 镇湖刺绣
}

#: The main industry of each cluster (85% of its firms; the rest are suppliers from elsewhere).
CLUSTER_INDUSTRY: dict[str, str] = {
    "Suzhou Industrial Park electronics": "electronics",
    "Kunshan IT": "electronics",
    "Wujiang silk textiles": "textiles_apparel",
    "Changshu garments": "textiles_apparel",
    "Zhangjiagang metallurgy": "metallurgy",
    "Taicang precision machinery": "machinery",
    "Suzhou New District medical devices": "medical_devices",
    "Zhenhu embroidery": "textiles_apparel",
}

INDUSTRIES = ("electronics", "textiles_apparel", "metallurgy", "machinery", "medical_devices")

#: Structural paths ``(outcome, predictor): coefficient`` in latent SD units.
BOOK_PATHS: dict[tuple[str, str], float] = {
    ("KR", "RE"): 0.20, ("KR", "SE"): 0.15, ("KR", "NC"): 0.25, ("KR", "AC"): 0.30,
    ("IG", "KR"): 0.40,
    ("IG", "RE"): 0.10, ("IG", "SE"): 0.05, ("IG", "NC"): 0.15, ("IG", "AC"): 0.10,
}

#: Within-cluster correlations of the exogenous constructs (their variances are 1).
EXOGENOUS_CORRELATIONS: dict[tuple[str, str], float] = {  # each pair once, row by row
    ("RE", "SE"): 0.40, ("RE", "NC"): 0.45, ("RE", "AC"): 0.35,
    ("SE", "NC"): 0.40, ("SE", "AC"): 0.30,
    ("NC", "AC"): 0.50,
}

#: Residual (disturbance) variances of the endogenous constructs.
RESIDUAL_VARIANCES: dict[str, float] = {"KR": 0.55, "IG": 0.50}

#: Effects of the covariates on IG per unit as recorded (band, year, percentage point);
#: industry effects are against textiles_apparel.
COVARIATE_EFFECTS: dict[str, float] = {
    "firm_size": 0.10,
    "firm_age": 0.005,
    "export_share": 0.006,
    "industry_electronics": 0.15,
    "industry_metallurgy": -0.10,
    "industry_machinery": 0.05,
    "industry_medical_devices": 0.10,
}

#: Centres subtracted from the numeric covariates, through the intercept of IG.
_COVARIATE_CENTRES = {"firm_size": 2.5, "firm_age": 15.0, "export_share": 40.0}

_SIZE_BANDS = {  # P(band 1..4) by industry
    "electronics": (0.15, 0.35, 0.30, 0.20),
    "textiles_apparel": (0.35, 0.40, 0.18, 0.07),
    "metallurgy": (0.10, 0.30, 0.35, 0.25),
    "machinery": (0.25, 0.40, 0.25, 0.10),
    "medical_devices": (0.35, 0.40, 0.20, 0.05),
}
_EXPORT_MEAN = {  # mean export share of sales
    "electronics": 0.60,
    "textiles_apparel": 0.45,
    "metallurgy": 0.20,
    "machinery": 0.40,
    "medical_devices": 0.30,
}
_AGE_OFFSET = {"textiles_apparel": 5.0}
_MISSING_WEIGHT_BY_SIZE = np.array([1.5, 1.1, 0.8, 0.6])
_MAIN_INDUSTRY_SHARE = 0.85
_TRUTH_COLUMNS = ["lhs", "op", "rhs", "level", "cluster", "label", "value"]


def base_thresholds(k: int) -> np.ndarray:
    """Thresholds of a typical ``k``-point item on the latent-response scale.

    Equally spaced and shifted down so that agreement is more common than disagreement; for
    5 points they are ``(-1.725, -0.875, -0.025, 0.825)``, an answer mean of about 3.5.

    Examples
    --------
    >>> base_thresholds(5).round(3).tolist()
    [-1.725, -0.875, -0.025, 0.825]
    """
    j = np.arange(1, k)
    return 0.85 * (5 / k) * (j - k / 2) - 0.45


def allocate_clusters(clusters: Mapping[str, int], n_firms: int) -> dict[str, int]:
    """Cluster sizes summing to ``n_firms``, proportional to ``clusters`` (largest remainder).

    Sizes that already sum to ``n_firms`` are returned unchanged; every cluster gets at least
    two firms so that it can carry a random intercept.

    Examples
    --------
    >>> allocate_clusters({"a": 1, "b": 3}, 8)
    {'a': 2, 'b': 6}
    """
    names = list(clusters)
    weights = np.array([clusters[n] for n in names], dtype=float)
    if np.any(weights <= 0):
        raise ValueError("cluster sizes must be positive")
    if n_firms < 2 * len(names):
        raise ValueError(f"{n_firms} firms cannot fill {len(names)} clusters of two or more")
    if weights.sum() == n_firms:
        return {n: int(w) for n, w in zip(names, weights, strict=True)}
    exact = weights / weights.sum() * n_firms
    sizes = np.maximum(np.floor(exact).astype(int), 2)
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    i = 0
    while sizes.sum() < n_firms:
        sizes[order[i % len(order)]] += 1
        i += 1
    while sizes.sum() > n_firms:
        j = int(np.argmax(sizes))
        sizes[j] -= 1
    return {n: int(s) for n, s in zip(names, sizes, strict=True)}


def simulate_cluster_survey(
    schema: SurveySchema | None = None,
    n_firms: int = 320,
    clusters: Mapping[str, int] | None = None,
    seed: int = SEED,
    missing_rate: float = 0.03,
    *,
    paths: Mapping[tuple[str, str], float] | None = None,
    exogenous_correlations: Mapping[tuple[str, str], float] | None = None,
    residual_variances: Mapping[str, float] | None = None,
    cluster_sd: float | Mapping[str, float] = 0.35,
    covariate_effects: Mapping[str, float] | None = None,
    outcome: str = "IG",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate a cluster-firm Likert survey from the documented generating model.

    Parameters
    ----------
    schema : SurveySchema, optional
        The questionnaire map (default: :func:`bayes_rent.data.survey.book_schema`). Any map whose
        constructs the ``paths`` name works, with any number of scale points per item.
    n_firms : int
        Number of firms. When ``clusters`` sums to a different number, its sizes are used as
        proportions (see :func:`allocate_clusters`).
    clusters : mapping of str to int, optional
        Cluster names and sizes (default :data:`SUZHOU_CLUSTERS`, 8 clusters, 320 firms).
    seed : int
        Seed of everything random; the shipped data use :data:`SEED`.
    missing_rate : float
        Expected share of answers missing (at random given firm size).
    paths : mapping, optional
        ``{(outcome, predictor): coefficient}`` among constructs (default :data:`BOOK_PATHS`).
        Constructs never on the left are exogenous.
    exogenous_correlations : mapping, optional
        Within-cluster correlations of exogenous constructs (default: the pairs of
        :data:`EXOGENOUS_CORRELATIONS` among the model's exogenous constructs; pairs not named
        are uncorrelated).
    residual_variances : mapping, optional
        Disturbance variance of each endogenous construct (default :data:`RESIDUAL_VARIANCES`,
        0.5 for others).
    cluster_sd : float or mapping
        SD of the cluster random intercepts, one for all constructs or one per construct.
    covariate_effects : mapping, optional
        Effects of the covariates on ``outcome`` (default :data:`COVARIATE_EFFECTS`).
    outcome : str
        The construct the covariates act on.

    Returns
    -------
    data : pandas.DataFrame
        One row per firm: id, cluster, covariates, then the items (``float64``, answers
        ``1..k`` as recorded, reverse-keyed items reversed, NaN for missing).
    truth : pandas.DataFrame
        The generating values in the shape of a lavaan parameter table: columns ``lhs, op, rhs,
        level, cluster, label, value``. ``=~`` loadings, ``~`` paths, ``~1`` intercepts, ``~~``
        (co)variances, ``|`` thresholds (``rhs`` ``t1``, ``t2``...) at level ``within``; the
        cluster-intercept variances (level ``cluster``, labels ``v_cl_<construct>``), their SDs
        as ``:=`` rows ``sd_cl_<construct>``, the drawn cluster intercepts (``~1`` rows naming
        their cluster), and the indirect and total effects as ``:=`` rows.

    Examples
    --------
    >>> data, truth = simulate_cluster_survey(n_firms=60, seed=1)
    >>> data.shape
    (60, 75)
    >>> truth.query("op == '~' and lhs == 'IG' and rhs == 'KR'")["value"].item()
    0.4
    """
    if schema is None:
        from bayes_rent.data.survey.schema import book_schema

        schema = book_schema()
    if schema.cluster is None:
        raise ValueError("the questionnaire map has no cluster column to simulate")
    if not 0 <= missing_rate < 1:
        raise ValueError(f"missing_rate must be in [0, 1), got {missing_rate}")
    paths = dict(BOOK_PATHS if paths is None else paths)
    residuals = dict(RESIDUAL_VARIANCES if residual_variances is None else residual_variances)
    effects = dict(COVARIATE_EFFECTS if covariate_effects is None else covariate_effects)
    sizes = allocate_clusters(SUZHOU_CLUSTERS if clusters is None else clusters, n_firms)
    order, exogenous, correlations = _structure(schema, paths, exogenous_correlations, outcome)
    phi = _exogenous_correlation_matrix(exogenous, correlations)
    cluster_sds = {
        c.id: float(cluster_sd[c.id] if isinstance(cluster_sd, Mapping) else cluster_sd)
        for c in schema.constructs
    }

    param_rng, data_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    measurement = _draw_measurement(schema, param_rng)

    # ---- firms and clusters
    names = list(sizes)
    cluster_of = np.repeat(np.arange(len(names)), [sizes[n] for n in names])
    n = int(cluster_of.size)
    frame = pd.DataFrame(
        {
            schema.respondent_id: [f"F{i + 1:03d}" for i in range(n)],
            schema.cluster: pd.Series([names[c] for c in cluster_of], dtype="str"),
        }
    )
    covariates = _draw_covariates(names, cluster_of, data_rng)
    for cov in schema.covariates:
        frame[cov.id] = covariates[cov.id]
    intercept, covariate_term, used_effects = _covariate_term(schema, effects, covariates, n)

    # ---- latent constructs
    u = {c: data_rng.normal(0.0, cluster_sds[c], len(names)) for c in cluster_sds}
    scores: dict[str, np.ndarray] = {}
    within = data_rng.multivariate_normal(np.zeros(len(exogenous)), phi, size=n, method="cholesky")
    for j, c in enumerate(exogenous):
        scores[c] = u[c][cluster_of] + within[:, j]
    for c in order:
        if c in exogenous:
            continue
        value = u[c][cluster_of] + data_rng.normal(0.0, np.sqrt(residuals.get(c, 0.5)), n)
        for (lhs, rhs), beta in paths.items():
            if lhs == c:
                value = value + beta * scores[rhs]
        if c == outcome and used_effects:
            value = value + intercept + covariate_term
        scores[c] = value

    answers = _draw_answers(schema, measurement, scores, n, data_rng)
    # Missing at random: the chance depends only on the (observed) size band of the firm.
    if "firm_size" in covariates:
        weight = _MISSING_WEIGHT_BY_SIZE[covariates["firm_size"].astype(int) - 1]
    else:
        weight = np.ones(n)
    chance = np.clip(missing_rate * weight / weight.mean(), 0, 1)
    for item in schema.items:
        gone = data_rng.random(n) < chance
        column = answers[item.id]
        column[gone] = np.nan
        frame[item.id] = column

    truth = _truth_table(
        schema,
        measurement,
        paths,
        exogenous,
        phi,
        residuals,
        cluster_sds,
        names,
        u,
        used_effects,
        intercept,
        outcome,
    )
    return frame, truth


def _structure(
    schema: SurveySchema,
    paths: Mapping[tuple[str, str], float],
    exogenous_correlations: Mapping[tuple[str, str], float] | None,
    outcome: str,
) -> tuple[list[str], list[str], dict[tuple[str, str], float]]:
    """Check the model against the map; the causal order, the exogenous constructs and their
    correlations (the book's among them by default)."""
    construct_ids = [c.id for c in schema.constructs]
    correlations = dict(exogenous_correlations or {})
    named = {name for pair in paths for name in pair} | {n for p in correlations for n in p}
    unknown = sorted(named - set(construct_ids))
    if unknown:
        raise ValueError(
            f"the paths name constructs the questionnaire map does not have: {unknown}; "
            f"its constructs are {construct_ids}"
        )
    order = _causal_order(construct_ids, paths)
    endogenous = {lhs for lhs, _ in paths}
    exogenous = [c for c in order if c not in endogenous]
    if exogenous_correlations is None:  # the book's, for those of its constructs in the model
        correlations = {
            pair: r
            for pair, r in EXOGENOUS_CORRELATIONS.items()
            if pair[0] in exogenous and pair[1] in exogenous
        }
    known_covariates = set(_COVARIATE_CENTRES) | {"industry"}
    odd = [cov.id for cov in schema.covariates if cov.id not in known_covariates]
    if odd:
        raise ValueError(f"cannot simulate covariates {odd}; known are {sorted(known_covariates)}")
    if schema.covariates and outcome not in construct_ids:
        raise ValueError(f"outcome {outcome!r} is not a construct of the map")
    return order, exogenous, correlations


def _exogenous_correlation_matrix(
    exogenous: list[str], correlations: Mapping[tuple[str, str], float]
) -> np.ndarray:
    """``Phi``: unit diagonal, the given correlations; it must be positive definite."""
    phi = np.eye(len(exogenous))
    for (x, y), r in correlations.items():
        if x in exogenous and y in exogenous:
            i, j = exogenous.index(x), exogenous.index(y)
            phi[i, j] = phi[j, i] = r
    if np.linalg.eigvalsh(phi).min() <= 0:
        raise ValueError("the exogenous correlations do not form a positive definite matrix")
    return phi


def _covariate_term(
    schema: SurveySchema,
    effects: Mapping[str, float],
    covariates: Mapping[str, np.ndarray],
    n: int,
) -> tuple[float, np.ndarray, dict[str, float]]:
    """The outcome's intercept (centring), covariate term and the effects that apply."""
    intercept = 0.0
    covariate_term = np.zeros(n)
    used_effects: dict[str, float] = {}
    if schema.covariates:
        present = {cov.id for cov in schema.covariates}
        for name, effect in effects.items():
            column = _effect_column(name, covariates, present)
            if column is None:
                continue
            used_effects[name] = effect
            covariate_term += effect * column
            intercept -= effect * _COVARIATE_CENTRES.get(name, 0.0)
    return intercept, covariate_term, used_effects


def _draw_answers(
    schema: SurveySchema,
    measurement: Mapping[str, Mapping[str, object]],
    scores: Mapping[str, np.ndarray],
    n: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Dimensions, latent responses and recorded answers (``float``) of every item."""
    answers: dict[str, np.ndarray] = {}
    for construct in schema.constructs:
        if construct.dimensions:
            factors = {}
            for dim in construct.dimensions:
                g = measurement["second"][dim.id]
                factors[dim.id] = g * scores[construct.id] + rng.normal(
                    0.0, np.sqrt(1 - g * g), n
                )
            groups = [(factors[d.id], d.items) for d in construct.dimensions]
        else:
            groups = [(scores[construct.id], construct.direct_items)]
        for factor, items in groups:
            for item in items:
                lam = measurement["loading"][item.id]
                latent = lam * factor + rng.normal(0.0, np.sqrt(1 - lam * lam), n)
                cuts = measurement["thresholds"][item.id]
                category = 1 + (latent[:, None] > cuts[None, :]).sum(axis=1)
                if item.reverse:
                    category = item.scale_points + 1 - category
                answers[item.id] = category.astype(float)
    return answers


def _causal_order(constructs: list[str], paths: Mapping[tuple[str, str], float]) -> list[str]:
    graph: dict[str, set[str]] = {c: set() for c in constructs}
    for lhs, rhs in paths:
        graph[lhs].add(rhs)
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as err:
        raise ValueError(f"the structural paths form a cycle: {err.args[1]}") from err


def _draw_measurement(schema: SurveySchema, rng: np.random.Generator) -> dict[str, dict]:
    second = {}
    loading = {}
    thresholds = {}
    for construct in schema.constructs:
        for dim in construct.dimensions:
            second[dim.id] = round(float(rng.uniform(0.70, 0.90)), 2)
    for item in schema.items:
        loading[item.id] = round(float(rng.uniform(0.65, 0.85)), 2)
        shift = rng.normal(0.0, 0.15)
        thresholds[item.id] = np.round(base_thresholds(item.scale_points) + shift, 2)
    return {"second": second, "loading": loading, "thresholds": thresholds}


def _draw_covariates(
    names: list[str], cluster_of: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    n = cluster_of.size
    industry = np.empty(n, dtype=object)
    for c, name in enumerate(names):
        main = CLUSTER_INDUSTRY.get(name)
        members = np.flatnonzero(cluster_of == c)
        if main is None:  # a cluster the table does not know: industries at random
            industry[members] = rng.choice(INDUSTRIES, members.size)
            continue
        others = [x for x in INDUSTRIES if x != main]
        stray = rng.random(members.size) > _MAIN_INDUSTRY_SHARE
        industry[members] = main
        industry[members[stray]] = rng.choice(others, int(stray.sum()))
    size = np.empty(n)
    age = np.empty(n)
    export = np.empty(n)
    for i, ind in enumerate(industry):
        size[i] = 1 + rng.choice(4, p=_SIZE_BANDS[ind])
        age[i] = np.clip(np.round(rng.gamma(3.0, 4.0) + 2 + _AGE_OFFSET.get(ind, 0.0)), 1, 60)
        mean = _EXPORT_MEAN[ind]
        export[i] = np.round(100 * rng.beta(4 * mean, 4 * (1 - mean)))
    return {
        "industry": pd.Series(industry, dtype="str").to_numpy(),
        "firm_size": size,
        "firm_age": age,
        "export_share": export,
    }


def _effect_column(
    name: str, covariates: Mapping[str, np.ndarray], present: set[str]
) -> np.ndarray | None:
    if name.startswith("industry_"):
        if "industry" not in present:
            return None
        return (covariates["industry"] == name.removeprefix("industry_")).astype(float)
    if name not in present:
        return None
    return np.asarray(covariates[name], dtype=float)


def _truth_table(
    schema: SurveySchema,
    measurement: dict[str, dict],
    paths: Mapping[tuple[str, str], float],
    exogenous: list[str],
    phi: np.ndarray,
    residuals: Mapping[str, float],
    cluster_sds: Mapping[str, float],
    cluster_names: list[str],
    u: Mapping[str, np.ndarray],
    effects: Mapping[str, float],
    intercept: float,
    outcome: str,
) -> pd.DataFrame:
    rows: list[tuple] = []

    def add(lhs, op, rhs, value, level="within", cluster="", label=""):
        rows.append((lhs, op, rhs, level, cluster, label, float(value)))

    for construct in schema.constructs:
        for dim in construct.dimensions:
            add(construct.id, "=~", dim.id, measurement["second"][dim.id])
    for construct in schema.constructs:
        groups = [(d.id, d.items) for d in construct.dimensions] or [
            (construct.id, construct.direct_items)
        ]
        for factor, items in groups:
            for item in items:
                add(factor, "=~", item.id, measurement["loading"][item.id])

    labels = _path_labels(paths)
    for (lhs, rhs), beta in paths.items():
        add(lhs, "~", rhs, beta, label=labels[(lhs, rhs)])
    for name, effect in effects.items():
        add(outcome, "~", name, effect, label=f"g_{name}")
    if effects:
        add(outcome, "~1", "", round(intercept, 10))

    for i, x in enumerate(exogenous):
        for j in range(i, len(exogenous)):
            add(x, "~~", exogenous[j], phi[i, j])
    for lhs in dict.fromkeys(lhs for lhs, _ in paths):
        add(lhs, "~~", lhs, residuals.get(lhs, 0.5))
    for dim in schema.dimensions:
        g = measurement["second"][dim.id]
        add(dim.id, "~~", dim.id, round(1 - g * g, 10))
    for item in schema.items:
        lam = measurement["loading"][item.id]
        add(item.id, "~~", item.id, round(1 - lam * lam, 10))
    for item in schema.items:
        for t, tau in enumerate(measurement["thresholds"][item.id], start=1):
            add(item.id, "|", f"t{t}", tau)

    for construct in schema.constructs:
        c = construct.id
        sd = cluster_sds[c]
        add(c, "~~", c, round(sd * sd, 10), level="cluster", label=f"v_cl_{c.lower()}")
    for construct in schema.constructs:
        c = construct.id
        sd = cluster_sds[c]
        add(f"sd_cl_{c.lower()}", ":=", f"sqrt(v_cl_{c.lower()})", sd, level="cluster")
    for construct in schema.constructs:
        for k, name in enumerate(cluster_names):
            add(construct.id, "~1", "", u[construct.id][k], level="cluster", cluster=name)

    for name, expression, value in _effects(paths, labels):
        add(name, ":=", expression, value)
    return pd.DataFrame(rows, columns=_TRUTH_COLUMNS)


def _path_labels(paths: Mapping[tuple[str, str], float]) -> dict[tuple[str, str], str]:
    """Labels as in ``models/full_model.lav``: a_x (x -> mediator), b, c_x (x -> outcome)."""
    mediators = {rhs for _, rhs in paths} & {lhs for lhs, _ in paths}
    labels = {}
    for lhs, rhs in paths:
        if rhs in mediators:
            labels[(lhs, rhs)] = "b" if len(mediators) == 1 else f"b_{rhs.lower()}"
        elif lhs in mediators:
            labels[(lhs, rhs)] = f"a_{rhs.lower()}"
        else:
            labels[(lhs, rhs)] = f"c_{rhs.lower()}"
    return labels


def _effects(
    paths: Mapping[tuple[str, str], float], labels: Mapping[tuple[str, str], str]
) -> list[tuple[str, str, float]]:
    """Indirect (x -> m -> y) and total effects, for every single-mediator chain."""
    out = []
    for (m, x), a in paths.items():
        for (y, m2), b in paths.items():
            if m2 != m:
                continue
            name = x.lower()
            a_label, b_label = labels[(m, x)], labels[(y, m)]
            out.append((f"ind_{name}", f"{a_label}*{b_label}", round(a * b, 10)))
            if (y, x) in paths:
                c_label = labels[(y, x)]
                out.append(
                    (
                        f"total_{name}",
                        f"{c_label} + {a_label}*{b_label}",
                        round(paths[(y, x)] + a * b, 10),
                    )
                )
    return out
