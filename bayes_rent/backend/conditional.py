"""The conditional backend: latent scores sampled per respondent, ordinal items by ordered probit.

Every respondent i gets latent scores η_i. Given them, the answers are independent:

* an ordinal item j with categories 0..K−1 and thresholds τ_1 < … < τ_{K−1} answers k with
  probability ``Φ((τ_{k+1} − μ_ij)/σ_j) − Φ((τ_k − μ_ij)/σ_j)`` (τ_0 = −∞, τ_K = +∞), where
  ``μ_ij = ν_j + Λ_j η_i``; in the theta parameterization ν_j = 0 and σ_j² = θ_jj = 1;
* a continuous item is normal, ``N(μ_ij, θ_jj)``.

Only the observed category's probit interval is evaluated (not the whole category vector), which
is several times faster than a general ordered-probit distribution. Missing answers drop out of
the product (MAR): they carry weight 0.

The scores follow the structural model, centred: ``ζ_i = (I − B) η_i − α ~ N(0, Ψ)``. An
observed variable in the structural part (a phantom latent) has its data as its score, so its
regression and its variance enter through the same density.

Starting every chain near the answer is what keeps the chains out of spurious wrong-sign modes
(:func:`bayes_rent.backend.start.conditional_start`).

The sampler's coordinates differ from the model's parameters where a ridge would slow it; each
map has its Jacobian in the model, so the posterior is the one written above: scores in units
of their SD, thresholds per unit of the latent response's SD (:func:`_add_thresholds`),
ordered outward from each item's best-determined cut point (:func:`threshold_anchors`) and
measured from the scores' mean (``thresholds_from_mean_score`` of :func:`build_model`), and
each factor's first loading on the log scale under ``std_lv`` (:func:`positive_loadings`).
The measurements behind them are in ``bench/README.md``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from bayes_rent.backend.parameters import PriorGroup, element_vector
from bayes_rent.backend.respondent_loglik import respondent_loglik_diagnostics
from bayes_rent.data.observed import DataError
from bayes_rent.spec.identification import sign_loading_rows
from bayes_rent.spec.implied import implied_from_matrices, implied_moments
from bayes_rent.spec.layout import Layout
from bayes_rent.spec.priors import prior_distribution

#: Stand-in for ±∞ at the open ends of the first and last category. Finite, so gradients stay
#: finite; far enough out that Φ there is 0 or 1 to double precision.
_OPEN_END = 1e3

def log_probit_interval(lower, upper):
    """log(Φ(upper) − Φ(lower)) for lower < upper, in PyTensor.

    An interval in the upper tail is reflected (Φ(b) − Φ(a) = Φ(−a) − Φ(−b)), so the difference
    is always taken between two CDF values below one half, where ``erfc`` keeps full relative
    precision down to about −37 SD (beyond that the probability is below 1e-300). One
    logarithm of a difference of two ``erfc`` costs a third of the log-CDF route
    (``log Φ(b) + log1mexp(log Φ(a) − log Φ(b))``, measured in bench/README.md), and ``erfc``,
    unlike ``erfcx``, has a JAX implementation, so numpyro can run the model too.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import norm
    >>> lo, hi = np.array([-1e3, -0.5, 6.0]), np.array([-30.0, 0.5, 1e3])
    >>> got = log_probit_interval(pt.as_tensor(lo), pt.as_tensor(hi)).eval()
    >>> ref = np.log(norm.sf(-hi) - norm.sf(-lo))  # lower tail: Φ(x) = sf(−x)
    >>> bool(np.allclose(got[:2], ref[:2], rtol=1e-12)), bool(np.isclose(got[2], norm.logsf(6.0)))
    (True, True)
    """
    flip = (lower + upper) > 0
    a = pt.switch(flip, -upper, lower)
    b = pt.switch(flip, -lower, upper)
    return pt.log(0.5 * (pt.erfc(-b / np.sqrt(2.0)) - pt.erfc(-a / np.sqrt(2.0))))


@dataclass
class Responses:
    """The answers, arranged for the conditional likelihood.

    Attributes
    ----------
    respondents : pandas.Index
        The data rows kept (respondents with at least one answer).
    ordinal_items, continuous_items : list of str
        Items by type, each in model order.
    categories : dict
        Ordinal item → its answer values in ascending order; code k is the k-th of them.
    codes : numpy.ndarray
        ``(N, n_ordinal)`` category codes, 0 where the answer is missing.
    answered : numpy.ndarray
        ``(N, n_ordinal)`` 1.0 where answered, 0.0 where missing.
    values : numpy.ndarray
        ``(N, n_continuous)`` continuous answers, 0 where missing.
    present : numpy.ndarray
        ``(N, n_continuous)`` 1.0 where answered.
    phantom_values : numpy.ndarray
        ``(N, n_phantom)`` the data of observed variables in the structural part.
    """

    respondents: pd.Index
    ordinal_items: list[str]
    continuous_items: list[str]
    categories: dict[str, np.ndarray]
    codes: np.ndarray
    answered: np.ndarray
    values: np.ndarray
    present: np.ndarray
    phantom_values: np.ndarray

    def as_data(self) -> dict[str, np.ndarray]:
        """Values of the model's ``pm.Data``, by name (only the kinds of answer there are)."""
        data = {
            "codes": self.codes, "answered": self.answered, "values": self.values,
            "present": self.present, "phantom_values": self.phantom_values,
        }
        return {name: value for name, value in data.items() if value.shape[1]}


