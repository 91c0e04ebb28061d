"""The book's whole study in one call: :func:`run_study`.

Eight steps, each a section of the report:

1. descriptive statistics per item, and construct means per cluster;
2. reliability and validity (α, ω/CR, AVE, HTMT, Fornell–Larcker) of the measurement model;
3. exploratory factor analysis as SPSS reports it (KMO, Bartlett, eigenvalues, scree plot,
   varimax-rotated loadings);
4. the measurement model: a CFA of every construct of the questionnaire map;
5. sub-models 1–4 with their direct, indirect and total effects;
6. the full model;
7. sub-model 5: the posterior grey coupling of NC and AC by cluster, with level probabilities;
8. model comparison by LOO.

The measurement model is fitted second (step 2's reliability and validity need it) and shown
in step 4. ``quick=True`` samples 2 chains × (200 warm-up + 200 draws): a demonstration that the
pipeline runs, not numbers to report.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_rent.data import datasets
from bayes_rent.data.survey import Survey, SurveySchema, book_schema, read_survey
from bayes_rent.errors import OptionError
from bayes_rent.model import sem
from bayes_rent.report import Figure, Note, Report, Section, Table, fit_section
from bayes_rent.report.fits import convergence_table
from bayes_rent.results.comparison import compare
from bayes_rent.results.diagnostics import ConvergenceWarning
from bayes_rent.study.descriptive import cluster_means, item_descriptives
from bayes_rent.study.efa import EFAResult, exploratory_factor_analysis, scree_figure
from bayes_rent.study.models import BOOK_MODELS, check_models, read_models

__all__ = ["QUICK_SAMPLING", "STEPS", "StudyResult", "load_study_data", "run_study"]

#: Sampling of a ``quick`` study: enough to show the pipeline runs, not to report.
QUICK_SAMPLING = {"chains": 2, "tune": 200, "draws": 200}

#: Section id and title of every step, in order (the ids are the report's anchors).
STEPS = {
    "descriptives": "1. Descriptive statistics",
    "reliability": "2. Reliability and validity",
    "efa": "3. Exploratory factor analysis",
    "measurement": "4. Measurement model (CFA)",
    "submodels": "5. Sub-models 1–4",
    "full-model": "6. Full model",
    "coupling": "7. Sub-model 5: grey coupling of NC and AC",
    "comparison": "8. Model comparison (LOO)",
}

QUICK_WARNING = ("QUICK DEMONSTRATION RUN: 2 chains × (200 warm-up + 200 draws). The chains are "
                 "far too short; these numbers are NOT for reporting.")


def load_study_data(data: Any = None, schema: SurveySchema | None = None, *,
                    missing_codes: Any = ()) -> Survey:
    """The study's survey, checked against the questionnaire map.

    Parameters
    ----------
    data : Survey, str, path-like or pandas.DataFrame, optional
        A :class:`~bayes_rent.data.survey.Survey` already read (used as it is); a CSV, Excel
        or SPSS file; the name of a shipped data set; or a DataFrame of raw answers. By default
        the shipped simulated cluster survey.
    schema : SurveySchema, optional
        The questionnaire map (default: the book's, ``models/questionnaire.yaml``).
    missing_codes : iterable
        Answer codes meaning "no answer".

    Returns
    -------
    Survey
        Read with :func:`~bayes_rent.data.survey.read_survey`, reverse-keyed items recoded.

    Examples
    --------
    >>> load_study_data().data.shape
    (320, 75)
    """
    schema = schema if schema is not None else book_schema()
    if isinstance(data, Survey):
        return data
    if data is None:
        data = "cluster_survey"
    if isinstance(data, str) and data in datasets.NAMES:
        data = datasets.load(data)
    elif isinstance(data, str | Path) and not Path(data).exists():
        raise OptionError(f"data file {data} not found (nor is it a shipped data set: "
                          f"{', '.join(sorted(datasets.NAMES))})")
    return read_survey(data, schema, reverse=True, missing_codes=missing_codes)


@dataclass
class StudyResult:
    """Everything the study computed; ``to_report()`` lays it out, ``br.report`` writes it.

    Attributes
    ----------
    survey : Survey
    fits : dict of str to Fit
        ``measurement``, ``submodel1_re`` ... ``submodel4_ac``, ``full_model``.
    descriptives, cluster_means : pandas.DataFrame
    reliability, validity : pandas.DataFrame
        Of the measurement model.
    efa : EFAResult
    coupling : PosteriorCoupling or None
        ``None`` when the questionnaire has no NC and AC dimensions.
    comparison : pandas.DataFrame
    loo : pandas.DataFrame
        Every model's own LOO estimate.
    settings : dict
        ``quick``, ``seed``, the sampling settings, the data file.
    timings : dict of str to float
        Wall time of every step, in seconds.
    """

    survey: Survey
    fits: dict[str, Any]
    descriptives: pd.DataFrame
    cluster_means: pd.DataFrame
    reliability: pd.DataFrame
    validity: pd.DataFrame
    efa: EFAResult
    coupling: Any
    comparison: pd.DataFrame
    loo: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        """Whether every model converged."""
        return all(fit.convergence.converged for fit in self.fits.values())

    def unconverged(self) -> list[str]:
        """The models that did not converge."""
        return [name for name, fit in self.fits.items() if not fit.convergence.converged]

    def to_report(self) -> Report:
        """The study as a :class:`~bayes_rent.report.Report`, a section per step."""
        return _study_report(self)


# ------------------------------------------------------------------------------ the steps
class _Progress:
    """One tqdm bar over the steps, on stderr; quiet when ``enabled`` is false."""

    def __init__(self, enabled: bool, total: int):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, file=sys.stderr, disable=not enabled, unit="step",
                        bar_format="{desc} |{bar}| {n_fmt}/{total_fmt} steps [{elapsed}]")
        self.enabled = enabled
        self.timings: dict[str, float] = {}

    def write(self, text: str) -> None:
        if self.enabled:
            self.bar.write(text, file=sys.stderr)

    @contextmanager
    def step(self, key: str) -> Iterator[None]:
        """Time the step ``key``; on success, say so and advance the bar."""
        self.bar.set_description_str(STEPS[key])
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[key] = self.timings.get(key, 0.0) + time.perf_counter() - start
        self.write(f"{STEPS[key]}: done in {self.timings[key]:.1f} s")
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _fit(name: str, syntax: str, data: pd.DataFrame, sampling: Mapping[str, Any],
         progress: _Progress) -> Any:
    start = time.perf_counter()
    with warnings.catch_warnings():
        # convergence is reported per model below and in the report, once and in full
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = sem(syntax, data, progressbar=False, **sampling)
    report = fit.convergence
    verdict = ("converged" if report.converged else
               f"NOT converged (max R-hat {report.max_r_hat:.3f}, min bulk ESS "
               f"{report.min_ess_bulk:.0f}, {report.divergences} divergences)")
    progress.write(f"  {name}: {verdict} [{time.perf_counter() - start:.0f} s]")
    return fit


def _loo_table(fits: Mapping[str, Any]) -> pd.DataFrame:
    rows = []
    for name, fit in fits.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Pareto k warnings: in the table
            loo = fit.loo()
        rows.append({"model": name, "elpd_loo": float(loo.elpd_loo), "se": float(loo.se),
                     "p_loo": float(loo.p_loo),
                     "pareto_k_over_0.7": int((np.asarray(loo.pareto_k) > 0.7).sum())})
    return pd.DataFrame(rows)


def run_study(data: Any = None, schema: SurveySchema | str | Path | None = None, *,
              quick: bool = False, seed: int | None = None,
              models: str | Path | None = None, sampling: Mapping[str, Any] | None = None,
              missing_codes: Any = (), efa_factors: int | None = None,
              progress: bool = True, source: str | None = None) -> StudyResult:
    """Run the book's study: descriptives, reliability, EFA, CFA, sub-models 1–5, comparison.

    Parameters
    ----------
    data : Survey, str, path-like or pandas.DataFrame, optional
        The survey (see :func:`load_study_data`); by default the shipped **simulated** cluster
        survey (320 firms, 8 clusters).
    schema : SurveySchema or path, optional
        The questionnaire map; by default the book's (shipped with the package).
    quick : bool
        2 chains × (200 + 200) draws per model: a demonstration, not for reporting.
    seed : int, optional
        Seed of every fit and of the coupling's posterior.
    models : str or path-like, optional
        Folder with the study's model files (``submodel1_re.lav`` ... ``full_model.lav``);
        by default the package's own.
    sampling : mapping, optional
        Sampling settings of every fit (``draws``, ``tune``, ``chains``, ``sampler``...);
        by default the package defaults (or the quick ones).
    missing_codes : iterable
        Answer codes meaning "no answer".
    efa_factors : int, optional
        Factors of the EFA; by default by the eigenvalue > 1 rule.
    progress : bool
        Show a progress bar and a line per step and model on stderr.
    source : str, optional
        What to call the data in the report (by default the file name, or ``cluster_survey``).

    Returns
    -------
    StudyResult
        ``br.report(result, "out/")`` writes its report.

    Raises
    ------
    bayes_rent.errors.BayesRentError
        On unusable input (a missing file, a questionnaire map or survey that fails its checks,
        a model that needs variables the questionnaire does not have), before anything is
        fitted.

    Examples
    --------
    >>> import bayes_rent as br
    >>> study = br.run_study(quick=True, seed=1)      # doctest: +SKIP
    >>> br.report(study, "bayes-rent-study")           # doctest: +SKIP
    """
    if isinstance(schema, str | Path):
        schema = SurveySchema.from_yaml(schema)
    schema = schema if schema is not None else book_schema()
    survey = load_study_data(data, schema, missing_codes=missing_codes)
    if source is None and (data is None or (isinstance(data, str) and data in datasets.NAMES)):
        source = data or "cluster_survey"
    source = source or survey.file
    syntaxes = read_models(models)
    check_models(syntaxes, schema, models)
    frame = survey.data
    settings = dict(QUICK_SAMPLING) if quick else {}
    settings.update(sampling or {})
    fit_kwargs = dict(settings, seed=seed)
    bar = _Progress(progress, total=len(STEPS))
    if quick:  # said whether or not the progress is shown
        print(QUICK_WARNING, file=sys.stderr)
    fits: dict[str, Any] = {}
    notes: dict[str, str] = {}
    try:
        with bar.step("descriptives"):
            descriptives = item_descriptives(frame, schema)
            by_cluster = cluster_means(frame, schema)
        # the measurement model first: the reliability and validity of step 2 need it
        with bar.step("measurement"):
            fits["measurement"] = _fit("measurement", schema.to_lavaan(), frame, fit_kwargs, bar)
        with bar.step("reliability"):
            reliability = fits["measurement"].reliability(seed=seed)
            validity = fits["measurement"].validity()
        with bar.step("efa"):
            efa = exploratory_factor_analysis(frame[schema.item_ids], efa_factors)
        with bar.step("submodels"):
            for model in BOOK_MODELS[:4]:
                fits[model.key] = _fit(model.key, syntaxes[model.key], frame, fit_kwargs, bar)
        with bar.step("full-model"):
            fits["full_model"] = _fit("full_model", syntaxes["full_model"], frame, fit_kwargs,
                                      bar)
        with bar.step("coupling"):
            coupling, notes["coupling"] = _coupling(fits["full_model"], frame, schema, seed)
        with bar.step("comparison"):
            loo = _loo_table(fits)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # Pareto k: in the LOO table
                comparison = compare({"measurement": fits["measurement"],
                                      "full_model": fits["full_model"]})
    finally:
        bar.close()
    return StudyResult(
        survey=survey, fits=fits, descriptives=descriptives, cluster_means=by_cluster,
        reliability=reliability, validity=validity, efa=efa, coupling=coupling,
        comparison=comparison, loo=loo, timings=dict(bar.timings), notes=notes,
        settings={"quick": quick, "seed": seed, "sampling": settings or "package defaults",
                  "data": source, "questionnaire": str(schema.source or schema.name)},
    )


def _coupling(fit: Any, frame: pd.DataFrame, schema: SurveySchema,
              seed: int | None) -> tuple[Any, str]:
    from bayes_rent.grey import coupling_from_scores

    ids = {c.id: c for c in schema.constructs}
    missing = [c for c in ("NC", "AC") if c not in ids or not ids[c].dimensions]
    if missing:
        return None, (f"Not computed: the questionnaire has no dimensions for "
                      f"{' and '.join(missing)}, the two systems the coupling needs.")
    cluster = (frame[schema.cluster].astype(str).to_numpy()
               if schema.cluster and schema.cluster in frame else None)
    post = coupling_from_scores(fit.scores(seed=seed), schema=schema, cluster=cluster,
                                seed=seed)
    return post, ""


# ------------------------------------------------------------------------------ the report
def _study_report(study: StudyResult) -> Report:
    fits = study.fits
    schema = study.survey.schema
    quick = study.settings.get("quick", False)
    banners = [QUICK_WARNING] if quick else []
    if not study.converged:
        banners.append("Some models did not converge: "
                       + ", ".join(study.unconverged())
                       + ". Their convergence warnings are in their sections; do not report "
                         "their estimates.")
    source = study.settings.get("data", study.survey.file)
    data_note = ("the SIMULATED cluster survey shipped with bayes-rent (the book's own data are "
                 "not public)" if source == "cluster_survey" else source)
    meta = {
        "data": f"{data_note}: {len(study.survey.data)} firms, {len(schema.items)} items",
        "questionnaire": study.settings.get("questionnaire", ""),
        "sampling": str(study.settings.get("sampling")),
        "seed": str(study.settings.get("seed")),
        "wall time per step": ", ".join(f"{STEPS[k].split('. ', 1)[1]} {v:.0f} s"
                                        for k, v in study.timings.items()),
    }
    sections = [
        _descriptives_section(study), _reliability_section(study), _efa_section(study),
    ]
    measurement, diagram = fit_section(
        "measurement", fits["measurement"], section_id="measurement",
        title=STEPS["measurement"],
        intro="Every construct of the questionnaire map, second-order constructs on their "
              "dimensions and dimensions on their items, the constructs free to covary (the "
              "syntax the map writes, SurveySchema.to_lavaan()).")
    sections.append(measurement)
    diagrams = {} if diagram is None else {"measurement": diagram}
    sub = Section("submodels", STEPS["submodels"],
                  intro="Each sub-model is a mediation model: the antecedent → KR (a), "
                        "KR → IG (b) and the direct path antecedent → IG (c); indirect := a*b, "
                        "total := c + a*b.")
    for model in BOOK_MODELS[:4]:
        section, diagram = fit_section(model.key, fits[model.key], section_id=model.key,
                                       title=model.title)
        sub.subsections.append(section)
        if diagram is not None:
            diagrams[model.key] = diagram
    sub.blocks.append(Table("effects", "Indirect and total effects of the four sub-models",
                            _submodel_effects(study)))
    sections.append(sub)
    full, diagram = fit_section(
        "full_model", fits["full_model"], section_id="full-model", title=STEPS["full-model"],
        intro="RE, SE, NC and AC together → KR → IG, with a direct path from each to IG: each "
              "antecedent's effect given the others.")
    if diagram is not None:
        diagrams["full_model"] = diagram
    sections.append(full)
    sections.append(_coupling_section(study))
    sections.append(_comparison_section(study))
    posteriors = {name: fit.idata for name, fit in fits.items()}
    if study.coupling is not None:
        posteriors["coupling"] = study.coupling.to_inference_data()
    title = "bayes-rent study: knowledge rent and the international growth of cluster firms"
    return Report(title, sections=sections, banners=banners, meta=meta,
                  posteriors=posteriors, diagrams=diagrams)


def _descriptives_section(study: StudyResult) -> Section:
    section = Section("descriptives", STEPS["descriptives"],
                      intro="Reverse-keyed items are recoded (k + 1 − x) before everything. "
                            "Skewness and excess kurtosis are the bias-corrected estimators "
                            "SPSS reports; |skewness| < 2 and |kurtosis| < 7 are the usual "
                            "bounds for treating 5-point items as continuous.")
    section.blocks.append(Table("items", "Items", study.descriptives))
    section.blocks.append(Table("clusters", "Construct means per cluster (mean of the "
                                "construct's items per firm)", study.cluster_means))
    return section


def _reliability_section(study: StudyResult) -> Section:
    section = Section("reliability", STEPS["reliability"],
                      intro="From the measurement model (step 4). Cronbach's α by Bayesian "
                            "bootstrap, composite reliability (ω/CR) and AVE per posterior draw "
                            "with their HDIs; p_cr = P(CR > 0.7), p_ave = P(AVE > 0.5). "
                            "Discriminant validity: HTMT (p_htmt = P(HTMT < 0.85)) and the "
                            "Fornell–Larcker criterion per draw.")
    if not study.fits["measurement"].convergence.converged:
        section.warnings.append("The measurement model did not converge; these posteriors are "
                                "not for reporting.")
    section.blocks.append(Table("reliability", "Reliability and convergent validity",
                                study.reliability))
    section.blocks.append(Table("validity", "Discriminant validity", study.validity,
                                collapsed=len(study.validity) > 40))
    return section


def _efa_section(study: StudyResult) -> Section:
    efa = study.efa
    dims = len(study.survey.schema.dimensions) or len(study.survey.schema.constructs)
    section = Section(
        "efa", STEPS["efa"],
        intro=f"All {len(efa.loadings)} items. KMO and Bartlett's test, then principal "
              f"components rotated by varimax (Kaiser normalization), SPSS's defaults. The "
              f"number of factors is {efa.n_factors}, by the {efa.rule} rule; the "
              f"questionnaire has {dims} dimensions. {efa.n_imputed} missing answers were "
              f"replaced by the item mean (SPSS's 'replace with mean').")

    def bold_loadings(styler: Any) -> Any:
        columns = [c for c in efa.loadings.columns if c.startswith("F") and c[1:].isdigit()]
        return styler.map(lambda v: "font-weight: bold; background: #e8f1fb"
                          if isinstance(v, float) and abs(v) >= 0.5 else "", subset=columns)

    section.blocks += [
        Table("tests", "KMO and Bartlett's test", efa.tests()),
        Table("kmo_items", "KMO per item (measure of sampling adequacy)", efa.kmo_items,
              collapsed=True),
        Figure.from_matplotlib("scree", "Scree plot", scree_figure(efa, dims)),
        Table("eigenvalues", "Eigenvalues (total variance explained)", efa.eigenvalues,
              collapsed=True),
        Table("variance", "Rotated sums of squared loadings", efa.variance),
        Table("loadings", "Rotated component matrix (|loading| ≥ 0.5 in bold)", efa.loadings,
              style=bold_loadings),
    ]
    return section


def _submodel_effects(study: StudyResult) -> pd.DataFrame:
    rows = []
    for model in BOOK_MODELS[:4]:
        fit = study.fits[model.key]
        defined = fit.defined().set_index("name")
        for key in ("indirect", "total"):
            if key in defined.index:
                row = defined.loc[key]
                rows.append({"model": model.key, "effect": f"{key} ({model.antecedent} → IG)",
                             "mean": row["mean"], "sd": row["sd"], "hdi_low": row["hdi_low"],
                             "hdi_high": row["hdi_high"]})
    return pd.DataFrame(rows)


def _coupling_section(study: StudyResult) -> Section:
    section = Section(
        "coupling", STEPS["coupling"],
        intro="The grey relational coupling of the NC dimensions (system X) and the AC "
              "dimensions (system Y), and the coupling–coordination degree D, computed for "
              "every posterior draw of the firms' latent dimension scores of the full model "
              "(bayes_rent.grey.coupling_from_scores), then averaged per cluster. Level "
              "probabilities are the shares of draws in each of the book's bands.")
    post = study.coupling
    if post is None:
        section.blocks.append(Note(study.notes.get("coupling", "Not computed."), "warning"))
        return section
    if not study.fits["full_model"].convergence.converged:
        section.warnings.append("The full model did not converge; the coupling inherits its "
                                "unreliable scores.")
    per_cluster = "D_cluster" in post.posterior
    d_var, c_var = ("D_cluster", "grey_C_cluster") if per_cluster else ("D_overall",
                                                                        "grey_C_overall")
    section.blocks.append(Table("coordination", "Coordination degree D by cluster",
                                post.levels(d_var, at_least="intermediate coordination"),
                                index=True))
    section.blocks.append(Table("grey_coupling", "Grey coupling degree by cluster",
                                post.levels(c_var), index=True))
    probs = post.level_probabilities(d_var)
    probs = probs.loc[:, probs.sum(axis=0) > 0]
    section.blocks.append(Table("level_probabilities",
                                "Posterior probability of each coordination band", probs,
                                index=True))
    ax = post.plot_forest(var_names=(d_var, c_var), combined=True)
    fig = np.atleast_1d(ax).ravel()[0].get_figure()
    section.blocks.append(Figure.from_matplotlib("coupling-forest", "Posterior of D and the "
                                                 "grey coupling degree by cluster", fig,
                                                 note="Posterior means and 90 % HDIs."))
    if len(probs.columns):
        from matplotlib.figure import Figure as MplFigure

        bar = MplFigure(figsize=(7, 0.45 * len(probs) + 1.4))
        axes = bar.subplots()
        probs.plot.barh(stacked=True, ax=axes, colormap="RdYlGn", width=0.75)
        axes.set_xlabel("posterior probability")
        axes.set_xlim(0, 1)
        axes.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
        section.blocks.append(Figure.from_matplotlib("coupling-levels", "Coordination bands by "
                                                     "cluster", bar))
    return section


def _comparison_section(study: StudyResult) -> Section:
    section = Section(
        "comparison", STEPS["comparison"],
        intro="LOO compares models of the same observed variables only. The sub-models each "
              "use a different subset of the items, so each has its own LOO below but they "
              "are not ranked against one another. The full model and the measurement model "
              "use the same items: the comparison below asks whether the structural model's "
              "restrictions cost predictive accuracy (the full model's structural part is "
              "saturated — every pair of constructs is linked — so elpd_diff near 0, within "
              "a few dse, is expected).")
    section.blocks.append(Table("convergence", "Convergence of every model",
                                convergence_table(study.fits)))
    section.blocks.append(Table("loo", "LOO of every model", study.loo,
                                note="pareto_k_over_0.7: firms whose PSIS estimate is "
                                     "unreliable."))
    section.blocks.append(Table("compare", "Full model vs measurement model",
                                study.comparison, index=True))
    return section
