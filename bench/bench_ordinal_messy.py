"""Ordinal defaults on a messy Likert survey: 25 five-point items, 5 factors, N = 2 800.

The population has what real surveys have and the fitted model leaves out:

* cross-loadings: five items (one per factor) also load on a second factor, standardized
  0.2–0.3 on the latent-response scale;
* residual correlations: four item pairs at 0.20–0.30 (two within a factor, two across);
* skewed items: eight items with 0.4 % of answers in the lowest category, and five items with
  an empty extreme category (nobody chose 1 on three of them, nobody chose 5 on two).

The analysis model is the simple structure (each item on its own factor, the path f5 ~ f1,
no cross-loadings, no residual correlations), fitted with the package's ordinal defaults and
nothing else: ``Model(syntax).fit(data, ordered=True, seed=...)``. Per seed (data and sampler
share it) the script prints N, the wall time of ``Model.fit``, max R-hat and min bulk ESS over
the parameter-table rows, divergences, pass (R-hat <= 1.01, bulk ESS >= 400, no divergences,
``fit.convergence.converged``), the load average before and after, and the largest |z| of the
standardized loadings of the twelve items the misspecification does not touch against their
population values. A failing seed lists its worst parameters. ``--draws``, ``--tune``,
``--chains`` and ``--target-accept`` replace the defaults, to measure an alternative on the
same seeds.

Usage::

    nice -n 15 python bench/bench_ordinal_messy.py --seeds 1 2 3 4 5 6 7 8 9 10
    nice -n 15 python bench/bench_ordinal_messy.py --seeds 3 7 --draws 2000
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd
from scipy import stats

import bayes_rent as br
from bayes_rent.data.population import population_values, simulate_ordinal_data
from bayes_rent.spec.implied import implied_from_matrices
from bayes_rent.spec.layout import build_layout

FACTORS = 5
ITEMS = 5
MAIN_LOADINGS = [1.0, 0.8, 1.2, 0.9, 1.1]
#: item -> (second factor, loading); theta scale, standardized 0.2–0.3 (``standardized_loadings``)
CROSS_LOADINGS = {"y4": ("f2", 0.4), "y9": ("f3", 0.35), "y14": ("f4", 0.4),
                  "y19": ("f5", 0.35), "y24": ("f1", 0.4)}
#: residual covariances; residual variances are 1, so these are the residual correlations
RESIDUAL_COVARIANCES = {("y2", "y3"): 0.25, ("y7", "y13"): 0.2, ("y17", "y18"): 0.3,
                        ("y22", "y23"): 0.25}
#: category shares 1..5 (0 = nobody chooses it)
SHARES = {
    "typical": (0.04, 0.16, 0.40, 0.28, 0.12),
    "skewed": (0.004, 0.016, 0.10, 0.45, 0.43),
    "empty_low": (0.0, 0.02, 0.12, 0.46, 0.40),
    "empty_high": (0.15, 0.40, 0.37, 0.08, 0.0),
}
ITEM_SHAPES = {
    **{f"y{k}": "skewed" for k in (1, 6, 10, 14, 16, 19, 23, 25)},
    **{f"y{k}": "empty_low" for k in (3, 12, 21)},
    **{f"y{k}": "empty_high" for k in (8, 17)},
}
ITEM_NAMES = [f"y{k}" for k in range(1, FACTORS * ITEMS + 1)]


def _factor(item: str) -> str:
    return f"f{(int(item[1:]) - 1) // ITEMS + 1}"


#: items with neither a cross-loading nor a residual correlation
CLEAN_ITEMS = [v for v in ITEM_NAMES if v not in CROSS_LOADINGS
               and not any(v in pair for pair in RESIDUAL_COVARIANCES)]


def population() -> str:
    """The population model: simple structure plus the cross-loadings and residual covariances."""
    lines = []
    for f in range(1, FACTORS + 1):
        terms = [f"{lam}*y{(f - 1) * ITEMS + k + 1}" for k, lam in enumerate(MAIN_LOADINGS)]
        terms += [f"{lam}*{item}" for item, (g, lam) in CROSS_LOADINGS.items() if g == f"f{f}"]
        lines.append(f"f{f} =~ " + " + ".join(terms))
    lines.append("f5 ~ 0.5*f1")
    for f in range(1, FACTORS):
        lines.append(f"f{f} ~~ 1*f{f}")
        lines += [f"f{f} ~~ 0.3*f{g}" for g in range(f + 1, FACTORS)]
    lines.append("f5 ~~ 0.75*f5")
    lines += [f"{a} ~~ {r}*{b}" for (a, b), r in RESIDUAL_COVARIANCES.items()]
    return "\n".join(lines)


def analysis() -> str:
    """The fitted model: simple structure and the path, nothing of the misspecification."""
    lines = [
        f"f{f} =~ " + " + ".join(f"y{(f - 1) * ITEMS + k + 1}" for k in range(ITEMS))
        for f in range(1, FACTORS + 1)
    ]
    return "\n".join(lines + ["f5 ~ f1"])


def _population_moments(syntax: str):
    table = population_values(syntax)
    layout = build_layout(table)
    mats = layout.matrices(table["value"].fillna(0.0).to_numpy())
    return table, layout, mats, implied_from_matrices(mats)


def thresholds(syntax: str | None = None) -> dict[str, list[float]]:
    """Per-item cut points on the latent-response scale that give the items' category shares.

    An empty category gets an infinite cut point, so nobody answers it at any N.
    """
    syntax = population() if syntax is None else syntax
    _, layout, _, implied = _population_moments(syntax)
    sd = np.sqrt(np.diag(implied.sigma))
    out = {}
    for i, item in enumerate(layout.observed):
        cum = np.cumsum(SHARES[ITEM_SHAPES.get(item, "typical")])[:-1]
        out[item] = (sd[i] * stats.norm.ppf(np.clip(cum, 0.0, 1.0))).tolist()
    return out


def empty_categories() -> dict[str, int]:
    """Items with an empty extreme category -> the thresholds the fit can have (3, not 4)."""
    return {item: sum(s > 0 for s in SHARES[shape]) - 1 for item, shape in ITEM_SHAPES.items()
            if 0.0 in SHARES[shape]}


def simulate(n: int, seed: int) -> pd.DataFrame:
    """A messy survey of ``n`` respondents (answers 1..5) from :func:`population`."""
    return simulate_ordinal_data(population(), n, thresholds(), seed=seed)


def standardized_loadings(syntax: str | None = None) -> pd.Series:
    """Population std_all loadings (latent-response scale), indexed by (factor, '=~', item)."""
    syntax = population() if syntax is None else syntax
    table, layout, mats, implied = _population_moments(syntax)
    a = np.linalg.inv(np.eye(layout.n_latent) - mats["B"])
    sd_lat = np.sqrt(np.diag(a @ mats["Psi"] @ a.T))
    sd_obs = np.sqrt(np.diag(implied.sigma))
    out = {}
    for r in table.loc[table["op"] == "=~"].itertuples():
        i, j = layout.observed.index(r.rhs), layout.latent.index(r.lhs)
        out[(r.lhs, r.op, r.rhs)] = r.value * sd_lat[j] / sd_obs[i]
    return pd.Series(out)


def clean_loading_z(fit) -> pd.Series:
    """(posterior mean - population) / posterior SD of the clean items' std_all loadings."""
    truth = standardized_loadings().loc[[(_factor(v), "=~", v) for v in CLEAN_ITEMS]]
    s = fit.standardized().set_index(["lhs", "op", "rhs"]).loc[truth.index]
    return (s["mean"] - truth) / s["sd"]


