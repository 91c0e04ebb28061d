"""lavaan model syntax: a hand-written tokenizer and recursive-descent parser.

The parser turns lavaan model syntax into a flat list of :class:`Statement` objects, one per
left-hand side and operator. It knows nothing about automatic parameters; that is the job of
:func:`bayes_rent.spec.partable.build_partable`.

Supported syntax
----------------
=================================  ===========================================================
``f =~ x1 + x2 + x3``              measurement (loadings)
``y ~ x1 + f``                     regressions
``y1 ~~ y2``                       (residual) variances and covariances
``y ~ 1`` / ``y ~1``               intercepts (``y ~ 1 + x`` is an intercept plus a regression)
``y1 | t1 + t2``                   thresholds of an ordinal variable
``ab := a*b``                      defined parameters (arithmetic of labels)
``1*x``, ``0.5*x``, ``-1*x``       fixed values
``NA*x``                           explicitly free (e.g. to free a marker loading)
``a*x``, ``label("a")*x``          labels; parameters sharing a label are constrained equal
``prior("normal(0,1)")*x``         a prior for this parameter (the string is kept verbatim)
``start(0.5)*x``                   a starting value
``a*prior("normal(1,0.5)")*x``     modifiers chain
``y1 + y2 ~ x``                    several left-hand sides expand to one statement each
``level: 1`` / ``level: 2``        two-level blocks: the within and the between model
=================================  ===========================================================

Two-level models are written as lavaan writes them: a line ``level: 1`` starts the within
(firm) model and a line ``level: 2`` the between (cluster) model; every statement then belongs
to the block above it (:attr:`Statement.level`), each level is given once, and both are needed.

Comments start with ``#`` or ``!``. Statements are separated by new lines or ``;``. A statement
continues on the next line when the line ends in an operator or ``+`` (or inside parentheses),
or when the next line starts with ``+`` or an operator -- lavaan's rule that a statement is
complete only when it does not end in an operator.

Not supported yet (a :class:`ModelSyntaxError` says so, with the location): constraints
``==``, ``<``, ``>``; composites ``<~``; scaling ``~*~``; group vectors ``c(...)``; ``efa(...)``
blocks; ``equal()``, ``lower()``, ``upper()`` modifiers; interaction terms ``x1:x2``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bayes_rent.errors import BayesRentError

__all__ = [
    "Modifiers",
    "ModelSyntaxError",
    "Statement",
    "Term",
    "evaluate_expression",
    "parse",
    "parse_expression",
]

#: Operators of lavaan syntax that bayes-rent understands.
OPERATORS = ("=~", "~", "~~", ":=", "|")

#: Functions allowed in ``:=`` expressions.
EXPRESSION_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "sqrt": np.sqrt,
    "exp": np.exp,
    "log": np.log,
    "abs": np.abs,
}

# Words that R (and so lavaan) gives a meaning of their own; they cannot name a variable or label.
RESERVED_WORDS = frozenset({"NA", "NaN", "Inf", "TRUE", "FALSE", "NULL"})

# Modifier functions that lavaan has and bayes-rent does not support yet, with the reason.
_UNSUPPORTED_MODIFIERS = {
    "c": "group vectors c(...) are not supported yet (multi-group models come later)",
    "efa": "efa(...) blocks are not supported yet",
    "equal": "equal(...) is not supported yet; share a label instead (a*x1 + a*x2)",
    "lower": "lower(...) bounds are not supported yet; use a prior instead",
    "upper": "upper(...) bounds are not supported yet; use a prior instead",
    "rv": "random slopes rv(...) are not supported yet",
}

_UNSUPPORTED_OPERATORS = {
    "==": "equality constraints ('==') are not supported yet; share a label instead",
    "<": "inequality constraints ('<') are not supported yet",
    ">": "inequality constraints ('>') are not supported yet",
    "<~": "composites / formative indicators ('<~') are not supported yet",
    "~*~": "scaling factors ('~*~') are not supported yet",
}

_KNOWN_OPERATORS = frozenset(OPERATORS) | frozenset(_UNSUPPORTED_OPERATORS)

# name given to the intercept term '1' of 'y ~ 1 + x' until it is split into a '~1' statement;
# it can never be a variable name
_INTERCEPT = "\x00"
_OPERATOR_CHARS = frozenset("=~<>:|")


class ModelSyntaxError(BayesRentError, ValueError):
    """A located error in lavaan model syntax.

    Parameters
    ----------
    message : str
        What went wrong, without the location.
    line, column : int
        1-based position of the offending token (or of the spot where something is missing).
    expected : str
        What the parser expected at that position (``""`` when not applicable).
    found : str, optional
        What it found instead; when given the message reads ``expected ..., found ...``.
    source_line : str, optional
        The source line, shown under the message with a caret under ``column``.

    Attributes
    ----------
    line, column, expected, found : as above.
    reason : str
        The message without the location and the quoted source.

    Examples
    --------
    >>> try:
    ...     parse("f =~ + x1")
    ... except ModelSyntaxError as err:
    ...     print(err.line, err.column, err.expected)
    1 6 a variable name after '=~'
    """

    def __init__(
        self,
        message: str,
        line: int,
        column: int,
        expected: str = "",
        found: str = "",
        source_line: str | None = None,
    ) -> None:
        self.line = line
        self.column = column
        self.expected = expected
        self.found = found
        self.reason = message
        text = f"line {line}, column {column}: {message}"
        if source_line is not None:
            # keep tabs so that the caret lines up with the character it points at
            pad = "".join("\t" if ch == "\t" else " " for ch in source_line[: max(column - 1, 0)])
            text += f"\n    {source_line.rstrip()}\n    {pad}^"
        super().__init__(text)


@dataclass(frozen=True)
class Modifiers:
    """Modifiers written in front of a variable name (``1*x``, ``a*x``, ``prior("..")*x``).

    Attributes
    ----------
    fixed : float or None
        The fixed value (``1*x``), or None.
    na : bool
        True when ``NA*x`` was written: the parameter is explicitly free.
    label : str or None
        The label (``a*x`` or ``label("a")*x``).
    prior : str or None
        The prior string, verbatim (``prior("normal(0,1)")*x``).
    start : float or None
        The starting value (``start(0.5)*x``).

    Examples
    --------
    >>> Modifiers(fixed=1.0).is_empty()
    False
    >>> Modifiers().is_empty()
    True
    """

    fixed: float | None = None
    na: bool = False
    label: str | None = None
    prior: str | None = None
    start: float | None = None

    def is_empty(self) -> bool:
        """True when no modifier was written.

        Examples
        --------
        >>> Modifiers(label="a").is_empty()
        False
        """
        return self == Modifiers()


@dataclass(frozen=True)
class Term:
    """One right-hand-side element of a statement: a name and its modifiers.

    For ``~1`` statements the name is ``""``; for ``|`` it is the threshold name (``t1``); for
    ``:=`` statements the terms are the names the expression uses, with their positions.

    Attributes
    ----------
    name : str
    modifiers : Modifiers
    line, column : int
        1-based position of the name in the source.

    Examples
    --------
    >>> name, mods = parse("f =~ a*x1")[0].terms[0]
    >>> name, mods.label
    ('x1', 'a')
    """

    name: str
    modifiers: Modifiers = Modifiers()
    line: int = 0
    column: int = 0

    def __iter__(self):
        # lets callers unpack a term as (name, modifiers)
        return iter((self.name, self.modifiers))


@dataclass(frozen=True)
class Statement:
    """One parsed statement: ``lhs op terms``.

    Attributes
    ----------
    lhs : str
        The left-hand side (a single name; several left-hand sides are expanded).
    op : str
        One of ``=~``, ``~``, ``~~``, ``~1``, ``|``, ``:=``.
    terms : tuple of Term
        The right-hand side elements in syntax order.
    line, column : int
        1-based position of ``lhs`` in the source.
    expression : str
        For ``:=`` only: the expression text (tokens joined by single spaces where the source
        had white space), else ``""``.
    level : int
        The ``level:`` block the statement was written in (1 within, 2 between); 0 in a
        model without levels.

    Examples
    --------
    >>> s = parse("y ~ x1 + b*x2")[0]
    >>> s.lhs, s.op, [t.name for t in s.terms]
    ('y', '~', ['x1', 'x2'])
    >>> [(s.lhs, s.level) for s in parse("level: 1\\n fw =~ y1 + y2\\nlevel: 2\\n fb =~ y1 + y2")]
    [('fw', 1), ('fb', 2)]
    """

    lhs: str
    op: str
    terms: tuple[Term, ...]
    line: int
    column: int
    expression: str = ""
    level: int = 0


# --------------------------------------------------------------------------------------------
# tokenizer
# --------------------------------------------------------------------------------------------

# token kinds
NAME, NUMBER, STRING, OP = "NAME", "NUMBER", "STRING", "OP"
PLUS, MINUS, STAR, SLASH, CARET, POW = "+", "-", "*", "/", "^", "**"
LPAREN, RPAREN, COMMA, SEMI, NEWLINE, EOF = "(", ")", ",", ";", "NEWLINE", "EOF"
# the ':' of a block header such as 'level: 1'
BLOCK = "BLOCK"


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    line: int
    column: int
    # whether white space (or a line break) separates this token from the previous one
    spaced: bool = False
    # characters the token spans in the source when that differs from its text (strings)
    width: int | None = None

    @property
    def end_column(self) -> int:
        return self.column + (len(self.text) if self.width is None else self.width)

    def describe(self) -> str:
        if self.kind == NEWLINE:
            return "end of line"
        if self.kind == EOF:
            return "end of input"
        if self.kind == NUMBER:
            return f"number {self.text}"
        if self.kind == STRING:
            return f'string "{self.text}"'
        return f"'{self.text}'"


def _is_name_start(ch: str) -> bool:
    return ch.isalpha() or ch in "._"


def _is_name_char(ch: str) -> bool:
    return ch.isalnum() or ch in "._"


def _starts_block(out: list[_Token]) -> bool:
    """Whether a ':' here follows a lone name that opens a statement (``level:``)."""
    if not out or out[-1].kind != NAME:
        return False
    return len(out) == 1 or out[-2].kind in (NEWLINE, SEMI)


class _Tokenizer:
    """Split source text into tokens; raise located errors for bad characters."""

    def __init__(self, text: str) -> None:
        self.lines = [line.rstrip("\r") for line in text.split("\n")]

    def error(
        self, message: str, line: int, col: int, expected: str, found: str
    ) -> ModelSyntaxError:
        return ModelSyntaxError(message, line, col, expected, found, self.lines[line - 1])

    def _string_end(self, line: str, i: int, lineno: int) -> int:
        """Position of the quote that closes the string opening at ``i``."""
        quote, j, n = line[i], i + 1, len(line)
        while j < n and line[j] != quote:
            j += 2 if line[j] == "\\" and j + 1 < n else 1
        if j >= n:
            raise self.error(
                f"expected a closing {quote} for the string that starts here, found end of line",
                lineno, i + 1, expected=f"a closing {quote}", found="end of line",
            )
        return j

    @staticmethod
    def _unescape(line: str, i: int, j: int) -> str:
        """The text of the string between the quotes at ``i`` and ``j``, escapes resolved."""
        buf, k = [], i + 1
        while k < j:
            if line[k] == "\\" and k + 1 < j:
                k += 1
            buf.append(line[k])
            k += 1
        return "".join(buf)

    def _number_end(self, line: str, i: int, lineno: int) -> int:
        """End of the number starting at ``i``; a name that starts with a digit is an error."""
        n = len(line)
        j = i
        while j < n and line[j].isdigit():
            j += 1
        if j < n and line[j] == ".":
            j += 1
            while j < n and line[j].isdigit():
                j += 1
        if j < n and line[j] in "eE":
            k = j + 1
            if k < n and line[k] in "+-":
                k += 1
            if k < n and line[k].isdigit():
                while k < n and line[k].isdigit():
                    k += 1
                j = k
        if j < n and _is_name_char(line[j]):
            k = j
            while k < n and _is_name_char(line[k]):
                k += 1
            raise self.error(
                f"invalid name '{line[i:k]}': a name must start with a letter", lineno, i + 1,
                expected="a name that starts with a letter", found=f"'{line[i:k]}'",
            )
        return j

    def tokens(self) -> list[_Token]:
        out: list[_Token] = []
        for lineno, line in enumerate(self.lines, start=1):
            i = 0
            spaced = True
            n = len(line)
            while i < n:
                ch = line[i]
                col = i + 1
                if ch in " \t\f\v":
                    i += 1
                    spaced = True
                    continue
                if ch in "#!":
                    break
                if ch in "\"'":
                    j = self._string_end(line, i, lineno)
                    out.append(_Token(STRING, self._unescape(line, i, j), lineno, col, spaced,
                                      width=j + 1 - i))
                    i = j + 1
                elif ch.isdigit() or (ch == "." and i + 1 < n and line[i + 1].isdigit()):
                    j = self._number_end(line, i, lineno)
                    out.append(_Token(NUMBER, line[i:j], lineno, col, spaced))
                    i = j
                elif _is_name_start(ch):
                    j = i + 1
                    while j < n and _is_name_char(line[j]):
                        j += 1
                    out.append(_Token(NAME, line[i:j], lineno, col, spaced))
                    i = j
                elif line.startswith("~*~", i):
                    out.append(_Token(OP, "~*~", lineno, col, spaced))
                    i += 3
                elif ch in _OPERATOR_CHARS:
                    j = i
                    while j < n and line[j] in _OPERATOR_CHARS:
                        j += 1
                    op = line[i:j]
                    if op == ":" and _starts_block(out):
                        out.append(_Token(BLOCK, op, lineno, col, spaced))
                        i = j
                        spaced = False
                        continue
                    if op not in _KNOWN_OPERATORS:
                        hint = ""
                        if op == ":":
                            hint = " (interaction terms x1:x2 are not supported yet)"
                        raise self.error(
                            f"unknown operator '{op}'; expected one of =~, ~, ~~, :=, |{hint}",
                            lineno,
                            col,
                            expected="an operator (=~, ~, ~~, :=, |)",
                            found=f"'{op}'",
                        )
                    out.append(_Token(OP, op, lineno, col, spaced))
                    i = j
                elif ch == "*" and line.startswith("**", i):
                    out.append(_Token(POW, "**", lineno, col, spaced))
                    i += 2
                elif ch in "+-*/^(),;":
                    out.append(_Token(ch, ch, lineno, col, spaced))
                    i += 1
                else:
                    raise self.error(
                        f"unexpected character '{ch}'",
                        lineno,
                        col,
                        expected="a name, a number, an operator or a comment",
                        found=f"'{ch}'",
                    )
                spaced = False
            out.append(_Token(NEWLINE, "", lineno, len(line) + 1, True))
        last = len(self.lines)
        out.append(_Token(EOF, "", last, len(self.lines[-1]) + 1, True))
        return out


# token kinds after which a statement cannot be complete
_CONTINUE_AFTER = frozenset({OP, PLUS, MINUS, STAR, SLASH, CARET, POW, COMMA, LPAREN})
# token kinds that, starting a line, continue the previous statement
_CONTINUE_BEFORE = frozenset({OP, PLUS, MINUS, STAR, SLASH, CARET, POW})


def _split_statements(tokens: list[_Token]) -> list[tuple[list[_Token], _Token]]:
    """Group tokens into statements; each comes with the token that ended it."""
    statements: list[tuple[list[_Token], _Token]] = []
    current: list[_Token] = []
    depth = 0
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.kind in (SEMI, EOF) or (tok.kind == NEWLINE and current and depth <= 0):
            if tok.kind == NEWLINE:
                if current[-1].kind in _CONTINUE_AFTER:
                    i += 1
                    continue
                j = i + 1
                while tokens[j].kind == NEWLINE:
                    j += 1
                if tokens[j].kind in _CONTINUE_BEFORE:
                    i = j
                    continue
            if current:  # an empty statement (';;') is harmless
                statements.append((current, tok))
            current = []
            depth = 0
        elif tok.kind == NEWLINE:
            pass
        else:
            if tok.kind == LPAREN:
                depth += 1
            elif tok.kind == RPAREN:
                depth -= 1
            current.append(tok)
        i += 1
    return statements


# --------------------------------------------------------------------------------------------
# statement parser
# --------------------------------------------------------------------------------------------


class _Reporter:
    """Builds located errors that quote the offending source line."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def source(self, tok: _Token) -> str | None:
        return self.lines[tok.line - 1] if 0 < tok.line <= len(self.lines) else None

    def error_at(self, tok: _Token, message: str, expected: str = "") -> ModelSyntaxError:
        return ModelSyntaxError(message, tok.line, tok.column, expected, "", self.source(tok))

    def expected(self, what: str, tok: _Token, hint: str = "") -> ModelSyntaxError:
        found = "end of statement (';')" if tok.kind == SEMI else tok.describe()
        return ModelSyntaxError(
            f"expected {what}, found {found}{hint}",
            tok.line,
            tok.column,
            what,
            found,
            self.source(tok),
        )


