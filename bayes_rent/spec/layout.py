"""Where every parameter-table row lives in the all-y LISREL matrices.

The layout is the bridge between the parameter table and the numbers: it decides which rows are
sampled (one *element* per free parameter, shared by rows with the same label), which matrix cell
each row fills, and how the (co)variances are parameterized (standard deviations and
correlations, so the default priors can be put on the SD scale as blavaan does).

The same layout builds the matrices twice: symbolically inside the PyMC model, and numerically
from posterior draws afterwards (vectorized over chain and draw), so both always agree.

Model-implied moments, all-y form::

    Sigma = Lambda (I - B)^-1 Psi (I - B)^-T Lambda^T + Theta
    mu    = nu + Lambda (I - B)^-1 alpha

An observed variable that takes part in the structural model (``y ~ x1 + eta``) becomes a
*phantom* latent with loading 1 and zero residual variance; its variance, intercept and
covariances then live in ``Psi`` and ``alpha``, which makes its intercept the regression intercept
lavaan reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayes_rent.spec.partable import latent_variables, observed_variables, structural_observed

#: Kinds of sampled element, in the order their vectors appear in the model.
ELEMENT_KINDS = (
    "loading", "path", "intercept", "latent_mean", "sd", "correlation", "threshold",
)


@dataclass
class Element:
    """One sampled quantity: a free parameter, or a set of rows tied by a shared label."""

    kind: str
    name: str
    rows: list[int]
    prior: str = ""


@dataclass
class Layout:
    """The placement of every parameter-table row in the model matrices.

    Attributes
    ----------
    observed : list of str
        Observed variables in model order (the rows of ``Lambda`` and of the data moments).
    latent : list of str
        Latent variables, followed by phantom latents for structural observed variables.
    phantom : numpy.ndarray of bool
        Which entries of ``latent`` are phantoms.
    elements : list of Element
        Sampled elements; ``row_element[id]`` gives the element index of a free row.
    """

    partable: pd.DataFrame
    observed: list[str]
    latent: list[str]
    phantom: np.ndarray
    elements: list[Element] = field(default_factory=list)
    row_element: dict[int, int] = field(default_factory=dict)
    # (row id, matrix name, i, j) for every row that fills a matrix cell
    cells: list[tuple[int, str, int, int]] = field(default_factory=list)
    # (row id, matrix name, i, j, sd row of i, sd row of j) for covariance rows
    covariances: list[tuple[int, str, int, int, int, int]] = field(default_factory=list)
    _cached_plan: dict | None = field(default=None, repr=False)

    @property
    def n_observed(self) -> int:
        return len(self.observed)

    @property
    def n_latent(self) -> int:
        return len(self.latent)

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of each model matrix."""
        p, m = self.n_observed, self.n_latent
        return {"Lambda": (p, m), "B": (m, m), "Psi": (m, m), "Theta": (p, p),
                "nu": (p,), "alpha": (m,)}

    def elements_of(self, kind: str) -> list[int]:
        """Indices of the elements of one kind."""
        return [k for k, e in enumerate(self.elements) if e.kind == kind]

    # ------------------------------------------------------------------ numbers
    # The same assembly runs on numpy draws (leading chain/draw axes) and on PyTensor
    # tensors inside the model; `_put` is the only place where the two differ.
    def row_values(self, elements, xp=np):
        """Value of every parameter-table row from the element values.

        Parameters
        ----------
        elements : array
            Shape ``(..., n_elements)``: element values on their natural scale (SDs for
            variances, correlations for covariances).
        xp : module
            ``numpy`` for draws, ``pytensor.tensor`` inside the model.

        Returns
        -------
        array
            Shape ``(..., n_rows)`` in parameter-table order: variances as SD²,
            covariances as r·sd_i·sd_j, fixed rows at their value, ``:=`` rows 0.
        """
        plan = self._plan
        vals = xp.zeros_like(elements[..., :1]) + plan["base"]
        vals = _put(vals, plan["free_pos"], elements[..., plan["free_elem"]], xp)
        sd = vals[..., plan["sd_pos"]]
        vals = _put(vals, plan["sd_pos"], sd * sd, xp)
        cov = vals[..., plan["cov_pos"]]
        scale = xp.sqrt(vals[..., plan["cov_var_i"]] * vals[..., plan["cov_var_j"]])
        return _put(vals, plan["cov_pos"], cov * scale, xp)

    def matrices(self, row_values, xp=np) -> dict:
        """Lambda, B, Psi, Theta, nu and alpha from the row values.

        Parameters
        ----------
        row_values : array
            Shape ``(..., n_rows)``, from :meth:`row_values`.
        xp : module
            ``numpy`` or ``pytensor.tensor``.

        Returns
        -------
        dict
            Arrays with the leading shape of ``row_values``.
        """
        plan = self._plan
        lead = row_values[..., 0]
        out = {}
        for name, shape in self.shapes.items():
            base = plan["base_" + name]
            mat = xp.zeros_like(lead)[(...,) + (None,) * len(shape)] + base
            pos, idx = plan["pos_" + name], plan["idx_" + name]
            if len(pos):
                mat = _put(mat, idx, row_values[..., pos], xp)
            out[name] = mat
        return out

    @property
    def _plan(self) -> dict:
        if self._cached_plan is None:
            self._cached_plan = self._make_plan()
        return self._cached_plan

    def _make_plan(self) -> dict:
        pt = self.partable
        pos = {rid: k for k, rid in enumerate(pt["id"])}
        base = np.where(pt["free"].to_numpy() | (pt["op"] == ":=").to_numpy(), 0.0,
                        pt["value"].fillna(0.0).to_numpy(dtype=float))
        free_ids = [rid for rid in pt["id"] if rid in self.row_element]
        plan = {
            "base": base,
            "free_pos": np.array([pos[r] for r in free_ids], dtype=int),
            "free_elem": np.array([self.row_element[r] for r in free_ids], dtype=int),
            "sd_pos": np.array(
                [pos[r] for r in free_ids if self.elements[self.row_element[r]].kind == "sd"],
                dtype=int,
            ),
        }
        free_cov = [c for c in self.covariances if c[0] in self.row_element]
        plan["cov_pos"] = np.array([pos[c[0]] for c in free_cov], dtype=int)
        plan["cov_var_i"] = np.array([pos[c[4]] for c in free_cov], dtype=int)
        plan["cov_var_j"] = np.array([pos[c[5]] for c in free_cov], dtype=int)
        for name, shape in self.shapes.items():
            b = np.zeros(shape)
            if name == "Lambda":
                for k, o in enumerate(self.observed):
                    if o in self.latent:
                        b[k, self.latent.index(o)] = 1.0
            cells = [c for c in self.cells if c[1] == name]
            rows = [pos[c[0]] for c in cells]
            if len(shape) == 1:
                idx = (np.array([c[2] for c in cells], dtype=int),)
            else:
                i = [c[2] for c in cells]
                j = [c[3] for c in cells]
                if name in ("Psi", "Theta"):
                    # symmetric: fill the mirror cell of every off-diagonal entry too
                    mirror = [k for k in range(len(cells)) if i[k] != j[k]]
                    rows = rows + [rows[k] for k in mirror]
                    i, j = i + [j[k] for k in mirror], j + [i[k] for k in mirror]
                idx = (np.array(i, dtype=int), np.array(j, dtype=int))
            plan["base_" + name] = b
            plan["pos_" + name] = np.array(rows, dtype=int)
            plan["idx_" + name] = idx
        return plan


