"""The sampled parameter vectors shared by every backend: prior groups and their draws.

The free elements of a layout are sampled in vectors, one per kind of parameter and prior
(``loadings``, ``paths``, ``sds``, ``loadings_1`` for loadings with another prior, ...). Every
backend builds its PyMC model from these vectors (:func:`element_vector`), starts its chains
from :func:`chain_initvals`, and every fit reads its draws back with :func:`element_draws`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from bayes_rent.spec.layout import ELEMENT_KINDS, Layout
from bayes_rent.spec.priors import (
    DEFAULT_PRIORS,
    PriorSpec,
    check_override_keys,
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
                groups[key] = PriorGroup(name="", dim="", kind=kind, spec=spec, elements=[])
            groups[key].elements.append(k)
    return _named(list(groups.values())) + threshold_groups(layout, overrides)


def _named(groups: list[PriorGroup]) -> list[PriorGroup]:
    """Name the vectors: per kind, the one with the default prior keeps the plain name
    (``loadings``), or, when no vector of the kind has it, the first one does; the others are
    numbered (``loadings_1``) and listed in ``fit.priors``. A kind whose elements all share
    one prior is so always the plain name, whatever the prior: the settings of a prior sweep
    share one model structure."""
    for kind in {g.kind for g in groups}:
        of_kind = [g for g in groups if g.kind == kind]
        default = parse_prior(DEFAULT_PRIORS[kind])
        plain = next((g for g in of_kind if g.spec == default), of_kind[0])
        number = 0
        for g in of_kind:
            if g is plain:
                suffix = ""
            else:
                number += 1
                suffix = f"_{number}"
            g.name, g.dim = _PLURAL[kind] + suffix, kind + suffix
    return groups


def threshold_groups(layout: Layout, overrides: Mapping[str, str] | None) -> list[PriorGroup]:
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


def element_vector(
    groups: list[PriorGroup], given: Mapping[str, object] | None = None,
    prior_data: bool = False,
):
    """Inside a ``pm.Model``: every element's value, in element order (natural scale).

    Each group's vector is sampled under its prior (:func:`bayes_rent.spec.priors.prior_rv`),
    unless ``given`` holds a tensor for it under the group's name (a backend that builds that
    vector another way: thresholds set later, partially pooled paths). With ``prior_data``
    the priors' arguments are ``pm.Data`` named ``<group>_prior`` (:func:`prior_values`), so
    one compiled model serves every setting of a prior family.
    """
    given = given or {}
    natural, order = [], []
    for g in groups:
        if g.name in given:
            natural.append(given[g.name])
        else:
            args = None
            if prior_data:
                args = pm.Data(f"{g.name}_prior", np.asarray(g.spec.args, dtype=float))
            natural.append(prior_rv(g.name, g.spec, g.kind, g.dim, len(g.elements), args)[1])
        order.extend(g.elements)
    stacked = pt.concatenate(natural) if len(natural) > 1 else natural[0]
    # back from group order to element order
    return stacked[np.argsort(order)]


def prior_values(groups: list[PriorGroup]) -> dict[str, np.ndarray]:
    """The priors' arguments as the ``pm.Data`` values of ``element_vector(prior_data=True)``.

    Examples
    --------
    >>> from bayes_rent.spec.layout import build_layout
    >>> from bayes_rent.spec.partable import build_partable
    >>> layout = build_layout(build_partable("f =~ x1 + x2 + x3"))
    >>> prior_values(prior_groups(layout, {"loadings": "normal(0,1)"}))["loadings_prior"]
    array([0., 1.])
    """
    return {f"{g.name}_prior": np.asarray(g.spec.args, dtype=float) for g in groups}


def prior_structure(groups: list[PriorGroup]) -> list[tuple]:
    """What of the priors a compiled model depends on when their arguments are data."""
    return [(g.name, g.kind, g.spec.family, g.spec.scale, tuple(g.elements)) for g in groups]


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


def checked_prior_groups(
    layout: Layout, priors: Mapping[str, str] | None, partable: pd.DataFrame | None = None
) -> list[PriorGroup]:
    """The sampled vectors and their priors, after checking that every override names a row.

    Overrides may name a label or a row written ``lhsoprhs`` (``"f=~x2"``) of ``partable``
    (by default the layout's own table).
    """
    pt = layout.partable if partable is None else partable
    check_override_keys(
        priors,
        set(pt["label"][pt["label"] != ""])
        | {f"{a}{o}{b}" for a, o, b in pt[["lhs", "op", "rhs"]].itertuples(index=False)},
    )
    return prior_groups(layout, priors)


def chain_initvals(
    start: np.ndarray, groups, chains: int, seed: int | None
) -> list[dict[str, np.ndarray]]:
    """Per-chain starting values of the sampled vectors, jittered around the optimum.

    The jitter is applied on the unconstrained scale (log SD, atanh correlation), so every
    start is valid, and it is small so no chain starts in the degenerate region.
    """
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(chains):
        point = {}
        for g in groups:
            x = start[g.elements]
            jit = rng.uniform(-0.1, 0.1, size=x.shape)
            if g.kind == "sd":
                x = x * np.exp(jit)
                x = x**2 if g.spec.scale == "var" else 1 / x**2 if g.spec.scale == "prec" else x
            elif g.kind == "correlation":
                x = np.tanh(np.arctanh(np.clip(x, -0.99, 0.99)) + jit)
                if g.spec.family == "beta":
                    x = (x + 1) / 2
            elif g.kind == "threshold":
                pass  # cut points stay as they are, so they stay ordered within their item
            else:
                x = x + jit * np.maximum(np.abs(x), 0.1)
            if g.spec.family == "uniform":
                lo, hi = g.spec.args
                x = np.clip(x, lo + 1e-6 * (hi - lo), hi - 1e-6 * (hi - lo))
            point[g.name] = x
        out.append(point)
    return out