class _StatementParser:
    """Recursive-descent parser for the tokens of one statement."""

    def __init__(self, tokens: list[_Token], end: _Token, lines: list[str]) -> None:
        last = tokens[-1]
        # a missing element is reported right after the last token of the statement,
        # except after an explicit ';'
        if end.kind == SEMI:
            self.end = end
        else:
            kind = end.kind if end.kind == EOF else NEWLINE
            self.end = _Token(kind, "", last.line, last.end_column, True)
        self.toks = tokens + [self.end]
        self.pos = 0
        self.lines = lines
        self.report = _Reporter(lines)
        self.multiline = tokens[0].line != last.line

    # -- helpers ------------------------------------------------------------------------------
    def peek(self, k: int = 0) -> _Token:
        return self.toks[min(self.pos + k, len(self.toks) - 1)]

    def advance(self) -> _Token:
        tok = self.toks[self.pos]
        self.pos = min(self.pos + 1, len(self.toks) - 1)
        return tok

    def at_end(self) -> bool:
        return self.pos >= len(self.toks) - 1

    def error_at(self, tok: _Token, message: str, expected: str = "") -> ModelSyntaxError:
        return self.report.error_at(tok, message, expected)

    def expected(self, what: str, tok: _Token | None = None, hint: str = "") -> ModelSyntaxError:
        return self.report.expected(what, tok if tok is not None else self.peek(), hint)

    def check_name(self, tok: _Token, role: str) -> str:
        if tok.text in RESERVED_WORDS:
            raise self.error_at(
                tok,
                f"'{tok.text}' is a reserved word and cannot be used as {role}",
                expected=role,
            )
        return tok.text

    # -- grammar ------------------------------------------------------------------------------
    def parse(self) -> list[Statement]:
        lhs_tokens = self.parse_lhs()
        op_tok = self.peek()
        if op_tok.kind != OP:
            raise self.expected(
                f"an operator (=~, ~, ~~, :=, |) after '{self.toks[self.pos - 1].text}'"
            )
        self.advance()
        op = op_tok.text
        if op in _UNSUPPORTED_OPERATORS:
            raise self.error_at(
                op_tok, _UNSUPPORTED_OPERATORS[op], expected="an operator (=~, ~, ~~, :=, |)"
            )
        if op in (":=", "|") and len(lhs_tokens) > 1:
            raise self.error_at(
                lhs_tokens[1],
                f"'{op}' takes a single name on its left-hand side",
                expected=f"'{op}' after '{lhs_tokens[0].text}'",
            )
        if op == ":=":
            return [self.parse_definition(lhs_tokens[0])]
        terms = self.parse_terms(op_tok)
        out: list[Statement] = []
        for lhs in lhs_tokens:
            out.extend(self.split_intercepts(lhs, op, terms))
        return out

    def parse_lhs(self) -> list[_Token]:
        names = [self.parse_lhs_name(None)]
        while self.peek().kind == PLUS:
            plus = self.advance()
            names.append(self.parse_lhs_name(plus))
        return names

    def parse_lhs_name(self, after: _Token | None) -> _Token:
        tok = self.peek()
        where = "at the start of a statement" if after is None else f"after '{after.text}'"
        if tok.kind == NAME and self.peek(1).kind == LPAREN:
            if tok.text in _UNSUPPORTED_MODIFIERS:
                raise self.error_at(
                    tok, _UNSUPPORTED_MODIFIERS[tok.text], expected=f"a variable name {where}"
                )
            raise self.expected(f"a variable name {where}")
        if tok.kind != NAME:
            raise self.expected(f"a variable name {where}")
        if self.peek(1).kind == STAR:
            raise self.error_at(
                self.peek(1),
                "modifiers (such as a*x or 1*x) are only allowed on the right-hand side",
                expected="an operator (=~, ~, ~~, :=, |)",
            )
        self.check_name(tok, "a variable name")
        self.advance()
        return tok

    def parse_terms(self, op_tok: _Token) -> list[Term]:
        terms = [self.parse_term(op_tok, op_tok.text)]
        while not self.at_end():
            tok = self.peek()
            if tok.kind != PLUS:
                hint = ""
                if tok.kind == OP and self.multiline:
                    hint = " (a '+' at the end of an earlier line continues that statement here)"
                raise self.expected(
                    f"'+' or the end of the statement after '{self.toks[self.pos - 1].text}'",
                    hint=hint,
                )
            plus = self.advance()
            terms.append(self.parse_term(plus, op_tok.text))
        return terms

    def parse_term(self, after: _Token, op: str) -> Term:
        mods: dict[str, Any] = {}
        prev = after
        while True:
            tok = self.peek()
            nxt = self.peek(1)
            if tok.kind == NAME and nxt.kind == LPAREN:
                self.parse_function_modifier(mods)
                prev = self.expect_star(tok.text + "(...)")
                continue
            if tok.kind in (NAME, NUMBER) and nxt.kind == POW:
                # 'a**x' is a label followed by a stray '*', not a power
                second = _Token(STAR, "*", nxt.line, nxt.column + 1)
                raise self.expected("a variable name after '*'", second)
            if tok.kind == NAME and nxt.kind == STAR:
                self.advance()
                star = self.advance()
                if tok.text == "NA":
                    self.set_modifier(mods, "na", True, tok)
                else:
                    self.check_name(tok, "a label")
                    self.set_modifier(mods, "label", tok.text, tok)
                prev = star
                continue
            if tok.kind == NAME:
                self.advance()
                return self.finish_term(tok, tok.text, mods, op)
            if tok.kind == NUMBER or (tok.kind == MINUS and nxt.kind == NUMBER):
                number_tok = tok
                negative = tok.kind == MINUS
                if negative:
                    self.advance()
                num = self.advance()
                value = -float(num.text) if negative else float(num.text)
                if self.peek().kind == STAR:
                    self.set_modifier(mods, "fixed", value, number_tok)
                    prev = self.advance()
                    continue
                if op == "~" and not negative and num.text == "1":
                    return self.finish_term(num, "", mods, "~1")
                what = "'*' and a variable name after the number"
                if op == "~":
                    what = "'*' and a variable name after the number (or the intercept '1')"
                raise self.expected(what)
            if tok.kind == MINUS:
                raise self.expected("a number after '-'", self.peek(1))
            raise self.expected(f"a variable name after '{prev.text}'")

    def finish_term(self, tok: _Token, name: str, mods: dict[str, Any], op: str) -> Term:
        if name:
            self.check_name(tok, "a variable name")
        if op == "|" and not (
            len(name) > 1 and name[0] == "t" and name[1:].isdigit() and int(name[1:]) > 0
        ):
            raise self.error_at(
                tok,
                f"expected a threshold name t1, t2, ... after '|' or '+', found '{name}'",
                expected="a threshold name t1, t2, ...",
            )
        return Term(name if op != "~1" else _INTERCEPT, Modifiers(**mods), tok.line, tok.column)

    def expect_star(self, what: str) -> _Token:
        if self.peek().kind != STAR:
            raise self.expected(f"'*' after '{what}'")
        return self.advance()

    def set_modifier(self, mods: dict[str, Any], key: str, value: Any, tok: _Token) -> None:
        if key in ("fixed", "na") and ("fixed" in mods or "na" in mods):
            raise self.error_at(
                tok,
                "a parameter can be fixed (1*x) or free (NA*x), not both, and only once",
                expected="a single fixed value or NA",
            )
        if key in mods:
            raise self.error_at(
                tok, f"the {key} modifier is given twice for one term", expected="one " + key
            )
        mods[key] = value

    def parse_function_modifier(self, mods: dict[str, Any]) -> None:
        fn = self.advance()
        self.advance()  # '('
        name = fn.text
        if name in _UNSUPPORTED_MODIFIERS:
            raise self.error_at(fn, _UNSUPPORTED_MODIFIERS[name], expected="a modifier")
        if name in ("label", "prior"):
            tok = self.peek()
            if tok.kind != STRING:
                raise self.expected(f"a quoted string inside {name}()")
            if not tok.text.strip():
                raise self.error_at(
                    tok, f"empty {name}(): expected a non-empty string", expected="a non-empty "
                    + ("label" if name == "label" else "prior")
                )
            self.advance()
            if name == "prior":
                self.check_prior(tok)
                self.set_modifier(mods, "prior", tok.text, fn)
            else:
                label = tok.text
                if not (_is_name_start(label[0]) and all(_is_name_char(c) for c in label)):
                    raise self.error_at(
                        tok, f"invalid label '{label}'", expected="a label that is a valid name"
                    )
                if label in RESERVED_WORDS:
                    raise self.error_at(
                        tok, f"'{label}' is a reserved word and cannot be used as a label",
                        expected="a label",
                    )
                self.set_modifier(mods, "label", label, fn)
        elif name == "start":
            tok = self.peek()
            negative = tok.kind == MINUS
            if negative:
                self.advance()
            num = self.peek()
            if num.kind != NUMBER:
                raise self.expected("a number inside start()")
            self.advance()
            value = float(num.text)
            self.set_modifier(mods, "start", -value if negative else value, fn)
        else:
            raise self.error_at(
                fn,
                f"unknown modifier '{name}()'; expected label(), prior() or start()",
                expected="label(), prior() or start()",
            )
        if self.peek().kind != RPAREN:
            raise self.expected(f"')' to close '{name}('")
        self.advance()

    def check_prior(self, tok: _Token) -> None:
        """Parentheses and brackets inside a prior string must balance."""
        stack: list[tuple[str, int]] = []
        pairs = {")": "(", "]": "["}
        for k, ch in enumerate(tok.text):
            if ch in "([":
                stack.append((ch, k))
            elif ch in ")]":
                if not stack or stack[-1][0] != pairs[ch]:
                    raise self._prior_error(tok, k, f"unbalanced '{ch}' in prior string")
                stack.pop()
        if stack:
            ch, k = stack[-1]
            closing = ")" if ch == "(" else "]"
            raise self._prior_error(tok, k, f"unbalanced '{ch}' in prior string: no '{closing}'")

    def _prior_error(self, tok: _Token, k: int, message: str) -> ModelSyntaxError:
        # +1 for the opening quote; escapes are rare enough to ignore here
        src = self.lines[tok.line - 1]
        return ModelSyntaxError(
            message, tok.line, tok.column + 1 + k, "balanced parentheses in the prior", "", src
        )

    def split_intercepts(self, lhs: _Token, op: str, terms: list[Term]) -> list[Statement]:
        """``y ~ 1 + x`` becomes ``y ~1`` and ``y ~ x``, keeping the order of the terms."""
        out: list[Statement] = []
        run: list[Term] = []
        for term in terms:
            if term.name == _INTERCEPT:
                if run:
                    out.append(Statement(lhs.text, op, tuple(run), lhs.line, lhs.column))
                    run = []
                intercept = Term("", term.modifiers, term.line, term.column)
                out.append(Statement(lhs.text, "~1", (intercept,), lhs.line, lhs.column))
            else:
                run.append(term)
        if run:
            out.append(Statement(lhs.text, op, tuple(run), lhs.line, lhs.column))
        return out

    def parse_definition(self, lhs: _Token) -> Statement:
        if lhs.text in EXPRESSION_FUNCTIONS:
            raise self.error_at(
                lhs, f"'{lhs.text}' is a function name and cannot name a defined parameter",
                expected="a name for the defined parameter",
            )
        body = self.toks[self.pos : -1]
        if not body:
            raise self.expected("an expression after ':='")
        _, name_tokens = _compile_expression(body, self.end, self.report)
        text = _expression_text(body)
        terms = tuple(Term(t.text, Modifiers(), t.line, t.column) for t in name_tokens)
        return Statement(lhs.text, ":=", terms, lhs.line, lhs.column, expression=text)