def slowest(convergence, n: int = 3) -> str:
    """The ``n`` parameters with the lowest bulk ESS, with their R-hat, on one line."""
    rows = convergence.worst.sort_values("ess_bulk").head(n)
    return "; ".join(f"{name} (R-hat {r.r_hat:.4f}, ESS {r.ess_bulk:.0f})"
                     for name, r in rows.iterrows())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    parser.add_argument("--n", type=int, default=2800)
    parser.add_argument("--draws", type=int, help="default: the package's")
    parser.add_argument("--tune", type=int, help="default: the package's")
    parser.add_argument("--chains", type=int, help="default: the package's")
    parser.add_argument("--target-accept", type=float, help="default: the package's")
    args = parser.parse_args()
    options = {k: v for k in ("draws", "tune", "chains", "target_accept")
               if (v := getattr(args, k)) is not None}

    cross = standardized_loadings().loc[[(g, "=~", v) for v, (g, _) in CROSS_LOADINGS.items()]]
    print(f"N = {args.n}, {FACTORS * ITEMS} items, {FACTORS} factors, {os.cpu_count()} cores; "
          f"options: {options or 'the package defaults'}")
    print(f"population: standardized cross-loadings {cross.min():.2f}-{cross.max():.2f}, "
          f"residual correlations {min(RESIDUAL_COVARIANCES.values()):.2f}-"
          f"{max(RESIDUAL_COVARIANCES.values()):.2f}, empty extreme category on "
          f"{', '.join(empty_categories())}")
    print(f"{'seed':>4} {'N':>5} {'settings':>18} {'total s':>8} {'CPU s':>6} {'max R-hat':>9} "
          f"{'min ESS':>8} {'diverg.':>7} {'pass':>5} {'clean |z|':>9} {'load':>10}", flush=True)
    for seed in args.seeds:
        data = simulate(args.n, seed)
        load = os.getloadavg()[0]
        start, cpu = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = br.Model(analysis()).fit(data, ordered=True, seed=seed, progressbar=False,
                                           **options)
        total, cpu = time.perf_counter() - start, time.process_time() - cpu
        c = fit.convergence
        ok = c.max_r_hat <= 1.01 and c.min_ess_bulk >= 400 and c.divergences == 0
        assert ok == c.converged or c.stuck_chains, "the bar differs from the package's"
        s = fit.settings
        run = f"{s['chains']}x({s['tune']}+{s['draws']}) {s['target_accept']}"
        z = clean_loading_z(fit).abs().max()
        print(f"{seed:4d} {args.n:5d} {run:>18} {total:8.0f} {cpu:6.0f} {c.max_r_hat:9.3f} "
              f"{c.min_ess_bulk:8.0f} {c.divergences:7d} {'yes' if c.converged else 'no':>5} "
              f"{z:9.2f} {load:4.1f}-{os.getloadavg()[0]:4.1f}", flush=True)
        print("     slowest: " + slowest(c), flush=True)


if __name__ == "__main__":
    main()