def _put(arr, idx, values, xp):
    """``arr[..., idx] = values`` for numpy (on a copy) and for PyTensor tensors."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    if xp is np:
        out = np.array(arr, copy=True)
        out[(Ellipsis, *idx)] = values
        return out
    return xp.set_subtensor(arr[(Ellipsis, *idx)], values)


def build_layout(partable: pd.DataFrame) -> Layout:
    """Place every row of a parameter table in the model matrices.

    Parameters
    ----------
    partable : pandas.DataFrame
        A parameter table from :func:`bayes_rent.spec.partable.build_partable`.

    Returns
    -------
    Layout

    Raises
    ------
    ValueError
        For a covariance between an ordinary indicator and a structural variable, or rows
        tied by one label whose kinds differ.

    Examples
    --------
    >>> from bayes_rent.spec.partable import build_partable
    >>> lay = build_layout(build_partable("f =~ x1 + x2 + x3"))
    >>> lay.observed, lay.latent
    (['x1', 'x2', 'x3'], ['f'])
    """
    pt = partable.reset_index(drop=True)
    latents = list(latent_variables(pt))
    observed = list(observed_variables(pt))
    phantoms = structural_observed(pt)
    latent = latents + phantoms
    lay = Layout(
        partable=pt,
        observed=observed,
        latent=latent,
        phantom=np.array([v in phantoms for v in latent]),
    )
    lv = {v: k for k, v in enumerate(latent)}
    ov = {v: k for k, v in enumerate(observed)}

    def in_psi(name: str) -> bool:
        return name in lv

    label_element: dict[str, int] = {}
    # a covariance is scaled by the variances of its own group (multi-group tables repeat rows)
    sd_row: dict[tuple[int, str], int] = {}
    for row in pt.itertuples(index=False):
        if row.op == "~~" and row.lhs == row.rhs:
            sd_row[row.group, row.lhs] = row.id

    for row in pt.itertuples(index=False):
        op, lhs, rhs = row.op, row.lhs, row.rhs
        if op == ":=":
            continue
        cell = None
        if op == "|":
            # thresholds fill no matrix cell: the conditional backend reads them by item
            kind = "threshold"
        elif op == "=~":
            kind = "loading"
            if rhs in lv:
                # a latent indicator of a latent: the loading is a path in B
                cell = ("B", lv[rhs], lv[lhs])
            else:
                cell = ("Lambda", ov[rhs], lv[lhs])
        elif op == "~":
            kind = "path"
            cell = ("B", lv[lhs], lv[rhs])
        elif op == "~1":
            if lhs in lv:
                # a phantom's intercept is the regression intercept of its observed variable
                kind = "intercept" if lhs in phantoms else "latent_mean"
                cell = ("alpha", lv[lhs], -1)
            else:
                kind, cell = "intercept", ("nu", ov[lhs], -1)
        elif op == "~~":
            if in_psi(lhs) != in_psi(rhs):
                raise ValueError(
                    f"'{lhs} ~~ {rhs}': a covariance between an indicator and a structural "
                    "variable is not supported; put both in the structural part or neither."
                )
            name = "Psi" if in_psi(lhs) else "Theta"
            idx = lv if name == "Psi" else ov
            cell = (name, idx[lhs], idx[rhs])
            if lhs == rhs:
                kind = "sd"
            else:
                kind = "correlation"
                if (row.group, lhs) not in sd_row or (row.group, rhs) not in sd_row:
                    raise ValueError(f"'{lhs} ~~ {rhs}' needs variances of both variables.")
                lay.covariances.append(
                    (row.id, name, cell[1], cell[2], sd_row[row.group, lhs],
                     sd_row[row.group, rhs])
                )
        else:
            raise ValueError(f"operator '{op}' is not handled by the continuous backend")
        if cell is not None:
            lay.cells.append((row.id, *cell))
        if not row.free:
            continue
        label = row.label
        if label and label in label_element:
            k = label_element[label]
            if lay.elements[k].kind != kind:
                raise ValueError(
                    f"label '{label}' ties parameters of different kinds "
                    f"({lay.elements[k].kind} and {kind})"
                )
            lay.elements[k].rows.append(row.id)
        else:
            name = label if label else f"{lhs}{op}{rhs}"
            lay.elements.append(Element(kind=kind, name=name, rows=[row.id], prior=row.prior))
            k = len(lay.elements) - 1
            if label:
                label_element[label] = k
        lay.row_element[row.id] = k
    return lay
