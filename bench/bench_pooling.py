"""Clustered firms: recovery of the between-cluster SD, and pooling of structural paths.

Run from the repository root (2 chains per fit; ``--replicates`` sets the study size)::

    nice -n 10 /work/venv/bin/python bench/bench_pooling.py --replicates 10
    nice -n 10 /work/venv/bin/python bench/bench_pooling.py --part sd --replicates 20 \
        --cluster-prior "halfnormal(1)"

Data: the three-construct model of ``tests/test_clustered.py`` (X → M → Y with a direct X → Y,
three items each), 8 clusters of 15, 20, 25, 35, 45, 55, 65 and 80 firms (340 firms), simulated
with :func:`bayes_rent.data.population.simulate_clustered_data`, seed ``1000 + replicate``.

Part 1, ``sd``: random intercepts with a true between-cluster SD of 0.5 (``--truth``) for every
latent. The clustered model (``Model.fit(..., cluster=...)``) is fitted to
each replicate; reported: how many 90 % HDIs of ``cluster_sd`` cover the truth, the posterior
means, and the non-centred against the centred parameterization (min bulk ESS of the cluster
variables per second of a warm fit, divergences) on the first replicates.

Part 2, ``paths``: random intercepts (SD 0.3) and random paths (SD 0.25 around 0.5, 0.4, 0.2).
Three estimates of every cluster's three paths, side by side:

* partial pooling: one clustered fit with ``random_paths=True`` (B_c = B + δ_c);
* no pooling: ``br.Model(syntax).fit(cluster_subset)`` for each cluster alone;
* complete pooling: ``br.Model(syntax).fit(all firms)``, one B for every cluster.

Reported: RMSE of the posterior-mean paths against the clusters' true paths, for the three
small clusters (15-25 firms) and for all eight, and the coverage of the partial-pooling 90 % HDIs.
Every fit of one structure after the first reuses the compiled model (nutpie, new ``pm.Data``).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import arviz as az
import numpy as np
import pandas as pd

sys.path.insert(0, "tests")
from test_clustered import ANALYSIS, POPULATION, SIZES  # noqa: E402

import bayes_rent as br  # noqa: E402
from bayes_rent.data.population import simulate_clustered_data  # noqa: E402

warnings.simplefilter("ignore")
SMALL = ["c1", "c2", "c3"]  # 15, 20, 25 firms


def fit_clustered(syntax: str, data: pd.DataFrame, cluster: str, **kwargs):
    """The clustered model, fitted through ``Model.fit``."""
    return br.Model(syntax).fit(data, cluster=cluster, **kwargs)


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def part_sd(replicates: int, draws: int, centred_reps: int, prior: str, truth: float) -> None:
    print(f"\n## Between-cluster SD (truth {truth}, prior {prior}), {replicates} replicates\n")
    rows, timing, param = [], [], []
    # compile both forms first, so every timing below is a warm fit (sampling + post-processing)
    warm = simulate_clustered_data(POPULATION, SIZES, truth, seed=999).data
    for centred in (False, True) if centred_reps else (False,):
        _, secs = _timed(fit_clustered, ANALYSIS, warm, "cluster", draws=20, tune=20, chains=2,
                         progressbar=False, cluster_options=dict(centred=centred,
                                                                 cluster_prior=prior))
        print(f"first fit ({'centred' if centred else 'non-centred'}, compiles): {secs:.1f} s")
    for rep in range(replicates):
        sim = simulate_clustered_data(POPULATION, SIZES, truth, seed=1000 + rep)
        variants = [False, True] if rep < centred_reps else [False]
        for centred in variants:
            cfit, secs = _timed(fit_clustered, ANALYSIS, sim.data, "cluster", seed=rep,
                                draws=draws, tune=draws, chains=2, progressbar=False,
                                cluster_options=dict(centred=centred, cluster_prior=prior))
            post = cfit.idata.posterior
            div = int(cfit.idata.sample_stats["diverging"].sum())
            ess = az.ess(post, var_names=["cluster_sd", "cluster_effects"])
            min_ess = min(float(ess[v].min()) for v in ess.data_vars)
            param.append(dict(rep=rep, form="centred" if centred else "non-centred",
                              seconds=secs, min_ess=min_ess, divergences=div,
                              max_rhat=float(az.rhat(post, var_names=["cluster_sd"])[
                                  "cluster_sd"].max())))
            if centred:
                continue
            timing.append(secs)
            s = az.summary(post, var_names=["cluster_sd"], hdi_prob=0.9)
            for name, r in s.iterrows():
                rows.append(dict(rep=rep, latent=name[len("cluster_sd["):-1], mean=r["mean"],
                                 low=r["hdi_5%"], high=r["hdi_95%"],
                                 covered=r["hdi_5%"] <= truth <= r["hdi_95%"],
                                 realised=float(sim.effects[name[len("cluster_sd["):-1]].std(
                                     ddof=0))))
    df = pd.DataFrame(rows)
    per = df.groupby("latent").agg(covered=("covered", "sum"), mean=("mean", "mean"),
                                   realised_sd=("realised", "mean"))
    print(per.round(3).to_string())
    n, k = len(df), int(df["covered"].sum())
    from scipy import stats

    low, high = stats.binom.interval(0.95, n, 0.9)
    print(f"\ncoverage of 90% HDIs: {k}/{n} = {k / n:.2f} (95% binomial range for a nominal "
          f"90%: {low:.0f}-{high:.0f}); warm fit wall time: median {np.median(timing):.1f} s")
    p = pd.DataFrame(param)
    p["ess_per_s"] = p["min_ess"] / p["seconds"]
    print("\nnon-centred vs centred (min bulk ESS over cluster_sd and cluster_effects):\n")
    print(p.round(2).to_string(index=False))


def part_paths(replicates: int, draws: int) -> None:
    print(f"\n## Random paths: partial vs no vs complete pooling, {replicates} replicates\n")
    model = br.Model(ANALYSIS)
    errors, cover, times = [], [], {"partial": [], "none": [], "complete": []}
    for rep in range(replicates):
        sim = simulate_clustered_data(POPULATION, SIZES, 0.3, seed=1000 + rep, path_sd=0.25)
        truth = sim.paths
        cfit, secs = _timed(fit_clustered, ANALYSIS, sim.data, "cluster", random_paths=True,
                            seed=rep, draws=draws, tune=draws, chains=2, progressbar=False)
        times["partial"].append(secs)
        paths = cfit.cluster_results()["path"]
        partial = paths.mean(("chain", "draw")).to_pandas()
        hdi = az.hdi(paths, hdi_prob=0.9)["path"]
        inside = ((hdi.sel(hdi="lower").to_pandas() <= truth[partial.columns])
                  & (truth[partial.columns] <= hdi.sel(hdi="higher").to_pandas()))
        cover.append(inside.to_numpy())
        alone = {}
        for c in truth.index:
            fit, secs = _timed(model.fit, sim.data.loc[sim.data["cluster"] == c], seed=rep,
                               draws=draws, tune=draws, chains=2, progressbar=False)
            times["none"].append(secs)
            est = fit.summary().query("op == '~'")
            alone[c] = {f"{a}~{b}": m for a, b, m in est[["lhs", "rhs", "mean"]].itertuples(
                index=False)}
        none = pd.DataFrame(alone).T.loc[truth.index, partial.columns]
        fit, secs = _timed(model.fit, sim.data, seed=rep, draws=draws, tune=draws, chains=2,
                           progressbar=False)
        times["complete"].append(secs)
        est = fit.summary().query("op == '~'")
        pooled = pd.Series({f"{a}~{b}": m for a, b, m in est[["lhs", "rhs", "mean"]]
                            .itertuples(index=False)})[partial.columns]
        complete = pd.DataFrame([pooled] * len(truth), index=truth.index)
        for name, est_ in (("partial", partial), ("none", none), ("complete", complete)):
            err = (est_ - truth[partial.columns]).stack().rename("error").reset_index()
            err.columns = ["cluster", "path", "error"]
            errors.append(err.assign(rep=rep, method=name))
        print(f"replicate {rep}: done", flush=True)
    e = pd.concat(errors)
    e["size"] = np.where(e["cluster"].isin(SMALL), "small (15-25 firms)", "all")

    def rmse(x):
        return float(np.sqrt((x**2).mean()))

    small = e[e["cluster"].isin(SMALL)].groupby("method")["error"].agg(rmse)
    every = e.groupby("method")["error"].agg(rmse)
    per_rep = (e[e["cluster"].isin(SMALL)].groupby(["rep", "method"])["error"].agg(rmse)
               .unstack())
    # no-pooling posteriors of 15-25 firms have heavy tails; the median |error| shows whether
    # pooling wins beyond a few wild estimates
    small_mae = e[e["cluster"].isin(SMALL)].groupby("method")["error"].agg(
        lambda x: float(np.median(np.abs(x))))
    table = pd.DataFrame({"RMSE small clusters": small, "median |error| small": small_mae,
                          "RMSE all clusters": every,
                          "median fit s": {k: np.median(v) for k, v in times.items()}})
    print(table.loc[["partial", "none", "complete"]].round(3).to_string())
    wins = int((per_rep["partial"] < per_rep["none"]).sum())
    print(f"\nreplicates where partial pooling beats no pooling on the small clusters: "
          f"{wins}/{len(per_rep)}; ratio partial/none per replicate: "
          f"{(per_rep['partial'] / per_rep['none']).round(2).tolist()}")
    cov = np.concatenate([c.ravel() for c in cover])
    print(f"coverage of the partial-pooling 90% HDIs of the cluster paths: "
          f"{int(cov.sum())}/{cov.size} = {cov.mean():.2f}")
    print(f"first fits (with compile): partial {times['partial'][0]:.1f} s, "
          f"none {times['none'][0]:.1f} s")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicates", type=int, default=10)
    ap.add_argument("--draws", type=int, default=500, help="draws and tuning steps per chain")
    ap.add_argument("--centred-replicates", type=int, default=3)
    ap.add_argument("--part", choices=["sd", "paths", "all"], default="all")
    ap.add_argument("--cluster-prior", default="gamma(1,0.5)[sd]",
                    help="prior of the between-cluster SDs in part sd")
    ap.add_argument("--truth", type=float, default=0.5,
                    help="true between-cluster SD of every latent mean in part sd")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.part in ("sd", "all"):
        part_sd(args.replicates, args.draws, args.centred_replicates, args.cluster_prior,
                args.truth)
    if args.part in ("paths", "all"):
        part_paths(args.replicates, args.draws)
    print(f"\ntotal wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