# --------------------------------------------------------------------------------------------
# := expressions
# --------------------------------------------------------------------------------------------

_EXPR_OPERATORS = frozenset({PLUS, MINUS, STAR, SLASH, CARET, POW})
_ALLOWED_EXPR_KINDS = _EXPR_OPERATORS | {NAME, NUMBER, LPAREN, RPAREN, COMMA}


def _expression_text(tokens: list[_Token]) -> str:
    parts: list[str] = []
    for k, tok in enumerate(tokens):
        if k and tok.spaced:
            parts.append(" ")
        parts.append(tok.text)
    return "".join(parts)


def _check_expression_tokens(tokens: list[_Token], end: _Token, report: _Reporter) -> list[_Token]:
    """Validate an arithmetic expression token by token; return the name tokens it uses.

    This gives located, readable errors; :func:`_compile_expression` then checks the structure
    once more with :mod:`ast`.
    """
    expected, error_at = report.expected, report.error_at
    names: list[_Token] = []
    toks = tokens + [end]
    depth: list[_Token] = []
    want_operand = True
    prev: _Token | None = None
    for k, tok in enumerate(toks[:-1]):
        nxt = toks[k + 1]
        if tok.kind not in _ALLOWED_EXPR_KINDS:
            raise expected(
                "an arithmetic expression of labels (+ - * / ^, sqrt, exp, log, abs)", tok
            )
        if want_operand:
            if tok.kind in (PLUS, MINUS):
                pass  # unary sign
            elif tok.kind == NAME:
                if nxt.kind == LPAREN:
                    if tok.text not in EXPRESSION_FUNCTIONS:
                        raise error_at(
                            tok,
                            f"unknown function '{tok.text}' in ':=' expression; "
                            "allowed: sqrt, exp, log, abs",
                            expected="sqrt, exp, log or abs",
                        )
                else:
                    if tok.text in RESERVED_WORDS:
                        raise error_at(
                            tok, f"'{tok.text}' is a reserved word, not a label", expected="a label"
                        )
                    names.append(tok)
                    want_operand = False
            elif tok.kind == NUMBER:
                want_operand = False
            elif tok.kind == LPAREN:
                depth.append(tok)
            else:
                after = f"after '{prev.text}'" if prev is not None else "after ':='"
                raise expected(f"a label, a number or '(' {after}", tok)
        else:
            if tok.kind in _EXPR_OPERATORS:
                want_operand = True
            elif tok.kind == RPAREN:
                if not depth:
                    raise error_at(tok, "unbalanced ')' in expression", expected="an operator")
                depth.pop()
            elif tok.kind == COMMA:
                raise error_at(
                    tok, "the functions of ':=' take one argument", expected="an operator or ')'"
                )
            else:
                raise expected(f"an operator (+ - * / ^) after '{prev.text}'", tok)
        prev = tok
    if want_operand:
        after = f"after '{prev.text}'" if prev is not None else "after ':='"
        raise expected(f"a label, a number or '(' {after}", end)
    if depth:
        raise expected(f"')' to close the '(' at column {depth[-1].column}", end)
    return names


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARYOPS: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def _compile_expression(
    tokens: list[_Token], end: _Token, report: _Reporter
) -> tuple[ast.Expression, list[_Token]]:
    """Check expression tokens and parse them with :mod:`ast`.

    Returns the validated tree, whose names are placeholders ``_v0, _v1, ...`` in order of first
    use, and the name tokens. Placeholders let lavaan labels that are not Python identifiers
    (``a.1``, ``lambda``, non-ASCII) parse; ``^`` becomes ``**``.
    """
    name_tokens = _check_expression_tokens(tokens, end, report)
    is_name = {id(t) for t in name_tokens}
    placeholders: dict[str, str] = {}
    pieces: list[str] = []
    for tok in tokens:
        if id(tok) in is_name:
            pieces.append(placeholders.setdefault(tok.text, f"_v{len(placeholders)}"))
        elif tok.kind == CARET:
            pieces.append("**")
        else:
            pieces.append(tok.text)
    # single spaces between tokens keep 'a / / b' from reading as Python's '//'
    tree = ast.parse(" ".join(pieces), mode="eval")
    _validate_ast(tree.body)
    return tree, name_tokens


