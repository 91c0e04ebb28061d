"""The questionnaire map: constructs, their dimensions, and the items that measure them.

A :class:`SurveySchema` is what :func:`bayes_rent.data.survey.read_survey` checks a data file
against, and what writes the measurement part of a model in lavaan syntax. It is read from a
YAML file that any researcher can write for their own questionnaire
(``models/questionnaire.yaml`` is the one shipped for the book's study)::

    name: my_survey
    scale_points: 5                # items are answered 1..5 unless an item says otherwise
    respondent_id: firm_id
    cluster: cluster               # or null when firms are not nested in clusters
    covariates:
      - {id: firm_age, type: numeric, min: 0}
    constructs:
      - id: RE
        zh: 关系性嵌入
        en: Relational embeddedness
        dimensions:                # first-order factors; or `items:` for a first-order construct
          - id: re_trust
            items:
              - {id: re_tr1, zh: ..., en: ...}
              - {id: re_tr4, reverse: true, zh: ..., en: ...}

Validation collects every problem before it raises, and names each by its place in the YAML
(``constructs[2] 'NC' > dimensions[1] 'nc_construction' > items[0]``) and, when the schema was
read from a file, by file and line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bayes_rent.errors import BayesRentError

__all__ = [
    "Construct",
    "Covariate",
    "Dimension",
    "Item",
    "SchemaError",
    "SurveySchema",
    "book_schema",
    "models_dir",
]

#: Variable names that lavaan (and bayes_rent.spec.syntax) read without quoting.
LAVAAN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

COVARIATE_TYPES = ("numeric", "ordinal", "categorical")

_TOP_KEYS = {
    "name",
    "title",
    "scale_points",
    "anchors",
    "respondent_id",
    "cluster",
    "covariates",
    "constructs",
}
_CONSTRUCT_KEYS = {"id", "zh", "en", "sources", "dimensions", "items"}
_DIMENSION_KEYS = {"id", "zh", "en", "items"}
_ITEM_KEYS = {"id", "zh", "en", "reverse", "scale_points"}
_COVARIATE_KEYS = {"id", "type", "zh", "en", "min", "max", "labels", "levels"}


class SchemaError(BayesRentError, ValueError):
    """A questionnaire map that cannot be used, with every problem found in it.

    Attributes
    ----------
    problems : list of str
        One message per problem, each naming its place in the YAML.
    source : str or None
        The file the schema was read from, if any.
    """

    def __init__(self, problems: Sequence[str], source: str | os.PathLike | None = None):
        self.problems = list(problems)
        self.source = None if source is None else str(source)
        where = f" in {self.source}" if self.source else ""
        head = f"{len(self.problems)} problem(s) in the questionnaire map{where}:"
        super().__init__("\n  - ".join([head, *self.problems]))


@dataclass(frozen=True)
class Item:
    """One questionnaire item (a Likert question).

    Attributes
    ----------
    id : str
        Column name in the data and variable name in model syntax.
    zh, en : str
        Chinese and English wording.
    reverse : bool
        Reverse-keyed: agreeing means *less* of the construct.
    scale_points : int
        Number of answer categories; answers are the integers ``1..scale_points``.
    """

    id: str
    zh: str = ""
    en: str = ""
    reverse: bool = False
    scale_points: int = 5


@dataclass(frozen=True)
class Dimension:
    """A first-order factor of a construct, measured by its items."""

    id: str
    items: tuple[Item, ...]
    zh: str = ""
    en: str = ""


@dataclass(frozen=True)
class Construct:
    """A construct: either second-order (has dimensions) or first-order (items directly).

    Attributes
    ----------
    id : str
        Name of the latent variable in model syntax (``RE``, ``KR``...).
    dimensions : tuple of Dimension
        First-order factors; empty for a first-order construct.
    direct_items : tuple of Item
        Items that load on the construct itself; empty when it has dimensions.
    sources : tuple of str
        The scales its items follow.
    """

    id: str
    dimensions: tuple[Dimension, ...] = ()
    direct_items: tuple[Item, ...] = ()
    zh: str = ""
    en: str = ""
    sources: tuple[str, ...] = ()

    @property
    def items(self) -> tuple[Item, ...]:
        """All items of the construct, through its dimensions when it has them."""
        if self.dimensions:
            return tuple(item for dim in self.dimensions for item in dim.items)
        return self.direct_items

    @property
    def second_order(self) -> bool:
        """Whether the construct is measured through dimensions."""
        return bool(self.dimensions)


@dataclass(frozen=True)
class Covariate:
    """A firm characteristic recorded beside the items (part 1 of a questionnaire).

    Attributes
    ----------
    id : str
        Column name.
    type : {"numeric", "ordinal", "categorical"}
        ``numeric`` cells must be numbers within ``[min, max]``; ``ordinal`` cells must be one
        of the integer codes in ``labels``; ``categorical`` cells are text, one of ``levels``
        when levels are given.
    """

    id: str
    type: str
    zh: str = ""
    en: str = ""
    min: float | None = None
    max: float | None = None
    labels: Mapping[int, str] = field(default_factory=dict)
    levels: tuple[str, ...] = ()


@dataclass(frozen=True)
class SurveySchema:
    """A questionnaire map: constructs → dimensions → items, plus the bookkeeping columns.

    Build one with :meth:`from_yaml` or :meth:`from_dict`; both validate and raise
    :class:`SchemaError` listing every problem.

    Attributes
    ----------
    constructs : tuple of Construct
    respondent_id : str
        Column holding the respondent (firm) id; ids must be unique.
    cluster : str or None
        Column naming the industrial cluster each firm belongs to.
    covariates : tuple of Covariate
    scale_points : int
        Default number of answer categories.
    anchors : dict of str to list of str
        Labels of the answer categories per language (``{"zh": [...], "en": [...]}``).
    name : str
    title : dict of str to str

    Examples
    --------
    >>> schema = SurveySchema.from_dict({
    ...     "respondent_id": "id", "cluster": None,
    ...     "constructs": [{"id": "F", "items": [{"id": "x1"}, {"id": "x2", "reverse": True},
    ...                                          {"id": "x3"}]}]})
    >>> [item.id for item in schema.items], schema.reverse_keyed
    (['x1', 'x2', 'x3'], ['x2'])
    >>> print(schema.to_lavaan(comments=False), end="")
    F =~ x1 + x2 + x3
    """

    constructs: tuple[Construct, ...]
    respondent_id: str = "id"
    cluster: str | None = None
    covariates: tuple[Covariate, ...] = ()
    scale_points: int = 5
    anchors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    name: str = "survey"
    title: Mapping[str, str] = field(default_factory=dict)
    source: str | None = field(default=None, compare=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> SurveySchema:
        """Read and validate a questionnaire map written in YAML.

        Parameters
        ----------
        path : str or path-like
            The YAML file.

        Returns
        -------
        SurveySchema

        Raises
        ------
        SchemaError
            When the file is not valid YAML or the map is not usable; the message lists every
            problem with its line in the file.

        Examples
        --------
        >>> schema = SurveySchema.from_yaml(models_dir() / "questionnaire.yaml")
        >>> [c.id for c in schema.constructs]
        ['RE', 'SE', 'AC', 'NC', 'KR', 'IG']
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise SchemaError([f"cannot read the file: {err}"], source=path) from err
        try:
            data = yaml.safe_load(text)
            lines = _node_lines(yaml.compose(text))
        except yaml.YAMLError as err:
            raise SchemaError([f"not valid YAML: {err}"], source=path) from err
        return cls.from_dict(data, source=path, _lines=lines)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        source: str | os.PathLike | None = None,
        _lines: Mapping[tuple, int] | None = None,
    ) -> SurveySchema:
        """Validate a questionnaire map given as plain Python data (as loaded from YAML).

        Parameters
        ----------
        data : mapping
            Same layout as the YAML file (see the module docstring).
        source : str or path-like, optional
            Where the data came from, quoted in error messages.

        Returns
        -------
        SurveySchema

        Raises
        ------
        SchemaError
            Listing every problem found.

        Examples
        --------
        >>> try:  # doctest: +ELLIPSIS
        ...     SurveySchema.from_dict({"constructs": [{"id": "F", "items": ["x 1", "x2"]}]})
        ... except SchemaError as err:
        ...     print(err.problems)
        ["constructs[0] 'F' > items[0] 'x 1' > id: id 'x 1' is not a valid variable name (...)"]
        """
        return _Validator(source, _lines or {}).build(data, cls)

    # ------------------------------------------------------------------ look-ups
    @property
    def items(self) -> tuple[Item, ...]:
        """Every item, in questionnaire order."""
        return tuple(item for construct in self.constructs for item in construct.items)

    @property
    def item_ids(self) -> list[str]:
        """Ids (data columns) of every item, in questionnaire order."""
        return [item.id for item in self.items]

    @property
    def reverse_keyed(self) -> list[str]:
        """Ids of the reverse-keyed items."""
        return [item.id for item in self.items if item.reverse]

    @property
    def dimensions(self) -> tuple[Dimension, ...]:
        """Every dimension (first-order factor of a second-order construct)."""
        return tuple(dim for construct in self.constructs for dim in construct.dimensions)

    @property
    def columns(self) -> list[str]:
        """Every column the data must have: id, cluster, covariates, then items."""
        front = [self.respondent_id] + ([self.cluster] if self.cluster else [])
        return front + [cov.id for cov in self.covariates] + self.item_ids

    def construct(self, construct_id: str) -> Construct:
        """The construct called ``construct_id``.

        Examples
        --------
        >>> book_schema().construct("KR").en
        'Knowledge rent acquisition'
        """
        for construct in self.constructs:
            if construct.id == construct_id:
                return construct
        known = ", ".join(c.id for c in self.constructs)
        raise KeyError(f"no construct {construct_id!r} in the schema (constructs: {known})")

    def item(self, item_id: str) -> Item:
        """The item called ``item_id``.

        Examples
        --------
        >>> book_schema().item("nc_rm4").reverse
        True
        """
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(f"no item {item_id!r} in the schema")

    def locate(self, item_id: str) -> tuple[str, str | None]:
        """``(construct id, dimension id or None)`` of an item.

        Examples
        --------
        >>> book_schema().locate("ac_ex2")
        ('AC', 'ac_exploitation')
        """
        for construct in self.constructs:
            for dim in construct.dimensions:
                if any(item.id == item_id for item in dim.items):
                    return construct.id, dim.id
            if any(item.id == item_id for item in construct.direct_items):
                return construct.id, None
        raise KeyError(f"no item {item_id!r} in the schema")

    # ------------------------------------------------------------------ syntax
    def to_lavaan(
        self,
        second_order: bool = True,
        *,
        constructs: Iterable[str] | None = None,
        comments: bool = True,
    ) -> str:
        """The measurement model in lavaan syntax.

        Parameters
        ----------
        second_order : bool
            ``True`` writes constructs on their dimensions and dimensions on their items
            (``NC =~ nc_vision + ...`` then ``nc_vision =~ nc_vi1 + ...``). ``False`` lets every
            item load on its construct directly.
        constructs : iterable of str, optional
            Only these constructs, in this order (default: all, in questionnaire order).
        comments : bool
            Head each construct with a comment naming it.

        Returns
        -------
        str
            One ``=~`` statement per line, ending with a newline.

        Examples
        --------
        >>> print(book_schema().to_lavaan(constructs=["KR"], comments=False), end="")
        KR =~ kr_tech + kr_market
        kr_tech =~ kr_te1 + kr_te2 + kr_te3 + kr_te4 + kr_te5
        kr_market =~ kr_ma1 + kr_ma2 + kr_ma3 + kr_ma4
        """
        chosen = (
            list(self.constructs) if constructs is None else [self.construct(c) for c in constructs]
        )
        lines: list[str] = []
        for construct in chosen:
            if comments:
                label = " / ".join(s for s in (construct.en, construct.zh) if s)
                lines.append(f"# {construct.id}: {label}" if label else f"# {construct.id}")
            if construct.second_order and second_order:
                lines.append(_measure(construct.id, [d.id for d in construct.dimensions]))
                lines.extend(
                    _measure(dim.id, [item.id for item in dim.items])
                    for dim in construct.dimensions
                )
            else:
                lines.append(_measure(construct.id, [item.id for item in construct.items]))
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """The map as plain data in the YAML layout (``from_dict(s.to_dict()) == s``).

        Examples
        --------
        >>> s = book_schema()
        >>> SurveySchema.from_dict(s.to_dict()) == s
        True
        """

        def item_dict(item: Item) -> dict[str, Any]:
            out: dict[str, Any] = {"id": item.id}
            if item.reverse:
                out["reverse"] = True
            if item.scale_points != self.scale_points:
                out["scale_points"] = item.scale_points
            return out | _texts(item)

        constructs = []
        for c in self.constructs:
            entry: dict[str, Any] = {"id": c.id} | _texts(c)
            if c.sources:
                entry["sources"] = list(c.sources)
            if c.dimensions:
                entry["dimensions"] = [
                    {"id": d.id} | _texts(d) | {"items": [item_dict(i) for i in d.items]}
                    for d in c.dimensions
                ]
            else:
                entry["items"] = [item_dict(i) for i in c.direct_items]
            constructs.append(entry)
        covariates = []
        for cov in self.covariates:
            entry = {"id": cov.id, "type": cov.type} | _texts(cov)
            if cov.min is not None:
                entry["min"] = cov.min
            if cov.max is not None:
                entry["max"] = cov.max
            if cov.labels:
                entry["labels"] = dict(cov.labels)
            if cov.levels:
                entry["levels"] = list(cov.levels)
            covariates.append(entry)
        return {
            "name": self.name,
            "title": dict(self.title),
            "scale_points": self.scale_points,
            "anchors": {lang: list(labels) for lang, labels in self.anchors.items()},
            "respondent_id": self.respondent_id,
            "cluster": self.cluster,
            "covariates": covariates,
            "constructs": constructs,
        }


