"""bayes-rent: Bayesian structural equation models for knowledge-rent studies of cluster firms.

The flow: lavaan syntax → parameter table → PyMC model → sampler → :class:`Fit`; the layers
are described in ``docs/architecture.md``.

Examples
--------
>>> import bayes_rent as br
>>> br.Model("f =~ x1 + x2 + x3").partable[["lhs", "op", "rhs", "free"]].head(3)
  lhs  op rhs   free
0   f  =~  x1  False
1   f  =~  x2   True
2   f  =~  x3   True
"""

import bayes_rent.warnings_filter  # noqa: F401  (first: before ArviZ and PyTensor load)
from bayes_rent import grey, sensitivity, study
from bayes_rent.data import datasets
from bayes_rent.data.observed import DataError
from bayes_rent.data.survey import SurveyError, SurveySchema, book_schema, read_survey
from bayes_rent.errors import BayesRentError
from bayes_rent.fit.base import Fit
from bayes_rent.fit.group import GroupFit
from bayes_rent.fit.twolevel import TwoLevelFit
from bayes_rent.model import Model, cfa, sem
from bayes_rent.report import report
from bayes_rent.results.comparison import compare
from bayes_rent.results.diagnostics import ConvergenceWarning
from bayes_rent.spec.syntax import ModelSyntaxError
from bayes_rent.study import run_study

__all__ = [
    "BayesRentError",
    "ConvergenceWarning",
    "DataError",
    "Fit",
    "GroupFit",
    "Model",
    "ModelSyntaxError",
    "SurveyError",
    "SurveySchema",
    "TwoLevelFit",
    "book_schema",
    "grey",
    "read_survey",
    "report",
    "run_study",
    "cfa",
    "compare",
    "datasets",
    "sem",
    "sensitivity",
    "study",
]
__version__ = "0.1.0"
