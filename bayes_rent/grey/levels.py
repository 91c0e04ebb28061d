"""Level bands for coupling (C), coupling–coordination (D), relational degrees and ratios.

A band table is an ordered list of ``(upper, name, name_zh)``; a value ``v`` belongs to the first
band with ``lower < v ≤ upper`` (the first band also takes its lower bound, 0 by default).

Built-in tables, as in the coupling–coordination literature (e.g. Tian et al. 2021, Table 1):

* :data:`COUPLING_BANDS` (4 bands of C): ``0 < C ≤ 0.3`` low-level coupling (低水平耦合),
  ``0.3 < C ≤ 0.5`` antagonism (拮抗), ``0.5 < C ≤ 0.8`` running-in (磨合),
  ``0.8 < C ≤ 1`` high-level coupling (高水平耦合);
* :data:`COORDINATION_BANDS` (10 bands of D, steps of 0.1): extreme disorder (极度失调),
  serious disorder (严重失调), moderate disorder (中度失调), mild disorder (轻度失调), on the verge
  of disorder (濒临失调), barely coordinated (勉强协调), primary coordination (初级协调),
  intermediate coordination (中级协调), good coordination (良好协调), quality coordination
  (优质协调);
* :data:`RELATIONAL_BANDS` for grey relational degrees γ, as used after Liu et al. (2005):
  ``≤ 0.35`` weak (弱关联), ``≤ 0.65`` moderate (中等关联), ``≤ 0.85`` strong (较强关联),
  ``≤ 1`` very strong (极强关联);
* :data:`DEVELOPMENT_BANDS` for the relative development ``U1/U2``: ``≤ 0.8`` the first system
  lags, ``≤ 1.2`` synchronous, above that the second system lags.

User tables are accepted wherever a table is: a :class:`Bands`, a mapping ``{upper: name}`` or a
list of ``(upper, name)`` / ``(upper, name, name_zh)``.

References
----------
Tian, S., Li, X., Yang, J., Zhang, W., & Guo, J. (2021). 东北三省城市拟态与现实人居环境时空耦合
协调特征与机制. *Acta Geographica Sinica* (地理学报), 76(4), 781–798, Table 1.
Liu, Y., Li, R., & Song, X. (2005). *Acta Geographica Sinica*, 60(2), 237–247.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "Band",
    "Bands",
    "COORDINATION_BANDS",
    "COUPLING_BANDS",
    "DEVELOPMENT_BANDS",
    "RELATIONAL_BANDS",
    "classify",
    "level_codes",
    "level_probabilities",
    "make_bands",
    "prob_at_least",
]


@dataclass(frozen=True)
class Band:
    """One band: values in ``(previous upper, upper]`` get ``name`` (and ``name_zh``)."""

    upper: float
    name: str
    name_zh: str | None = None


@dataclass(frozen=True)
class Bands:
    """An ordered table of bands.

    Parameters
    ----------
    bands
        Bands in increasing order of ``upper``.
    lower
        Lower bound of the first band (included).
    title
        What is classified (e.g. ``"coordination"``), used to name results.
    """

    bands: tuple[Band, ...]
    lower: float = 0.0
    title: str = "level"

    def __post_init__(self) -> None:
        uppers = [b.upper for b in self.bands]
        if not uppers:
            raise ValueError("a band table needs at least one band")
        if any(not a < b for a, b in zip([self.lower, *uppers[:-1]], uppers, strict=True)):
            raise ValueError(f"band upper bounds must increase from {self.lower}, got {uppers}")
        names = [b.name for b in self.bands]
        if len(set(names)) != len(names):
            raise ValueError(f"band names must be unique, got {names}")

    @property
    def uppers(self) -> np.ndarray:
        """Upper bounds, in order."""
        return np.array([b.upper for b in self.bands], dtype=float)

    @property
    def names(self) -> list[str]:
        """English names, in order."""
        return [b.name for b in self.bands]

    @property
    def names_zh(self) -> list[str | None]:
        """Chinese names, in order (``None`` where not given)."""
        return [b.name_zh for b in self.bands]

    def index(self, level: str) -> int:
        """Position of a band given its English or Chinese name."""
        for k, b in enumerate(self.bands):
            if level in (b.name, b.name_zh):
                return k
        raise KeyError(f"no band named {level!r}; bands are {self.names}")

    def table(self) -> pd.DataFrame:
        """The bands as a table with ``lower``, ``upper``, ``name`` and ``name_zh``."""
        lowers = [self.lower, *self.uppers[:-1]]
        return pd.DataFrame({"lower": lowers, "upper": self.uppers, "name": self.names,
                             "name_zh": self.names_zh})


def make_bands(spec: Bands | Mapping[float, str] | Iterable[Sequence[Any]],
               *, lower: float = 0.0, title: str = "level") -> Bands:
    """Build a :class:`Bands` from a mapping ``{upper: name}`` or ``(upper, name[, zh])`` rows.

    Examples
    --------
    >>> from bayes_rent.grey import make_bands
    >>> make_bands({0.5: "low", 1.0: "high"}).names
    ['low', 'high']
    """
    if isinstance(spec, Bands):
        return spec
    rows = sorted(spec.items()) if isinstance(spec, Mapping) else [tuple(r) for r in spec]
    bands = []
    for row in rows:
        if len(row) not in (2, 3):
            raise ValueError(f"a band is (upper, name) or (upper, name, name_zh), got {row!r}")
        bands.append(Band(float(row[0]), str(row[1]), None if len(row) == 2 else str(row[2])))
    return Bands(tuple(bands), lower=lower, title=title)


COUPLING_BANDS = make_bands(
    [(0.3, "low-level coupling", "低水平耦合"), (0.5, "antagonism", "拮抗"),
     (0.8, "running-in", "磨合"), (1.0, "high-level coupling", "高水平耦合")],
    title="coupling",
)
COORDINATION_BANDS = make_bands(
    [(0.1, "extreme disorder", "极度失调"), (0.2, "serious disorder", "严重失调"),
     (0.3, "moderate disorder", "中度失调"), (0.4, "mild disorder", "轻度失调"),
     (0.5, "on the verge of disorder", "濒临失调"), (0.6, "barely coordinated", "勉强协调"),
     (0.7, "primary coordination", "初级协调"), (0.8, "intermediate coordination", "中级协调"),
     (0.9, "good coordination", "良好协调"), (1.0, "quality coordination", "优质协调")],
    title="coordination",
)
RELATIONAL_BANDS = make_bands(
    [(0.35, "weak", "弱关联"), (0.65, "moderate", "中等关联"), (0.85, "strong", "较强关联"),
     (1.0, "very strong", "极强关联")],
    title="relation",
)
DEVELOPMENT_BANDS = make_bands(
    [(0.8, "first system lags", "前者滞后"), (1.2, "synchronous", "同步发展"),
     (np.inf, "second system lags", "后者滞后")],
    title="development",
)


def level_codes(values: np.ndarray, bands: Bands) -> np.ndarray:
    """Band index of every value (``-1`` for NaN or values outside the table), same shape."""
    v = np.asarray(values, dtype=float)
    codes = np.searchsorted(bands.uppers, v, side="left")
    bad = ~np.isfinite(v) & ~np.isposinf(v) | (v < bands.lower) | (codes >= len(bands.bands))
    # +inf belongs to a band only when the table is open-ended.
    bad |= np.isposinf(v) & ~np.isposinf(bands.uppers[-1])
    return np.where(bad, -1, codes).astype(np.int16)


def classify(values: Any, bands: Bands | Any, *, lang: str = "en") -> Any:
    """Name the band of every value.

    Parameters
    ----------
    values
        Scalar, array, ``Series``/``DataFrame`` or ``DataArray`` of C, D, γ … values.
    bands
        A band table (e.g. :data:`COORDINATION_BANDS`) or a user specification.
    lang
        ``"en"`` or ``"zh"``.

    Returns
    -------
    Same kind as ``values``
        Band names (``None`` outside the table). pandas results are categorical with the bands in
        order.

    Examples
    --------
    >>> from bayes_rent.grey import classify, COORDINATION_BANDS, COUPLING_BANDS
    >>> classify([0.05, 0.85, 0.91], COORDINATION_BANDS)
    ['extreme disorder', 'good coordination', 'quality coordination']
    >>> classify(0.45, COUPLING_BANDS, lang="zh")
    '拮抗'
    """
    bands = make_bands(bands)
    names = bands.names if lang == "en" else bands.names_zh
    lookup = np.array([*names, None], dtype=object)
    if isinstance(values, xr.DataArray):
        return values.copy(data=lookup[level_codes(values.values, bands)])
    if isinstance(values, pd.Series | pd.DataFrame):
        dtype = pd.CategoricalDtype(names, ordered=True)
        if isinstance(values, pd.Series):
            return pd.Series(lookup[level_codes(values.to_numpy(), bands)], index=values.index,
                             name=values.name).astype(dtype)
        out = values.apply(lambda col: pd.Series(lookup[level_codes(col.to_numpy(), bands)],
                                                 index=col.index))
        return out.astype(dtype)
    arr = np.asarray(values, dtype=float)
    res = lookup[level_codes(arr, bands)]
    return res if arr.ndim == 0 else res.tolist()


def level_probabilities(
    values: xr.DataArray, bands: Bands | Any, *, dims: Sequence[str] = ("chain", "draw")
) -> xr.DataArray:
    """Posterior probability of every band: the share of draws that fall in it.

    Parameters
    ----------
    values
        Posterior draws, e.g. D with dims ``(chain, draw, respondent)``.
    bands
        Band table.
    dims
        Sample dimensions averaged over.

    Returns
    -------
    DataArray
        Dims ``(*other dims, level)`` with coordinates ``level`` (English) and ``level_zh``;
        probabilities sum to 1 over ``level`` unless draws fall outside the table.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from bayes_rent.grey import level_probabilities, COUPLING_BANDS
    >>> d = xr.DataArray(np.array([[0.2, 0.4, 0.45, 0.9]]), dims=("chain", "draw"))
    >>> level_probabilities(d, COUPLING_BANDS).values.tolist()
    [0.25, 0.5, 0.0, 0.25]
    """
    bands = make_bands(bands)
    dims = [d for d in dims if d in values.dims]
    codes = values.copy(data=level_codes(values.values, bands))
    k = xr.DataArray(np.arange(len(bands.bands), dtype=np.int16), dims=("level",))
    # (codes == k) broadcasts a small level axis; the loop over bands is implicit and tiny.
    probs = (codes == k).mean(dims)
    probs = probs.assign_coords(level=bands.names, level_zh=("level", bands.names_zh))
    return probs.transpose(..., "level").rename(f"p_{bands.title}")


def prob_at_least(
    values: xr.DataArray, bands: Bands | Any, level: str,
    *, dims: Sequence[str] = ("chain", "draw"),
) -> xr.DataArray:
    """Posterior probability that a value lies in band ``level`` or a higher one.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from bayes_rent.grey import prob_at_least, COORDINATION_BANDS
    >>> d = xr.DataArray(np.array([[0.75, 0.85, 0.95, 0.81]]), dims=("chain", "draw"))
    >>> float(prob_at_least(d, COORDINATION_BANDS, "good coordination"))
    0.75
    """
    bands = make_bands(bands)
    k = bands.index(level)
    dims = [d for d in dims if d in values.dims]
    codes = values.copy(data=level_codes(values.values, bands))
    return (codes >= k).mean(dims).rename(f"p_at_least_{bands.title}")
