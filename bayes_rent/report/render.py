"""Writing a report: ``report.html`` beside its tables, posteriors and diagrams.

The output folder is written whole or not at all
(:func:`bayes_rent.data.output.atomic_output_dir`)::

    report.html          one self-contained page (no network needed)
    tables/*.csv         one file per table, named by section
    posterior/*.nc       the posterior of every model (arviz InferenceData, NetCDF)
    diagrams/*.dot       the path diagrams (and *.svg when Graphviz's dot is installed)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from bayes_rent.data.output import atomic_output_dir, check_output_dir
from bayes_rent.errors import OptionError
from bayes_rent.report.document import Report, Section, Table, slug
from bayes_rent.report.fits import convergence_table, fit_section

__all__ = ["Reportable", "fits_report", "render_html", "report", "write_report"]


@runtime_checkable
class Reportable(Protocol):
    """Anything that can lay itself out as a :class:`Report` (a study result, say)."""

    def to_report(self) -> Report: ...


def fits_report(fits: Mapping[str, Any], *, title: str = "bayes-rent report",
                hdi_prob: float = 0.9) -> Report:
    """A report with a section per fit, after a convergence overview.

    Parameters
    ----------
    fits : mapping of str to Fit
        The fits by name, in the order of the sections.
    title : str
    hdi_prob : float
        Probability mass of the intervals.
    """
    if not fits:
        raise OptionError("nothing to report: the mapping of fits is empty")
    overview = Section("overview", "Convergence of the models",
                       intro="Every model's sampler diagnostics; a model that did not converge "
                             "must not be reported.")
    overview.blocks.append(Table("convergence", "Convergence", convergence_table(dict(fits))))
    sections, diagrams = [overview], {}
    for name, fit in fits.items():
        section, diagram = fit_section(name, fit, hdi_prob=hdi_prob)
        sections.append(section)
        if diagram is not None:
            diagrams[slug(name)] = diagram
    banners = [f"{name} did not converge: do not report its estimates."
               for name, fit in fits.items() if not fit.convergence.converged]
    return Report(title, sections=sections, banners=banners,
                  posteriors={slug(name): fit.idata for name, fit in fits.items()},
                  diagrams=diagrams)


def render_html(doc: Report) -> str:
    """The report as one HTML page (template ``templates/report.html.j2``, package data)."""
    import jinja2

    try:  # the installed distribution's version (the package root would import every layer)
        version = metadata.version("bayes-rent")
    except metadata.PackageNotFoundError:
        version = "(not installed)"

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bayes_rent.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    doc.tables()  # names the CSV files the page refers to
    return env.get_template("report.html.j2").render(report=doc, version=version)


def write_report(doc: Report, folder: Path) -> None:
    """Write ``doc`` into an existing, empty ``folder`` (see the module docstring)."""
    tables = folder / "tables"
    tables.mkdir()
    for table in doc.tables():
        table.frame.to_csv(tables / table.csv_name, index=table.index)
    if doc.posteriors:
        posterior = folder / "posterior"
        posterior.mkdir()
        for name, idata in doc.posteriors.items():
            idata.to_netcdf(str(posterior / f"{name}.nc"))
    if doc.diagrams:
        from bayes_rent.results.diagram import write_diagram

        diagrams = folder / "diagrams"
        diagrams.mkdir()
        for name, diagram in doc.diagrams.items():
            write_diagram(diagram, diagrams / name)
    (folder / "report.html").write_text(render_html(doc), encoding="utf-8")


def report(fits_or_study: Mapping[str, Any] | Reportable | Report, path: str | os.PathLike, *,
           force: bool = False, title: str = "bayes-rent report",
           hdi_prob: float = 0.9) -> Path:
    """Write a self-contained HTML report, with its tables, posteriors and diagrams.

    Parameters
    ----------
    fits_or_study : mapping of str to Fit, or a study result
        Fits by name (a section per fit: convergence, paths, effects, defined parameters,
        path diagram, forest and rank plots, the whole parameter table), or anything with a
        ``to_report()`` method, such as the result of :func:`bayes_rent.study.run_study`.
    path : str or path-like
        The output folder. It is written whole or not at all, and an existing folder with
        files in it is replaced only with ``force=True``.
    force : bool
        Replace an existing output folder.
    title : str
        Title of a report of fits.
    hdi_prob : float
        Probability mass of the intervals of a report of fits.

    Returns
    -------
    pathlib.Path
        The path of ``report.html``.

    Raises
    ------
    bayes_rent.errors.OptionError
        When the folder exists and ``force`` is not given, or cannot be written.

    Examples
    --------
    >>> import tempfile, bayes_rent as br
    >>> fit = br.sem("ind60 =~ x1 + x2 + x3", br.datasets.political_democracy(),
    ...              draws=100, tune=100, chains=2, seed=1, progressbar=False)  # doctest: +SKIP
    >>> br.report({"ind60": fit}, tempfile.mkdtemp() + "/out").name  # doctest: +SKIP
    'report.html'
    """
    target = check_output_dir(path, force)  # before any work
    if isinstance(fits_or_study, Report):
        doc = fits_or_study
    elif isinstance(fits_or_study, Reportable):
        doc = fits_or_study.to_report()
    elif isinstance(fits_or_study, Mapping):
        doc = fits_report(fits_or_study, title=title, hdi_prob=hdi_prob)
    else:
        raise OptionError(
            "report() takes a mapping of name -> Fit or a study result (with to_report()), "
            f"not {type(fits_or_study).__name__}"
        )
    with atomic_output_dir(target, force=force) as tmp:
        write_report(doc, tmp)
    return target / "report.html"
