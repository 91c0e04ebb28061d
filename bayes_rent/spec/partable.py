"""The parameter table: bayes-rent's single intermediate representation of a model.

:func:`build_partable` is lavaan's ``lavaanify`` with the defaults of ``sem()`` / ``cfa()``: it
takes the user's statements and adds the parameters lavaan adds automatically (marker loadings,
residual variances, latent covariances, intercepts, ...). Every later step -- the backend that
builds the PyMC model, the results, the report -- reads this table.

Columns (:data:`PARTABLE_COLUMNS`), in order:

=======  ======  ===========================================================================
id       int     1..n
lhs      str     left-hand side
op       str     ``=~``, ``~``, ``~~``, ``~1``, ``|`` or ``:=``
rhs      str     right-hand side; ``""`` for ``~1``, the expression for ``:=``, ``t1``.. for ``|``
group    int     1 (multi-group comes later); 0 for ``:=`` rows, which belong to no group
free     bool    estimated?
value    float   the fixed value when ``free`` is False; NaN when free and for ``:=``
label    str     user label (``""`` when none); rows sharing a label are constrained equal.
                 ``:=`` rows carry their own name here, as in lavaan.
prior    str     the ``prior("...")`` text, ``""`` for the default prior
start    float   NaN unless ``start()`` was written
user     bool    True = written in the syntax, False = added automatically
=======  ======  ===========================================================================

A two-level model (``level: 1`` / ``level: 2`` blocks) has one more column, ``level`` (int, after
``group``): 1 for the within rows, 2 for the between rows, 0 for ``:=`` rows. As in lavaan the
column exists only when the syntax has levels, so single-level tables are unchanged. Each level
gets its automatic rows as a model of its own (marker, variances, covariances, intercepts); the
model always has a mean structure, and a variable with a between part has its level-1
intercept fixed to 0 (its mean is the level-2 intercept). Labels tie rows across levels.

Variable types (lavaan's ``lav_partable_vnames``)
--------------------------------------------------
* latent (``lv``): lhs of ``=~``. Indicators (``v.ind``): rhs of ``=~``; they may be latent
  (second-order models).
* observed (``ov``): every other name, ordered as lavaan orders them: indicators, then
  dependent observed variables of ``~``, then observed predictors of ``~``, then names found
  only in ``~~``, ``~1`` or ``|``.
* exogenous observed covariates (``ov.x``): observed variables on the rhs of ``~`` that are
  never an indicator nor a lhs of ``~``, and that the user did not mention in ``~~`` or ``~1``
  (if they did, lavaan treats them as ordinary endogenous observed variables).
* exogenous latents (``lv.x``): latents that are neither an indicator nor a lhs of ``~``.
* ``lv.y`` / ``ov.y``: latent / observed lhs of ``~`` that are neither indicators nor
  predictors (rhs of ``~``) -- "pure" outcomes.

Automatic parameters (lavaan's ``lav_partable_flat``), added after the user's rows in this order:

1. a (residual) variance for every observed variable that is not an ``ov.x``, then for every
   latent variable;
2. ``auto_cov_lv_x``: covariances between every pair of exogenous latents (``lv.x``);
3. ``auto_cov_y``: covariances between every pair of ``lv.y + ov.y`` (lavaan's rule: the
   residuals of the pure outcomes -- endogenous variables that are neither indicators nor
   predictors of anything -- are allowed to correlate; see
   ``lav_partable_flat``/``lav_partable_vnames`` in lavaan's source);
4. with ``fixed_x=False``: variances and covariances of the ``ov.x`` (lower triangle, column by
   column); with ``fixed_x=True`` no rows (bayes-rent conditions on them, the way lavaan's
   ``conditional.x`` does, instead of lavaan's rows fixed at the sample moments);
5. ``meanstructure``: an intercept for every observed variable (not the ``ov.x`` when
   ``fixed_x``), then for every latent variable.

Then, as in lavaan: the first loading of every latent is fixed to 1 (unless ``std_lv``); with
``std_lv`` every latent (residual) variance is fixed to 1 (also one the user wrote without a
modifier, as in lavaan), and exogenous latent covariances become correlations; a latent
with a single indicator has that indicator's residual variance fixed to 0 (lavaan's
``auto.fix.single``); latent means are fixed to 0; ordinal variables (those with ``|`` rows)
have their intercept fixed to 0 and their residual variance to 1. The user's modifiers
override all of these (``NA*x`` frees a marker, ``1*x`` fixes anything). Rows that share a
label are constrained equal; if one of them is fixed, all are fixed to that value (lavaan does
the same). If the syntax has a ``~1`` row, the mean structure is switched on (as in lavaan).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any

import pandas as pd

from bayes_rent.spec.syntax import (
    ModelSyntaxError,
    Modifiers,
    Statement,
    Term,
    evaluate_expression,
    parse,
)

__all__ = [
    "PARTABLE_COLUMNS",
    "build_partable",
    "endogenous",
    "evaluate_defined",
    "exogenous",
    "exogenous_covariates",
    "latent_variables",
    "n_free",
    "observed_variables",
    "structural_observed",
]

#: The columns of a parameter table, in order.
PARTABLE_COLUMNS: list[str] = [
    "id",
    "lhs",
    "op",
    "rhs",
    "group",
    "free",
    "value",
    "label",
    "prior",
    "start",
    "user",
]

_NAN = float("nan")


@dataclass
class _Row:
    lhs: str
    op: str
    rhs: str
    user: bool
    free: bool = True
    value: float = _NAN
    label: str = ""
    prior: str = ""
    start: float = _NAN
    group: int = 1
    mods: Modifiers = field(default_factory=Modifiers)
    # where the rhs (line, column) and the lhs (lhs_line, lhs_column) were first written
    line: int = 0
    column: int = 0
    lhs_line: int = 0
    lhs_column: int = 0
    # the line where each modifier ("fixed", "label", "prior", "start") was written, so that a
    # contradiction names the line that set it, not the line that first mentioned the row
    origins: dict[str, int] = field(default_factory=dict)

    def fix(self, value: float) -> None:
        self.free = False
        self.value = float(value)


def _key(lhs: str, op: str, rhs: str) -> tuple[str, str, str]:
    """Identity of a parameter: ``a ~~ b`` and ``b ~~ a`` are the same one."""
    if op == "~~" and rhs < lhs:
        return (rhs, op, lhs)
    return (lhs, op, rhs)


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class _Names:
    """lavaan's variable types for one set of rows (see the module docstring)."""

    lv: list[str]
    ov: list[str]
    v_ind: list[str]
    ov_ind: list[str]
    eqs_y: list[str]
    eqs_x: list[str]
    ov_x: list[str]
    ov_nox: list[str]
    ov_y: list[str]
    lv_x: list[str]
    lv_y: list[str]
    ov_ord: list[str]