def _expression_ast(text: str) -> tuple[ast.Expression, dict[str, str]]:
    """Compile a stand-alone expression; return the tree and placeholder → name."""
    tokenizer = _Tokenizer(text)
    tokens = [t for t in tokenizer.tokens() if t.kind not in (NEWLINE, EOF)]
    if not tokens:
        raise ModelSyntaxError("expected an expression, found nothing", 1, 1, "an expression")
    end = _Token(EOF, "", tokens[-1].line, tokens[-1].end_column, True)
    tree, name_tokens = _compile_expression(tokens, end, _Reporter(tokenizer.lines))
    names = _unique_texts(name_tokens)
    return tree, {f"_v{k}": name for k, name in enumerate(names)}


def _unique_texts(tokens: list[_Token]) -> list[str]:
    return list(dict.fromkeys(t.text for t in tokens))


def _validate_ast(node: ast.AST) -> None:
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        _validate_ast(node.left)
        _validate_ast(node.right)
    elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARYOPS:
        _validate_ast(node.operand)
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        pass
    elif isinstance(node, ast.Name):
        pass
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in EXPRESSION_FUNCTIONS
        and len(node.args) == 1
        and not node.keywords
    ):
        _validate_ast(node.args[0])
    else:  # pragma: no cover - the token check above rejects these first
        raise ModelSyntaxError(
            "not an arithmetic expression", 1, getattr(node, "col_offset", 0) + 1,
            "an arithmetic expression",
        )


