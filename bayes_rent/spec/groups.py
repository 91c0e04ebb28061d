"""Multiple groups: one parameter table for several groups of respondents, as lavaan builds it.

A multi-group model repeats every row of the single-group table once per group (``group`` 1..G,
groups in their order of first appearance in the data). Each group gets its own parameters,
except where lavaan ties them:

* a label written in the syntax (``a*x2``) belongs to the first group only, as in lavaan (a
  single label in every group would make the parameter equal across groups); fixed values and
  ``prior(...)`` apply to every group;
* ``group_equal`` ties whole kinds of parameters across groups by giving the rows of every group
  the label of the first group's row, or ``.p<id>.`` when it has none (lavaan's names for the
  kinds: :data:`GROUP_EQUAL_KINDS`).

As in lavaan, equal intercepts free the latent means of groups 2..G (group 1 keeps them at 0),
and under ``std_lv`` equal loadings free the latent variances of groups 2..G, so that a scalar
(or metric) invariance model compares groups on the latent scale instead of forcing them equal.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayes_rent.errors import DataError
from bayes_rent.spec.partable import latent_variables

#: lavaan's ``group.equal`` names and the rows they tie.
GROUP_EQUAL_KINDS: tuple[str, ...] = (
    "loadings", "intercepts", "means", "thresholds", "regressions", "residuals",
    "residual.covariances", "lv.variances", "lv.covariances",
)


def _kind(row, latents: set[str]) -> str | None:
    """lavaan's ``group.equal`` kind of a parameter-table row."""
    op, lhs, rhs = row.op, row.lhs, row.rhs
    if op == "=~":
        return "loadings"
    if op == "~":
        return "regressions"
    if op == "|":
        return "thresholds"
    if op == "~1":
        return "means" if lhs in latents else "intercepts"
    if op == "~~":
        lat = lhs in latents
        if lhs == rhs:
            return "lv.variances" if lat else "residuals"
        return "lv.covariances" if lat else "residual.covariances"
    return None


def group_partable(
    partable: pd.DataFrame,
    n_groups: int,
    group_equal: Sequence[str] = (),
    *,
    std_lv: bool = False,
    free_paths: bool = False,
) -> pd.DataFrame:
    """Repeat a single-group parameter table for ``n_groups`` groups.

    Parameters
    ----------
    partable : pandas.DataFrame
        The single-group table (:func:`bayes_rent.spec.partable.build_partable`).
    n_groups : int
        Number of groups (at least 2).
    group_equal : sequence of str
        Kinds of parameters constrained equal across groups, by lavaan's names
        (:data:`GROUP_EQUAL_KINDS`).
    std_lv : bool
        Whether the table identifies latents by unit variances (then equal loadings free the
        latent variances of groups 2..G).
    free_paths : bool
        Refuse ``"regressions"`` in ``group_equal`` (partial pooling draws the groups' paths
        from a common distribution, which contradicts equal paths).

    Returns
    -------
    pandas.DataFrame
        Rows of group 1, then group 2, ...; ``:=`` rows last (group 0). Ids run 1..n again.

    Raises
    ------
    ValueError
        For an unknown ``group_equal`` name or fewer than two groups.

    Examples
    --------
    >>> from bayes_rent.spec.partable import build_partable
    >>> pt = group_partable(build_partable("f =~ x1 + x2 + x3", meanstructure=False), 2,
    ...                     ["loadings"])
    >>> pt.query("op == '=~' and free")[["lhs", "rhs", "group", "label"]]
      lhs rhs  group label
    1   f  x2      1  .p2.
    2   f  x3      1  .p3.
    8   f  x2      2  .p2.
    9   f  x3      2  .p3.
    """
    unknown = [k for k in group_equal if k not in GROUP_EQUAL_KINDS]
    if unknown:
        raise ValueError(
            f"group_equal: unknown {', '.join(map(repr, unknown))}; lavaan's names are "
            f"{', '.join(GROUP_EQUAL_KINDS)}"
        )
    if n_groups < 2:
        raise ValueError("a multi-group model needs at least two groups in the data")
    if free_paths and "regressions" in group_equal:
        raise ValueError(
            "pooling='partial' lets the structural paths differ by group around a common "
            "value; it cannot be combined with group_equal=['regressions']"
        )
    latents = set(latent_variables(partable))
    body = partable.loc[partable["op"] != ":="]
    defined = partable.loc[partable["op"] == ":="]
    equal = set(group_equal)
    free_means = "intercepts" in equal and "means" not in equal
    free_variances = std_lv and "loadings" in equal and "lv.variances" not in equal
    kinds = [_kind(r, latents) for r in body.itertuples(index=False)]
    first = body["label"].to_numpy(dtype=object)
    tie = body["free"].to_numpy() & np.isin(kinds, list(equal))
    tied = np.where(first == "", [f".p{i}." for i in body["id"]], first)
    blocks = []
    for g in range(1, n_groups + 1):
        block = body.copy()
        block["group"] = g
        block["label"] = np.where(tie, tied, first if g == 1 else "")
        if g > 1:
            # lavaan frees what the equality made estimable: the latent means once the
            # intercepts are equal, the latent variances once std_lv loadings are equal;
            # a value the user wrote stays fixed
            release = (~block["user"] & ~block["free"]).to_numpy() & np.array([
                (k == "means" and free_means) or (k == "lv.variances" and free_variances)
                for k in kinds
            ], dtype=bool)
            block.loc[release, "free"] = True
            block.loc[release, "value"] = float("nan")
        blocks.append(block)
    out = pd.concat(blocks + [defined], ignore_index=True)
    out["id"] = range(1, len(out) + 1)
    return out


def group_labels(column: pd.Series) -> list:
    """The groups of a data column in order of first appearance (lavaan's ordering).

    Raises
    ------
    bayes_rent.data.observed.DataError
        When the column has missing values.

    Examples
    --------
    >>> group_labels(pd.Series(["b", "a", "b"]))
    ['b', 'a']
    """

    if column.isna().any():
        rows = (np.flatnonzero(column.isna().to_numpy()) + 1).tolist()
        raise DataError(
            f"group column '{column.name}' has missing values in rows {rows[:10]}"
            f"{' ...' if len(rows) > 10 else ''}: every respondent must belong to a group"
        )
    return list(pd.unique(column))