def _classify(rows: Sequence[tuple[str, str, str]], user_rows: Sequence[tuple[str, str, str]]):
    """Variable types from (lhs, op, rhs) rows; ``user_rows`` drive the ``ov.x`` correction."""

    def col(op: str, side: int) -> list[str]:
        return _unique(r[side] for r in rows if r[1] == op)

    lv = col("=~", 0)
    lv_set = set(lv)
    v_ind = col("=~", 2)
    eqs_y = col("~", 0)
    eqs_x = col("~", 2)
    ov_ind = [v for v in v_ind if v not in lv_set]
    ov_y_all = [v for v in eqs_y if v not in lv_set and v not in set(ov_ind)]
    ov_x_all = [v for v in eqs_x if v not in lv_set | set(ov_ind) | set(ov_y_all)]
    # names found only in ~~, ~1 or |: lavaan lists all lhs of ~~, then all rhs, then ~1 and |
    extra = [r[0] for r in rows if r[1] == "~~" and r[0] not in lv_set]
    extra += [r[2] for r in rows if r[1] == "~~" and r[2] not in lv_set]
    extra += [r[0] for r in rows if r[1] in ("~1", "|") and r[0] not in lv_set]
    ov = _unique(ov_ind + ov_y_all + ov_x_all + extra)
    # an exogenous covariate the user gives a variance, covariance or intercept is modelled
    # like any other observed variable (lavaan's ov.x correction)
    mentioned = {r[0] for r in user_rows if r[1] in ("~~", "~1")}
    mentioned |= {r[2] for r in user_rows if r[1] == "~~"}
    ov_x = [v for v in ov_x_all if v not in mentioned]
    ov_nox = [v for v in ov if v not in set(ov_x)]
    not_pure_y = set(v_ind) | set(eqs_x)
    ov_y = [v for v in ov if v in set(eqs_y) and v not in not_pure_y]
    lv_y = [v for v in lv if v in set(eqs_y) and v not in not_pure_y]
    lv_x = [v for v in lv if v not in set(v_ind) and v not in set(eqs_y)]
    ordinal = {r[0] for r in rows if r[1] == "|"}
    ov_ord = [v for v in ov if v in ordinal]
    return _Names(lv, ov, v_ind, ov_ind, eqs_y, eqs_x, ov_x, ov_nox, ov_y, lv_x, lv_y, ov_ord)