def ordinal_categories(data: pd.DataFrame, items: list[str]) -> dict[str, np.ndarray]:
    """The answer values of each ordinal item, ascending (categories nobody chose are absent).

    As lavaan does, an item has as many thresholds as observed categories less one, so a
    category nobody chose leaves no threshold without data.

    Examples
    --------
    >>> ordinal_categories(pd.DataFrame({"q1": [1, 2, 2, 5, None]}), ["q1"])
    {'q1': array([1., 2., 5.])}
    """
    out = {}
    for item in items:
        cats = np.unique(data[item].dropna().to_numpy(dtype=float))
        if len(cats) < 2:
            raise DataError(f"ordinal item '{item}' has fewer than two observed categories")
        out[item] = cats
    return out


def arrange_responses(
    data: pd.DataFrame, layout: Layout, categories: dict[str, np.ndarray]
) -> Responses:
    """Split the data into ordinal codes, continuous values and phantom scores.

    Parameters
    ----------
    data : pandas.DataFrame
        Checked data with the model's observed variables.
    layout : Layout
        Placement of the parameter-table rows.
    categories : dict
        From :func:`ordinal_categories`.

    Raises
    ------
    bayes_rent.data.observed.DataError
        When an observed variable of the structural part has missing values (its value is its
        latent score in this backend).
    """
    items = [v for v in layout.observed if v not in layout.latent]
    kept = data.loc[data[items].notna().any(axis=1)]
    ordinal = [v for v in items if v in categories]
    continuous = [v for v in items if v not in categories]
    codes = np.zeros((len(kept), len(ordinal)), dtype=int)
    for j, item in enumerate(ordinal):
        col = kept[item].to_numpy(dtype=float)
        seen = ~np.isnan(col)
        codes[seen, j] = np.searchsorted(categories[item], col[seen])
    phantoms = [v for v, ph in zip(layout.latent, layout.phantom, strict=True) if ph]
    gaps = [v for v in phantoms if kept[v].isna().any()]
    if gaps:
        raise DataError(
            f"{', '.join(gaps)}: missing values in an observed variable of the structural part "
            "are not supported with ordinal items; rows "
            f"{kept.index[kept[gaps].isna().any(axis=1)].tolist()[:10]}"
        )
    cont = kept[continuous].to_numpy(dtype=float)
    return Responses(
        respondents=kept.index,
        ordinal_items=ordinal,
        continuous_items=continuous,
        categories=categories,
        codes=codes,
        answered=kept[ordinal].notna().to_numpy(dtype=float),
        values=np.nan_to_num(cont),
        present=(~np.isnan(cont)).astype(float),
        phantom_values=kept[phantoms].to_numpy(dtype=float),
    )


def check_supported(layout: Layout) -> None:
    """Raise for model features the conditional backend does not handle.

    Residual covariances between items would couple the items given the scores, and a latent
    without a (residual) variance has no density for its scores.
    """
    pt_rows = layout.partable
    theta_cov = pt_rows[
        (pt_rows["op"] == "~~") & (pt_rows["lhs"] != pt_rows["rhs"])
        & pt_rows["lhs"].isin(layout.observed) & ~pt_rows["lhs"].isin(layout.latent)
        & (pt_rows["free"] | (pt_rows["value"] != 0))
    ]
    if len(theta_cov):
        r = theta_cov.iloc[0]
        raise NotImplementedError(
            f"'{r.lhs} ~~ {r.rhs}': residual covariances between items are not supported with "
            "ordinal items; model the shared variance with a latent variable instead"
        )


