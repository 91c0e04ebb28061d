"""The book's whole study, from the survey to a self-contained HTML report.

``br.run_study()`` runs it on the shipped simulated cluster survey (or on your own survey and
questionnaire map) and returns a :class:`StudyResult`; ``br.report(result, "out/")`` writes
``out/report.html`` with the tables as CSV, the posteriors as NetCDF and the path diagrams.
The command line does both: ``bayes-rent study [--quick] [--out DIR]``.

Examples
--------
>>> from bayes_rent.study import STEPS
>>> list(STEPS)[:3]
['descriptives', 'reliability', 'efa']
"""

from bayes_rent.study.descriptive import cluster_means, construct_scores, item_descriptives
from bayes_rent.study.efa import EFAResult, exploratory_factor_analysis
from bayes_rent.study.models import BOOK_MODELS, StudyModel
from bayes_rent.study.pipeline import (
    QUICK_SAMPLING,
    STEPS,
    StudyResult,
    load_study_data,
    run_study,
)

__all__ = [
    "BOOK_MODELS",
    "EFAResult",
    "QUICK_SAMPLING",
    "STEPS",
    "StudyModel",
    "StudyResult",
    "cluster_means",
    "construct_scores",
    "exploratory_factor_analysis",
    "item_descriptives",
    "load_study_data",
    "run_study",
]