def _texts(obj: Any) -> dict[str, str]:
    return {lang: getattr(obj, lang) for lang in ("zh", "en") if getattr(obj, lang)}


def _measure(lhs: str, rhs: Sequence[str]) -> str:
    return f"{lhs} =~ " + " + ".join(rhs)


# ---------------------------------------------------------------------- validation
def _node_lines(node: yaml.Node | None, path: tuple = ()) -> dict[tuple, int]:
    """1-based line of every entry of a composed YAML document, keyed by its path."""
    lines: dict[tuple, int] = {}
    if node is None:
        return lines
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines.update(_node_lines(value_node, (*path, key)))
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, value_node in enumerate(node.value):
            lines.update(_node_lines(value_node, (*path, index)))
    return lines


class _Validator:
    """Walks the plain data once, collecting every problem before anything is raised."""

    def __init__(self, source: str | os.PathLike | None, lines: Mapping[tuple, int]):
        self.source = source
        self.lines = lines
        self.problems: list[str] = []
        self.seen: dict[str, str] = {}  # id -> where it was first defined

    # -- reporting
    def where(self, path: tuple, names: Mapping[tuple, str]) -> str:
        parts = []
        for depth, key in enumerate(path):
            if isinstance(key, int):
                prefix = path[: depth + 1]
                name = names.get(prefix)
                parts[-1] = f"{parts[-1]}[{key}]" + (f" {name!r}" if name else "")
            else:
                parts.append(str(key))
        text = " > ".join(parts) if parts else "top level"
        line = self._line(path)
        return f"line {line}: {text}" if line is not None else text

    def _line(self, path: tuple) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    def add(self, path: tuple, message: str) -> None:
        self.problems.append(f"{self.where(path, self.names)}: {message}")

    # -- small checks
    def mapping(self, value: Any, path: tuple, what: str) -> bool:
        if not isinstance(value, Mapping):
            self.add(path, f"{what} must be a mapping (key: value), got {_kind(value)}")
            return False
        return True

    def keys(self, entry: Mapping, allowed: set[str], path: tuple) -> None:
        for key in entry:
            if key not in allowed:
                hint = _close(str(key), allowed)
                self.add(
                    (*path, key),
                    f"unknown key {key!r}"
                    + (f" (did you mean {hint!r}?)" if hint else "")
                    + f"; allowed: {', '.join(sorted(allowed))}",
                )

    def text(self, entry: Mapping, key: str, path: tuple) -> str:
        value = entry.get(key, "")
        if value is None:
            return ""
        if not isinstance(value, str):
            self.add((*path, key), f"{key} must be text, got {_kind(value)}")
            return ""
        return value

    def identifier(self, entry: Mapping, path: tuple, what: str) -> str:
        value = entry.get("id")
        if value is None:
            self.add(path, f"{what} has no 'id'")
            return ""
        if not isinstance(value, str) or not LAVAAN_NAME.match(value):
            self.add(
                (*path, "id"),
                f"id {value!r} is not a valid variable name (a letter, then letters, digits "
                "or '_')",
            )
            return str(value)
        self.claim(value, path, what)
        return value

    def claim(self, name: str, path: tuple, what: str) -> None:
        # Constructs, dimensions, items and columns share lavaan's one namespace of names.
        here = f"{what} ({self.where(path, self.names)})"
        if name in self.seen:
            self.add(path, f"id {name!r} is used twice: also by {self.seen[name]}")
        else:
            self.seen[name] = here

    def points(self, value: Any, path: tuple) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            self.add(path, f"scale_points must be a whole number of at least 2, got {value!r}")
            return None
        return value

    # -- the walk
    def build(self, data: Any, cls: type[SurveySchema]) -> SurveySchema:
        self.names: dict[tuple, str] = {}
        if not self.mapping(data, (), "the questionnaire map"):
            raise SchemaError(self.problems, self.source)
        self.keys(data, _TOP_KEYS, ())

        scale_points = 5
        if "scale_points" in data:
            scale_points = self.points(data["scale_points"], ("scale_points",)) or 5

        respondent_id = data.get("respondent_id", "id")
        cluster = data.get("cluster")
        for key, value in (("respondent_id", respondent_id), ("cluster", cluster)):
            if value is None and key == "cluster":
                continue
            if not isinstance(value, str) or not value.strip():
                self.add((key,), f"{key} must name a column, got {value!r}")
            else:
                self.claim(value, (key,), f"{key} column")

        anchors = self.anchors(data.get("anchors"), scale_points)
        title = data.get("title") or {}
        if not isinstance(title, Mapping):
            self.add(("title",), f"title must map language to text, got {_kind(title)}")
            title = {}
        name = data.get("name", "survey")
        if not isinstance(name, str):
            self.add(("name",), f"name must be text, got {_kind(name)}")
            name = "survey"

        covariates = self.covariates(data.get("covariates") or [])
        constructs = self.constructs(data.get("constructs"), scale_points)
        if self.problems:
            raise SchemaError(self.problems, self.source)
        return cls(
            constructs=tuple(constructs),
            respondent_id=respondent_id,
            cluster=cluster,
            covariates=tuple(covariates),
            scale_points=scale_points,
            anchors=anchors,
            name=name,
            title={str(k): str(v) for k, v in title.items()},
            source=None if self.source is None else str(self.source),
        )

    def anchors(self, value: Any, scale_points: int) -> dict[str, tuple[str, ...]]:
        if value is None:
            return {}
        if not self.mapping(value, ("anchors",), "anchors"):
            return {}
        out = {}
        for lang, labels in value.items():
            path = ("anchors", lang)
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                self.add(path, "anchors must be a list of labels, one per scale point")
            elif len(labels) != scale_points:
                self.add(
                    path,
                    f"{len(labels)} anchor labels for a {scale_points}-point scale",
                )
            else:
                out[str(lang)] = tuple(labels)
        return out

    def covariates(self, value: Any) -> list[Covariate]:
        if not isinstance(value, list):
            self.add(("covariates",), f"covariates must be a list, got {_kind(value)}")
            return []
        out = []
        for i, entry in enumerate(value):
            path = ("covariates", i)
            if not self.mapping(entry, path, "a covariate"):
                continue
            if isinstance(entry.get("id"), str):
                self.names[path] = entry["id"]
            self.keys(entry, _COVARIATE_KEYS, path)
            cov_id = self.identifier(entry, path, "covariate")
            kind = entry.get("type", "numeric")
            if kind not in COVARIATE_TYPES:
                self.add(
                    (*path, "type"),
                    f"type {kind!r} is not one of {', '.join(COVARIATE_TYPES)}",
                )
            bounds = {}
            for key in ("min", "max"):
                bound = entry.get(key)
                if bound is not None and (
                    isinstance(bound, bool) or not isinstance(bound, int | float)
                ):
                    self.add((*path, key), f"{key} must be a number, got {bound!r}")
                    bound = None
                bounds[key] = bound
            labels = entry.get("labels") or {}
            if not isinstance(labels, Mapping) or not all(
                isinstance(k, int) and not isinstance(k, bool) for k in labels
            ):
                self.add((*path, "labels"), "labels must map whole-number codes to text")
                labels = {}
            if kind == "ordinal" and not labels:
                self.add(path, "an ordinal covariate needs labels (code: text)")
            levels = entry.get("levels") or []
            if not isinstance(levels, list):
                self.add((*path, "levels"), "levels must be a list")
                levels = []
            out.append(
                Covariate(
                    id=cov_id,
                    type=kind,
                    zh=self.text(entry, "zh", path),
                    en=self.text(entry, "en", path),
                    min=bounds["min"],
                    max=bounds["max"],
                    labels={int(k): str(v) for k, v in labels.items()},
                    levels=tuple(str(x) for x in levels),
                )
            )
        return out

    def constructs(self, value: Any, scale_points: int) -> list[Construct]:
        if value is None:
            self.add((), "the map has no 'constructs'")
            return []
        if not isinstance(value, list) or not value:
            self.add(("constructs",), "constructs must be a non-empty list")
            return []
        out = []
        for i, entry in enumerate(value):
            path = ("constructs", i)
            if not self.mapping(entry, path, "a construct"):
                continue
            if isinstance(entry.get("id"), str):
                self.names[path] = entry["id"]
            self.keys(entry, _CONSTRUCT_KEYS, path)
            construct_id = self.identifier(entry, path, "construct")
            sources = entry.get("sources") or []
            if not isinstance(sources, list):
                self.add((*path, "sources"), "sources must be a list of references")
                sources = []
            dimensions: list[Dimension] = []
            items: list[Item] = []
            has_dims, has_items = "dimensions" in entry, "items" in entry
            if has_dims == has_items:
                self.add(
                    path,
                    "a construct needs either 'dimensions' or 'items'"
                    + (" (not both)" if has_dims else ""),
                )
            elif has_dims:
                dimensions = self.dimensions(
                    entry["dimensions"], (*path, "dimensions"), scale_points
                )
            else:
                items = self.items(entry["items"], (*path, "items"), scale_points)
            out.append(
                Construct(
                    id=construct_id,
                    dimensions=tuple(dimensions),
                    direct_items=tuple(items),
                    zh=self.text(entry, "zh", path),
                    en=self.text(entry, "en", path),
                    sources=tuple(str(s) for s in sources),
                )
            )
        return out

    def dimensions(self, value: Any, path: tuple, scale_points: int) -> list[Dimension]:
        if not isinstance(value, list) or not value:
            self.add(path, "dimensions must be a non-empty list")
            return []
        out = []
        for i, entry in enumerate(value):
            here = (*path, i)
            if not self.mapping(entry, here, "a dimension"):
                continue
            if isinstance(entry.get("id"), str):
                self.names[here] = entry["id"]
            self.keys(entry, _DIMENSION_KEYS, here)
            dim_id = self.identifier(entry, here, "dimension")
            if "items" not in entry:
                self.add(here, "a dimension needs 'items'")
                items = []
            else:
                items = self.items(entry["items"], (*here, "items"), scale_points)
            out.append(
                Dimension(
                    id=dim_id,
                    items=tuple(items),
                    zh=self.text(entry, "zh", here),
                    en=self.text(entry, "en", here),
                )
            )
        return out

    def items(self, value: Any, path: tuple, scale_points: int) -> list[Item]:
        if not isinstance(value, list) or not value:
            self.add(path, "items must be a non-empty list")
            return []
        out = []
        for i, entry in enumerate(value):
            here = (*path, i)
            if isinstance(entry, str):
                # A bare id is a convenient shorthand for an item with no wording.
                entry = {"id": entry}
            if not self.mapping(entry, here, "an item"):
                continue
            if isinstance(entry.get("id"), str):
                self.names[here] = entry["id"]
            self.keys(entry, _ITEM_KEYS, here)
            item_id = self.identifier(entry, here, "item")
            reverse = entry.get("reverse", False)
            if not isinstance(reverse, bool):
                self.add((*here, "reverse"), f"reverse must be true or false, got {reverse!r}")
                reverse = False
            points = scale_points
            if "scale_points" in entry:
                points = self.points(entry["scale_points"], (*here, "scale_points")) or points
            out.append(
                Item(
                    id=item_id,
                    zh=self.text(entry, "zh", here),
                    en=self.text(entry, "en", here),
                    reverse=reverse,
                    scale_points=points,
                )
            )
        return out


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"[:80]


