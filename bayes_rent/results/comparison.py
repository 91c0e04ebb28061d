"""Model comparison by expected predictive accuracy (PSIS-LOO or WAIC, through ArviZ).

Models are compared on the pointwise log-likelihood of the *same respondents' answers to the
same items* (:func:`bayes_rent.results.fit_indices.log_likelihood`); with a different item set or
different respondents the densities are of different data and cannot be compared, so that is
an error rather than a silent result.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Literal

import arviz as az
import numpy as np
import pandas as pd

from bayes_rent.results.fit_indices import add_log_likelihood
from bayes_rent.results.fitted import FittedModel

__all__ = ["compare"]


def compare(
    fits: Mapping[str, FittedModel],
    ic: Literal["loo", "waic"] = "loo",
    *,
    method: Literal["stacking", "BB-pseudo-BMA", "pseudo-BMA"] = "stacking",
    scale: Literal["log", "negative_log", "deviance"] = "log",
    seed: int | None = None,
) -> pd.DataFrame:
    """Rank models fitted to the same data by estimated out-of-sample predictive accuracy.

    Parameters
    ----------
    fits : mapping of str to Fit
        At least two fits, by name, of models for the same observed variables and the same
        respondents.
    ic : {"loo", "waic"}
        PSIS leave-one-out cross-validation (recommended) or WAIC.
    method : {"stacking", "BB-pseudo-BMA", "pseudo-BMA"}
        How ``arviz.compare`` computes the model weights.
    scale : {"log", "negative_log", "deviance"}
        Scale of the criterion; on the default log scale larger is better.
    seed : int, optional
        Seed of the Bayesian bootstrap (``method="BB-pseudo-BMA"``).

    Returns
    -------
    pandas.DataFrame
        One row per model, best first (``rank`` 0): ``elpd_loo`` (or ``elpd_waic``),
        ``p_loo``, ``elpd_diff`` (to the best model), ``weight``, ``se``, ``dse`` (SE of the
        difference), ``warning`` (Pareto k or WAIC warning) and ``scale``, as
        ``arviz.compare`` returns them. A difference is meaningful when ``elpd_diff`` is
        several times ``dse``.

    Raises
    ------
    ValueError
        With fewer than two fits, or when the fits differ in observed variables or
        respondents.

    Examples
    --------
    >>> import bayes_rent as br
    >>> hs = br.datasets.holzinger_swineford()
    >>> one = br.cfa("g =~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9", hs,
    ...              seed=1)  # doctest: +SKIP
    >>> three = br.cfa("v =~ x1 + x2 + x3\\nt =~ x4 + x5 + x6\\ns =~ x7 + x8 + x9", hs,
    ...                seed=1)  # doctest: +SKIP
    >>> compare({"one factor": one, "three factors": three})  # doctest: +SKIP
    """
    if ic not in ("loo", "waic"):
        raise ValueError(f"ic must be 'loo' or 'waic', not {ic!r}")
    if len(fits) < 2:
        raise ValueError(f"compare needs at least two fits, got {len(fits)}")
    names = list(fits)
    first = fits[names[0]]
    variables = set(first.layout.observed)
    idatas = {}
    respondents = None
    for name in names:
        fit = fits[name]
        if set(fit.layout.observed) != variables:
            raise ValueError(
                f"'{name}' models the variables {sorted(fit.layout.observed)} but "
                f"'{names[0]}' models {sorted(variables)}: LOO/WAIC compare predictions of the "
                "same data, so every model must use the same observed variables"
            )
        idata = add_log_likelihood(fit)
        rows = idata.log_likelihood["respondent"].values
        if respondents is None:
            respondents = rows
        elif len(rows) != len(respondents) or not np.array_equal(rows, respondents):
            raise ValueError(
                f"'{name}' was fitted to {len(rows)} respondents and '{names[0]}' to "
                f"{len(respondents)} (or to different rows): compare models on the same data"
            )
        idatas[name] = idata
    with warnings.catch_warnings():
        # arviz sorts with pandas' deprecated ``inplace=``: noise the user cannot act on
        warnings.filterwarnings("ignore", message="The inplace keyword")
        return az.compare(idatas, ic=ic, method=method, scale=scale, seed=seed, var_name="y")