def parse_expression(text: str) -> set[str]:
    """Validate a ``:=`` expression and return the names (labels) it uses.

    Allowed: numbers, names, ``+ - * / ^ **``, unary minus, parentheses, and calls to
    ``sqrt``, ``exp``, ``log`` and ``abs``.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"a*b + c"``.

    Returns
    -------
    set of str
        The names used (function names excluded).

    Raises
    ------
    ModelSyntaxError
        With the column of the offending token (line 1 for a one-line expression).

    Examples
    --------
    >>> sorted(parse_expression("a*b + sqrt(c^2)"))
    ['a', 'b', 'c']
    >>> try:
    ...     parse_expression("a*foo(b)")
    ... except ModelSyntaxError as err:
    ...     print(err.column, err.expected)
    3 sqrt, exp, log or abs
    """
    _, names = _expression_ast(text)
    return set(names.values())


def _evaluate(node: ast.AST, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)](_evaluate(node.left, env), _evaluate(node.right, env))
    if isinstance(node, ast.UnaryOp):
        return _UNARYOPS[type(node.op)](_evaluate(node.operand, env))
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.Call):
        return EXPRESSION_FUNCTIONS[node.func.id](_evaluate(node.args[0], env))
    raise TypeError(f"cannot evaluate {ast.dump(node)}")  # pragma: no cover


