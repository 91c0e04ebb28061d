"""One log density for every continuous model: the structure as data, compiled once per machine.

The PyMC route compiles a new program for every model structure (PyTensor rewrites it, numba
compiles it, nutpie wraps it in C callbacks): 20–100 s before the first draw. The marginal
likelihood of every continuous model has the same computation, only the placement of the
parameters differs (:mod:`bayes_rent.backend.marginal`, ``docs/architecture.md``). Here that
placement is written into two flat arrays (:func:`build_structure`) and the data into a third
(:func:`pack_moments`); one numba function with an analytic gradient
(:func:`bayes_rent.backend.generic_kernels.logp_dlogp`, ``cache=True``) reads them. It is
compiled the first time it is used on a machine and loaded from numba's on-disk cache by every
later process, for every model structure.

The density is exactly the PyMC model's (``build_model``), on the same unconstrained scale,
with the same Jacobians and in the same variable order, so draws from it are draws of the PyMC
model: the posterior holds the same variables (``loadings``, ``sds_log__``, ``sds``, ...)
with the same dims, and everything that reads a fit reads these draws the same way.

What it serves, and what falls back to the PyMC route (:func:`unsupported_reason`): continuous
items, complete data or missingness patterns, one group or several (``pooling="none"``), every
prior family of :mod:`bayes_rent.spec.priors` that PyMC accepts for the parameter kind, and
data augmentation of scattered missing answers (one group): the missing answers are the last
coordinates of the point and of the posterior (``missing_answers``, dim ``missing_answer``),
as in the PyMC model. Not served: ordinal items (thresholds), partially pooled paths,
clustered and two-level models.

Two ways to hand it to nutpie, the same draws either way: C callbacks (:func:`native_model`,
the default of :func:`sample`: nutpie's threads never enter Python) or a Python callback
through ``nutpie.from_pyfunc`` (:func:`compile_model`, the public API; every gradient takes
the GIL, 2-3x slower sampling).

The caller's switch, in ``Model.fit`` between ``backend.prepare`` and ``run_sampler``::

    idata, reason = sample_prepared(backend.name, prepared, **sampler_settings)
    if idata is None:
        idata = run_sampler(prepared.pm_model, prepared.key, prepared.data, ...)

and, in ``MarginalBackend.prepare``, :func:`start_values` in place of
``backend.start.start_values`` (same signature and result, exact gradients, ~60x faster).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_rent.backend import generic_kernels as gk

if TYPE_CHECKING:
    import arviz as az

    from bayes_rent.data.observed import ObservedMoments
    from bayes_rent.spec.layout import Layout

# family: (kernel code, PyMC transform, positive support)
_FAMILIES: dict[str, tuple[int, int, bool]] = {
    "normal": (gk.NORMAL, gk.T_NONE, False),
    "student_t": (gk.STUDENT_T, gk.T_NONE, False),
    "cauchy": (gk.CAUCHY, gk.T_NONE, False),
    "uniform": (gk.UNIFORM, gk.T_INTERVAL, False),
    "lognormal": (gk.LOGNORMAL, gk.T_LOG, True),
    "gamma": (gk.GAMMA, gk.T_LOG, True),
    "inv_gamma": (gk.INV_GAMMA, gk.T_LOG, True),
    "halfnormal": (gk.HALFNORMAL, gk.T_LOG, True),
    "halfcauchy": (gk.HALFCAUCHY, gk.T_LOG, True),
    "halfstudent_t": (gk.HALFSTUDENT_T, gk.T_LOG, True),
    "exponential": (gk.EXPONENTIAL, gk.T_LOG, True),
    "beta": (gk.BETA, gk.T_INTERVAL, True),
}
# PyMC's suffix of a transformed variable's value variable (beta: LogOddsTransform, the
# interval transform on (0, 1) under another name)
_SUFFIX = {gk.T_NONE: "", gk.T_LOG: "_log__", gk.T_INTERVAL: "_interval__"}
_MATRICES = {"Lambda": gk.LAMBDA, "B": gk.B, "Psi": gk.PSI, "Theta": gk.THETA,
             "nu": gk.NU, "alpha": gk.ALPHA}


def _prior_constant(family: str, args: tuple[float, ...]) -> float:
    """The part of PyMC's log density that depends only on the prior's arguments."""
    lg, log = math.lgamma, math.log
    a = args
    constants: dict[str, Callable[[], float]] = {
        "normal": lambda: -log(a[1]) - 0.5 * log(2 * math.pi),
        "student_t": lambda: (lg((a[0] + 1) / 2) - lg(a[0] / 2) - 0.5 * log(a[0] * math.pi)
                              - log(a[2])),
        "cauchy": lambda: -log(math.pi) - log(a[1]),
        "uniform": lambda: -log(a[1] - a[0]),
        "lognormal": lambda: -0.5 * log(2 * math.pi) - log(a[1]),
        "gamma": lambda: a[0] * log(a[1]) - lg(a[0]),
        "inv_gamma": lambda: a[0] * log(a[1]) - lg(a[0]),
        "halfnormal": lambda: 0.5 * log(2 / math.pi) - log(a[0]),
        "halfcauchy": lambda: log(2) - log(math.pi) - log(a[0]),
        "halfstudent_t": lambda: (log(2) + lg((a[0] + 1) / 2) - lg(a[0] / 2)
                                  - 0.5 * log(a[0] * math.pi * a[1] ** 2)),
        "exponential": lambda: log(a[0]),
        "beta": lambda: lg(a[0] + a[1]) - lg(a[0]) - lg(a[1]),
    }
    return constants[family]()


def _natural_code(spec, kind: str) -> int:
    """How a sampled value maps to the natural scale (``natural_values``)."""
    if kind == "correlation" and spec.family == "beta":
        return gk.N_CORRELATION
    if kind == "sd" and spec.scale == "var":
        return gk.N_SQRT
    if kind == "sd" and spec.scale == "prec":
        return gk.N_INV_SQRT
    return gk.N_IDENTITY


def _group_problem(group) -> str | None:
    """Why one prior group cannot be served, or None (the checks of ``prior_rv``)."""
    spec, kind = group.spec, group.kind
    if kind == "threshold":
        return "ordinal thresholds are sampled by the conditional backend"
    if spec.family not in _FAMILIES:
        return f"prior family {spec.family!r} has no generic kernel"
    positive = _FAMILIES[spec.family][2]
    if kind == "sd" and not positive:
        return f"prior '{spec.text}' on a variance needs positive support"
    if kind == "correlation" and spec.family not in ("beta", "uniform"):
        return f"prior '{spec.text}' on a correlation must be beta or uniform"
    if kind != "correlation" and spec.family == "beta":
        return f"prior '{spec.text}': beta priors are for correlations only"
    return None


def unsupported_reason(
    layout: Layout,
    groups: Sequence,
    observed: ObservedMoments | Sequence[ObservedMoments] | None = None,
    *,
    augmented: bool = False,
    pooled: object | None = None,
) -> str | None:
    """Why the generic density cannot serve this model, or ``None`` when it can.

    Parameters
    ----------
    layout : Layout
        Placement of the parameter-table rows (the whole table's, for several groups).
    groups : sequence of PriorGroup
        The sampled vectors and their priors.
    observed : ObservedMoments or sequence of them, optional
        The data's pattern statistics (one per group).
    augmented : bool
        Whether the fit samples missing answers (data augmentation; the marginal backend
        does when ``observed.scattered``): served for one group of respondents.
    pooled : object, optional
        Partially pooled paths of a multi-group fit.

    Returns
    -------
    str or None
        A sentence for the log; the caller then builds the PyMC model as before.
    """
    if augmented and isinstance(observed, Sequence) and len(observed) > 1:
        return "missing answers are sampled in a multi-group fit (data augmentation)"
    if pooled is not None:
        return "partially pooled paths are built from extra variables"
    for g in groups:
        problem = _group_problem(g)
        if problem:
            return problem
    covered = sorted(k for g in groups for k in g.elements)
    if covered != list(range(len(layout.elements))):
        return "some elements are not sampled by exactly one prior group"
    if observed is not None:
        for _, mask, _, _ in _pattern_arrays(observed):
            if mask.shape[1] != layout.n_observed:
                return "the moments do not match the layout's observed variables"
    return None


# ----------------------------------------------------------------------------- structure
@dataclass(frozen=True)
class Variable:
    """One variable of the posterior, as the PyMC model's InferenceData holds it.

    ``start:stop`` is the group's slice of the unconstrained vector. A value variable
    (``constrained=False``) stores that slice as it is (``sds_log__``, or ``loadings`` for an
    untransformed group); a constrained one stores its back-transformed values (``sds``).
    """

    name: str
    group: str
    dims: tuple[str, ...]
    start: int
    stop: int
    transform: int = gk.T_NONE
    lower: float = 0.0
    upper: float = 1.0
    constrained: bool = False

    def backward(self, u: np.ndarray) -> np.ndarray:
        """Constrained values from unconstrained ones (PyMC's ``backward``)."""
        if self.transform == gk.T_LOG:
            return np.exp(u)
        if self.transform == gk.T_INTERVAL:
            s = 1.0 / (1.0 + np.exp(-u))
            return s * self.upper + (1.0 - s) * self.lower
        return u

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Unconstrained values from constrained ones (PyMC's ``forward``)."""
        x = np.asarray(x, dtype=float)
        if self.transform == gk.T_LOG:
            return np.log(x)
        if self.transform == gk.T_INTERVAL:
            return np.log(x - self.lower) - np.log(self.upper - x)
        return x


@dataclass(frozen=True)
class Structure:
    """The model structure as data: what :func:`build_structure` hands to the kernel.

    Attributes
    ----------
    ints, reals : numpy.ndarray
        The packed index maps and constants (see :mod:`bayes_rent.backend.generic_kernels`).
    variables : list of Variable
        The expanded draw: value variables in the PyMC model's order (``missing_answers``
        last, when the fit samples them), then the constrained values of the transformed ones.
    coords : dict
        Coordinates of the dims (the PyMC model's, plus ``<name>_dim_0`` of value variables).
    """

    ints: np.ndarray
    reals: np.ndarray
    variables: list[Variable]
    coords: dict[str, pd.Index]
    n_groups: int = 1
    group_names: list[str] = field(default_factory=list)

    @property
    def ndim(self) -> int:
        """Length of the unconstrained vector."""
        return int(self.ints[self.ints[0]])

    @property
    def n_missing(self) -> int:
        """How many missing answers the point holds (data augmentation; 0 without)."""
        h = 2 * gk.I_MISSING
        return int(self.ints[h + 1] - self.ints[h]) // 2


def _pack(int_segments: list, real_segments: list) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate segments behind a header of (start, stop) pairs in ``ints``."""
    int_segments = [np.asarray(s, dtype=np.int64).ravel() for s in int_segments]
    real_segments = [np.asarray(s, dtype=np.float64).ravel() for s in real_segments]
    bounds, at = [], 2 * (len(int_segments) + len(real_segments))
    for seg in int_segments:
        bounds += [at, at + seg.size]
        at += seg.size
    at = 0
    for seg in real_segments:
        bounds += [at, at + seg.size]
        at += seg.size
    ints = np.concatenate([np.array(bounds, dtype=np.int64), *int_segments])
    return np.ascontiguousarray(ints), np.ascontiguousarray(np.concatenate(real_segments))


def _positions(groups: Sequence) -> tuple[list, list, list, list[Variable], dict]:
    """Per position of the unconstrained vector: element, codes, prior arguments; variables."""
    elems, codes, args, value_vars, constrained, coords = [], [], [], [], [], {}
    for g in groups:
        family, transform, _ = _FAMILIES[g.spec.family]
        lower, upper = (g.spec.args if g.spec.family == "uniform" else (0.0, 1.0))
        padded = (list(g.spec.args) + [0.0, 0.0, 0.0])[:3]
        const = _prior_constant(g.spec.family, g.spec.args)
        start, n = len(elems), len(g.elements)
        for k in g.elements:
            elems.append(k)
            codes.append([family, transform, _natural_code(g.spec, g.kind)])
            args.append(padded + [const, lower, upper])
        name = g.name + ("_logodds__" if g.spec.family == "beta" else _SUFFIX[transform])
        span = dict(group=g.name, start=start, stop=start + n, transform=transform,
                    lower=float(lower), upper=float(upper))
        if transform == gk.T_NONE:
            value_vars.append(Variable(name, dims=(g.dim,), **span))
        else:
            # PyMC gives a value variable no dims; nutpie then names its axis <name>_dim_0
            value_vars.append(Variable(name, dims=(f"{name}_dim_0",), **span))
            coords[f"{name}_dim_0"] = pd.RangeIndex(n)
            constrained.append(Variable(g.name, dims=(g.dim,), constrained=True, **span))
    return elems, codes, args, value_vars + constrained, coords


def _row_maps(layout: Layout) -> tuple[dict, list]:
    """Row positions and the row-level segments (Layout._make_plan's free/sd/cov maps)."""
    table = layout.partable
    pos = {rid: k for k, rid in enumerate(table["id"])}
    free_ids = [rid for rid in table["id"] if rid in layout.row_element]
    free = [[pos[r], layout.row_element[r]] for r in free_ids]
    sd = [pos[r] for r in free_ids if layout.elements[layout.row_element[r]].kind == "sd"]
    cov = [[pos[c[0]], pos[c[4]], pos[c[5]]]
           for c in layout.covariances if c[0] in layout.row_element]
    return pos, [free, sd, cov]


def _cell_fills(layouts: Sequence[Layout], pos: Mapping[int, int]) -> tuple[list, list]:
    """Every group's matrix cells as (matrix, i, j, row position), mirrors included."""
    fills, offsets = [], [0]
    for lay in layouts:
        for rid, name, i, j in lay.cells:
            fills.append([_MATRICES[name], i, max(j, 0), pos[rid]])
            if name in ("Psi", "Theta") and i != j:
                fills.append([_MATRICES[name], j, i, pos[rid]])
        offsets.append(len(fills))
    return fills, offsets


MISSING = "missing_answers"
MISSING_DIM = "missing_answer"


def build_structure(
    layout: Layout, groups: Sequence, layouts: Sequence[Layout] | None = None,
    group_names: Sequence[str] | None = None,
    missing_cells: tuple[np.ndarray, np.ndarray] | None = None,
) -> Structure:
    """Turn a layout and its prior groups into the kernel's index arrays.

    Parameters
    ----------
    layout : Layout
        Placement of the parameter-table rows (for several groups: the whole table's).
    groups : sequence of PriorGroup
        The sampled vectors, in the PyMC model's order (``prior_groups``).
    layouts : sequence of Layout, optional
        One layout per group of respondents (``multigroup.group_layouts``); by default
        ``[layout]``.
    group_names : sequence of str, optional
        Labels of the groups (the ``group`` coordinate of a multi-group model).
    missing_cells : tuple of arrays, optional
        Row and column indices of the missing answers the fit samples (data augmentation,
        one group), in the order of the PyMC model's ``missing_answers``
        (``build_model(missing_cells=)``).

    Returns
    -------
    Structure

    Raises
    ------
    ValueError
        When :func:`unsupported_reason` names a problem.
    """
    reason = unsupported_reason(layout, groups)
    if reason:
        raise ValueError(f"the generic density cannot serve this model: {reason}")
    layouts = [layout] if layouts is None else list(layouts)
    if missing_cells is not None and len(layouts) > 1:
        raise ValueError("missing answers are sampled for one group of respondents only")
    elems, codes, args, variables, extra = _positions(groups)
    cells = np.zeros((0, 2), dtype=np.int64)
    if missing_cells is not None:
        cells = np.column_stack([np.asarray(c, dtype=np.int64) for c in missing_cells])
    n_par, n_missing = len(elems), len(cells)
    if n_missing:
        # a flat, untransformed variable after the prior groups, as build_model creates it;
        # its values are the last coordinates of the point
        at = sum(not v.constrained for v in variables)
        variables.insert(at, Variable(MISSING, group=MISSING, dims=(MISSING_DIM,),
                                      start=n_par, stop=n_par + n_missing))
    pos, (free, sd, cov) = _row_maps(layout)
    fills, offsets = _cell_fills(layouts, pos)
    table = layout.partable
    base = np.where(table["free"].to_numpy(bool) | (table["op"] == ":=").to_numpy(), 0.0,
                    table["value"].fillna(0.0).to_numpy(dtype=float))
    p, m = layout.n_observed, layout.n_latent
    lambda_base = np.zeros((p, m))
    for k, o in enumerate(layout.observed):
        if o in layout.latent:
            lambda_base[k, layout.latent.index(o)] = 1.0
    dims = [n_par + n_missing, len(layout.elements), len(table), len(layouts), p, m]
    slots = [(i, v.transform if v.constrained else gk.T_NONE)
             for v in variables for i in range(v.start, v.stop)]
    bounds = [(v.lower, v.upper) for v in variables for _ in range(v.start, v.stop)]
    ints, reals = _pack(
        [dims, elems, codes, free, sd, cov, fills, offsets, slots, cells],
        [base, args, lambda_base, bounds],
    )
    coords = {g.dim: pd.Index([layout.elements[k].name for k in g.elements]) for g in groups}
    coords.update(extra)
    if n_missing:
        coords[MISSING_DIM] = pd.Index(
            [f"{layout.observed[j]}[{i}]" for i, j in cells])
    names = [str(n) for n in group_names] if group_names is not None else []
    if names:
        coords["group"] = pd.Index(names)
    return Structure(ints, reals, variables, coords, len(layouts), names)


def _pattern_arrays(observed) -> list[tuple[np.ndarray, ...]]:
    """``(n, mask, mean, factor)`` of every group, from any form the package holds them in.

    Accepts one ``ObservedMoments``, a sequence of them (one per group), or the ``pm.Data``
    values the backends hand to the sampler: ``stats.as_data()`` (``pattern_n``, ...) or
    ``multigroup.data_for(stats)`` (``pattern_n_g0``, ``pattern_n_g1``, ...).
    """
    if isinstance(observed, Mapping):
        suffixes = [""] if "pattern_n" in observed else [
            f"_g{k}" for k in range(sum(key.startswith("pattern_n_g") for key in observed))
        ]
        return [tuple(np.asarray(observed[f"pattern_{name}{sfx}"], dtype=float)
                      for name in ("n", "mask", "mean", "factor")) for sfx in suffixes]
    stats = [observed] if hasattr(observed, "mask") else list(observed)
    return [(s.n, s.mask, s.mean, s.factor) for s in stats]


def pack_moments(observed) -> np.ndarray:
    """The data as the kernel reads them: every group's missingness patterns in one array.

    Parameters
    ----------
    observed : ObservedMoments, sequence of them, or mapping
        One per group of respondents, in the order of the structure's layouts; or the
        ``pm.Data`` dict of the PyMC route (``stats.as_data()``, ``multigroup.data_for``,
        or ``{"filled_data": ...}`` of a fit that samples the missing answers).

    Returns
    -------
    numpy.ndarray
        ``[K, p]`` then per pattern ``[group, n, mask, mean, S]``, S = F Fᵀ; with
        ``filled_data`` X, ``[0, p]`` then the complete-data block
        ``[N, c, X − c, Σ (X − c), (X − c)ᵀ (X − c)]``, c the column means of X.
    """
    if isinstance(observed, Mapping) and "filled_data" in observed:
        filled = np.asarray(observed["filled_data"], dtype=np.float64)
        n, p = filled.shape
        shift = filled.mean(axis=0)
        centred = filled - shift
        return np.ascontiguousarray(np.concatenate([
            [0.0, p, n], shift, centred.ravel(), centred.sum(axis=0),
            (centred.T @ centred).ravel()]))
    parts = _pattern_arrays(observed)
    p = parts[0][1].shape[1]
    blocks = []
    for g, (n, mask, mean, factor) in enumerate(parts):
        cov = np.einsum("kij,klj->kil", factor, factor)
        for k in range(len(n)):
            blocks.append(np.concatenate([[g, n[k]], mask[k], mean[k], cov[k].ravel()]))
    head = [float(len(blocks)), float(p)]
    return np.ascontiguousarray(np.concatenate([head, *blocks]), dtype=np.float64)


def _checked(structure: Structure, moments: np.ndarray) -> np.ndarray:
    """The packed data, after checking they hold what the structure reads.

    The kernel does not check bounds: a structure that samples missing answers needs the
    complete-data block, with every missing cell inside it.
    """
    moments = np.ascontiguousarray(moments, dtype=np.float64)
    n_missing = structure.n_missing
    if n_missing:
        p = int(moments[1])
        n = int(moments[2]) if moments[0] == 0 and moments.size > 2 else -1
        cells = gk.segment(structure.ints, gk.I_MISSING).reshape(-1, 2)
        rows = cells[:, 0]
        if (n < 0 or moments.size != 3 + (n + 2) * p + p * p or rows.max() >= n
                or cells[:, 1].max() >= p or np.any(np.diff(rows) < 0)):
            raise ValueError("the structure samples missing answers: the data must be the "
                             "filled data matrix (pack_moments({'filled_data': ...}))")
    return moments


def log_density(structure: Structure, moments: np.ndarray, point: np.ndarray):
    """Log density and gradient at an unconstrained point (what the sampler calls).

    Parameters
    ----------
    structure : Structure
    moments : numpy.ndarray
        From :func:`pack_moments`.
    point : numpy.ndarray
        Unconstrained values, in the PyMC model's order of free variables.

    Returns
    -------
    tuple of (float, numpy.ndarray)
    """
    u = np.ascontiguousarray(point, dtype=np.float64)
    return gk.logp_dlogp(u, structure.ints, structure.reals, _checked(structure, moments))


# ------------------------------------------------------------------------------- sampling
def flat_point(structure: Structure, values: Mapping[str, np.ndarray]) -> np.ndarray:
    """A point on the unconstrained scale from the prior groups' constrained values.

    Parameters
    ----------
    structure : Structure
    values : mapping
        Group name (``loadings``, ``sds``, ...) to its values, as in a chain's ``initvals``.

    Returns
    -------
    numpy.ndarray
        In the order of the PyMC model's free variables (what PyMC's
        ``make_initial_point_fn(..., return_transformed=True)`` gives).
    """
    out = np.empty(structure.ndim)
    for v in structure.variables:
        if not v.constrained:
            out[v.start:v.stop] = v.forward(values[v.group])
    return out


def expand_draw(structure: Structure, point: np.ndarray) -> dict[str, np.ndarray]:
    """The named variables of one unconstrained draw, in the posterior's order."""
    return {
        v.name: np.ascontiguousarray(
            v.backward(point[v.start:v.stop]) if v.constrained else point[v.start:v.stop]
        )
        for v in structure.variables
    }


def compile_model(
    structure: Structure,
    observed: ObservedMoments | Sequence[ObservedMoments],
    initial_point: Callable[[int], np.ndarray] | None = None,
):
    """The nutpie model of a structure: nothing is compiled, the kernel is numba's cached one.

    Parameters
    ----------
    structure : Structure
        From :func:`build_structure`.
    observed : ObservedMoments or sequence of them
        The data; ``model.with_data(moments=pack_moments(other))`` swaps them without
        rebuilding anything.
    initial_point : callable, optional
        ``seed -> unconstrained point`` (nutpie calls it once per chain).

    Returns
    -------
    nutpie.compiled_pyfunc.PyFuncModel
    """
    from nutpie.compiled_pyfunc import from_pyfunc

    ints, reals, kernel = structure.ints, structure.reals, gk.logp_dlogp

    def make_logp_fn():
        def logp(x, moments):
            return kernel(x, ints, reals, moments)

        return logp

    def make_expand_fn(seed1, seed2, chain):
        def expand(x, moments):
            return expand_draw(structure, x)

        return expand

    variables = structure.variables
    return from_pyfunc(
        ndim=structure.ndim,
        make_logp_fn=make_logp_fn,
        make_expand_fn=make_expand_fn,
        expanded_dtypes=[np.dtype("float64")] * len(variables),
        expanded_shapes=[(v.stop - v.start,) for v in variables],
        expanded_names=[v.name for v in variables],
        coords=structure.coords,
        dims={v.name: v.dims for v in variables},
        shared_data={"moments": _checked(structure, pack_moments(observed))},
        make_initial_point_fn=initial_point,
    )


def native_model(
    structure: Structure,
    observed,
    initial_point: Callable[[int], np.ndarray] | None = None,
):
    """The same model handed to nutpie as C callbacks: no Python call per gradient.

    :func:`compile_model` goes through ``nutpie.from_pyfunc``, whose sampler threads call a
    Python function (and take the GIL) for every gradient. Here nutpie gets the addresses
    of two generic numba ``cfunc`` callbacks (cached on disk like the kernel) and of a
    handle to the structure and data arrays: the form of nutpie's own compiled PyMC models
    (``nutpie.compile_pymc.CompiledPyMCModel``), minus the per-model compile.

    This relies on the fields of that nutpie dataclass (checked with nutpie 0.16.8); new
    data need a new call (``with_data`` of that class expects PyTensor's shared variables).

    Parameters
    ----------
    structure : Structure
    observed : ObservedMoments, sequence of them, or mapping
        The data (see :func:`pack_moments`).
    initial_point : callable, optional
        ``seed -> unconstrained point``.

    Returns
    -------
    nutpie.compile_pymc.CompiledPyMCModel
    """
    from nutpie.compile_pymc import CompiledPyMCModel

    logp_callback, expand_callback = gk.native_callbacks()
    moments = _checked(structure, pack_moments(observed))
    arrays = {"ints": structure.ints, "reals": structure.reals, "moments": moments}
    # the callbacks find the arrays through these addresses; the model object keeps the
    # arrays (shared_data) alive as long as nutpie holds it
    handle = np.array([structure.ints.ctypes.data, structure.ints.size,
                       structure.reals.ctypes.data, structure.reals.size,
                       moments.ctypes.data, moments.size], dtype=np.int64)
    variables = structure.variables
    names = [v.name for v in variables]
    shapes = [(v.stop - v.start,) for v in variables]
    ends = np.cumsum([0] + [n for (n,) in shapes])
    return CompiledPyMCModel(
        dims={v.name: v.dims for v in variables},
        compiled_logp_func=logp_callback,
        compiled_expand_func=expand_callback,
        initial_point_func=initial_point,
        shared_data=arrays,
        user_data=handle,
        n_expanded=int(ends[-1]),
        shape_info=(names, [slice(a, b) for a, b in zip(ends[:-1], ends[1:], strict=True)], shapes),
        logp_func=None,
        expand_func=None,
        _n_dim=structure.ndim,
        _shapes=dict(zip(names, shapes, strict=True)),
        _coords=dict(structure.coords),
    )


def sample(
    structure: Structure,
    observed: ObservedMoments | Sequence[ObservedMoments],
    initvals: Sequence[Mapping[str, np.ndarray]],
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int | None = None,
    progressbar: bool = True,
    target_accept: float | None = None,
    native: bool | None = None,
    **_: Any,
) -> az.InferenceData:
    """Sample with nutpie from the generic density: ``run_sampler``'s counterpart.

    Parameters
    ----------
    structure : Structure
        From :func:`build_structure`.
    observed : ObservedMoments or sequence of them
        The data (one per group of respondents).
    initvals : list of dict
        Starting values per chain (constrained scale, by group name); as in ``run_sampler``
        nutpie starts every chain from the first, jittered by U(-0.1, 0.1) on the
        unconstrained scale with the chain's seed.
    draws, tune, chains, seed, progressbar, target_accept
        As for ``run_sampler``; other keywords (``sampler``) are ignored.
    native : bool, optional
        ``True``: hand nutpie the C callbacks (:func:`native_model`); ``False``: the Python
        callback of ``nutpie.from_pyfunc`` (:func:`compile_model`). By default the C
        callbacks, and ``from_pyfunc`` when this nutpie's model class does not take them.
        Same draws either way; the C callbacks sample 2-3x faster (bench/README.md).

    Returns
    -------
    arviz.InferenceData
        The same groups, variables and dims as the PyMC route's.
    """
    import os

    import nutpie
    from threadpoolctl import threadpool_limits

    seed = int(np.random.SeedSequence(seed).generate_state(1)[0]) if seed is None else seed
    start = flat_point(structure, initvals[0])

    def initial_point(chain_seed) -> np.ndarray:
        rng = np.random.default_rng(chain_seed)
        return start + rng.uniform(-0.1, 0.1, size=start.shape)

    compiled = None
    if native or native is None:
        try:
            compiled = native_model(structure, observed, initial_point)
        except (ImportError, TypeError):
            if native:
                raise
    if compiled is None:
        compiled = compile_model(structure, observed, initial_point)
    extra = {} if target_accept is None else {"target_accept": target_accept}
    cores = max(1, min(chains, os.cpu_count() or 1))
    # BLAS at one thread while sampling, as run_sampler does (the kernel calls no BLAS, but
    # the fit's other work in this scope must not spin threads on a busy machine)
    with threadpool_limits(limits=1, user_api="blas"):
        return nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, cores=cores,
                             seed=seed, progress_bar=progressbar, **extra)


# ---------------------------------------------------------------------------- the route
def structure_for(backend_name: str, prepared) -> tuple[Structure | None, str | None]:
    """The generic structure of a prepared fit, or why the PyMC route must run it.

    Parameters
    ----------
    backend_name : str
        ``backend.name`` of the prepared fit.
    prepared : bayes_rent.backend.base.Prepared
        What ``backend.prepare`` returned (its ``fit_parts`` hold the layout, the prior
        groups and the moments; its ``data`` the ``pm.Data`` values).

    Returns
    -------
    structure : Structure or None
    reason : str or None
        Why the generic density cannot serve the fit (``structure`` is then None).
    """
    if backend_name not in ("marginal", "multigroup"):
        return None, f"the {backend_name} backend's likelihood has no generic kernel"
    parts = prepared.fit_parts
    layouts = parts.get("group_layouts")
    observed = parts["group_moments"] if layouts is not None else parts["moments"]
    augmented = "filled_data" in prepared.data
    reason = unsupported_reason(
        parts["layout"], parts["groups"], observed,
        augmented=augmented, pooled=parts.get("pooled"),
    )
    if reason:
        return None, reason
    cells = None
    if augmented:
        # the cells MarginalBackend.prepare hands to build_model: the gaps of the checked
        # data frame, row by row
        cells = np.nonzero(np.isnan(parts["data"].to_numpy(dtype=float)))
        if len(cells[0]) != np.size(prepared.initvals[0][MISSING]):
            return None, "the missing answers do not match the data's gaps"
    return build_structure(parts["layout"], parts["groups"], layouts,
                           parts.get("group_names"), missing_cells=cells), None


def sample_prepared(backend_name: str, prepared, **settings) -> tuple[Any, str | None]:
    """Sample a prepared fit with the generic density, when it serves the fit.

    The whole switch of the fitting route: ``Model.fit`` calls this between
    ``backend.prepare`` and ``run_sampler``, and runs ``run_sampler`` as before when no
    draws come back.

    Parameters
    ----------
    backend_name : str
        ``backend.name`` of the prepared fit.
    prepared : bayes_rent.backend.base.Prepared
        What ``backend.prepare`` returned.
    **settings
        ``run_sampler``'s keywords (``sampler``, ``draws``, ``tune``, ``chains``, ``seed``,
        ``progressbar``, ``target_accept``) and ``native`` (see :func:`sample`).

    Returns
    -------
    idata : arviz.InferenceData or None
        None when the generic density does not serve the fit.
    reason : str or None
        Why not (``"sampler ..."`` for another sampler than nutpie).
    """
    if settings.get("sampler", "nutpie") != "nutpie":
        return None, f"sampler {settings['sampler']!r}: the generic density serves nutpie"
    structure, reason = structure_for(backend_name, prepared)
    if structure is None:
        return None, reason
    return sample(structure, prepared.data, prepared.initvals, **settings), None
