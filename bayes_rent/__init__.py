"""bayes-rent: Bayesian structural equation models for knowledge-rent studies of cluster firms.

The flow: lavaan syntax → parameter table → PyMC model → sampler → :class:`Fit`.

Examples
--------
>>> import bayes_rent as br
>>> br.Model("f =~ x1 + x2 + x3").partable[["lhs", "op", "rhs", "free"]].head(3)
  lhs  op rhs   free
0   f  =~  x1  False
1   f  =~  x2   True
2   f  =~  x3   True
"""

from bayes_rent import datasets, grey
from bayes_rent.comparison import compare
from bayes_rent.diagnostics import ConvergenceWarning
from bayes_rent.fit import Fit
from bayes_rent.group_fit import GroupFit
from bayes_rent.model import Model, cfa, sem
from bayes_rent.observed import DataError
from bayes_rent.survey import SurveyError, SurveySchema, book_schema, read_survey
from bayes_rent.syntax import ModelSyntaxError
from bayes_rent.twolevel import TwoLevelFit

__all__ = [
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
    "cfa",
    "compare",
    "datasets",
    "sem",
]
__version__ = "0.1.0"