def evaluate_expression(text: str, values: Mapping[str, Any]) -> Any:
    """Evaluate a ``:=`` expression, vectorized, without ``eval``.

    The expression is parsed with :mod:`ast` and its tree walked; the arithmetic is done by the
    operands' own operators, so numpy arrays broadcast and xarray DataArrays align by their
    dims and coords (e.g. ``(chain, draw)`` posterior draws).

    Parameters
    ----------
    text : str
        The expression, e.g. ``"a*b"``.
    values : Mapping[str, array-like]
        A value for every name used. numpy arrays and xarray DataArrays are used as they are;
        other inputs (lists, scalars) go through :func:`numpy.asarray`.

    Returns
    -------
    numpy.ndarray, xarray.DataArray or float
        The result, shaped like the broadcast of the inputs.

    Raises
    ------
    ModelSyntaxError
        When the expression is malformed.
    KeyError
        When a name has no value.

    Examples
    --------
    >>> import numpy as np
    >>> evaluate_expression("a*b + 1", {"a": np.array([1.0, 2.0]), "b": np.array([3.0, 4.0])})
    array([4., 9.])
    >>> import xarray as xr
    >>> a = xr.DataArray([[1.0, 4.0]], dims=("chain", "draw"))
    >>> evaluate_expression("sqrt(a) ^ 3", {"a": a}).values
    array([[1., 8.]])
    """
    tree, names = _expression_ast(text)
    missing = sorted(set(names.values()) - set(values))
    if missing:
        raise KeyError(f"no value given for {', '.join(missing)} in '{text}'")
    env: dict[str, Any] = {}
    for ph, name in names.items():
        value = values[name]
        if not (isinstance(value, np.ndarray) or hasattr(value, "dims")):
            value = np.asarray(value, dtype=float)
        env[ph] = value
    return _evaluate(tree.body, env)


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------


