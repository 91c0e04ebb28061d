"""Starting values for the chains: a quick penalized maximum-likelihood optimum.

Marker-identified SEMs have a degenerate region where a latent variance collapses toward zero
while its loadings grow without bound; a chain started from an arbitrary point (or with free
loadings at 0) can fall in and stay there. Starting every chain near the posterior mode, with a
small jitter, avoids that at the cost of a fraction of a second: the optimum is found in plain
numpy, so nothing is compiled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats
from threadpoolctl import threadpool_limits

from bayes_rent.backend import generic_kernels as gk
from bayes_rent.backend.generic import build_structure, pack_moments
from bayes_rent.data.observed import ObservedMoments
from bayes_rent.spec.identification import factor_signs, sign_multipliers
from bayes_rent.spec.implied import implied_from_matrices
from bayes_rent.spec.layout import Layout
from bayes_rent.spec.priors import DEFAULT_PRIORS, PriorSpec, parse_prior


def initial_guess(layout: Layout, observed: ObservedMoments, std_lv: bool) -> np.ndarray:
    """Loadings at 1, paths at 0, intercepts at the means, half of each variance residual."""
    w = observed.n[:, None] * observed.mask
    means = (observed.mean * w).sum(0) / np.maximum(w.sum(0), 1)
    cov = np.einsum("kij,klj->kil", observed.factor, observed.factor)
    var = np.einsum("kii->ki", cov * observed.n[:, None, None]).sum(0) / np.maximum(w.sum(0), 1)
    var = np.where(var > 0, var, 1.0)
    pt = layout.partable.set_index("id")
    ov = {v: k for k, v in enumerate(layout.observed)}
    u = np.zeros(len(layout.elements))
    for k, e in enumerate(layout.elements):
        # a multi-group layout shares its elements with the other groups' layouts
        mine = [r for r in e.rows if r in pt.index]
        if not mine:
            continue
        row = pt.loc[mine[0]]
        if e.kind == "loading":
            u[k] = np.sqrt(np.mean(var) / 2) if std_lv else 1.0
        elif e.kind == "intercept":
            u[k] = means[ov[row.lhs]] if row.lhs in ov else 0.0
        elif e.kind == "sd":
            v = var[ov[row.lhs]] if row.lhs in ov and row.lhs not in layout.latent else np.mean(var)
            u[k] = np.log(np.sqrt(v / 2))
    return u


def pooled_moments(data: pd.DataFrame) -> ObservedMoments:
    """Complete-data stand-in for data with missing answers: pairwise means and covariances.

    A start needs to be close, not exact; one pattern keeps each objective evaluation to a
    single p×p Cholesky however scattered the missing answers are.
    """
    cov = data.cov(ddof=0).to_numpy()
    w, v = np.linalg.eigh(cov)
    p = cov.shape[0]
    return ObservedMoments(
        variables=list(data.columns),
        n=np.array([int(data.notna().any(axis=1).sum())]),
        mask=np.ones((1, p), dtype=int),
        mean=data.mean().to_numpy()[None, :],
        factor=(v * np.sqrt(np.clip(w, 1e-6 * w.max(), None)))[None],
        n_total=int(data.notna().any(axis=1).sum()),
        pattern_of_row=np.zeros(len(data), dtype=int),
    )


@dataclass(frozen=True)
class DefaultGroup:
    """A prior group under the default prior of its kind (what the start values penalize)."""

    name: str
    dim: str
    kind: str
    spec: PriorSpec
    elements: list[int]


def default_groups(layout: Layout) -> list[DefaultGroup]:
    """One group per element kind under its default prior, in element order within a kind."""
    kinds: dict[str, list[int]] = {}
    for k, e in enumerate(layout.elements):
        kinds.setdefault(e.kind, []).append(k)
    return [DefaultGroup(kind, kind, kind, parse_prior(DEFAULT_PRIORS[kind]), ks)
            for kind, ks in kinds.items()]


def start_values(
    layout: Layout, observed: ObservedMoments, *, std_lv: bool = False, maxiter: int = 400,
    data: pd.DataFrame | None = None,
) -> np.ndarray:
    """Penalized ML estimate of the elements, on their natural scale.

    L-BFGS-B gets the analytic gradient of the generic kernel
    (:func:`bayes_rent.backend.generic_kernels.logp_dlogp`): one evaluation per step instead of
    n + 1 finite differences.

    The penalty is the default prior (normal on locations, Gamma(1, 0.5) on SDs) plus the
    log-Jacobian of the log/tanh maps, which keeps variances away from zero (no Heywood start).

    Parameters
    ----------
    layout, observed
        The model's layout and the data's pattern statistics, as for
        :func:`bayes_rent.backend.marginal.build_model`.
    std_lv : bool
        Whether latent variances are fixed to 1 (loadings then start at a data-based scale).
    maxiter : int
        Iteration limit of L-BFGS.
    data : pandas.DataFrame, optional
        The data; with missing answers the start is computed from pairwise moments.

    Returns
    -------
    numpy.ndarray
        Element values (SDs for variances, correlations for covariances).
    """
    if data is not None and len(observed.n) > 1:
        observed = pooled_moments(data)
    groups = default_groups(layout)
    structure = build_structure(layout, groups)
    moments = pack_moments(observed)
    u0 = initial_guess(layout, observed, std_lv)
    order = np.concatenate([g.elements for g in groups])
    kinds = np.array([layout.elements[k].kind for k in order])
    # start.py's scale: log SD (the same here) and atanh r (twice that here)
    x0 = np.where(kinds == "correlation", 2.0, 1.0) * u0[order]

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        logp, grad = gk.logp_dlogp(x, structure.ints, structure.reals, moments)
        if not np.isfinite(logp):
            return 1e12, np.zeros_like(x)
        return -logp, -grad

    # L-BFGS-B's own BLAS calls are tiny; threaded BLAS made them 5-10x slower on a busy
    # 2-core machine (0.30 s against 0.04 s for PoliticalDemocracy)
    with threadpool_limits(limits=1, user_api="blas"):
        res = optimize.minimize(objective, x0, jac=True, method="L-BFGS-B",
                                options={"maxiter": maxiter})
    return gk.elements_and_prior(np.ascontiguousarray(res.x), structure.ints,
                                 structure.reals)[0]


# ---------------------------------------------------------------- the conditional backend
def continuous_twin(partable: pd.DataFrame, ordinal_items: list[str]) -> pd.DataFrame:
    """The same model with its ordinal items treated as continuous.

    The threshold rows go, and the ordinal items' automatic intercepts and residual variances
    become free again; row ids are kept, so rows of the two tables match by id.
    """
    twin = partable.loc[partable["op"] != "|"].copy()
    auto = (~twin["user"]) & twin["lhs"].isin(ordinal_items) & (
        (twin["op"] == "~1") | ((twin["op"] == "~~") & (twin["lhs"] == twin["rhs"]))
    )
    twin.loc[auto, "free"] = True
    twin.loc[auto, "value"] = np.nan
    return twin


def normal_scores(
    data: pd.DataFrame, categories: dict[str, np.ndarray]
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Ordinal answers replaced by normal scores, and thresholds from the marginal proportions.

    Category k of an item becomes E[Z | τ_k < Z < τ_{k+1}] for a standard normal Z, where the
    τ are the normal quantiles of the item's cumulative proportions.

    Returns
    -------
    scored : pandas.DataFrame
        The data with every ordinal item scored (missing answers stay missing).
    thresholds : dict
        Item → its thresholds on the standard normal scale.
    """
    scored = data.astype(float).copy()
    thresholds = {}
    for item, cats in categories.items():
        col = data[item].to_numpy(dtype=float)
        seen = ~np.isnan(col)
        code = np.searchsorted(cats, col[seen])
        counts = np.bincount(code, minlength=len(cats))
        tau = stats.norm.ppf(np.cumsum(counts)[:-1] / counts.sum())
        edges = np.concatenate([[-np.inf], tau, [np.inf]])
        mass = np.diff(stats.norm.cdf(edges))
        score = -np.diff(stats.norm.pdf(edges)) / mass
        values = col.copy()
        values[seen] = score[code]
        scored[item] = values
        thresholds[item] = tau
    return scored, thresholds