def _structure_is_cyclic(layout: Layout) -> bool:
    """Whether the directed graph of B (nonzero or free cells) has a cycle (a feedback loop)."""
    b = np.zeros((layout.n_latent,) * 2, dtype=bool)
    pt_rows = layout.partable.set_index("id")
    for rid, name, i, j in layout.cells:
        if name == "B" and (pt_rows.at[rid, "free"] or pt_rows.at[rid, "value"] != 0):
            b[i, j] = True
    reach = b.copy()
    for _ in range(layout.n_latent):
        reach = reach | (reach.astype(int) @ b.astype(int) > 0)
    return bool(np.diag(reach).any())


def _segments(layout: Layout, group: PriorGroup) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each threshold of a group sits: its item, whether it opens the item, and the
    position of the item's first threshold in the group's vector."""
    pt_rows = layout.partable.set_index("id")
    obs = {v: k for k, v in enumerate(layout.observed)}
    items = np.array([obs[pt_rows.at[layout.elements[k].rows[0], "lhs"]] for k in group.elements])
    first = np.r_[True, items[1:] != items[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(items)), 0))
    return items, first, start


def threshold_anchors(layout: Layout, group: PriorGroup, responses: Responses) -> np.ndarray:
    """Each threshold's anchor: the position, in the group's vector, of its item's threshold
    that splits the item's answers most evenly.

    That cut point is the one the answers determine best; the item's other thresholds are
    sampled as log-distances outward from it (:func:`_thresholds_from_raw`).

    Examples
    --------
    >>> from bayes_rent.spec.layout import build_layout
    >>> from bayes_rent.spec.partable import build_partable
    >>> from bayes_rent.backend.parameters import prior_groups
    >>> d = pd.DataFrame({"y1": [1, 2, 3, 3, 3, 3], "y2": [1, 1, 1, 1, 2, 3],
    ...                   "y3": [1, 1, 1, 2, 3, 3]})
    >>> cats = ordinal_categories(d, ["y1", "y2", "y3"])
    >>> ordered = {item: len(c) - 1 for item, c in cats.items()}
    >>> lay = build_layout(build_partable("f =~ y1 + y2 + y3", ordered=ordered))
    >>> g = [g for g in prior_groups(lay, None) if g.kind == "threshold"][0]
    >>> threshold_anchors(lay, g, arrange_responses(d, lay, cats)).tolist()
    [1, 1, 2, 2, 4, 4]
    """
    pt_rows = layout.partable.set_index("id")
    items, first, start = _segments(layout, group)
    column = {v: j for j, v in enumerate(responses.ordinal_items)}
    anchor = np.empty(len(items), dtype=int)
    for s in np.flatnonzero(first):
        ks = np.flatnonzero(start == s)
        j = column[layout.observed[items[s]]]
        answered = responses.answered[:, j] > 0
        codes = responses.codes[answered, j]
        cuts = [int(pt_rows.at[layout.elements[group.elements[k]].rows[0], "rhs"][1:])
                for k in ks]
        # the share of answers below each cut point: code c lies below cut c + 1
        below = np.array([np.mean(codes < c) for c in cuts])
        anchor[ks] = ks[np.argmin(np.abs(below - 0.5))]
    return anchor


def _thresholds_from_raw(raw, anchor: np.ndarray):
    """Ordered thresholds per item from an unconstrained vector, and the log-Jacobian.

    An item's anchor threshold is the raw value; the thresholds above it add ``exp(raw)`` one
    by one, those below it subtract (PyMC's ordered transform, started at the anchor instead
    of the lowest threshold and applied item by item along one flat vector, so items with
    different numbers of categories share it). Started at the lowest threshold, a cut point
    with a handful of answers below it (a skewed item's first category) would carry every
    other threshold of its item along a curved ridge; from the anchor it moves alone.
    """
    at_anchor = anchor == np.arange(len(anchor))
    below = np.arange(len(anchor)) < anchor
    steps = pt.switch(at_anchor, 0.0, pt.exp(raw))
    total = pt.cumsum(steps)
    # above the anchor: the steps after it; below: the steps from this one up to it
    tau = raw[anchor] + total - total[anchor] - pt.switch(below, steps, 0.0)
    return tau, pt.switch(at_anchor, 0.0, raw).sum()


def _thresholds_to_raw(tau: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_thresholds_from_raw` (numpy)."""
    k = np.arange(len(anchor))
    gap_up = np.diff(tau, prepend=np.nan)  # τ_k − τ_{k−1}: a step above the anchor
    gap_down = np.diff(tau, append=np.nan)  # τ_{k+1} − τ_k: a step below it
    gap = np.where(k > anchor, gap_up, gap_down)
    return np.where(k == anchor, tau, np.log(np.maximum(np.nan_to_num(gap, nan=1.0), 1e-6)))


def _add_thresholds(layout: Layout, group: PriorGroup, response_sd, elements,
                    anchor: np.ndarray, shift=None):
    """The thresholds of one prior group as a reparameterization, with their prior.

    In the theta parameterization an item's thresholds move with the SD of its latent
    response, ``s_j = sqrt(Var(y*_j))``, which grows with the loadings: sampled directly, every
    loading is tied to its item's thresholds in a curved ridge that a diagonal mass matrix
    cannot follow. The sampler works on ``τ̃ = τ / s_j`` instead (ordered within each item
    through an unconstrained vector ``<name>_raw``, from each item's ``anchor``: see
    :func:`threshold_anchors`). The model is unchanged: the prior stays on τ, and the
    Jacobian of (λ, ψ, τ̃) → (λ, ψ, τ) is ``s_j`` per threshold.

    ``shift`` (per observed variable; see :func:`build_model`) is added to every threshold
    of the item: it depends on other variables only, so it leaves the Jacobian as it is.
    """
    items, _, _ = _segments(layout, group)
    at_anchor = anchor == np.arange(len(anchor))
    raw = pm.Flat(group.name + "_raw", dims=group.dim, initval=np.where(at_anchor, 0.0, -0.5))
    standardized, log_jacobian = _thresholds_from_raw(raw, anchor)
    scale = response_sd[items]
    tau = standardized * scale
    if shift is not None:
        tau = tau + shift[items]
    tau = pm.Deterministic(group.name, tau, dims=group.dim)
    prior = pm.logp(pm.Normal.dist(*group.spec.args), tau).sum()
    pm.Potential(group.name + "_prior", prior + log_jacobian + pt.log(scale).sum())
    return pt.set_subtensor(elements[np.array(group.elements)], tau)


def positive_loadings(layout: Layout) -> np.ndarray:
    """Elements held positive: the first loading of every factor whose sign the model leaves free.

    Under ``std_lv`` a factor and its scores can change sign together without changing the
    likelihood. The marginal backend integrates the scores out and aligns signs after sampling;
    here every respondent's scores would flip with the factor, so a chain that strayed into the
    mirror mode could not come back, and chains in opposite modes never mix. The first loading
    is therefore sampled on the log scale, which keeps each factor in the mode blavaan's sign
    rule reports.
    """
    rows = sign_loading_rows(layout.partable)
    return np.array(sorted({layout.row_element[r] for r in rows}), dtype=int)


def _add_positive_loadings(group: PriorGroup, positive: np.ndarray):
    """A loading vector whose elements in ``positive`` are sampled on the log scale.

    The prior stays on the loadings themselves (truncated at 0 for the positive ones); the
    Jacobian of ``λ = exp(raw)`` is ``raw``.
    """
    mask = np.isin(group.elements, positive)
    raw = pm.Flat(group.name + "_raw", dims=group.dim, initval=np.where(mask, 0.0, 0.5))
    values = pt.switch(mask, pt.exp(raw), raw)
    loadings = pm.Deterministic(group.name, values, dims=group.dim)
    prior = pm.logp(prior_distribution(group.spec), loadings).sum()
    pm.Potential(group.name + "_prior", prior + raw[np.flatnonzero(mask)].sum())
    return loadings


def sampled_point(
    layout: Layout, groups: list[PriorGroup], elements: np.ndarray, point: dict,
    scores: np.ndarray, responses: Responses, thresholds_from_mean_score: bool = True,
) -> dict:
    """A starting point on the scales the model samples: standardized thresholds and scores.

    Parameters
    ----------
    layout : Layout
        Placement of the parameter-table rows.
    groups : list of PriorGroup
        The model's sampled vectors.
    elements : numpy.ndarray
        The element values the point was made from (for the SDs).
    point : dict
        Starting values by variable, thresholds as one vector per prior group.
    scores : numpy.ndarray
        ``(N, n_real_latent)`` starting latent scores.
    responses : Responses
        The answers (they choose each item's anchor threshold: :func:`threshold_anchors`).
    thresholds_from_mean_score : bool
        As for :func:`build_model`.
    """
    sigma, _ = implied_moments(layout, elements)
    shift = np.zeros(layout.n_observed)
    if thresholds_from_mean_score:
        lam = layout.matrices(layout.row_values(elements))["Lambda"]
        shift = lam[:, ~layout.phantom] @ scores.mean(axis=0)
    scale = np.sqrt(np.diag(sigma))
    latent_cov = implied_from_matrices(layout.matrices(layout.row_values(elements))).latent_cov
    score_sd = np.sqrt(np.diag(latent_cov))[~layout.phantom]
    out = dict(point)
    positive = positive_loadings(layout)
    for g in groups:
        if g.kind == "threshold":
            items, _, _ = _segments(layout, g)
            tau = out.pop(g.name) - shift[items]
            out[g.name + "_raw"] = _thresholds_to_raw(tau / scale[items],
                                                      threshold_anchors(layout, g, responses))
        elif (mask := np.isin(g.elements, positive)).any():
            x = out.pop(g.name)
            out[g.name + "_raw"] = np.where(mask, np.log(np.maximum(x, 1e-3)), x)
    out["latent_scores_standardized"] = scores / score_sd[None, :]
    return out


def build_model(
    layout: Layout, groups: list[PriorGroup], responses: Responses,
    thresholds_from_mean_score: bool = True,
) -> pm.Model:
    """Build the PyMC model of the conditional backend.

    Parameters
    ----------
    layout : Layout
        Placement of the parameter-table rows (with threshold elements for ordinal items).
    groups : list of PriorGroup
        Sampled vectors with their priors (:func:`bayes_rent.backend.marginal.prior_groups`).
    responses : Responses
        The answers (:func:`arrange_responses`).
    thresholds_from_mean_score : bool
        Sample each ordinal item's thresholds relative to its mean over the respondents'
        scores, τ_j = τ'_j + λ_jᵀ η̄. Shifting every score by c and every threshold by λ c
        leaves the likelihood unchanged, so τ and the N scores' mean lie on a ridge that only
        the scores' prior holds, and no diagonal mass matrix follows a direction through N
        scores and the thresholds at once. The map (τ', η) → (τ, η) is a shear with unit
        Jacobian: the same posterior, in coordinates where the likelihood sees τ' and the
        scores' deviations from their mean. False samples τ' = τ (the model as written).

    Returns
    -------
    pymc.Model
        The parameters as in the marginal backend; ``thresholds`` (dim ``threshold``, named
        ``item|t1``, ...; sampled as ``thresholds_raw``) and ``latent_scores`` (dims
        ``(respondent, construct)``; sampled as ``latent_scores_standardized``) as
        deterministics; the answers are ``pm.Data``.
    """
    check_supported(layout)
    pt_rows = layout.partable.set_index("id")
    real = np.flatnonzero(~layout.phantom)
    phantom = np.flatnonzero(layout.phantom)
    coords: dict[str, list] = {}
    for g in groups:
        coords[g.dim] = [layout.elements[k].name for k in g.elements]
    coords["respondent"] = list(responses.respondents)
    coords["construct"] = [layout.latent[k] for k in real]

    obs_pos = {v: k for k, v in enumerate(layout.observed)}
    ord_pos = np.array([obs_pos[v] for v in responses.ordinal_items], dtype=int)
    cont_pos = np.array([obs_pos[v] for v in responses.continuous_items], dtype=int)
    # where each threshold element goes in the (item, cut) table of cut points
    ord_index = {v: j for j, v in enumerate(responses.ordinal_items)}
    thr_elem, thr_item, thr_cut = [], [], []
    for k in layout.elements_of("threshold"):
        row = layout.elements[k].rows[0]
        thr_elem.append(k)
        thr_item.append(ord_index[pt_rows.at[row, "lhs"]])
        thr_cut.append(int(pt_rows.at[row, "rhs"][1:]))
    fixed_thr = [
        (ord_index[r.lhs], int(r.rhs[1:]), r.value)
        for r in layout.partable.itertuples() if r.op == "|" and not r.free
    ]
    n_cuts = max((len(c) for c in responses.categories.values()), default=1)
    cut_table = np.full((len(ord_pos), n_cuts + 1), _OPEN_END)
    cut_table[:, 0] = -_OPEN_END
    for j, c, v in fixed_thr:
        cut_table[j, c] = v
    cyclic = _structure_is_cyclic(layout)

    with pm.Model(coords=coords) as model:
        data = {name: pm.Data(name, value) for name, value in responses.as_data().items()}
        for g in groups:
            if g.kind == "threshold" and g.spec.family != "normal":
                raise ValueError(
                    f"threshold prior '{g.spec.text}': thresholds take a normal(mean, sd) prior"
                )
        # placeholders: the thresholds are set once the latent responses' SDs exist
        given = {g.name: pt.zeros(len(g.elements)) for g in groups if g.kind == "threshold"}
        positive = positive_loadings(layout)
        for g in groups:
            if g.kind != "threshold" and np.isin(g.elements, positive).any():
                given[g.name] = _add_positive_loadings(g, positive)
        elements = element_vector(groups, given)
        # the matrices do not involve the thresholds, so they can be built first
        mats = layout.matrices(layout.row_values(elements, xp=pt), xp=pt)
        eye = np.eye(layout.n_latent)
        implied = implied_from_matrices(mats, xp=pt)
        cov_eta = implied.latent_cov
        response_sd = pt.sqrt(pt.diagonal(implied.sigma))

        # scores are sampled in units of their SD: a change of a latent variance then
        # rescales every respondent's score with it, instead of having to drag N scores
        # along one by one (the slowest direction of the centred posterior under markers)
        score_sd = pt.sqrt(pt.diagonal(cov_eta))[real]
        raw_scores = pm.Flat("latent_scores_standardized", dims=("respondent", "construct"))
        scores = pm.Deterministic(
            "latent_scores", raw_scores * score_sd[None, :], dims=("respondent", "construct")
        )
        shift = None
        if thresholds_from_mean_score:
            shift = mats["Lambda"][:, real] @ scores.mean(axis=0)
        for g in groups:
            if g.kind == "threshold":
                elements = _add_thresholds(layout, g, response_sd, elements,
                                           threshold_anchors(layout, g, responses), shift)
        n = scores.shape[0]
        eta = pt.zeros((n, layout.n_latent))
        eta = pt.set_subtensor(eta[:, real], scores)
        if len(phantom):
            eta = pt.set_subtensor(eta[:, phantom], data["phantom_values"])
        # centred: the disturbances of the structural equations are N(0, Psi)
        zeta = eta @ (eye - mats["B"]).T - mats["alpha"][None, :]
        # the quadratic form through Ψ⁻¹ (m × m) rather than a triangular solve against all N
        # respondents: a LAPACK call per gradient on an m × N right-hand side was the slowest
        # step of the whole gradient
        chol = pt.linalg.cholesky(mats["Psi"], lower=True, on_error="nan")
        chol_inv = pt.linalg.solve_triangular(chol, eye, lower=True)
        precision = chol_inv.T @ chol_inv
        logdet = 2.0 * pt.log(pt.diagonal(chol)).sum()
        quad = ((zeta @ precision) * zeta).sum()
        latent_ll = -0.5 * (n * (layout.n_latent * np.log(2 * np.pi) + logdet) + quad)
        latent_ll = latent_ll + n * pt.log(score_sd).sum()  # Jacobian of the standardization
        if cyclic:
            # a feedback loop: the map from ζ to η has a Jacobian that depends on B
            latent_ll = latent_ll + n * pt.log(pt.abs(pt.linalg.det(eye - mats["B"])))
        pm.Potential("latent_density", pt.switch(pt.isnan(latent_ll), -np.inf, latent_ll))

        mean = mats["nu"][None, :] + eta @ mats["Lambda"].T
        sd = pt.sqrt(pt.diagonal(mats["Theta"]))
        loglik = 0.0
        if len(ord_pos):
            cuts = pt.as_tensor(cut_table)
            if thr_elem:
                cuts = pt.set_subtensor(
                    cuts[np.array(thr_item), np.array(thr_cut)], elements[np.array(thr_elem)]
                )
            item = np.arange(len(ord_pos))[None, :]
            codes = data["codes"]
            mu_o, sd_o = mean[:, ord_pos], sd[ord_pos][None, :]
            lower = (cuts[item, codes] - mu_o) / sd_o
            upper = (cuts[item, codes + 1] - mu_o) / sd_o
            loglik = loglik + (log_probit_interval(lower, upper) * data["answered"]).sum()
        if len(cont_pos):
            resid = (data["values"] - mean[:, cont_pos]) / sd[cont_pos][None, :]
            dens = -0.5 * (np.log(2 * np.pi) + resid**2) - pt.log(sd[cont_pos])[None, :]
            loglik = loglik + (dens * data["present"]).sum()
        pm.Potential("loglik", loglik)
    return model


def ordinal_pointwise_loglik(fit, n_importance: int = 200) -> xr.DataArray:
    """Per-respondent log-likelihood of a fit with ordinal items, latent scores integrated out.

    The scores the sampler drew are conditional on each respondent's own answers, which makes
    a likelihood conditional on them useless for leave-one-out. The integral over the scores
    is estimated by importance sampling around each respondent's posterior of the scores
    (:func:`bayes_rent.backend.respondent_loglik.respondent_loglik_diagnostics`); a warning
    names the share of respondents whose importance weights are unreliable.
    """
    r = fit.responses
    mats = fit.matrices
    lay = fit.layout
    items = r.ordinal_items + r.continuous_items
    c, d = mats.sizes["chain"], mats.sizes["draw"]

    def flat(a: xr.DataArray, *dims: str) -> np.ndarray:
        ordered = a.transpose("chain", "draw", *dims)
        return ordered.values.reshape((c * d,) + ordered.shape[2:])

    lam = flat(mats["Lambda"].sel(observed=items), "observed", "latent")
    nu = flat(mats["nu"].sel(observed=items), "observed")
    theta = np.diagonal(
        mats["Theta"].sel(observed=items, observed_col=items)
        .transpose("chain", "draw", "observed", "observed_col").values,
        axis1=-2, axis2=-1,
    ).reshape(c * d, -1)
    implied = implied_from_matrices({k: mats[k].values for k in mats.data_vars})
    latent_mean = implied.latent_mean.reshape(c * d, -1)
    latent_cov = implied.latent_cov.reshape((c * d,) + implied.latent_cov.shape[2:])

    n_cuts = max(len(cats) for cats in r.categories.values()) - 1
    thresholds = np.full((c * d, len(items), n_cuts), np.inf)
    rows = fit.partable.loc[fit.partable["op"] == "|"]
    draws = fit.parameter_draws
    for j, item in enumerate(r.ordinal_items):
        ids = rows.loc[rows["lhs"] == item].sort_values("rhs", key=lambda s: s.str[1:].astype(int))
        thresholds[:, j, : len(ids)] = (
            draws.sel(par=ids["id"].to_numpy()).values.reshape(c * d, -1)
        )
    n = len(r.respondents)
    codes = np.full((n, len(items)), -1)
    codes[:, : len(r.ordinal_items)] = np.where(r.answered > 0, r.codes, -1)
    values = np.full((n, len(items)), np.nan)
    values[:, len(r.ordinal_items):] = np.where(r.present > 0, r.values, np.nan)

    scores = fit.idata.posterior["latent_scores"].transpose(
        "chain", "draw", "respondent", "construct"
    ).values.reshape(c * d, n, -1)
    proposal_mean = scores.mean(0)
    centred = scores - proposal_mean
    proposal_cov = np.einsum("sni,snj->nij", centred, centred) / (c * d - 1)

    result = respondent_loglik_diagnostics(
        codes, values, np.arange(len(items)) < len(r.ordinal_items), thresholds, lam, nu,
        theta, latent_mean, latent_cov, phantom=lay.phantom,
        phantom_values=r.phantom_values if lay.phantom.any() else None,
        proposal_mean=proposal_mean, proposal_cov=proposal_cov,
        n_importance=n_importance, seed=fit.settings.get("seed"),
    )
    bad = result.unreliable
    if bad.any():
        warnings.warn(
            f"the importance-sampling estimate of the respondent log-likelihood is unreliable "
            f"for {int(bad.sum())} of {n} respondents (Pareto k > "
            f"{result.pareto_k_threshold:.2f}); LOO for them is uncertain",
            stacklevel=3,
        )
    post = fit.idata.posterior
    return xr.DataArray(
        result.loglik.reshape(c, d, n),
        dims=("chain", "draw", "respondent"),
        coords={"chain": post["chain"].values, "draw": post["draw"].values,
                "respondent": r.respondents.to_numpy()},
        name="y",
    )
