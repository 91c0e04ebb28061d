"""The conditional backend: latent scores sampled per respondent, ordinal items by ordered probit.

Every respondent i gets latent scores η_i. Given them, the answers are independent:

* an ordinal item j with categories 0..K−1 and thresholds τ_1 < … < τ_{K−1} answers k with
  probability ``Φ((τ_{k+1} − μ_ij)/σ_j) − Φ((τ_k − μ_ij)/σ_j)`` (τ_0 = −∞, τ_K = +∞), where
  ``μ_ij = ν_j + Λ_j η_i``; in the theta parameterization ν_j = 0 and σ_j² = θ_jj = 1;
* a continuous item is normal, ``N(μ_ij, θ_jj)``.

Only the observed category's probit interval is evaluated (not the whole category vector), which
is several times faster than a general ordered-probit distribution. Missing answers drop out of
the product (MAR): they carry weight 0.

The scores follow the structural model: ``η_i ~ N(μ_η, Σ_η)`` with ``μ_η = (I − B)⁻¹ α`` and
``Σ_η = (I − B)⁻¹ Ψ (I − B)⁻ᵀ``. An observed variable in the structural part (a phantom
latent) has its data as its score, so its regression and its variance enter through the same
density. A construct without items of its own (a second-order factor) is integrated out of
that density; its scores are drawn from their normal distribution given the others.

Starting every chain near the answer is what keeps the chains out of spurious wrong-sign modes
(:func:`bayes_rent.backend.start.conditional_start`).

The sampler's coordinates differ from the model's parameters where a ridge would slow it; each
map has its Jacobian in the model, so the posterior is the one written above:

* scores in units of their SD, as their mean over the respondents plus zero-sum deviations;
* thresholds per unit of the latent response's SD (:func:`_add_thresholds`), ordered outward
  from each item's best-determined cut point (:func:`threshold_anchors`) and measured from
  the scores' mean (``thresholds_from_mean_score`` of :func:`build_model`);
* loadings per unit of their factor's SD (:func:`_add_loadings`), a second-order loading as
  the Fisher z of its standardized value (:func:`_second_order_from_fisher_z`), and each
  factor's first loading on the log scale under ``std_lv`` (:func:`positive_loadings`).

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
from pymc.distributions.transforms import ZeroSumTransform

from bayes_rent.backend.parameters import PriorGroup, element_vector
from bayes_rent.backend.respondent_loglik import respondent_loglik_diagnostics
from bayes_rent.data.observed import DataError
from bayes_rent.spec.identification import sign_loading_rows
from bayes_rent.spec.implied import implied_from_matrices
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


def measured_latents(layout: Layout) -> np.ndarray:
    """Which latents have items of their own (a loading in ``Lambda``, free or fixed non-zero).

    Phantoms count as measured: their data are their scores. The others (second-order
    factors, constructs defined through other constructs) enter no item's likelihood.

    Examples
    --------
    >>> from bayes_rent.spec.layout import build_layout
    >>> from bayes_rent.spec.partable import build_partable
    >>> lay = build_layout(build_partable("f =~ y1 + y2\\nh =~ y3 + y4\\ng =~ f + h"))
    >>> dict(zip(lay.latent, measured_latents(lay).tolist()))
    {'f': True, 'h': True, 'g': False}
    """
    pt_rows = layout.partable.set_index("id")
    out = layout.phantom.copy()
    for rid, name, _, j in layout.cells:
        if name == "Lambda" and (pt_rows.at[rid, "free"] or pt_rows.at[rid, "value"] != 0):
            out[j] = True
    return out


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


def loading_factors(layout: Layout) -> dict[int, int]:
    """Element → the latent whose SD its loading is sampled in units of.

    Only an item's loading on one factor (a cell of ``Lambda``) qualifies. A label shared by
    loadings on different factors, or a second-order loading (a cell of ``B``, on which the
    factors' SDs themselves depend), keeps its natural scale.

    Examples
    --------
    >>> from bayes_rent.spec.layout import build_layout
    >>> from bayes_rent.spec.partable import build_partable
    >>> lay = build_layout(build_partable("f =~ y1 + y2 + y3\\ng =~ f + y4 + y5"))
    >>> {lay.elements[k].name: lay.latent[j] for k, j in loading_factors(lay).items()}
    {'f=~y2': 'f', 'f=~y3': 'f', 'g=~y4': 'g', 'g=~y5': 'g'}
    """
    cells: dict[int, set] = {}
    for rid, name, _, j in layout.cells:
        if rid in layout.row_element:
            cells.setdefault(layout.row_element[rid], set()).add((name, j))
    out = {}
    for k in layout.elements_of("loading"):
        where = cells.get(k, set())
        if len(where) == 1:
            name, j = next(iter(where))
            if name == "Lambda" and not layout.phantom[j]:
                out[k] = j
    return out


def second_order_loadings(layout: Layout) -> dict[int, tuple[int, int]]:
    """Element → (f, g): a loading of factor f on a higher-order factor g, sampled as the
    Fisher z of its standardized value (:func:`_second_order_from_fisher_z`).

    It qualifies when g is f's only predictor, f keeps a residual variance, g's own SD does
    not come from such a loading, and f does not lead back to g. A loading held positive
    (:func:`positive_loadings`) has its Fisher z sampled on the log scale.

    Examples
    --------
    >>> from bayes_rent.spec.layout import build_layout
    >>> from bayes_rent.spec.partable import build_partable
    >>> text = "f =~ y1 + y2\\nh =~ y3 + y4\\nk =~ y5 + y6\\ng =~ f + h + k"
    >>> lay = build_layout(build_partable(text, std_lv=True))
    >>> {lay.elements[e].name: (lay.latent[f], lay.latent[g])
    ...  for e, (f, g) in second_order_loadings(lay).items()}
    {'g=~f': ('f', 'g'), 'g=~h': ('h', 'g'), 'g=~k': ('k', 'g')}
    """
    pt_rows = layout.partable.set_index("id")
    predictors: dict[int, set] = {}
    cells: dict[int, set] = {}
    for rid, name, i, j in layout.cells:
        if name == "B" and (pt_rows.at[rid, "free"] or pt_rows.at[rid, "value"] != 0):
            predictors.setdefault(i, set()).add(j)
        if rid in layout.row_element:
            cells.setdefault(layout.row_element[rid], set()).add((name, i, j))
    residual = np.zeros(layout.n_latent, dtype=bool)
    for r in layout.partable.itertuples():
        if r.op == "~~" and r.lhs == r.rhs and r.lhs in layout.latent:
            residual[layout.latent.index(r.lhs)] = r.free or r.value > 0

    def downstream(f: int) -> set:
        seen, todo = set(), [f]
        while todo:
            x = todo.pop()
            for i, js in predictors.items():
                if x in js and i not in seen:
                    seen.add(i)
                    todo.append(i)
        return seen

    out = {}
    for k in layout.elements_of("loading"):
        where = cells.get(k, set())
        if len(where) != 1:
            continue
        name, f, g = next(iter(where))
        if (name == "B" and predictors.get(f) == {g} and residual[f]
                and not layout.phantom[[f, g]].any() and g not in downstream(f)):
            out[k] = (f, g)
    outcomes = {f for f, _ in out.values()}
    return {k: (f, g) for k, (f, g) in out.items() if g not in outcomes}


def _second_order_from_fisher_z(slopes: dict[int, tuple[int, int]], latent_sd, psi, elements):
    """Second-order loadings from the Fisher z of their standardized value, with the
    log-Jacobian.

    A first-order factor f measured by a higher-order g has ``ρ = β·sd_g / sd_f`` with
    ``sd_f² = β² sd_g² + ψ_f``; its scores (and so the data) see ρ. Near ρ = 1 a large change
    of β is a small one of ρ, so β has a long right tail that a sampler crosses slowly. The
    sampler moves ``u = atanh ρ = asinh(β·sd_g/√ψ_f)``, close to normal; the prior stays on β
    and the Jacobian is ``cosh(u)·√ψ_f/sd_g`` (``sd_g`` and ψ_f do not involve β:
    :func:`second_order_loadings`). ``elements`` holds u where β goes.
    """
    at = np.array(list(slopes))
    f = np.array([fg[0] for fg in slopes.values()])
    g = np.array([fg[1] for fg in slopes.values()])
    u = elements[at]
    psi_sd = pt.sqrt(pt.diagonal(psi))[f]
    beta = pt.sinh(u) * psi_sd / latent_sd[g]
    log_jacobian = (pt.log(pt.cosh(u)) + pt.log(psi_sd) - pt.log(latent_sd[g])).sum()
    return pt.set_subtensor(elements[at], beta), log_jacobian


def _loading_groups(groups: list[PriorGroup], positive: np.ndarray,
                    factor_of: dict[int, int], slopes: dict) -> list[PriorGroup]:
    """The loading groups this backend samples on its own scales (:func:`_add_loadings`)."""
    special = set(positive.tolist()) | set(factor_of) | set(slopes)
    return [g for g in groups if g.kind == "loading" and set(g.elements) & special]


def _raw_loadings(group: PriorGroup, positive: np.ndarray):
    """The sampled loadings of a group: per unit of their factor's SD, and on the log scale
    for the elements in ``positive``; with the log-Jacobian of ``exp``."""
    mask = np.isin(group.elements, positive)
    raw = pm.Flat(group.name + "_raw", dims=group.dim, initval=np.where(mask, 0.0, 0.5))
    return pt.switch(mask, pt.exp(raw), raw), raw[np.flatnonzero(mask)].sum()


def _add_loadings(group: PriorGroup, log_jacobian, factor_of: dict[int, int], latent_sd,
                  elements):
    """A group's loadings, items' loadings divided by their factor's SD, with their prior.

    ``elements`` holds the group's values from :func:`_raw_loadings`, second-order loadings
    already on their own scale (:func:`_second_order_from_fisher_z`).

    In the theta parameterization an item's latent response sees ``λ·sd_f``; sampled
    directly, a factor whose SD is a parameter (an endogenous factor under ``std_lv``, any
    factor under markers) ties its loadings to its variance, its paths and, for a
    second-order factor, to its higher-order loading, along a curved ridge. Sampled as
    ``λ̃ = λ·sd_f``, the items see ``λ̃`` alone. The model is unchanged: the prior stays on
    λ (truncated at 0 for the positive ones), and the Jacobian of λ̃ → λ is ``1/sd_f`` per
    loading (``sd_f`` depends on paths and variances only).
    """
    scaled = np.array([k in factor_of for k in group.elements])
    column = np.array([factor_of.get(k, 0) for k in group.elements])
    sd = pt.switch(scaled, latent_sd[column], 1.0)
    at = np.array(group.elements)
    loadings = pm.Deterministic(group.name, elements[at] / sd, dims=group.dim)
    prior = pm.logp(prior_distribution(group.spec), loadings).sum()
    pm.Potential(group.name + "_prior", prior + log_jacobian - pt.log(sd).sum())
    return pt.set_subtensor(elements[at], loadings)


def sampled_point(
    layout: Layout, groups: list[PriorGroup], elements: np.ndarray, point: dict,
    scores: np.ndarray, responses: Responses, thresholds_from_mean_score: bool = True,
    loadings_per_factor_sd: bool = True, second_order_fisher_z: bool = True,
) -> dict:
    """A starting point on the scales the model samples: standardized thresholds, loadings
    and scores.

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
    thresholds_from_mean_score, loadings_per_factor_sd, second_order_fisher_z : bool
        As for :func:`build_model`.
    """
    mats = layout.matrices(layout.row_values(elements))
    implied = implied_from_matrices(mats)
    shift = np.zeros(layout.n_observed)
    if thresholds_from_mean_score:
        shift = mats["Lambda"][:, ~layout.phantom] @ scores.mean(axis=0)
    scale = np.sqrt(np.diag(implied.sigma))
    latent_sd = np.sqrt(np.diag(implied.latent_cov))
    out = dict(point)
    positive = positive_loadings(layout)
    factor_of = loading_factors(layout) if loadings_per_factor_sd else {}
    for g in groups:
        if g.kind == "threshold":
            items, _, _ = _segments(layout, g)
            tau = out.pop(g.name) - shift[items]
            out[g.name + "_raw"] = _thresholds_to_raw(tau / scale[items],
                                                      threshold_anchors(layout, g, responses))
    slopes = second_order_loadings(layout) if second_order_fisher_z else {}
    psi_sd = np.sqrt(np.diag(mats["Psi"]))
    for g in _loading_groups(groups, positive, factor_of, slopes):
        sd = np.array([latent_sd[factor_of[k]] if k in factor_of else 1.0 for k in g.elements])
        x = out.pop(g.name) * sd
        for pos, k in enumerate(g.elements):
            if k in slopes:
                f, h = slopes[k]
                x[pos] = np.arcsinh(x[pos] * latent_sd[h] / psi_sd[f])
        mask = np.isin(g.elements, positive)
        out[g.name + "_raw"] = np.where(mask, np.log(np.maximum(x, 1e-3)), x)
    measured = measured_latents(layout)[~layout.phantom]
    standardized = (scores / latent_sd[~layout.phantom][None, :])[:, measured]
    out["score_means_standardized"] = standardized.mean(axis=0)
    out["score_deviations_standardized"] = standardized - standardized.mean(axis=0)
    if not measured.all():
        # the likelihood never sees them: any start serves
        out["higher_order_residuals"] = np.zeros((len(scores), int((~measured).sum())))
    return out


def build_model(
    layout: Layout, groups: list[PriorGroup], responses: Responses,
    thresholds_from_mean_score: bool = True, loadings_per_factor_sd: bool = True,
    second_order_fisher_z: bool = True,
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
    loadings_per_factor_sd : bool
        Sample each item's loading in units of its factor's SD (:func:`_add_loadings`), the
        scale the items see. False samples the loadings themselves.
    second_order_fisher_z : bool
        Sample a first-order factor's loading on its higher-order factor as the Fisher z of
        its standardized value (:func:`_second_order_from_fisher_z`). False samples the
        loading itself.

    Returns
    -------
    pymc.Model
        The parameters as in the marginal backend; ``thresholds`` (dim ``threshold``, named
        ``item|t1``, ...; sampled as ``thresholds_raw``) and ``latent_scores`` (dims
        ``(respondent, construct)``; sampled, for the constructs with items, in units of
        their SD as ``score_means_standardized`` plus ``score_deviations_standardized``
        (zero-sum over respondents), and as ``higher_order_residuals`` for the others) as
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
    measured = measured_latents(layout)
    scored = np.flatnonzero(measured & ~layout.phantom)  # scores sampled
    implied_only = np.flatnonzero(~measured)  # scores drawn from their conditional normal
    kept = np.flatnonzero(measured)  # the scores the latent density is written for
    coords["measured_construct"] = [layout.latent[k] for k in scored]
    coords["higher_order_construct"] = [layout.latent[k] for k in implied_only]

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
        factor_of = loading_factors(layout) if loadings_per_factor_sd else {}
        slopes = second_order_loadings(layout) if second_order_fisher_z else {}
        own = _loading_groups(groups, positive, factor_of, slopes)
        raw_loadings = {g.name: _raw_loadings(g, positive) for g in own}
        given.update({name: sampled for name, (sampled, _) in raw_loadings.items()})
        elements = element_vector(groups, given)

        def latent_sds(values):
            mats = layout.matrices(layout.row_values(values, xp=pt), xp=pt)
            cov = implied_from_matrices(mats, xp=pt).latent_cov
            return pt.sqrt(pt.diagonal(cov)), mats["Psi"]

        if slopes:
            # the SD of the factor a second-order loading points from and the residual
            # variance of the one it points to involve neither it nor the items' loadings
            elements, log_jacobian = _second_order_from_fisher_z(
                slopes, *latent_sds(elements), elements)
            pm.Potential("second_order_loadings_jacobian", log_jacobian)
        # the factors' SDs involve neither the items' loadings nor the thresholds
        latent_sd, _ = latent_sds(elements)
        for g in own:
            elements = _add_loadings(g, raw_loadings[g.name][1], factor_of, latent_sd,
                                     elements)
        mats = layout.matrices(layout.row_values(elements, xp=pt), xp=pt)
        implied = implied_from_matrices(mats, xp=pt)
        cov_eta = implied.latent_cov
        response_sd = pt.sqrt(pt.diagonal(implied.sigma))

        # scores are sampled in units of their SD: a change of a latent variance then
        # rescales every respondent's score with it, instead of having to drag N scores
        # along one by one (the slowest direction of the centred posterior under markers);
        # latent_sd, from before the items' loadings were set, is theirs
        # and as their mean over the respondents plus deviations that sum to zero: with the
        # thresholds measured from that mean, the answers see only the deviations, so the
        # mean is a direction of its own (about 1/√N wide), not one through N scores
        score_mean = pm.Flat("score_means_standardized", dims="measured_construct")
        score_deviations = pm.Flat("score_deviations_standardized",
                                   dims=("respondent", "measured_construct"),
                                   transform=ZeroSumTransform([0]))
        raw_scores = score_mean[None, :] + score_deviations
        n = raw_scores.shape[0]
        eta = pt.zeros((n, layout.n_latent))
        eta = pt.set_subtensor(eta[:, scored], raw_scores * latent_sd[scored][None, :])
        if len(phantom):
            eta = pt.set_subtensor(eta[:, phantom], data["phantom_values"])
        # the density of the scores that items (or data) see, with the constructs without
        # items integrated out: N(μ_k, Σ_kk) from the implied moments. Sampled, a
        # second-order factor's scores would sit on a narrow regression of its dimensions'
        # scores, which every change of its loadings has to drag along
        mean_eta = implied.latent_mean
        deviation = eta[:, kept] - mean_eta[kept][None, :]
        cov_kept = cov_eta[kept][:, kept]
        # the quadratic form through the k × k precision rather than a triangular solve
        # against all N respondents: a LAPACK call per gradient on a k × N right-hand side
        # was the slowest step of the whole gradient
        chol = pt.linalg.cholesky(cov_kept, lower=True, on_error="nan")
        chol_inv = pt.linalg.solve_triangular(chol, np.eye(len(kept)), lower=True)
        precision = chol_inv.T @ chol_inv
        logdet = 2.0 * pt.log(pt.diagonal(chol)).sum()
        quad = ((deviation @ precision) * deviation).sum()
        latent_ll = -0.5 * (n * (len(kept) * np.log(2 * np.pi) + logdet) + quad)
        # Jacobian of the standardization
        latent_ll = latent_ll + n * pt.log(latent_sd[scored]).sum()
        if len(implied_only):
            # their scores given the others are N(m + G (η_k − μ_k), C): drawn through
            # standard normals, which the likelihood never sees, so they cost the sampler
            # nothing and the fit still reports every construct's scores
            cov_uk = cov_eta[implied_only][:, kept]
            gain = cov_uk @ precision
            conditional_cov = cov_eta[implied_only][:, implied_only] - gain @ cov_uk.T
            conditional_chol = pt.linalg.cholesky(
                0.5 * (conditional_cov + conditional_cov.T), lower=True, on_error="nan")
            residual = pm.Normal("higher_order_residuals", 0.0, 1.0,
                                 dims=("respondent", "higher_order_construct"))
            eta = pt.set_subtensor(
                eta[:, implied_only],
                mean_eta[implied_only][None, :] + deviation @ gain.T
                + residual @ conditional_chol.T,
            )
        pm.Deterministic("latent_scores", eta[:, real], dims=("respondent", "construct"))
        shift = None
        if thresholds_from_mean_score:
            shift = mats["Lambda"][:, scored] @ (score_mean * latent_sd[scored])
        for g in groups:
            if g.kind == "threshold":
                elements = _add_thresholds(layout, g, response_sd, elements,
                                           threshold_anchors(layout, g, responses), shift)
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
