"""Data sets shipped with bayes-rent.

* :func:`political_democracy` — Bollen (1989), 75 countries; the standard SEM test case.
* :func:`holzinger_swineford` — Holzinger & Swineford (1939), 301 children, nine tests.
* :func:`cluster_survey` — a *simulated* survey of cluster firms shaped like the book's study.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

# imported at module level: importing the submodule inside a function would rebind the name
# ``cluster_survey`` in this package to the module after the first call
from bayes_rent.data.datasets.cluster_survey import cluster_survey, cluster_survey_truth

__all__ = [
    "NAMES", "cluster_survey", "cluster_survey_truth", "holzinger_swineford", "load",
    "political_democracy",
]


def _read(name: str) -> pd.DataFrame:
    with resources.files(__name__).joinpath("data", name).open("rb") as fh:
        return pd.read_csv(fh)


def political_democracy() -> pd.DataFrame:
    """Bollen's (1989) political democracy data: 75 developing countries.

    ``y1``–``y4``: democracy indicators in 1960, ``y5``–``y8``: the same in 1965,
    ``x1``–``x3``: industrialisation in 1960.

    Examples
    --------
    >>> political_democracy().shape
    (75, 11)
    """
    return _read("PoliticalDemocracy.csv")


def holzinger_swineford() -> pd.DataFrame:
    """Holzinger & Swineford (1939): mental-ability scores of 301 seventh- and eighth-graders.

    ``x1``–``x3`` visual, ``x4``–``x6`` textual, ``x7``–``x9`` speed tests; ``school``
    (Pasteur, Grant-White), ``sex``, ``ageyr``, ``agemo``, ``grade``.

    Examples
    --------
    >>> holzinger_swineford().shape
    (301, 15)
    """
    return _read("HolzingerSwineford1939.csv")


NAMES = {
    "political_democracy": political_democracy,
    "holzinger_swineford": holzinger_swineford,
    "cluster_survey": cluster_survey,
}


def load(name: str) -> pd.DataFrame:
    """A shipped data set by name (``political_democracy``, ``holzinger_swineford``, ...).

    Examples
    --------
    >>> load("political_democracy").columns[:3].tolist()
    ['y1', 'y2', 'y3']
    """
    if name not in NAMES:
        raise KeyError(f"no shipped data set {name!r}; known: {sorted(NAMES)}")
    return NAMES[name]()