def _marker_scales(layout: Layout, unit: np.ndarray) -> np.ndarray:
    """Per latent, the factor by which its scale changes when indicator i is rescaled by unit[i].

    A latent fixed to an observed marker takes the marker's factor (so the fixed loading keeps
    its value); a latent fixed to a latent marker takes that latent's; a latent without a fixed
    loading (``std_lv``) and a phantom keep their scale.
    """
    pt_rows = layout.partable.set_index("id")
    marker: dict[int, tuple[str, int]] = {}
    for rid, name, i, j in layout.cells:
        if pt_rows.at[rid, "op"] == "=~" and not pt_rows.at[rid, "free"] and j not in marker:
            marker[j] = ("Lambda", i) if name == "Lambda" else ("B", i)
    scale = np.ones(layout.n_latent)
    for _ in range(layout.n_latent):
        for f, (name, i) in marker.items():
            scale[f] = unit[i] if name == "Lambda" else scale[i]
    return scale


def conditional_start(
    layout: Layout, data: pd.DataFrame, responses, *, std_lv: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Starting point of the conditional backend, from the fast continuous fit.

    The ordinal answers are replaced by normal scores and the continuous twin of the model
    (:func:`continuous_twin`) is fitted by penalized ML in plain numpy. Its solution is moved to
    the theta parameterization: each ordinal item is divided by its residual SD (so its residual
    variance is 1), each latent follows its marker's change of scale, and the thresholds are the
    marginal normal quantiles on the item's new scale. The latent scores start at the twin's
    regression scores on the same scale.

    Parameters
    ----------
    layout : Layout
        Layout of the ordinal model.
    data : pandas.DataFrame
        The checked data.
    responses : bayes_rent.backend.conditional.Responses
        The arranged answers.
    std_lv : bool
        Whether latent variances are fixed to 1.

    Returns
    -------
    elements : numpy.ndarray
        Element values on the natural scale.
    scores : numpy.ndarray
        ``(N, n_real_latent)`` latent scores.
    """
    from bayes_rent.data.observed import moments
    from bayes_rent.spec.layout import build_layout

    rows = data.loc[responses.respondents, layout.observed]
    scored, tau0 = normal_scores(rows, responses.categories)
    twin = build_layout(continuous_twin(layout.partable, responses.ordinal_items))
    x = start_values(twin, moments(scored), std_lv=std_lv, data=scored)
    mats = twin.matrices(twin.row_values(x))
    lam, b, psi, theta = mats["Lambda"], mats["B"], mats["Psi"], mats["Theta"]
    nu, alpha = mats["nu"], mats["alpha"]
    implied = implied_from_matrices(mats)
    cov_eta = implied.latent_cov

    # regression scores of the twin (missing answers at the item's mean)
    y = scored.to_numpy(dtype=float)
    y = np.where(np.isnan(y), np.nanmean(y, axis=0), y)
    eta = implied.latent_mean + (y - implied.mu) @ np.linalg.solve(implied.sigma, lam @ cov_eta)

    # theta parameterization: ordinal items on a unit-residual scale, latents after markers
    obs = {v: k for k, v in enumerate(layout.observed)}
    unit = np.ones(layout.n_observed)
    for item in responses.ordinal_items:
        unit[obs[item]] = 1.0 / np.sqrt(theta[obs[item], obs[item]])
    scale = _marker_scales(layout, unit)
    converted = {
        "Lambda": unit[:, None] * lam / scale[None, :],
        "B": scale[:, None] * b / scale[None, :],
        "Psi": scale[:, None] * psi * scale[None, :],
        "Theta": unit[:, None] * theta * unit[None, :],
        "nu": unit * nu,
        "alpha": scale * alpha,
    }
    thresholds = {
        item: (tau0[item] - nu[obs[item]]) * unit[obs[item]] for item in responses.ordinal_items
    }

    pt_rows = layout.partable.set_index("id")
    cells = {rid: (name, i, j) for rid, name, i, j in layout.cells}
    out = np.zeros(len(layout.elements))
    for k, e in enumerate(layout.elements):
        rid = e.rows[0]
        if e.kind == "threshold":
            out[k] = thresholds[pt_rows.at[rid, "lhs"]][int(pt_rows.at[rid, "rhs"][1:]) - 1]
            continue
        name, i, j = cells[rid]
        m = converted[name]
        if e.kind == "sd":
            out[k] = np.sqrt(max(m[i, j], 1e-4))
        elif e.kind == "correlation":
            out[k] = np.clip(m[i, j] / np.sqrt(m[i, i] * m[j, j]), -0.95, 0.95)
        else:
            out[k] = m[i] if m.ndim == 1 else m[i, j]
    # the sampler holds sign-free factors' first loadings positive: start in that mode
    rows = layout.row_values(out)
    signs = factor_signs(layout.partable, rows)
    flip = sign_multipliers(layout.partable, signs, rows.shape)
    position = {rid: k for k, rid in enumerate(layout.partable["id"])}
    out = out * np.array([flip[position[e.rows[0]]] for e in layout.elements])
    score_signs = np.array([signs.get(v, 1.0) for v in layout.latent])
    return out, (eta * scale[None, :] * score_signs[None, :])[:, ~layout.phantom]