class _Builder:
    def __init__(self, source: str | None) -> None:
        self.lines = source.split("\n") if source is not None else None
        self.rows: dict[tuple[str, str, str], _Row] = {}

    def error(self, message: str, line: int, column: int, expected: str) -> ModelSyntaxError:
        src = None
        if self.lines is not None and 0 < line <= len(self.lines):
            src = self.lines[line - 1]
        return ModelSyntaxError(message, line, column, expected, "", src)

    # -- user rows ----------------------------------------------------------------------------
    def add_user(self, stmt: Statement, term: Term) -> None:
        rhs = term.name
        line, column = term.line or stmt.line, term.column or stmt.column
        if stmt.op in ("=~", "~") and rhs == stmt.lhs:
            what = "its own indicator" if stmt.op == "=~" else "regressed on itself"
            raise self.error(
                f"'{rhs}' cannot be {what}", line, column, "a variable other than " + stmt.lhs
            )
        key = _key(stmt.lhs, stmt.op, rhs)
        row = self.rows.get(key)
        if row is None:
            self.rows[key] = _Row(
                stmt.lhs, stmt.op, rhs, user=True, mods=term.modifiers, line=line, column=column,
                lhs_line=stmt.line, lhs_column=stmt.column,
                origins=_modifier_lines(term.modifiers, line),
            )
            return
        row.mods = self.merge(row, term.modifiers, line, column)

    def merge(self, row: _Row, new: Modifiers, line: int, column: int) -> Modifiers:
        """A parameter written twice: its modifiers are merged, contradictions are errors."""
        old = row.mods
        name = f"{row.lhs} {row.op} {row.rhs}".rstrip()

        def clash(what: str, a: object, b: object, attr: str) -> ModelSyntaxError:
            at = row.origins.get(attr, row.line)
            return self.error(
                f"contradictory {what} for '{name}': {b} here, {a} at line {at}; "
                f"write '{name}' once with the modifier you mean",
                line,
                column,
                f"the same {what} as at line {at}",
            )

        old_fix = "NA" if old.na else old.fixed
        new_fix = "NA" if new.na else new.fixed
        if old_fix is not None and new_fix is not None and old_fix != new_fix:
            raise clash("fixed value", old_fix, new_fix, "fixed")
        for attr in ("label", "prior", "start"):
            a, b = getattr(old, attr), getattr(new, attr)
            if a is not None and b is not None and a != b:
                raise clash(attr, a, b, attr)
        # A fixed value and a label from different lines: the label makes every parameter
        # that shares it equal, so the restatement would silently fix them all.
        fixed_then_label = old.fixed is not None and old.label is None and new.label is not None
        label_then_fixed = old.label is not None and old.fixed is None and new.fixed is not None
        if fixed_then_label or label_then_fixed:
            label = new.label if fixed_then_label else old.label
            value = old.fixed if fixed_then_label else new.fixed
            at = row.origins.get("fixed" if fixed_then_label else "label", row.line)
            raise self.error(
                f"contradictory restatement of '{name}': fixed to {value:g} and labelled "
                f"'{label}' (one of them at line {at}); a fixed label fixes every parameter "
                f"labelled '{label}'. Write either the label or the fixed value",
                line,
                column,
                f"no new modifier for the parameter stated at line {at}",
            )
        for attr, given in _modifier_lines(new, line).items():
            row.origins.setdefault(attr, given)
        return Modifiers(
            fixed=old.fixed if old.fixed is not None else new.fixed,
            na=old.na or new.na,
            label=old.label if old.label is not None else new.label,
            prior=old.prior if old.prior is not None else new.prior,
            start=old.start if old.start is not None else new.start,
        )


def _modifier_lines(mods: Modifiers, line: int) -> dict[str, int]:
    """The modifiers a term sets, each mapped to ``line``."""
    lines = {"fixed": line} if mods.fixed is not None or mods.na else {}
    lines.update({a: line for a in ("label", "prior", "start") if getattr(mods, a) is not None})
    return lines


