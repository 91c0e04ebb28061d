"""Wall time of ``bayes-rent study`` per step, quick and full; recovery of the true paths.

Runs the study on the shipped simulated cluster survey twice — ``--quick`` (2 chains × (200 +
200) draws per model) and with the package's default sampling — writes each report, and prints
the wall time of every step and of writing the report. For the full study it then checks the
full model's structural paths against the values that generated the data
(``br.datasets.cluster_survey_truth()``): the generating model is on the latent-response scale
with unit-variance exogenous constructs, the fitted model on the marker scale of 5-point
answers, so the comparison is made on the standardized (std.all) scale, where both agree up to
the discreteness of the answers. A true value inside the 90 % HDI counts as recovered.

Usage (from the repository root)::

    python bench/bench_study.py            # quick, then full
    python bench/bench_study.py --quick    # quick only
    python bench/bench_study.py --full     # full only
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_rent as br
from bayes_rent.study import STEPS

EXOGENOUS = ["RE", "SE", "NC", "AC"]


def true_standardized_paths(data: pd.DataFrame) -> pd.Series:
    """The generating structural paths on the std.all scale, by label (``a_re`` ... ``c_ac``).

    The variances are those of the firms pooled over clusters, as the (single-level) full model
    sees them: within-cluster variance plus the cluster-intercept variance, and for IG also the
    variance of the covariate term, computed from the shipped covariates.
    """
    truth = br.datasets.cluster_survey_truth()
    within = truth.query("level == 'within'")
    cluster_var = truth.query("level == 'cluster' and op == '~~'").set_index("lhs")["value"]
    phi = pd.DataFrame(0.0, index=EXOGENOUS, columns=EXOGENOUS)
    for _, row in within.query("op == '~~' and lhs in @EXOGENOUS").iterrows():
        phi.loc[row["lhs"], row["rhs"]] = phi.loc[row["rhs"], row["lhs"]] = row["value"]
    phi += np.diag(cluster_var[EXOGENOUS])
    paths = within.query("op == '~'")
    a = paths.query("lhs == 'KR'").set_index("rhs")["value"].reindex(EXOGENOUS)
    c = paths.query("lhs == 'IG' and rhs in @EXOGENOUS").set_index("rhs")["value"]
    c = c.reindex(EXOGENOUS)
    b = float(paths.query("lhs == 'IG' and rhs == 'KR'")["value"].iloc[0])
    residual = within.query("op == '~~' and lhs == rhs").set_index("lhs")["value"]
    # joint covariance of (RE, SE, NC, AC, KR)
    cov = phi.copy()
    cov.loc["KR", EXOGENOUS] = cov.loc[EXOGENOUS, "KR"] = phi @ a
    cov.loc["KR", "KR"] = a @ phi @ a + residual["KR"] + cluster_var["KR"]
    weights = pd.concat([c, pd.Series({"KR": b})])
    covariates = paths.query("lhs == 'IG' and rhs not in @EXOGENOUS and rhs != 'KR'")
    term = pd.Series(0.0, index=data.index)
    for _, row in covariates.iterrows():
        name = row["rhs"]
        if name.startswith("industry_"):
            column = (data["industry"] == name.removeprefix("industry_")).astype(float)
        else:
            column = pd.to_numeric(data[name])
        term += row["value"] * column
    var_ig = (weights @ cov.loc[weights.index, weights.index] @ weights
              + residual["IG"] + cluster_var["IG"] + term.var())
    sd = {**{k: np.sqrt(cov.loc[k, k]) for k in [*EXOGENOUS, "KR"]}, "IG": np.sqrt(var_ig)}
    out = {}
    for _, row in paths.query("rhs in @EXOGENOUS or rhs == 'KR'").iterrows():
        out[row["label"]] = row["value"] * sd[row["rhs"]] / sd[row["lhs"]]
    return pd.Series(out, name="true_std")


def recovery(study) -> pd.DataFrame:
    """The full model's standardized paths beside the true ones, and whether each is covered."""
    std = study.fits["full_model"].standardized(hdi_prob=0.9)
    std = std.loc[std["op"] == "~"].set_index("label")
    true = true_standardized_paths(study.survey.data)
    table = std[["lhs", "rhs", "mean", "hdi_low", "hdi_high"]].join(true, how="inner")
    table["recovered"] = (table["hdi_low"] <= table["true_std"]) & (
        table["true_std"] <= table["hdi_high"])
    return table


def run(quick: bool, seed: int = 1) -> None:
    label = "quick" if quick else "full"
    start = time.perf_counter()
    study = br.run_study(quick=quick, seed=seed, progress=False)
    fitted = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        br.report(study, Path(folder) / "report")
        written = time.perf_counter() - t0
    print(f"\n== study ({label}), seed {seed}: {fitted + written:.0f} s in all")
    for key, seconds in study.timings.items():
        print(f"  {STEPS[key]:<45} {seconds:7.1f} s")
    print(f"  {'writing the report':<45} {written:7.1f} s")
    print("  converged:", "all models" if study.converged else
          f"NOT {', '.join(study.unconverged())}")
    if not quick:
        table = recovery(study)
        print("\n  full model, structural paths (std.all) against the generating values:")
        print(table.round(3).to_string())
        print(f"  recovered within the 90 % HDI: {int(table['recovered'].sum())} of {len(table)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the quick study")
    parser.add_argument("--full", action="store_true", help="only the full study")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not args.full:
        run(quick=True, seed=args.seed)
    if not args.quick:
        run(quick=False, seed=args.seed)


if __name__ == "__main__":
    main()