def parse(text: str) -> list[Statement]:
    """Parse lavaan model syntax into a list of statements.

    Parameters
    ----------
    text : str
        The model syntax.

    Returns
    -------
    list of Statement
        One statement per left-hand side and operator, in syntax order. ``y ~ 1 + x`` gives a
        ``~1`` statement and a ``~`` statement; ``y1 + y2 ~ x`` gives one per left-hand side.

    Raises
    ------
    ModelSyntaxError
        With ``line``, ``column`` and ``expected``; its message shows the source line and a caret.

    Examples
    --------
    >>> stmts = parse('''
    ...     visual =~ x1 + a*x2 + prior("normal(1,0.5)")*x3   # a comment
    ...     speed  =~ x7 + x8 +
    ...               x9
    ...     visual ~~ speed; x1 ~ 1
    ... ''')
    >>> [(s.lhs, s.op, [t.name for t in s.terms]) for s in stmts]
    [('visual', '=~', ['x1', 'x2', 'x3']), ('speed', '=~', ['x7', 'x8', 'x9']), \
('visual', '~~', ['speed']), ('x1', '~1', [''])]
    >>> stmts[0].terms[2].modifiers.prior
    'normal(1,0.5)'
    """
    tokenizer = _Tokenizer(text)
    tokens = tokenizer.tokens()
    report = _Reporter(tokenizer.lines)
    statements: list[Statement] = []
    level = 0
    # level -> the header token that opened it, and whether the block has statements yet
    headers: dict[int, _Token] = {}
    filled: dict[int, bool] = {}
    for toks, end in _split_statements(tokens):
        if len(toks) > 1 and toks[1].kind == BLOCK:
            if level and not filled[level]:
                raise report.error_at(
                    toks[0], f"level {level} (line {headers[level].line}) has no statements",
                    expected=f"a statement of level {level}",
                )
            level = _block_header(toks, end, report, headers)
            headers[level], filled[level] = toks[0], False
            if statements and not statements[0].level:
                first = statements[0]
                raise ModelSyntaxError(
                    "statement before the first 'level:' line; when a model has levels, every "
                    "statement belongs to a 'level: 1' (within) or 'level: 2' (between) block",
                    first.line, first.column, "'level: 1' before the first statement", "",
                    report.lines[first.line - 1],
                )
            continue
        if toks[0].kind == NAME and toks[0].text == "level" and toks[1:2] and (
            toks[1].kind == NUMBER or (toks[1].kind == NAME and len(toks) == 2)
        ):
            raise report.expected(
                "':' after 'level' (a level block starts with 'level: 1' or 'level: 2')", toks[1]
            )
        parsed = _StatementParser(toks, end, tokenizer.lines).parse()
        if level:
            filled[level] = True
            parsed = [replace(s, level=level) for s in parsed]
        statements.extend(parsed)
    if headers:
        if not filled[level]:
            raise report.error_at(
                headers[level], f"level {level} has no statements",
                expected=f"a statement of level {level}",
            )
        if len(headers) < 2:
            (only, tok), = headers.items()
            other = 2 if only == 1 else 1
            raise report.error_at(
                tok,
                f"a two-level model needs both a 'level: 1' (within) and a 'level: 2' (between) "
                f"block; 'level: {other}' is missing",
                expected=f"a 'level: {other}' block",
            )
    return statements


