"""Convergence checks that speak loudly: R-hat, bulk ESS, divergences, and stuck chains.

A fit that has not converged is still returned (the user may want to look at it), but it
carries a :class:`ConvergenceWarning` naming the worst parameters, and the report is kept on the
fit as ``fit.convergence``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

RHAT_MAX = 1.01
ESS_MIN = 400


class ConvergenceWarning(UserWarning):
    """The sampler did not converge; the estimates should not be reported."""


@dataclass
class ConvergenceReport:
    """What the convergence checks found.

    Attributes
    ----------
    max_r_hat : float
    min_ess_bulk : float
    divergences : int
    worst : pandas.DataFrame
        The parameters with the largest R-hat or smallest ESS.
    stuck_chains : dict
        Chain index → parameters whose chain mean sits far from the other chains.
    settings : dict
        The run's ``draws``, ``tune``, ``chains`` and ``target_accept``, where known; the
        remedies are then given as numbers.
    """

    max_r_hat: float
    min_ess_bulk: float
    divergences: int
    worst: pd.DataFrame
    stuck_chains: dict[int, list[str]] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    @property
    def converged(self) -> bool:
        return (
            self.max_r_hat <= RHAT_MAX
            and self.min_ess_bulk >= ESS_MIN
            and self.divergences == 0
            and not self.stuck_chains
        )

    def remedies(self) -> list[str]:
        """What to try, one line per failed check, with numbers from the run's settings.

        Examples
        --------
        >>> report = ConvergenceReport(1.002, 250.0, 0, pd.DataFrame(),
        ...                            settings={"draws": 1000, "chains": 4})
        >>> report.remedies()
        ['bulk ESS 250 < 400: ESS grows with the draws; refit with draws=1920 (--draws 1920).']
        """
        draws, tune = self.settings.get("draws"), self.settings.get("tune")
        out = []
        if self.divergences:
            accept = self.settings.get("target_accept") or 0.8
            higher = 0.95 if accept < 0.95 else 0.99
            out.append(
                f"{self.divergences} divergent transitions: smaller steps usually remove them; "
                f"refit with target_accept={higher} (--target-accept {higher}). If they "
                "persist, the model is weakly identified where they occur (a variance near "
                "0, a hierarchical spread): give that parameter an informative prior."
            )
        if self.max_r_hat > RHAT_MAX or self.stuck_chains:
            longer = (f" (tune={2 * tune}, draws={2 * draws})" if tune and draws else "")
            out.append(
                f"R-hat {self.max_r_hat:.3f} > {RHAT_MAX}: the chains disagree; refit with a "
                f"longer warm-up and more draws{longer}. A chain stuck in another mode needs "
                "another seed, std_lv=True or informative priors on the loadings instead."
            )
        elif self.min_ess_bulk < ESS_MIN:
            if draws:
                need = int(math.ceil(draws * ESS_MIN / max(self.min_ess_bulk, 1.0) * 1.2 / 10)
                           * 10)
                out.append(
                    f"bulk ESS {self.min_ess_bulk:.0f} < {ESS_MIN}: ESS grows with the draws; "
                    f"refit with draws={need} (--draws {need})."
                )
            else:
                out.append(f"bulk ESS {self.min_ess_bulk:.0f} < {ESS_MIN}: refit with more "
                           "draws (ESS grows in proportion to them).")
        return out

    def message(self) -> str:
        lines = [
            f"The sampler did not converge: max R-hat {self.max_r_hat:.3f} (want <= {RHAT_MAX}), "
            f"min bulk ESS {self.min_ess_bulk:.0f} (want >= {ESS_MIN}), "
            f"{self.divergences} divergent transitions (want 0).",
        ]
        if len(self.worst):
            lines += ["Worst parameters:", self.worst.to_string()]
        for chain, names in self.stuck_chains.items():
            lines.append(
                f"Chain {chain} sits apart from the others in {', '.join(names[:6])}"
                + (" ..." if len(names) > 6 else "")
                + " — a chain trapped in another mode (for example a latent variance collapsed "
                "toward 0 with exploding loadings). Refit with more tuning, another seed, "
                "std_lv=True, or informative priors on the loadings."
            )
        lines += ["What to try:", *(f"  - {r}" for r in self.remedies())]
        lines.append("Do not report these estimates.")
        return "\n".join(lines)


def stuck_chains(draws: np.ndarray, names: list[str], z: float = 6.0) -> dict[int, list[str]]:
    """Chains whose mean is far from the other chains' for some parameter.

    A chain is flagged on a parameter when its mean is more than ``z`` pooled within-chain SDs
    away from the median of the other chains' means.

    Parameters
    ----------
    draws : numpy.ndarray
        Shape ``(chain, draw, parameter)``.
    names : list of str
        Parameter names.
    z : float
        Distance, in within-chain SDs, that counts as apart.

    Returns
    -------
    dict
        Chain index → names of the parameters it is apart on.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> d = rng.normal(size=(4, 500, 2)); d[2, :, 1] += 20
    >>> stuck_chains(d, ["a", "b"])
    {2: ['b']}
    """
    n_chain = draws.shape[0]
    if n_chain < 3:
        return {}
    means = draws.mean(axis=1)
    within = np.sqrt(draws.var(axis=1, ddof=1).mean(axis=0))
    out: dict[int, list[str]] = {}
    for c in range(n_chain):
        others = np.median(np.delete(means, c, axis=0), axis=0)
        far = np.abs(means[c] - others) > z * np.maximum(within, 1e-12)
        if far.any():
            out[c] = [names[k] for k in np.flatnonzero(far)]
    return out


def check_convergence(
    summary: pd.DataFrame, draws: np.ndarray, names: list[str], divergences: int,
    *, warn: bool = True, settings: dict | None = None,
) -> ConvergenceReport:
    """Check R-hat, ESS, divergences and stuck chains, and warn when any fails.

    Parameters
    ----------
    summary : pandas.DataFrame
        Summary of the free parameters with ``r_hat`` and ``ess_bulk`` columns, indexed by name.
    draws : numpy.ndarray
        Shape ``(chain, draw, parameter)`` of the same parameters.
    names : list of str
        Their names.
    divergences : int
        Number of divergent transitions after warm-up.
    warn : bool
        Issue a :class:`ConvergenceWarning` when the checks fail.
    settings : dict, optional
        The run's sampler settings, for the remedies (:meth:`ConvergenceReport.remedies`).

    Returns
    -------
    ConvergenceReport
    """
    r_hat = summary["r_hat"].astype(float)
    ess = summary["ess_bulk"].astype(float)
    worst_idx = list(dict.fromkeys(
        list(r_hat.sort_values(ascending=False).index[:5]) + list(ess.sort_values().index[:3])
    ))
    report = ConvergenceReport(
        max_r_hat=float(np.nanmax(r_hat)) if len(r_hat) else np.nan,
        min_ess_bulk=float(np.nanmin(ess)) if len(ess) else np.nan,
        divergences=int(divergences),
        worst=summary.loc[worst_idx, ["mean", "sd", "r_hat", "ess_bulk"]],
        stuck_chains=stuck_chains(draws, names),
        settings={k: v for k, v in (settings or {}).items()
                  if k in ("draws", "tune", "chains", "target_accept")},
    )
    if warn and not report.converged:
        warnings.warn(report.message(), ConvergenceWarning, stacklevel=3)
    return report
