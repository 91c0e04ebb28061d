"""Property tests of the syntax parser: any text ends in a table or in a located syntax error.

Whatever a user pastes into a model file -- Unicode, control characters, half a statement, a
huge file -- :func:`bayes_rent.spec.partable.build_partable` must either return a parameter
table or raise :class:`~bayes_rent.spec.syntax.ModelSyntaxError` with a line and a column,
quickly. Any other exception is a parser bug.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayes_rent.spec.partable import PARTABLE_COLUMNS, build_partable
from bayes_rent.spec.syntax import ModelSyntaxError, parse

#: Seconds one parse may take, for inputs up to the sizes generated here.
TIME_BOUND = 2.0

FUZZ = settings(
    max_examples=300,
    deadline=None,  # the time bound is asserted per call, with a clearer message
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,  # the same examples on every run, so CI failures reproduce
    database=None,  # nothing written into the work tree
)

# Pieces of lavaan syntax, so that the generator reaches deep into the grammar instead of
# failing at the first character as random text mostly does.
_PIECES = [
    "f", "g", "x1", "x2", "x3", "y", "a", "b", "NA", "Inf", "TRUE", "1", "0.5", "-1", "1e3",
    "=~", "~", "~~", "~1", ":=", "|", "t1", "+", "-", "*", "/", "^", "(", ")", ",", ";",
    "\n", " ", "\t", "#", "!", "'", '"', "start(", "prior(", "'normal(0,1)'", "c(", "level:",
    "group:", "==", "<", ">", "label(", "equal(", "ä", "因子", "\x00", "\u202e", "\r\n", "\\",
]
lavaanish = st.lists(st.sampled_from(_PIECES), max_size=40).map("".join)

_names = st.sampled_from(["f", "g", "x1", "x2", "x3", "x4", "y", "a1"])
_modifiers = st.sampled_from(["", "", "1*", "NA*", "0.5*", "a*", "b*", "start(1)*",
                              "prior('normal(0,1)')*", "equal('a')*", "label('c')*"])
_statement = st.builds(
    lambda lhs, op, terms: f"{lhs} {op} " + " + ".join(m + n for m, n in terms),
    _names, st.sampled_from(["=~", "~", "~~"]),
    st.lists(st.tuples(_modifiers, _names), min_size=1, max_size=4),
)


@st.composite
def _models(draw: st.DrawFn) -> str:
    """Well-formed statements, then one random piece inserted somewhere (or none)."""
    text = "\n".join(draw(st.lists(_statement, min_size=1, max_size=6)))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(_PIECES)) + text[at:]
    return text
any_text = st.text(alphabet=st.characters(codec=None), max_size=200)


def _check(text: str) -> None:
    start = time.perf_counter()
    try:
        table = build_partable(text)
    except ModelSyntaxError as err:
        assert isinstance(err.line, int) and err.line >= 1, (text, err.line)
        assert isinstance(err.column, int) and err.column >= 1, (text, err.column)
        assert f"line {err.line}, column {err.column}" in str(err)
    else:
        assert isinstance(table, pd.DataFrame)
        assert set(PARTABLE_COLUMNS) <= set(table.columns)
    elapsed = time.perf_counter() - start
    assert elapsed < TIME_BOUND, f"{elapsed:.1f} s for {len(text)} characters"


@FUZZ
@given(any_text)
def test_any_text_gives_a_table_or_a_located_error(text):
    _check(text)


@FUZZ
@given(lavaanish)
def test_lavaan_like_text_gives_a_table_or_a_located_error(text):
    _check(text)


@FUZZ
@given(_models())
def test_statements_with_one_stray_piece_give_a_table_or_a_located_error(text):
    _check(text)


@settings(max_examples=20, database=None, deadline=None, derandomize=True)
@given(st.sampled_from(["f =~ x1 + x2 + x3\n", "y ~ a*x1\n", "f =~ x1 + \n", "(((((", "\x00"]),
       st.integers(min_value=1_000, max_value=5_000))
def test_huge_inputs_stay_fast(unit, times):
    _check(unit * times)


@pytest.mark.parametrize(
    "text",
    ["", "\n\n\n", "# only a comment", "f =~ x1 + x2 + x3\x00", "f =~ x1 +\u202e x2",
     "f =~ x1 + x2 + x3\r\nf ~~ 1*f\r\n", "\ufefff =~ x1 + x2 + x3", "f =~ " + "+ x" * 500],
)
def test_edge_cases(text):
    _check(text)


def test_parse_errors_are_located_on_their_own():
    with pytest.raises(ModelSyntaxError) as info:
        parse("f =~ x1 +\n\ng ~ ")
    assert (info.value.line, info.value.column) >= (1, 1)
