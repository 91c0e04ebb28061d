"""Fitted models: :class:`Fit` and its block-wise kinds for several groups and two levels."""

from bayes_rent.fit.base import Fit, parameter_names
from bayes_rent.fit.group import GroupFit
from bayes_rent.fit.twolevel import TwoLevelFit

__all__ = ["Fit", "GroupFit", "TwoLevelFit", "parameter_names"]