def _block_header(
    toks: list[_Token], end: _Token, report: _Reporter, headers: Mapping[int, _Token]
) -> int:
    """Check a block header (``level: 1``) and return its level."""
    name, colon = toks[0], toks[1]
    if name.text == "group":
        raise report.error_at(
            name, "multi-group blocks ('group:') are not supported yet", expected="'level:'"
        )
    if name.text != "level":
        raise report.error_at(
            name, f"unknown block '{name.text}:'; the only block bayes-rent knows is 'level:'",
            expected="'level:'",
        )
    if len(toks) < 3:
        nothing = _Token(end.kind if end.kind in (SEMI, EOF) else NEWLINE, "", colon.line,
                         colon.end_column, True)
        raise report.expected("a level number (1 or 2) after 'level:'", nothing)
    number = toks[2]
    if number.kind != NUMBER:
        raise report.expected(
            "a level number after 'level:' (1 for the within model, 2 for the between model)",
            number,
        )
    if number.text not in ("1", "2"):
        raise report.error_at(
            number,
            f"level {number.text} is not supported: two-level models have 'level: 1' (within) "
            "and 'level: 2' (between)",
            expected="1 or 2",
        )
    level = int(number.text)
    if len(toks) > 3:
        raise report.expected(
            f"the end of the line after 'level: {level}' (statements follow on the next lines)",
            toks[3],
        )
    if level in headers:
        raise report.error_at(
            name, f"level {level} is given twice (first at line {headers[level].line}); "
            "write each level's statements in one block", expected="each level once",
        )
    return level