def build_partable(
    syntax: str | list[Statement],
    *,
    std_lv: bool = False,
    meanstructure: bool = True,
    fixed_x: bool = False,
    auto_cov_lv_x: bool = True,
    auto_cov_y: bool = True,
    ordered: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Build the parameter table of a model, like lavaan's ``lavaanify`` for ``sem()``/``cfa()``.

    Parameters
    ----------
    syntax : str or list of Statement
        lavaan model syntax, or statements from :func:`bayes_rent.spec.syntax.parse`.
    std_lv : bool
        Identify latent variables by fixing their (residual) variances to 1 instead of fixing
        their first loading to 1.
    meanstructure : bool
        Add intercepts of observed variables (free) and means of latent variables (fixed to 0).
        Switched on anyway when the syntax has a ``~1`` row.
    fixed_x : bool
        False (default): exogenous observed covariates get free variances and covariances (a
        joint model). True: they get no rows; the model is conditional on them.
    auto_cov_lv_x : bool
        Free covariances among exogenous latent variables.
    auto_cov_y : bool
        Free residual covariances among pure outcomes (see the module docstring).
    ordered : mapping of str to int, optional
        Ordinal items and their number of thresholds (categories − 1). Each gets threshold rows
        ``item | t1``, ``item | t2``, ... after the user's rows, as lavaan adds them; its
        intercept is fixed to 0 and its residual variance to 1 (theta parameterization).

    Returns
    -------
    pandas.DataFrame
        One row per parameter with the columns :data:`PARTABLE_COLUMNS`: the user's rows in
        syntax order, then the automatic rows, then the ``:=`` rows. With ``level:`` blocks
        the within rows, then the between rows, then the ``:=`` rows, and a ``level`` column
        after ``group`` (see the module docstring); a two-level model always has a mean
        structure and refuses ``fixed_x=True`` and ordinal items.

    Raises
    ------
    ModelSyntaxError
        For malformed syntax, contradictory repeated statements (``x ~~ 1*y`` and
        ``y ~~ NA*x``), equal-labelled parameters fixed to different values, and ``:=``
        expressions that use a name that is neither a label nor an earlier ``:=``.

    Examples
    --------
    >>> pt = build_partable("visual =~ x1 + x2 + x3", meanstructure=False)
    >>> pt[["lhs", "op", "rhs", "free", "value"]]
          lhs  op     rhs   free  value
    0  visual  =~      x1  False    1.0
    1  visual  =~      x2   True    NaN
    2  visual  =~      x3   True    NaN
    3      x1  ~~      x1   True    NaN
    4      x2  ~~      x2   True    NaN
    5      x3  ~~      x3   True    NaN
    6  visual  ~~  visual   True    NaN
    >>> n_free(build_partable("f =~ x1 + a*x2 + a*x3", meanstructure=False))
    5
    >>> two = build_partable("level: 1\\n fw =~ y1 + y2 + y3\\nlevel: 2\\n fb =~ y1 + y2 + y3")
    >>> two.groupby("level")["free"].sum().tolist()  # lavaan: 6 within, 9 between
    [6, 9]
    """
    source = syntax if isinstance(syntax, str) else None
    statements = parse(syntax) if isinstance(syntax, str) else list(syntax)
    options = dict(std_lv=std_lv, meanstructure=meanstructure, fixed_x=fixed_x,
                   auto_cov_lv_x=auto_cov_lv_x, auto_cov_y=auto_cov_y, ordered=ordered)
    if any(s.level for s in statements):
        return _two_level_table(statements, source, **options)
    return _single_level_table(statements, source, **options)


def _single_level_table(
    statements: list[Statement],
    source: str | None,
    *,
    std_lv: bool,
    meanstructure: bool,
    fixed_x: bool,
    auto_cov_lv_x: bool,
    auto_cov_y: bool,
    ordered: Mapping[str, int] | None,
) -> pd.DataFrame:
    builder = _Builder(source)
    definitions: list[Statement] = []
    for stmt in statements:
        if stmt.op == ":=":
            definitions.append(stmt)
            continue
        for term in stmt.terms:
            builder.add_user(stmt, term)
    user_rows = list(builder.rows.values())
    for item, n_thresholds in (ordered or {}).items():
        for k in range(1, n_thresholds + 1):
            key = _key(item, "|", f"t{k}")
            if key not in builder.rows:
                builder.rows[key] = _Row(item, "|", f"t{k}", user=False)
    triples = [(r.lhs, r.op, r.rhs) for r in builder.rows.values()]
    names = _classify(triples, [(r.lhs, r.op, r.rhs) for r in user_rows])
    for r in user_rows:
        if r.op == "|" and r.lhs in set(names.lv):
            raise builder.error(
                f"'{r.lhs}' is a latent variable; thresholds belong to observed variables",
                r.lhs_line,
                r.lhs_column,
                "an observed variable",
            )
    meanstructure = meanstructure or any(r.op == "~1" for r in user_rows)

    # automatic rows, in lavaan's order; a row the user wrote is not added again
    auto: list[tuple[str, str, str]] = [(v, "~~", v) for v in names.ov_nox + names.lv]
    if auto_cov_lv_x:
        auto += [(a, "~~", b) for a, b in combinations(names.lv_x, 2)]
    if auto_cov_y:
        auto += [(a, "~~", b) for a, b in combinations(names.lv_y + names.ov_y, 2)]
    if not fixed_x:
        auto += [
            (xj, "~~", xi) for j, xj in enumerate(names.ov_x) for xi in names.ov_x[j:]
        ]
    if meanstructure:
        skip = set(names.ov_x) if fixed_x else set()
        auto += [(v, "~1", "") for v in names.ov if v not in skip]
        auto += [(f, "~1", "") for f in names.lv]
    for lhs, op, rhs in auto:
        key = _key(lhs, op, rhs)
        if key not in builder.rows:
            builder.rows[key] = _Row(lhs, op, rhs, user=False)
    rows = list(builder.rows.values())

    _apply_identification(rows, names, std_lv=std_lv)
    for r in rows:
        if r.user:
            _apply_modifiers(r)
    _apply_equal_labels(rows, builder)
    rows += _defined_rows(definitions, rows, names, builder)

    frame = pd.DataFrame(
        {
            "id": range(1, len(rows) + 1),
            "lhs": [r.lhs for r in rows],
            "op": [r.op for r in rows],
            "rhs": [r.rhs for r in rows],
            "group": [r.group for r in rows],
            "free": [r.free for r in rows],
            "value": [r.value for r in rows],
            "label": [r.label for r in rows],
            "prior": [r.prior for r in rows],
            "start": [r.start for r in rows],
            "user": [r.user for r in rows],
        },
        columns=PARTABLE_COLUMNS,
    )
    return frame.astype(
        {"id": "int64", "group": "int64", "free": bool, "value": float, "start": float,
         "user": bool}
    )


def _two_level_table(
    statements: list[Statement],
    source: str | None,
    *,
    std_lv: bool,
    meanstructure: bool,
    fixed_x: bool,
    auto_cov_lv_x: bool,
    auto_cov_y: bool,
    ordered: Mapping[str, int] | None,
) -> pd.DataFrame:
    """The table of a two-level model: each level built as a model of its own, as lavaan does.

    The within rows come first, then the between rows, then the ``:=`` rows (level 0). A
    two-level model always has a mean structure (lavaan's rule), and the intercepts of the
    variables that have a between part live at level 2: their automatic level-1 intercepts are
    fixed to 0. Variables only in the within model keep a free level-1 intercept.
    """
    del meanstructure  # always on: the between level carries the means
    builder = _Builder(source)
    for stmt in statements:
        if stmt.op == "|":
            raise builder.error(
                "thresholds (ordinal items) are not supported in two-level models yet",
                stmt.line, stmt.column, "a continuous indicator",
            )
    if ordered:
        raise ValueError("ordinal items are not supported in two-level models yet")
    if fixed_x:
        raise ValueError(
            "fixed_x=True is not supported in two-level models: their likelihood is joint in "
            "all observed variables"
        )
    definitions = [s for s in statements if s.op == ":="]
    frames = {}
    for level in (1, 2):
        level_statements = [replace(s, level=0) for s in statements
                            if s.level == level and s.op != ":="]
        frames[level] = _single_level_table(
            level_statements, source, std_lv=std_lv, meanstructure=True, fixed_x=False,
            auto_cov_lv_x=auto_cov_lv_x, auto_cov_y=auto_cov_y, ordered=None,
        ).assign(level=level)
    between = set(observed_variables(frames[2])) - set(latent_variables(frames[2]))
    within_latent = set(latent_variables(frames[1]))
    for stmt in statements:
        if stmt.level == 1 and stmt.op == "~1" and stmt.lhs in between - within_latent:
            if stmt.terms[0].modifiers.fixed is None:
                raise builder.error(
                    f"'{stmt.lhs} ~ 1' in level 1: '{stmt.lhs}' also has a between part, whose "
                    "intercept (level 2) is its mean, so a free within intercept is not "
                    "identified; write it in the 'level: 2' block",
                    stmt.line, stmt.column, "the intercept in level 2",
                )
    within = frames[1]
    auto = (within["op"] == "~1") & ~within["user"] & within["lhs"].isin(between)
    within.loc[auto, "free"] = False
    within.loc[auto, "value"] = 0.0
    body = pd.concat([frames[1], frames[2]], ignore_index=True)
    _equal_labels_across_levels(body, statements, builder)

    rows = [_Row(r.lhs, r.op, r.rhs, user=r.user, label=r.label)
            for r in body.itertuples(index=False)]
    triples = [(r.lhs, r.op, r.rhs) for r in rows]
    defined = _defined_rows(definitions, rows, _classify(triples, triples), builder)
    extra = pd.DataFrame(
        {"lhs": [r.lhs for r in defined], "op": ":=", "rhs": [r.rhs for r in defined],
         "group": 0, "level": 0, "free": False, "value": _NAN,
         "label": [r.label for r in defined], "prior": "", "start": _NAN, "user": True},
        columns=[c for c in PARTABLE_COLUMNS if c != "id"] + ["level"],
    )
    frame = pd.concat([body, extra], ignore_index=True) if len(extra) else body
    frame["id"] = range(1, len(frame) + 1)
    columns = list(PARTABLE_COLUMNS)
    columns.insert(columns.index("group") + 1, "level")
    return frame[columns].astype(
        {"id": "int64", "group": "int64", "level": "int64", "free": bool, "value": float,
         "start": float, "user": bool}
    )


def _equal_labels_across_levels(
    body: pd.DataFrame, statements: list[Statement], builder: _Builder
) -> None:
    """A label shared by the two levels ties their rows; if one is fixed, all are (lavaan)."""
    labelled = body[body["label"] != ""]
    for label, rows in labelled.groupby("label", sort=False):
        if rows["level"].nunique() < 2:
            continue
        fixed = rows[~rows["free"]]
        if fixed.empty:
            continue
        if fixed["value"].nunique() > 1:
            where = next((t for s in statements for t in s.terms
                          if t.modifiers.label == label), None)
            raise builder.error(
                f"parameters labelled '{label}' are fixed to different values in the two "
                f"levels ({', '.join(f'{v:g}' for v in fixed['value'].unique())})",
                where.line if where else 0, where.column if where else 0,
                f"the same fixed value for every '{label}'",
            )
        body.loc[rows.index, "free"] = False
        body.loc[rows.index, "value"] = float(fixed["value"].iloc[0])


def _apply_identification(rows: list[_Row], names: _Names, *, std_lv: bool) -> None:
    lv = set(names.lv)
    if std_lv:
        # lavaan fixes every latent (residual) variance, written by the user or not;
        # an explicit modifier (NA*f) still overrides this later
        for r in rows:
            if r.op == "~~" and r.lhs == r.rhs and r.lhs in lv:
                r.fix(1.0)
    else:
        seen: set[str] = set()
        for r in rows:
            if r.op == "=~" and r.lhs not in seen:
                seen.add(r.lhs)
                r.fix(1.0)
    # a single indicator measures its latent without error (lavaan's auto.fix.single)
    loadings = [r for r in rows if r.op == "=~"]
    count: dict[str, int] = {}
    for r in loadings:
        count[r.lhs] = count.get(r.lhs, 0) + 1
    as_indicator: dict[str, int] = {}
    for r in loadings:
        as_indicator[r.rhs] = as_indicator.get(r.rhs, 0) + 1
    single = {
        r.rhs for r in loadings if count[r.lhs] == 1 and r.lhs != r.rhs and as_indicator[r.rhs] == 1
    }
    ordinal = set(names.ov_ord)
    for r in rows:
        if r.user:
            continue
        if r.op == "~~" and r.lhs == r.rhs and r.lhs in single:
            r.fix(0.0)
        elif r.op == "~~" and r.lhs == r.rhs and r.lhs in ordinal:
            r.fix(1.0)  # theta parameterization: the latent response's residual variance is 1
        elif r.op == "~1" and (r.lhs in lv or r.lhs in ordinal):
            r.fix(0.0)


def _apply_modifiers(r: _Row) -> None:
    m = r.mods
    if m.fixed is not None:
        r.fix(m.fixed)
    elif m.na:
        r.free = True
        r.value = _NAN
    if m.label is not None:
        r.label = m.label
    if m.prior is not None:
        r.prior = m.prior
    if m.start is not None:
        r.start = float(m.start)


def _apply_equal_labels(rows: list[_Row], builder: _Builder) -> None:
    """Parameters sharing a label are equal; if one of them is fixed, all are (lavaan)."""
    by_label: dict[str, list[_Row]] = {}
    for r in rows:
        if r.label:
            by_label.setdefault(r.label, []).append(r)
    for label, group in by_label.items():
        fixed = [r for r in group if not r.free]
        if not fixed or len(group) == 1:
            continue
        first = fixed[0]
        for r in fixed[1:]:
            if r.value != first.value:
                raise builder.error(
                    f"parameters labelled '{label}' are fixed to different values "
                    f"({first.value:g} for {first.lhs} {first.op} {first.rhs}, "
                    f"{r.value:g} here)",
                    r.line,
                    r.column,
                    f"the same fixed value for every '{label}'",
                )
        for r in group:
            r.fix(first.value)


def _defined_rows(
    definitions: list[Statement], rows: list[_Row], names: _Names, builder: _Builder
) -> list[_Row]:
    labels = {r.label for r in rows if r.label}
    variables = set(names.lv) | set(names.ov)
    defined: list[str] = []
    out: list[_Row] = []
    for stmt in definitions:
        if stmt.lhs in labels or stmt.lhs in variables or stmt.lhs in defined:
            what = (
                "a label" if stmt.lhs in labels
                else "a variable" if stmt.lhs in variables
                else "an earlier ':=' parameter"
            )
            raise builder.error(
                f"the defined parameter '{stmt.lhs}' has the name of {what}",
                stmt.line,
                stmt.column,
                "a new name",
            )
        for term in stmt.terms:
            if term.name not in labels and term.name not in defined:
                known = ", ".join(sorted(labels) + defined) or "none"
                raise builder.error(
                    f"'{term.name}' in ':=' is neither a label nor an earlier ':=' name "
                    f"(known: {known})",
                    term.line,
                    term.column,
                    "a label or an earlier ':=' name",
                )
        defined.append(stmt.lhs)
        out.append(
            _Row(
                stmt.lhs, ":=", stmt.expression, user=True, free=False, label=stmt.lhs, group=0,
                line=stmt.line, column=stmt.column,
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# accessors
# --------------------------------------------------------------------------------------------


def _names(pt: pd.DataFrame) -> _Names:
    body = pt[pt["op"] != ":="]
    triples = list(zip(body["lhs"], body["op"], body["rhs"], strict=True))
    user = body["user"].to_numpy(dtype=bool) if "user" in body else None
    user_triples = [t for t, u in zip(triples, user, strict=True) if u] if user is not None else []
    if not user_triples:
        user_triples = triples
    names = _classify(user_triples, user_triples)
    # automatic rows add no new names; this only guards hand-made tables
    lv = set(names.lv)
    more = [
        v for lhs, op, rhs in triples if op in ("~~", "~1", "|")
        for v in ((lhs,) if op == "|" else (lhs, rhs)) if v and v not in lv
        and v not in set(names.ov)
    ]
    if more:
        names = replace(names, ov=_unique(names.ov + more))
    return names


def latent_variables(pt: pd.DataFrame) -> list[str]:
    """Latent variables: the lhs of ``=~`` rows, in order of first appearance.

    Examples
    --------
    >>> latent_variables(build_partable("f =~ x1 + x2 + x3; g =~ x4 + x5 + x6; g ~ f"))
    ['f', 'g']
    """
    return _unique(pt.loc[pt["op"] == "=~", "lhs"])


def observed_variables(pt: pd.DataFrame) -> list[str]:
    """Observed variables in lavaan's order.

    Indicators in order of appearance, then observed outcomes of ``~``, then observed
    predictors of ``~``, then variables found only in ``~~``, ``~1`` or ``|``.

    Examples
    --------
    >>> observed_variables(build_partable("f =~ x1 + x2 + x3; y ~ f + z; w ~~ x1"))
    ['x1', 'x2', 'x3', 'y', 'z', 'w']
    """
    return list(_names(pt).ov)


def exogenous_covariates(pt: pd.DataFrame) -> list[str]:
    """lavaan's ``ov.x``: observed variables that are only predictors in ``~`` rows.

    They are never indicators nor outcomes, and the user gave them no ``~~`` or ``~1`` row.
    With ``fixed_x=True`` these are the variables the model conditions on.

    Examples
    --------
    >>> exogenous_covariates(build_partable("f =~ x1 + x2 + x3; f ~ age + sex; y ~ f + age"))
    ['age', 'sex']
    """
    return list(_names(pt).ov_x)


def structural_observed(pt: pd.DataFrame) -> list[str]:
    """Observed variables that need a phantom latent (loading 1, zero residual) in the all-y form.

    lavaan's rule (``lav_lisrel``): every observed variable in a ``~`` row, every observed
    variable in a ``~~`` row with a latent variable, and -- taken to its closure -- every
    observed variable with a covariance (``~~``, not a variance) to one of these, because such a
    covariance must then live in Ψ rather than Θ. Returned in :func:`observed_variables` order.

    Examples
    --------
    >>> pt = build_partable("f =~ y1 + y2 + y3; f ~ x1; y4 ~ f; y4 ~~ y1")
    >>> structural_observed(pt)
    ['y1', 'y4', 'x1']
    """
    names = _names(pt)
    lv = set(names.lv)
    body = pt[pt["op"] != ":="]
    dummy = {v for v in body.loc[body["op"] == "~", ["lhs", "rhs"]].to_numpy().ravel()}
    dummy -= lv
    cov = body[(body["op"] == "~~") & (body["lhs"] != body["rhs"])]
    pairs = list(zip(cov["lhs"], cov["rhs"], strict=True))
    for a, b in pairs:
        if a in lv and b not in lv:
            dummy.add(b)
        elif b in lv and a not in lv:
            dummy.add(a)
    changed = True
    while changed:
        changed = False
        for a, b in pairs:
            for u, v in ((a, b), (b, a)):
                if u in dummy and v not in dummy and v not in lv:
                    dummy.add(v)
                    changed = True
    return [v for v in names.ov if v in dummy]


def endogenous(pt: pd.DataFrame) -> list[str]:
    """Variables with an incoming arrow: lhs of ``~`` or indicators (rhs of ``=~``).

    Latent ones first (in :func:`latent_variables` order), then observed ones.

    Examples
    --------
    >>> endogenous(build_partable("f =~ x1 + x2; g =~ x3 + x4; g ~ f + z"))
    ['g', 'x1', 'x2', 'x3', 'x4']
    """
    names = _names(pt)
    arrowed = set(names.eqs_y) | set(names.v_ind)
    return [v for v in names.lv + names.ov if v in arrowed]


def exogenous(pt: pd.DataFrame) -> list[str]:
    """Variables without an incoming arrow (latent first, then observed).

    Examples
    --------
    >>> exogenous(build_partable("f =~ x1 + x2; g =~ x3 + x4; g ~ f + z"))
    ['f', 'z']
    """
    names = _names(pt)
    arrowed = set(names.eqs_y) | set(names.v_ind)
    return [v for v in names.lv + names.ov if v not in arrowed]


def n_free(pt: pd.DataFrame) -> int:
    """Number of free parameters, counting parameters that share a label once.

    Examples
    --------
    >>> pt = build_partable("f =~ x1 + a*x2 + a*x3", meanstructure=False)
    >>> int(pt["free"].sum()), n_free(pt)
    (6, 5)
    """
    free = pt[pt["free"].astype(bool) & (pt["op"] != ":=")]
    labelled = free["label"].astype(str) != ""
    return int((~labelled).sum()) + int(free.loc[labelled, "label"].nunique())


def evaluate_defined(
    pt: pd.DataFrame, values: Mapping[str, Any], evaluate=evaluate_expression
) -> dict[str, Any]:
    """Evaluate every ``:=`` row in order; later rows may use earlier ones.

    Parameters
    ----------
    pt : pandas.DataFrame
        A parameter table.
    values : Mapping[str, array-like]
        A value (number, numpy array or xarray DataArray of draws) for every label used.

    Returns
    -------
    dict
        Defined name → value, in the order of the ``:=`` rows.

    Examples
    --------
    >>> import numpy as np
    >>> pt = build_partable("m ~ a*x; y ~ b*m + c*x; ab := a*b; total := ab + c")
    >>> out = evaluate_defined(pt, {"a": np.array([0.5]), "b": np.array([2.0]),
    ...                             "c": np.array([0.1])})
    >>> {k: v.round(2).tolist() for k, v in out.items()}
    {'ab': [1.0], 'total': [1.1]}
    """
    env: dict[str, Any] = dict(values)
    out: dict[str, Any] = {}
    for name, expr in pt.loc[pt["op"] == ":=", ["lhs", "rhs"]].itertuples(index=False):
        out[name] = env[name] = evaluate(str(expr), dict(env))
    return out

