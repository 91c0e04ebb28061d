"""Grey relational analysis and coupling–coordination, on tables and over posterior draws.

Sub-model 5 of He Wenliang's study couples network capability (NC) with absorptive capability
(AC) by grey relational analysis and a coupling-degree model. This package provides those tools for
a plain table *and* vectorised over posterior draws, so every index comes with credible intervals
and level probabilities.

* :mod:`~bayes_rent.grey.normalize` — min–max (positive/negative), initial-value, mean, z-score;
* :mod:`~bayes_rent.grey.weights` — entropy, equal, AHP (with CR), user-given, Dirichlet;
* :mod:`~bayes_rent.grey.relational` — Deng's relational coefficients and grades;
* :mod:`~bayes_rent.grey.coupling` — grey relational coupling of two indicator systems;
* :mod:`~bayes_rent.grey.coordination` — capacity coupling C (standard, Wang 2021, Fan 2024),
  T, D, relative development;
* :mod:`~bayes_rent.grey.levels` — C and D level bands, level probabilities;
* :mod:`~bayes_rent.grey.posterior` — the whole analysis from ``fit.scores()``, ArviZ summaries,
  outcome grades and a regression that carries the index's uncertainty.

Every function accepts pandas, NumPy or xarray inputs; ``DataArray`` inputs may carry extra
dimensions such as ``chain`` and ``draw`` that are broadcast over without Python loops.
"""

from ._common import GreyWarning
from .coordination import (
    COUPLING_METHODS,
    coupling_coordination,
    relative_development,
    subsystem_index,
)
from .coupling import GreyCouplingResult, grey_coupling
from .levels import (
    COORDINATION_BANDS,
    COUPLING_BANDS,
    DEVELOPMENT_BANDS,
    RELATIONAL_BANDS,
    Band,
    Bands,
    classify,
    level_probabilities,
    make_bands,
    prob_at_least,
)
from .normalize import NORMALIZE_METHODS, normalize
from .posterior import (
    AC_DIMENSIONS,
    NC_DIMENSIONS,
    PosteriorCoupling,
    RegressionOverDraws,
    bayesian_bootstrap_weights,
    coupling_from_scores,
    regression_over_draws,
    system_dimensions,
)
from .relational import relational_coefficients, relational_grade
from .weights import (
    RANDOM_INDEX,
    AHPConsistencyError,
    AHPResult,
    ahp_weights,
    dirichlet_weights,
    entropy_weights,
    equal_weights,
    user_weights,
)

__all__ = [
    "AC_DIMENSIONS",
    "AHPConsistencyError",
    "AHPResult",
    "Band",
    "Bands",
    "COORDINATION_BANDS",
    "COUPLING_BANDS",
    "COUPLING_METHODS",
    "DEVELOPMENT_BANDS",
    "GreyCouplingResult",
    "GreyWarning",
    "NC_DIMENSIONS",
    "NORMALIZE_METHODS",
    "PosteriorCoupling",
    "RANDOM_INDEX",
    "RELATIONAL_BANDS",
    "RegressionOverDraws",
    "ahp_weights",
    "bayesian_bootstrap_weights",
    "classify",
    "coupling_coordination",
    "coupling_from_scores",
    "dirichlet_weights",
    "entropy_weights",
    "equal_weights",
    "grey_coupling",
    "level_probabilities",
    "make_bands",
    "normalize",
    "prob_at_least",
    "regression_over_draws",
    "relational_coefficients",
    "relational_grade",
    "relative_development",
    "subsystem_index",
    "system_dimensions",
    "user_weights",
]