def _close(word: str, options: Iterable[str]) -> str | None:
    import difflib

    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.7)
    return match[0] if match else None


# ---------------------------------------------------------------------- the shipped map
def models_dir() -> Path:
    """The directory holding the book's model files and questionnaire map.

    Looked for, in order: the ``BAYES_RENT_MODELS`` environment variable; ``models/`` in the
    source checkout the package runs from; ``models/`` inside the installed package.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        Naming every place looked at.

    Examples
    --------
    >>> (models_dir() / "questionnaire.yaml").is_file()
    True
    """
    package = Path(__file__).resolve().parents[2]  # .../bayes_rent
    candidates = []
    if os.environ.get("BAYES_RENT_MODELS"):
        candidates.append(Path(os.environ["BAYES_RENT_MODELS"]))
    candidates += [package.parent / "models", package / "models"]
    for candidate in candidates:
        if (candidate / "questionnaire.yaml").is_file():
            return candidate
    tried = "\n  ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        "cannot find the book's models directory (with questionnaire.yaml); looked in:\n  "
        f"{tried}\nSet BAYES_RENT_MODELS to the 'models' folder of a bayes-rent checkout."
    )


def book_schema() -> SurveySchema:
    """The questionnaire map of the book's study (``models/questionnaire.yaml``).

    The constructs and dimensions are the book's; the item wordings paraphrase the standard
    published scales, because the book's own questionnaire is not public.

    Returns
    -------
    SurveySchema

    Examples
    --------
    >>> schema = book_schema()
    >>> len(schema.items), schema.reverse_keyed
    (69, ['re_tr4', 'se_ce4', 'ac_as3', 'nc_rm4', 'kr_ma4'])
    >>> schema.construct("NC").dimensions[0].id
    'nc_vision'
    """
    return SurveySchema.from_yaml(models_dir() / "questionnaire.yaml")
