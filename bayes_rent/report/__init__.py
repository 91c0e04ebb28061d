"""Self-contained HTML reports of fits and of the book's study.

``br.report({"model": fit, ...}, "out/")`` writes ``out/report.html`` (no network needed:
figures embedded as PNG data URIs or inline SVG) with every table as CSV in ``out/tables/``,
the posteriors as NetCDF in ``out/posterior/`` and the path diagrams as DOT (and SVG) in
``out/diagrams/``. A study result (:func:`bayes_rent.study.run_study`) is reported the same way.

Examples
--------
>>> from bayes_rent.report import Report, Section
>>> Report("Empty", sections=[Section("a", "A")]).section_ids()
['a']
"""

from bayes_rent.report.document import Figure, Note, Report, Section, Table
from bayes_rent.report.fits import fit_section
from bayes_rent.report.render import Reportable, fits_report, render_html, report

__all__ = [
    "Figure",
    "Note",
    "Report",
    "Reportable",
    "Section",
    "Table",
    "fit_section",
    "fits_report",
    "render_html",
    "report",
]
