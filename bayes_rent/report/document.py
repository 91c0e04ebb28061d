"""What a report is made of: sections holding tables, figures and notes.

A :class:`Report` is plain data. :func:`bayes_rent.report.report` builds one from fits (or takes
one from anything with a ``to_report()`` method, such as a study result) and writes it as a
self-contained HTML file with its tables as CSV, its posteriors as NetCDF and its path
diagrams as DOT (and SVG).

Examples
--------
>>> import pandas as pd
>>> section = Section("data", "The data", blocks=[Table("head", "First rows",
...                                                      pd.DataFrame({"x": [1.0, 2.0]}))])
>>> doc = Report("A report", sections=[section])
>>> [t.csv_name for t in doc.tables()]
['01_data_head.csv']
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["Figure", "Note", "Report", "Section", "Table"]

_SLUG = re.compile(r"[^A-Za-z0-9]+")


def slug(text: str) -> str:
    """A file- and id-safe version of ``text``.

    Examples
    --------
    >>> slug("Sub-model 1: RE")
    'sub-model-1-re'
    """
    return _SLUG.sub("-", text).strip("-").lower()


@dataclass
class Table:
    """A table of the report, shown with pandas' ``Styler`` and written as CSV.

    Parameters
    ----------
    key : str
        Short name; the CSV file is named ``<section number>_<section id>_<key>.csv``.
    title : str
    frame : pandas.DataFrame
    note : str
        A sentence under the table.
    index : bool
        Show (and write) the index.
    precision : int
        Digits after the decimal point of floating-point cells.
    style : callable, optional
        Applied to the ``Styler`` before it renders (highlighting, say).
    collapsed : bool
        Shown folded (a long table, such as a full parameter table).
    """

    key: str
    title: str
    frame: pd.DataFrame
    note: str = ""
    index: bool = False
    precision: int = 3
    style: Callable[[Any], Any] | None = None
    collapsed: bool = False
    csv_name: str = ""

    def to_html(self) -> str:
        """The table as HTML, numbers formatted, through ``pandas.io.formats.style.Styler``."""
        styler = self.frame.style.format(precision=self.precision, na_rep="—", thousands=None)
        if not self.index:
            styler = styler.hide(axis="index")
        if self.style is not None:
            styler = self.style(styler)
        return styler.set_table_attributes('class="data"').to_html()


@dataclass
class Figure:
    """A figure: PNG bytes (embedded as a base64 data URI) or SVG text (embedded inline).

    Examples
    --------
    >>> Figure("f", "A figure", svg="<svg width='1' height='1'></svg>").svg[:4]
    '<svg'
    """

    key: str
    title: str
    png: bytes | None = None
    svg: str | None = None
    note: str = ""
    css_class: str = "plot"

    @classmethod
    def from_matplotlib(cls, key: str, title: str, fig: Any, note: str = "",
                        dpi: int = 110) -> Figure:
        """A matplotlib figure as a PNG; the figure is closed afterwards.

        Examples
        --------
        >>> import matplotlib.figure
        >>> fig = matplotlib.figure.Figure(figsize=(1, 1))
        >>> Figure.from_matplotlib("f", "t", fig).png[:4]
        b'\\x89PNG'
        """
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        try:  # figures made through pyplot stay open until closed
            import matplotlib.pyplot as plt

            plt.close(fig)
        except ImportError:  # pragma: no cover - matplotlib is a dependency
            pass
        return cls(key, title, png=buffer.getvalue(), note=note)

    @property
    def data_uri(self) -> str:
        """``data:image/png;base64,...`` of a PNG figure."""
        if self.png is None:
            return ""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class Note:
    """A paragraph; ``kind="warning"`` shows it as a warning."""

    text: str
    kind: str = "info"


@dataclass
class Section:
    """A section: an id (the HTML anchor), a title, an introduction and its blocks.

    ``warnings`` are shown at the top of the section (convergence problems, say);
    ``subsections`` follow the blocks.
    """

    id: str
    title: str
    intro: str = ""
    blocks: list[Table | Figure | Note] = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def walk(self) -> Iterator[Section]:
        """This section and its subsections, depth first."""
        yield self
        for sub in self.subsections:
            yield from sub.walk()


@dataclass
class Report:
    """A whole report.

    Attributes
    ----------
    title : str
    sections : list of Section
    banners : list of str
        Warnings shown above everything (a demonstration run, unconverged models).
    meta : mapping
        Shown as a small table under the title (data, settings, version...).
    posteriors : mapping of str to arviz.InferenceData
        Written as ``posterior/<name>.nc``.
    diagrams : mapping of str to graphviz.Digraph
        Written as ``diagrams/<name>.dot`` (and ``.svg`` when Graphviz is installed).
    """

    title: str
    sections: list[Section] = field(default_factory=list)
    banners: list[str] = field(default_factory=list)
    meta: Mapping[str, str] = field(default_factory=dict)
    posteriors: Mapping[str, Any] = field(default_factory=dict)
    diagrams: Mapping[str, Any] = field(default_factory=dict)

    def section_ids(self) -> list[str]:
        """The id of every section and subsection, in order."""
        return [s.id for top in self.sections for s in top.walk()]

    def tables(self) -> list[Table]:
        """Every table, each with its CSV file name set (numbered by top-level section)."""
        out = []
        for number, top in enumerate(self.sections, start=1):
            for section in top.walk():
                prefix = f"{number:02d}_{top.id}"
                if section is not top:
                    prefix += f"_{section.id}"
                for block in section.blocks:
                    if isinstance(block, Table):
                        block.csv_name = f"{prefix}_{slug(block.key)}.csv"
                        out.append(block)
        return out
