"""Step 3 of the study: exploratory factor analysis as SPSS reports it, with ``factor_analyzer``.

KMO (overall and per item) and Bartlett's test of sphericity from ``factor_analyzer``, the
eigenvalues of the correlation matrix with a scree plot, and the varimax-rotated loadings
(``factor_analyzer``'s rotator, Kaiser normalization) of principal components — SPSS's
default extraction — for the number of factors the eigenvalue-greater-
than-one rule (Kaiser's criterion, SPSS's default) gives. The questionnaire's own number of
dimensions is reported beside it.

Missing answers are replaced by the item mean, SPSS's "replace with mean" option: with answers
missing at random across many items, listwise deletion (SPSS's default) would drop most firms.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> f = rng.normal(size=(200, 2))
>>> x = pd.DataFrame(np.repeat(f, 3, axis=1) + rng.normal(scale=0.6, size=(200, 6)),
...                  columns=[f"x{i}" for i in range(6)])
>>> efa = exploratory_factor_analysis(x)
>>> efa.n_factors, efa.rule
(2, 'eigenvalue > 1')
>>> bool(efa.kmo_overall > 0.6), bool(efa.bartlett_p < 0.001)
(True, True)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["EFAResult", "exploratory_factor_analysis", "scree_figure"]


@dataclass
class EFAResult:
    """What :func:`exploratory_factor_analysis` found.

    Attributes
    ----------
    kmo_overall : float
    kmo_items : pandas.DataFrame
        ``item``, ``kmo`` (measure of sampling adequacy per item).
    bartlett_chi2, bartlett_df, bartlett_p : float
    eigenvalues : pandas.DataFrame
        ``component``, ``eigenvalue``, ``variance_share``, ``cumulative_share``.
    loadings : pandas.DataFrame
        Varimax-rotated loadings, one row per item, one column per factor (``F1``...), with
        the item's ``communality`` and its ``factor`` (largest absolute loading).
    variance : pandas.DataFrame
        Sums of squared rotated loadings per factor, their share and cumulative share.
    n_factors : int
    rule : str
        How ``n_factors`` was chosen.
    n_imputed : int
        Missing answers replaced by the item mean.
    """

    kmo_overall: float
    kmo_items: pd.DataFrame
    bartlett_chi2: float
    bartlett_df: float
    bartlett_p: float
    eigenvalues: pd.DataFrame
    loadings: pd.DataFrame
    variance: pd.DataFrame
    n_factors: int
    rule: str
    n_imputed: int

    def tests(self) -> pd.DataFrame:
        """KMO and Bartlett's test in SPSS's layout (one row each)."""
        return pd.DataFrame({
            "statistic": ["Kaiser-Meyer-Olkin measure of sampling adequacy",
                          "Bartlett's test of sphericity: approx. chi-square",
                          "Bartlett's test of sphericity: df",
                          "Bartlett's test of sphericity: p"],
            "value": [self.kmo_overall, self.bartlett_chi2, self.bartlett_df, self.bartlett_p],
        })


def exploratory_factor_analysis(items: pd.DataFrame, n_factors: int | None = None,
                                *, rotation: str = "varimax") -> EFAResult:
    """KMO, Bartlett's test, eigenvalues and rotated principal-component loadings.

    Parameters
    ----------
    items : pandas.DataFrame
        One column per item (numeric answers; missing answers are replaced by the item mean).
    n_factors : int, optional
        Factors to extract; by default the number of eigenvalues greater than 1.
    rotation : str
        A rotation ``factor_analyzer`` knows (``"varimax"``, ``"promax"``, ...).

    Returns
    -------
    EFAResult
    """
    from factor_analyzer.factor_analyzer import calculate_bartlett_sphericity, calculate_kmo
    from factor_analyzer.rotator import Rotator

    x = items.apply(pd.to_numeric, errors="coerce")
    n_imputed = int(x.isna().sum().sum())
    x = x.fillna(x.mean())
    with warnings.catch_warnings():
        # factor_analyzer warns when it falls back to a pseudo-inverse; the KMO stays defined
        warnings.simplefilter("ignore", UserWarning)
        kmo_items, kmo_overall = calculate_kmo(x)
    chi2, p = calculate_bartlett_sphericity(x)
    k = x.shape[1]
    eigen, vectors = np.linalg.eigh(np.corrcoef(x.to_numpy(), rowvar=False))
    order = np.argsort(eigen)[::-1]
    eigen, vectors = eigen[order], vectors[:, order]
    rule = "given"
    if n_factors is None:
        n_factors, rule = max(1, int((eigen > 1).sum())), "eigenvalue > 1"
    # Principal-component loadings straight from the eigendecomposition (SPSS's extraction):
    # FactorAnalyzer.fit of factor_analyzer 0.5.1 passes an argument scikit-learn >= 1.8 no
    # longer accepts, while its Rotator (varimax with Kaiser normalization) needs no
    # scikit-learn.
    unrotated = vectors[:, :n_factors] * np.sqrt(eigen[:n_factors])
    rotated = (Rotator(method=rotation).fit_transform(unrotated) if n_factors > 1
               else unrotated)
    rotated = rotated * np.where(rotated.sum(axis=0) < 0, -1.0, 1.0)  # mostly positive
    # factors in the order of the variance they explain after rotation, as SPSS lists them
    rotated = rotated[:, np.argsort((rotated**2).sum(axis=0))[::-1]]
    names = [f"F{j + 1}" for j in range(n_factors)]
    loadings = pd.DataFrame(rotated, index=x.columns, columns=names)
    loadings["communality"] = (loadings[names] ** 2).sum(axis=1)
    loadings["factor"] = loadings[names].abs().idxmax(axis=1)
    loadings = loadings.rename_axis("item").reset_index()
    ss = (rotated**2).sum(axis=0)
    variance = pd.DataFrame({"factor": names, "ss_loadings": ss, "variance_share": ss / k,
                             "cumulative_share": np.cumsum(ss) / k})
    eigenvalues = pd.DataFrame({"component": np.arange(1, k + 1), "eigenvalue": eigen,
                                "variance_share": eigen / k,
                                "cumulative_share": np.cumsum(eigen) / k})
    return EFAResult(
        kmo_overall=float(kmo_overall),
        kmo_items=pd.DataFrame({"item": x.columns, "kmo": kmo_items}),
        bartlett_chi2=float(chi2), bartlett_df=k * (k - 1) / 2, bartlett_p=float(p),
        eigenvalues=eigenvalues, loadings=loadings, variance=variance,
        n_factors=int(n_factors), rule=rule, n_imputed=n_imputed,
    )


def scree_figure(efa: EFAResult, dimensions: int | None = None):
    """A scree plot (matplotlib ``Figure``): eigenvalues by component, the line at 1.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> x = pd.DataFrame(np.random.default_rng(1).normal(size=(50, 4)), columns=list("abcd"))
    >>> scree_figure(exploratory_factor_analysis(x)).axes[0].get_ylabel()
    'eigenvalue'
    """
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(6.5, 3.4))
    ax = fig.subplots()
    ev = efa.eigenvalues
    ax.plot(ev["component"], ev["eigenvalue"], "o-", ms=3.5)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--", label="eigenvalue 1")
    ax.axvline(efa.n_factors + 0.5, color="C3", lw=0.8,
               label=f"{efa.n_factors} factors ({efa.rule})")
    if dimensions is not None and dimensions != efa.n_factors:
        ax.axvline(dimensions + 0.5, color="C2", lw=0.8, ls=":",
                   label=f"{dimensions} questionnaire dimensions")
    ax.set_xlabel("component")
    ax.set_ylabel("eigenvalue")
    ax.legend(fontsize=8)
    return fig
