"""Tests for the lavaan syntax parser, its located errors, and := expressions."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from conftest import POLITICAL_DEMOCRACY  # noqa: E402

from bayes_rent.spec.syntax import (
    ModelSyntaxError,
    Modifiers,
    Statement,
    evaluate_expression,
    parse,
    parse_expression,
)


def flat(statements: list[Statement]) -> list[tuple[str, str, str]]:
    return [(s.lhs, s.op, t.name) for s in statements for t in s.terms]


def only_term(text: str):
    (stmt,) = parse(text)
    (term,) = stmt.terms
    return term


# --------------------------------------------------------------------------------------------
# well-formed syntax
# --------------------------------------------------------------------------------------------


def test_political_democracy_statements():
    stmts = parse(POLITICAL_DEMOCRACY)
    assert [(s.lhs, s.op) for s in stmts][:5] == [
        ("ind60", "=~"),
        ("dem60", "=~"),
        ("dem65", "=~"),
        ("dem60", "~"),
        ("dem65", "~"),
    ]
    assert len(stmts) == 10
    assert [t.name for t in stmts[2].terms] == ["y5", "y6", "y7", "y8"]
    assert (stmts[6].lhs, [t.name for t in stmts[6].terms]) == ("y2", ["y4", "y6"])
    # positions are 1-based and point at the lhs
    assert (stmts[0].line, stmts[0].column) == (2, 1)
    assert (stmts[0].terms[1].line, stmts[0].terms[1].column) == (2, 15)


def test_statement_and_term_are_frozen_and_unpack():
    stmt = parse("f =~ a*x1")[0]
    name, mods = stmt.terms[0]
    assert (name, mods) == ("x1", Modifiers(label="a"))
    with pytest.raises(AttributeError):
        stmt.lhs = "g"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("f =~ 1*x", Modifiers(fixed=1.0)),
        ("f =~ 0.5*x", Modifiers(fixed=0.5)),
        ("f =~ -1*x", Modifiers(fixed=-1.0)),
        ("f =~ -.5*x", Modifiers(fixed=-0.5)),
        ("f =~ 1e-2*x", Modifiers(fixed=0.01)),
        ("f =~ NA*x", Modifiers(na=True)),
        ("f =~ a*x", Modifiers(label="a")),
        ('f =~ label("a")*x', Modifiers(label="a")),
        ("f =~ label('lam.1')*x", Modifiers(label="lam.1")),
        ('f =~ prior("normal(0,1)")*x', Modifiers(prior="normal(0,1)")),
        ('f =~ prior("gamma(1,0.5)[sd]")*x', Modifiers(prior="gamma(1,0.5)[sd]")),
        ("f =~ start(0.5)*x", Modifiers(start=0.5)),
        ("f =~ start(-2)*x", Modifiers(start=-2.0)),
        ('f =~ a*prior("normal(1,0.5)")*x', Modifiers(label="a", prior="normal(1,0.5)")),
        ('f =~ NA*start(0.7)*b*x', Modifiers(na=True, start=0.7, label="b")),
        ("f =~ 1*lam*x", Modifiers(fixed=1.0, label="lam")),
        ("f =~ x", Modifiers()),
    ],
)
def test_modifiers(text, expected):
    term = only_term(text)
    assert term.name == "x"
    assert term.modifiers == expected


def test_prior_string_is_kept_verbatim():
    term = only_term("y ~ prior( ' student_t(3, 0, 2.5) ' ) * x")
    assert term.modifiers.prior == " student_t(3, 0, 2.5) "


def test_comments_blank_lines_and_semicolons():
    text = """
    # a comment line
    ! another comment style (lavaan's)

    visual =~ x1 + x2 + x3   # trailing comment
    textual =~ x4 + x5 + x6 ! trailing, lavaan style
    speed =~ x7 + x8 + x9; visual ~~ speed ; textual ~~ speed;
    """
    assert flat(parse(text)) == [
        ("visual", "=~", "x1"),
        ("visual", "=~", "x2"),
        ("visual", "=~", "x3"),
        ("textual", "=~", "x4"),
        ("textual", "=~", "x5"),
        ("textual", "=~", "x6"),
        ("speed", "=~", "x7"),
        ("speed", "=~", "x8"),
        ("speed", "=~", "x9"),
        ("visual", "~~", "speed"),
        ("textual", "~~", "speed"),
    ]


def test_hash_inside_a_prior_string_is_not_a_comment():
    term = only_term('f =~ prior("normal(0,1) # not a comment")*x')
    assert term.modifiers.prior == "normal(0,1) # not a comment"


def test_statement_continues_over_lines():
    text = """
    f =~ x1 + x2 +
         x3
    g =~ x4
       + x5

       # a comment between continuation lines
       + x6
    h =~ a*
         x7 + x8
    """
    stmts = parse(text)
    assert [(s.lhs, [t.name for t in s.terms]) for s in stmts] == [
        ("f", ["x1", "x2", "x3"]),
        ("g", ["x4", "x5", "x6"]),
        ("h", ["x7", "x8"]),
    ]
    assert stmts[1].terms[2].line == 8
    assert stmts[2].terms[0].modifiers.label == "a"


def test_statement_continues_inside_parentheses():
    (stmt,) = parse('f =~ prior(\n "normal(0,1)"\n)*x1 + x2')
    assert stmt.terms[0].modifiers.prior == "normal(0,1)"


def test_multiple_lhs_expand_like_lavaan():
    assert flat(parse("y1 + y2 ~ x1 + x2")) == [
        ("y1", "~", "x1"),
        ("y1", "~", "x2"),
        ("y2", "~", "x1"),
        ("y2", "~", "x2"),
    ]
    assert flat(parse("a + b ~~ c")) == [("a", "~~", "c"), ("b", "~~", "c")]


def test_intercepts():
    for text in ("y ~ 1", "y ~1", "y~1"):
        (stmt,) = parse(text)
        assert (stmt.lhs, stmt.op, stmt.terms[0].name) == ("y", "~1", "")
    stmts = parse("y ~ 1 + x1 + b*x2")
    assert [(s.op, [t.name for t in s.terms]) for s in stmts] == [("~1", [""]), ("~", ["x1", "x2"])]
    # a labelled or fixed intercept, and several lhs
    stmts = parse("y1 + y2 ~ a*1 + x")
    assert [(s.lhs, s.op) for s in stmts] == [("y1", "~1"), ("y1", "~"), ("y2", "~1"), ("y2", "~")]
    assert stmts[0].terms[0].modifiers == Modifiers(label="a")
    assert only_term("y ~ 0*1").modifiers == Modifiers(fixed=0.0)
    # 1*x is a regression fixed to 1, not an intercept
    assert only_term("y ~ 1*x").modifiers == Modifiers(fixed=1.0)


def test_thresholds():
    (stmt,) = parse("u1 | t1 + t2 + t3")
    assert (stmt.lhs, stmt.op, [t.name for t in stmt.terms]) == ("u1", "|", ["t1", "t2", "t3"])
    (stmt,) = parse("u1 | a*t1 + b*t2")
    assert [t.modifiers.label for t in stmt.terms] == ["a", "b"]


def test_defined_parameters():
    stmts = parse("m ~ a*x\ny ~ b*m\nab := a*b\ntotal := ab +\n   c")
    ab, total = stmts[2], stmts[3]
    assert (ab.lhs, ab.op, ab.expression) == ("ab", ":=", "a*b")
    assert [t.name for t in ab.terms] == ["a", "b"]
    assert (ab.terms[1].line, ab.terms[1].column) == (3, 9)
    assert total.expression == "ab + c"
    assert [(t.name, t.line) for t in total.terms] == [("ab", 4), ("c", 5)]


def test_unicode_and_dotted_names():
    stmts = parse("信任 =~ 项目1 + 项目2 + item.3")
    assert flat(stmts) == [
        ("信任", "=~", "项目1"),
        ("信任", "=~", "项目2"),
        ("信任", "=~", "item.3"),
    ]


def test_empty_syntax_gives_no_statements():
    assert parse("") == []
    assert parse("# only a comment\n\n ; \n") == []


# --------------------------------------------------------------------------------------------
# malformed syntax: every error says where, and what was expected
# --------------------------------------------------------------------------------------------

ARITHMETIC = "an arithmetic expression of labels (+ - * / ^, sqrt, exp, log, abs)"

MALFORMED = [
    # (id, syntax, line, column, expected)
    ("missing rhs", "f =~ x1 + x2\ng =~", 2, 5, "a variable name after '=~'"),
    ("missing rhs before ;", "f =~ ; g =~ x", 1, 6, "a variable name after '=~'"),
    ("rhs starts with +", "f =~ + x1", 1, 6, "a variable name after '=~'"),
    ("dangling + at end", "f =~ x1 + x2 +", 1, 15, "a variable name after '+'"),
    (
        "dangling + before a statement",
        "f =~ x1 + x2 +\n\ng =~ x3",
        3,
        3,
        "'+' or the end of the statement after 'g'",
    ),
    ("double +", "# c\ny ~ x1 +\n    + x2", 3, 5, "a variable name after '+'"),
    ("unknown operator =>", "f => x1", 1, 3, "an operator (=~, ~, ~~, :=, |)"),
    ("unknown operator ~~~", "f =~ x1\ny1 ~~~ y2", 2, 4, "an operator (=~, ~, ~~, :=, |)"),
    ("interaction", "y ~ x1:x2", 1, 7, "an operator (=~, ~, ~~, :=, |)"),
    ("missing operator", "f x1 + x2", 1, 3, "an operator (=~, ~, ~~, :=, |) after 'f'"),
    ("two names", "f =~ x1 x2", 1, 9, "'+' or the end of the statement after 'x1'"),
    ("unclosed prior(", 'f =~ prior("normal(0,1)"*x1', 1, 25, "')' to close 'prior('"),
    (
        "unbalanced ( inside prior",
        'f =~ x1 + prior("normal(0,1")*x2',
        1,
        24,
        "balanced parentheses in the prior",
    ),
    (
        "unbalanced ) inside prior",
        'f =~ prior("normal0,1)")*x1',
        1,
        22,
        "balanced parentheses in the prior",
    ),
    ("unclosed quote", 'f =~ prior("normal(0,1)*x1', 1, 12, 'a closing "'),
    ("number as lhs", "1 =~ x1", 1, 1, "a variable name at the start of a statement"),
    ("number-led name", "f =~ x1\n2x =~ y", 2, 1, "a name that starts with a letter"),
    ("star without variable", "f =~ x1 + 2*", 1, 13, "a variable name after '*'"),
    ("star first", "f =~ *x1", 1, 6, "a variable name after '=~'"),
    ("star star", "f =~ a**x1", 1, 8, "a variable name after '*'"),
    ("number without star", "f =~ 2 x1", 1, 8, "'*' and a variable name after the number"),
    ("empty label()", "f =~ label()*x1", 1, 12, "a quoted string inside label()"),
    ("empty prior string", 'f =~ prior("")*x1', 1, 12, "a non-empty prior"),
    ("empty start()", "f =~ start()*x1", 1, 12, "a number inside start()"),
    ("unknown modifier", "f =~ foo(1)*x1", 1, 6, "label(), prior() or start()"),
    ("modifier without star", 'f =~ prior("normal(0,1)") x1', 1, 27, "'*' after 'prior(...)'"),
    ("modifier on lhs", "a*f =~ x1", 1, 2, "an operator (=~, ~, ~~, :=, |)"),
    ("fixed and NA", "f =~ 1*NA*x1", 1, 8, "a single fixed value or NA"),
    ("two labels", "f =~ a*b*x1", 1, 8, "one label"),
    ("bad := trailing op", "ab := a*", 1, 9, "a label, a number or '(' after '*'"),
    ("bad := two names", "ab := a b", 1, 9, "an operator (+ - * / ^) after 'a'"),
    ("bad := unclosed (", "ab := (a*b", 1, 11, "')' to close the '(' at column 7"),
    ("bad := empty", "ab :=", 1, 6, "an expression after ':='"),
    ("bad := operator", "ab := a =~ b", 1, 9, ARITHMETIC),
    ("unknown function in :=", "m ~ a*x\nab := a*foo(b)", 2, 9, "sqrt, exp, log or abs"),
    ("several lhs for :=", "a + b := c", 1, 5, "':=' after 'a'"),
    ("reserved lhs", "NA =~ x1", 1, 1, "a variable name"),
    ("reserved rhs", "f =~ x1 + TRUE", 1, 11, "a variable name"),
    ("reserved label", "f =~ NULL*x1", 1, 6, "a label"),
    ("invalid label", "f =~ label('a b')*x1", 1, 12, "a label that is a valid name"),
    ("bad threshold name", "u1 | x1", 1, 6, "a threshold name t1, t2, ..."),
    ("unexpected character", "f =~ x1 @ x2", 1, 9, "a name, a number, an operator or a comment"),
    ("unmatched )", "f =~ x1)", 1, 8, "'+' or the end of the statement after 'x1'"),
]

UNSUPPORTED = [
    ("==", "a == b", 1, 3),
    ("<", "f =~ x1\na < 2*b", 2, 3),
    (">", "a > 0", 1, 3),
    ("<~", "f <~ x1 + x2", 1, 3),
    ("~*~", "y1 ~*~ y1", 1, 4),
    ("c()", "f =~ c(a, b)*x1", 1, 6),
    ("efa()", "efa('f')*f1 + efa('f')*f2 =~ x1 + x2", 1, 1),
    ("equal()", "f =~ equal('a')*x1", 1, 6),
]


@pytest.mark.parametrize(
    ("syntax", "line", "column", "expected"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_syntax_is_located(syntax, line, column, expected):
    with pytest.raises(ModelSyntaxError) as info:
        parse(syntax)
    err = info.value
    assert (err.line, err.column, err.expected) == (line, column, expected)
    assert isinstance(err, ValueError)
    head, source, caret = str(err).split("\n")
    assert head.startswith(f"line {line}, column {column}: ")
    # the caret sits under the column, below the offending source line
    assert source.strip() == syntax.split("\n")[line - 1].strip()
    assert caret.index("^") - 4 == column - 1
    assert source[4:] == syntax.split("\n")[line - 1].rstrip()


def test_error_message_reads_expected_found():
    with pytest.raises(ModelSyntaxError) as info:
        parse("f =~ x1\ny ~ x1 + x2\nabc =~ x3 + + x4")
    assert str(info.value) == (
        "line 3, column 13: expected a variable name after '+', found '+'\n"
        "    abc =~ x3 + + x4\n"
        "                ^"
    )
    assert info.value.found == "'+'"


@pytest.mark.parametrize(
    ("syntax", "line", "column"), [c[1:] for c in UNSUPPORTED], ids=[c[0] for c in UNSUPPORTED]
)
def test_unsupported_features_say_so(syntax, line, column):
    with pytest.raises(ModelSyntaxError, match="not supported yet") as info:
        parse(syntax)
    assert (info.value.line, info.value.column) == (line, column)


def test_dangling_plus_hint():
    with pytest.raises(ModelSyntaxError, match="a '\\+' at the end of an earlier line"):
        parse("f =~ x1 + x2 +\ng =~ x3")


def test_caret_lines_up_with_tabs():
    with pytest.raises(ModelSyntaxError) as info:
        parse("\tf =~ +")
    caret_line = str(info.value).split("\n")[2]
    assert caret_line == "    \t     ^"


# --------------------------------------------------------------------------------------------
# := expressions
# --------------------------------------------------------------------------------------------


def test_parse_expression_names():
    assert parse_expression("a*b") == {"a", "b"}
    assert parse_expression("-a + b^2 - sqrt(c) / exp(log(abs(d))) ** 2") == {"a", "b", "c", "d"}
    assert parse_expression("2 * (a.1 + lambda)") == {"a.1", "lambda"}
    assert parse_expression("1.5") == set()


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("a*", 3, "a label, a number or '(' after '*'"),
        ("a*foo(b)", 3, "sqrt, exp, log or abs"),
        ("__import__('os')", 1, "sqrt, exp, log or abs"),
        ("a.b(c)", 1, "sqrt, exp, log or abs"),
        ("a; b", 2, ARITHMETIC),
        ("(a", 3, "')' to close the '(' at column 1"),
        ("a)", 2, "an operator"),
        ("sqrt(a, b)", 7, "an operator or ')'"),
        ("a // b", 4, "a label, a number or '(' after '/'"),
        ("a == b", 3, ARITHMETIC),
        ("a * 'b'", 5, ARITHMETIC),
        ("NA * b", 1, "a label"),
    ],
)
def test_parse_expression_rejects(text, column, expected):
    with pytest.raises(ModelSyntaxError) as info:
        parse_expression(text)
    assert (info.value.line, info.value.column, info.value.expected) == (1, column, expected)


def test_evaluate_expression_numpy():
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([2.0, 0.5, -1.0])
    np.testing.assert_allclose(evaluate_expression("a*b", {"a": a, "b": b}), a * b)
    np.testing.assert_allclose(
        evaluate_expression("-a^2 + sqrt(abs(b)) / exp(log(a))", {"a": a, "b": b}),
        -(a**2) + np.sqrt(np.abs(b)) / a,
    )
    # ^ is right-associative, as in R
    assert evaluate_expression("2^3^2", {}) == 2.0**9
    # plain lists and scalars are accepted
    np.testing.assert_allclose(evaluate_expression("a + 1", {"a": [1, 2]}), [2.0, 3.0])
    assert evaluate_expression("a / 4", {"a": 2}) == 0.5


def test_evaluate_expression_xarray_keeps_dims_and_aligns():
    rng = np.random.default_rng(0)
    a = xr.DataArray(rng.normal(size=(2, 5)), dims=("chain", "draw"))
    b = xr.DataArray(rng.normal(size=(2, 5)), dims=("chain", "draw"))
    out = evaluate_expression("a*b + c", {"a": a, "b": b, "c": 0.5})
    assert isinstance(out, xr.DataArray)
    assert out.dims == ("chain", "draw")
    np.testing.assert_allclose(out.values, a.values * b.values + 0.5)
    # different dims broadcast by name, not by position
    c = xr.DataArray([1.0, 2.0, 3.0], dims=("item",))
    out = evaluate_expression("a * c", {"a": a, "c": c})
    assert set(out.dims) == {"chain", "draw", "item"}


def test_evaluate_expression_needs_every_name():
    with pytest.raises(KeyError, match="b"):
        evaluate_expression("a*b", {"a": 1.0})
