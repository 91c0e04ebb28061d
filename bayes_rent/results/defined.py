"""Defined parameters (lavaan's ``:=``), evaluated for every posterior draw.

A row ``ab := a*b`` of the parameter table (``lhs = "ab"``, ``op = ":="``, ``rhs = "a*b"``) is
evaluated on the draws of the rows labelled ``a`` and ``b``. Rows are evaluated in table order
and each result joins the namespace, so a later ``:=`` may use an earlier one
(``total := c + ab``). Because the expression is evaluated draw by draw (vectorized), the
posterior of a product or ratio of parameters comes out exactly, with its skew.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from bayes_rent.spec.partable import evaluate_defined
from bayes_rent.spec.syntax import evaluate_expression

__all__ = ["defined_draws", "labelled_draws"]

Evaluator = Callable[[str, Mapping[str, np.ndarray]], object]


def is_label(value: object) -> bool:
    """True for a usable label (not empty, None or NaN)."""
    if value is None:
        return False
    if isinstance(value, float) and np.isnan(value):
        return False
    return str(value).strip() != ""


def row_ids(partable: pd.DataFrame) -> np.ndarray:
    """The table's ``id`` column, or 1..n when it has none."""
    if "id" in partable.columns:
        return partable["id"].to_numpy()
    return np.arange(1, len(partable) + 1)


def labelled_draws(partable: pd.DataFrame, parameter_draws: xr.DataArray) -> dict[str, np.ndarray]:
    """Draws of every labelled row, keyed by label.

    Rows sharing a label (equality constraints) have equal draws; the first such row is used.

    Parameters
    ----------
    partable : pandas.DataFrame
        Columns ``id`` and ``label`` (empty, None or NaN when unlabelled).
    parameter_draws : xarray.DataArray
        Dims ``(chain, draw, par)`` with ``par`` = partable ``id``.

    Returns
    -------
    dict
        ``{label: ndarray (chain, draw)}``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> pt = pd.DataFrame({"id": [1, 2], "lhs": ["M", "Y"], "op": ["~", "~"],
    ...                    "rhs": ["X", "M"], "label": ["a", "b"]})
    >>> d = xr.DataArray(np.ones((1, 3, 2)), dims=("chain", "draw", "par"),
    ...                  coords={"par": [1, 2]})
    >>> sorted(labelled_draws(pt, d))
    ['a', 'b']
    """
    if "label" not in partable.columns:
        return {}
    draws = parameter_draws.transpose("chain", "draw", "par")
    out: dict[str, np.ndarray] = {}
    for pid, label, op in zip(
        row_ids(partable), partable["label"], partable["op"], strict=True
    ):
        if op == ":=" or not is_label(label):
            continue
        name = str(label).strip()
        if name not in out:
            out[name] = draws.sel(par=pid).values.astype(float)
    return out


def defined_draws(
    partable: pd.DataFrame,
    parameter_draws: xr.DataArray,
    *,
    evaluate: Evaluator | None = None,
) -> xr.DataArray:
    """Evaluate the ``:=`` rows of a parameter table for every draw.

    Parameters
    ----------
    partable : pandas.DataFrame
        The parameter table; ``:=`` rows hold the new name in ``lhs`` and the expression in
        ``rhs``. Labelled rows supply the names the expressions use.
    parameter_draws : xarray.DataArray
        Dims ``(chain, draw, par)``, ``par`` = partable ``id`` (may be raw or standardized).
    evaluate : callable, optional
        ``evaluate(text, values) -> array``; defaults to
        :func:`bayes_rent.spec.syntax.evaluate_expression`. ``values`` maps names to arrays of
        shape ``(chain, draw)``.

    Returns
    -------
    xarray.DataArray
        Dims ``(chain, draw, defined)``, ``defined`` = the ``:=`` names in table order
        (empty ``defined`` dim when there are none).

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> pt = pd.DataFrame({"id": [1, 2, 3, 4, 5], "lhs": ["M", "Y", "Y", "ab", "tot"],
    ...                    "op": ["~", "~", "~", ":=", ":="],
    ...                    "rhs": ["X", "M", "X", "a*b", "ab + c"],
    ...                    "label": ["a", "b", "c", "", ""]})
    >>> d = xr.DataArray(np.array([[[0.5, 0.4, 0.1, 0, 0], [0.6, 0.5, 0.0, 0, 0]]]),
    ...                  dims=("chain", "draw", "par"), coords={"par": [1, 2, 3, 4, 5]})
    >>> def ev(text, values):  # stand-in for bayes_rent.spec.syntax.evaluate_expression
    ...     return eval(text, {}, dict(values))
    >>> defined_draws(pt, d, evaluate=ev).sel(defined="tot").values.round(2).tolist()
    [[0.3, 0.3]]
    """
    draws = parameter_draws.transpose("chain", "draw", "par")
    shape = draws.shape[:2]
    coords = {"chain": draws["chain"].values, "draw": draws["draw"].values}
    rows = partable[partable["op"] == ":="]
    if rows.empty:
        return xr.DataArray(
            np.zeros(shape + (0,)),
            dims=("chain", "draw", "defined"),
            coords={**coords, "defined": np.array([], dtype=object)},
            name="defined",
        )
    def per_draw(text: str, values: dict) -> np.ndarray:
        # a constant or a single parameter's expression still gets one value per draw
        result = (evaluate or evaluate_expression)(text, values)
        return np.broadcast_to(np.asarray(result, dtype=float), shape).copy()

    out = evaluate_defined(partable, labelled_draws(partable, parameter_draws), per_draw)
    return xr.DataArray(
        np.stack(list(out.values()), axis=-1),
        dims=("chain", "draw", "defined"),
        coords={**coords, "defined": [str(n) for n in out]},
        name="defined",
    )
