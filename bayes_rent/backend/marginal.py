"""The marginal backend: continuous indicators with the latent variables integrated out.

The PyMC model samples only the structural and measurement parameters. The likelihood is the
multivariate normal density of the data written through each missingness pattern's sufficient
statistics (DESIGN.md)::

    log L = sum_k -N_k/2 [p_k log 2π + log|Σ_k| + tr(Σ_k⁻¹ S_k) + (ȳ_k − μ_k)ᵀ Σ_k⁻¹ (ȳ_k − μ_k)]

where Σ_k, μ_k are the model-implied moments restricted to the variables pattern k observed.
All patterns are evaluated at once: each Σ_k is padded to full size with an identity block on
the unobserved variables, which leaves the log-determinant, the trace and the quadratic form of
the observed block unchanged, so one batched Cholesky serves every pattern.

The data enter as ``pm.Data``, so a compiled model can take a new data set of the same shape
(a simulation replicate, a bootstrap) without being rebuilt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from bayes_rent.data.observed import ObservedMoments
from bayes_rent.spec.layout import ELEMENT_KINDS, Layout
from bayes_rent.spec.priors import (
    DEFAULT_PRIORS,
    PriorSpec,
    natural_values,
    parse_prior,
    prior_rv,
    resolve_prior,
)

_PLURAL = {
    "loading": "loadings",
    "path": "paths",
    "intercept": "intercepts",
    "latent_mean": "latent_means",
    "sd": "sds",
    "correlation": "correlations",
    "threshold": "thresholds",
}


@dataclass
class PriorGroup:
    """Elements of one kind that share one prior, sampled as one vector."""

    name: str
    dim: str
    kind: str
    spec: PriorSpec
    elements: list[int]


def prior_groups(layout: Layout, overrides: Mapping[str, str] | None) -> list[PriorGroup]:
    """Group the sampled elements by kind and prior, in a fixed order.

    Parameters
    ----------
    layout : Layout
        Placement of the parameter-table rows.
    overrides : mapping, optional
        ``priors=`` given by the user.

    Returns
    -------
    list of PriorGroup
    """
    pt_rows = layout.partable.set_index("id")
    groups: dict[tuple[str, str], PriorGroup] = {}
    for kind in ELEMENT_KINDS:
        if kind == "threshold":
            continue
        for k in layout.elements_of(kind):
            e = layout.elements[k]
            rows = [
                dict(lhs=pt_rows.at[r, "lhs"], op=pt_rows.at[r, "op"], rhs=pt_rows.at[r, "rhs"],
                     label=pt_rows.at[r, "label"], prior=pt_rows.at[r, "prior"])
                for r in e.rows
            ]
            text = resolve_prior(kind, rows, overrides)
            spec = parse_prior(text)
            key = (kind, spec.text)
            if key not in groups:
                # the default prior's vector keeps the plain name (``loadings``); vectors with
                # other priors are numbered (``loadings_1``) and listed in ``fit.priors``
                n_custom = sum(
                    1 for g in groups.values()
                    if g.kind == kind and g.spec != parse_prior(DEFAULT_PRIORS[kind])
                )
                default = spec == parse_prior(DEFAULT_PRIORS[kind])
                suffix = "" if default else f"_{n_custom + 1}"
                groups[key] = PriorGroup(
                    name=_PLURAL[kind] + suffix, dim=kind + suffix, kind=kind, spec=spec,
                    elements=[],
                )
            groups[key].elements.append(k)
    return list(groups.values()) + _threshold_groups(layout, overrides)


def _threshold_groups(layout: Layout, overrides: Mapping[str, str] | None) -> list[PriorGroup]:
    """Thresholds, one vector per prior, item by item and in cut order within an item.

    The conditional backend keeps each item's thresholds ordered, so an item's thresholds must
    share one prior and cannot be tied by labels to another item's.
    """
    pt_rows = layout.partable.set_index("id")
    by_item: dict[str, list[int]] = {}
    for k in layout.elements_of("threshold"):
        e = layout.elements[k]
        items = {pt_rows.at[r, "lhs"] for r in e.rows}
        if len(e.rows) > 1:
            raise ValueError(
                f"threshold label '{e.name}' ties thresholds "
                f"({', '.join(sorted(items))}); equal thresholds are not supported yet"
            )
        by_item.setdefault(items.pop(), []).append(k)
    groups: dict[str, PriorGroup] = {}
    for item in [v for v in layout.observed if v in by_item]:
        ks = sorted(by_item[item],
                    key=lambda k: int(pt_rows.at[layout.elements[k].rows[0], "rhs"][1:]))
        texts = {
            resolve_prior("threshold", [dict(
                lhs=item, op="|", rhs=pt_rows.at[layout.elements[k].rows[0], "rhs"],
                label=pt_rows.at[layout.elements[k].rows[0], "label"],
                prior=pt_rows.at[layout.elements[k].rows[0], "prior"])], overrides)
            for k in ks
        }
        if len(texts) > 1:
            raise ValueError(
                f"the thresholds of '{item}' have different priors ({sorted(texts)}); an item's "
                "thresholds are sampled together and need one prior"
            )
        spec = parse_prior(texts.pop())
        if spec.text not in groups:
            suffix = "" if not groups else f"_{len(groups) + 1}"
            groups[spec.text] = PriorGroup(
                name="thresholds" + suffix, dim="threshold" + suffix, kind="threshold",
                spec=spec, elements=[],
            )
        groups[spec.text].elements.extend(ks)
    return list(groups.values())


def element_vector(groups: list[PriorGroup], given: Mapping[str, object] | None = None):
    """Inside a ``pm.Model``: every element's value, in element order (natural scale).

    Each group's vector is sampled under its prior (:func:`bayes_rent.spec.priors.prior_rv`),
    unless ``given`` holds a tensor for it under the group's name (a backend that builds that
    vector another way: thresholds set later, partially pooled paths).
    """
    given = given or {}
    natural, order = [], []
    for g in groups:
        if g.name in given:
            natural.append(given[g.name])
        else:
            natural.append(prior_rv(g.name, g.spec, g.kind, g.dim, len(g.elements))[1])
        order.extend(g.elements)
    stacked = pt.concatenate(natural) if len(natural) > 1 else natural[0]
    # back from group order to element order
    return stacked[np.argsort(order)]


def implied_moments(layout: Layout, elements, xp=np):
    """Model-implied covariance matrix and mean vector (all-y LISREL form).

    Parameters
    ----------
    layout : Layout
        Placement of the parameter-table rows.
    elements : array
        Element values on their natural scale, shape ``(..., n_elements)``.
    xp : module
        ``numpy`` (vectorized over leading draw axes) or ``pytensor.tensor``.

    Returns
    -------
    Sigma, mu : arrays
        Shapes ``(..., p, p)`` and ``(..., p)``.
    """
    mats = layout.matrices(layout.row_values(elements, xp=xp), xp=xp)
    lam, b, psi, theta = mats["Lambda"], mats["B"], mats["Psi"], mats["Theta"]
    m = layout.n_latent
    eye = np.eye(m)
    if xp is np:
        a = np.linalg.solve(eye - b, np.broadcast_to(eye, b.shape))
        la = lam @ a
        sigma = la @ psi @ np.swapaxes(la, -1, -2) + theta
        mu = mats["nu"] + (la @ mats["alpha"][..., None])[..., 0]
    else:
        a = pt.linalg.solve(eye - b, eye)
        la = lam @ a
        sigma = la @ psi @ la.T + theta
        mu = mats["nu"] + la @ mats["alpha"]
    return sigma, mu


def pattern_loglik(sigma, mu, n, mask, mean, factor, xp=np):
    """Sum over missingness patterns of the normal log-likelihood from sufficient statistics.

    Parameters
    ----------
    sigma, mu : arrays
        Implied moments, shapes ``(..., p, p)`` and ``(..., p)``.
    n, mask, mean, factor : arrays
        Pattern statistics (see :class:`bayes_rent.data.observed.ObservedMoments`).
    xp : module
        ``numpy`` or ``pytensor.tensor``.

    Returns
    -------
    array
        The log-likelihood, with the leading shape of ``sigma``; ``-inf`` where Σ is not
        positive definite.
    """
    both = mask[:, :, None] * mask[:, None, :]
    eye = np.eye(mask.shape[-1]) if xp is np else pt.eye(mask.shape[-1])
    if xp is np:
        padded = both * sigma[..., None, :, :] + (1.0 - both) * eye
        resid = (mean - mu[..., None, :]) * mask
        try:
            chol = np.linalg.cholesky(padded)
        except np.linalg.LinAlgError:
            return np.full(sigma.shape[:-2], -np.inf)
        logdet = 2.0 * np.log(np.diagonal(chol, axis1=-2, axis2=-1)).sum(-1)
        z = np.linalg.solve(chol, factor)
        q = np.linalg.solve(chol, resid[..., None])[..., 0]
        trace = (z**2).sum((-2, -1))
        quad = (q**2).sum(-1)
        ll = -0.5 * n * (mask.sum(-1) * np.log(2 * np.pi) + logdet + trace + quad)
        return ll.sum(-1)
    padded = both * sigma[None] + (1.0 - both) * eye
    resid = (mean - mu[None]) * mask
    chol = pt.linalg.cholesky(padded, lower=True, on_error="nan")
    logdet = 2.0 * pt.log(pt.diagonal(chol, axis1=1, axis2=2)).sum(-1)
    z = pt.linalg.solve_triangular(chol, factor, lower=True, b_ndim=2)
    q = pt.linalg.solve_triangular(chol, resid, lower=True, b_ndim=1)
    trace = (z**2).sum((1, 2))
    quad = (q**2).sum(-1)
    ll = (-0.5 * n * (mask.sum(-1) * np.log(2 * np.pi) + logdet + trace + quad)).sum()
    return pt.switch(pt.isnan(ll), -np.inf, ll)


def augmented_loglik(sigma, mu, filled):
    """Complete-data normal log-likelihood of a data matrix whose gaps hold sampled values.

    Parameters
    ----------
    sigma, mu : tensors
        Implied moments.
    filled : tensor
        ``(N, p)`` data with every missing answer replaced by its sampled value.
    """
    n = filled.shape[0]
    centred = filled - mu[None, :]
    chol = pt.linalg.cholesky(sigma, lower=True, on_error="nan")
    z = pt.linalg.solve_triangular(chol, centred.T, lower=True, b_ndim=2)
    logdet = 2.0 * pt.log(pt.diagonal(chol)).sum()
    ll = -0.5 * (n * (sigma.shape[0] * np.log(2 * np.pi) + logdet) + (z**2).sum())
    return pt.switch(pt.isnan(ll), -np.inf, ll)


def build_model(
    layout: Layout,
    observed: ObservedMoments,
    groups: list[PriorGroup],
    missing_cells: tuple[np.ndarray, np.ndarray] | None = None,
    filled: np.ndarray | None = None,
) -> pm.Model:
    """Build the PyMC model of the marginal backend.

    Two likelihoods compute the same posterior of the parameters under MAR:

    * by missingness pattern (the default): one padded Cholesky per pattern, cost independent
      of N for complete data;
    * with data augmentation, when answers are missing in a scattered way (nearly every
      respondent its own pattern): the missing answers are sampled as parameters
      (``missing_answers``) and the likelihood is the complete-data one, whose cost is one
      Cholesky plus O(N p²) per gradient instead of one Cholesky per pattern.

    Parameters
    ----------
    layout : Layout
        Placement of the parameter-table rows.
    observed : ObservedMoments
        Pattern statistics of the data.
    groups : list of PriorGroup
        Sampled vectors with their priors (:func:`prior_groups`).
    missing_cells : tuple of arrays, optional
        Row and column indices of the missing answers; switches on data augmentation.
    filled : numpy.ndarray, optional
        The data with missing answers set to any value (they are replaced by the sampled ones).

    Returns
    -------
    pymc.Model
        Free variables named after the parameter kinds (``loadings``, ``paths``, ``sds``, ...)
        with labelled dims; the data are ``pm.Data`` so the compiled model can be reused.
    """
    coords = {
        g.dim: [layout.elements[k].name for k in g.elements] for g in groups
    }
    if missing_cells is not None:
        coords["missing_answer"] = [
            f"{layout.observed[j]}[{i}]" for i, j in zip(*missing_cells, strict=True)
        ]
    with pm.Model(coords=coords) as model:
        if missing_cells is None:
            data = {name: pm.Data(name, value) for name, value in observed.as_data().items()}
        elements = element_vector(groups)
        sigma, mu = implied_moments(layout, elements, xp=pt)
        if missing_cells is None:
            loglik = pattern_loglik(
                sigma, mu, data["pattern_n"], data["pattern_mask"], data["pattern_mean"],
                data["pattern_factor"], xp=pt,
            )
        else:
            # the missing answers' density is the model's own: a flat prior on them leaves
            # p(y_mis | y_obs, θ) exactly as the normal model implies
            answers = pm.Flat("missing_answers", dims="missing_answer")
            y = pt.set_subtensor(pm.Data("filled_data", filled)[missing_cells], answers)
            loglik = augmented_loglik(sigma, mu, y)
        pm.Potential("loglik", loglik)
    return model


def element_draws(posterior, groups: list[PriorGroup], n_elements: int) -> np.ndarray:
    """Element values on the natural scale for every draw, shape ``(chain, draw, n_elements)``.

    Parameters
    ----------
    posterior : xarray.Dataset
        The posterior group of the fit.
    groups : list of PriorGroup
        The model's sampled vectors.
    n_elements : int
        Number of elements of the layout.
    """
    first = posterior[groups[0].name]
    out = np.empty((first.sizes["chain"], first.sizes["draw"], n_elements))
    for g in groups:
        raw = posterior[g.name].transpose("chain", "draw", g.dim).values
        out[..., g.elements] = natural_values(raw, g.spec, g.kind)
    return out


def priors_table(layout: Layout, groups: list[PriorGroup]) -> pd.DataFrame:
    """The prior used for every free parameter, in parameter-table shape."""
    pt_rows = layout.partable.set_index("id")
    rows = []
    for g in groups:
        for k in g.elements:
            for r in layout.elements[k].rows:
                rows.append(
                    dict(id=r, lhs=pt_rows.at[r, "lhs"], op=pt_rows.at[r, "op"],
                         rhs=pt_rows.at[r, "rhs"], label=pt_rows.at[r, "label"],
                         prior=g.spec.text if g.kind != "correlation" else
                         f"{g.spec.text} on the correlation",
                         variable=g.name)
                )
    return pd.DataFrame(rows).sort_values("id").reset_index(drop=True)
