"""Data larger than memory: fits from a Dask DataFrame's statistics, computed on the cluster.

The population is lavaan's ML solution of PoliticalDemocracy (its implied mean vector and
covariance matrix, ``tests/data/PoliticalDemocracy_implied.json``); rows are drawn from it with
fixed seeds, and two blocks of rows lose answers, so there are three missingness patterns.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, POLITICAL_DEMOCRACY

import bayes_rent as br
from bayes_rent.data import distributed
from bayes_rent.data.distributed import DaskData, dask_statistics
from bayes_rent.data.observed import check_data, moments
from bayes_rent.errors import DataError, DataWarning, OptionError
from bayes_rent.spec.partable import build_partable
from bayes_rent.validation import validate_dask_data, validate_fit_request

dd = pytest.importorskip("dask.dataframe")
dask = pytest.importorskip("dask")

# the fits here are short on purpose: they compare routes, not report estimates
pytestmark = pytest.mark.filterwarnings("ignore::bayes_rent.ConvergenceWarning")

SMALL = "ind60 =~ x1 + x2 + x3\ndem60 =~ y1 + y2 + y3 + y4\ndem60 ~ ind60"
QUICK = dict(draws=60, tune=60, chains=2, seed=11, progressbar=False)


def population() -> tuple[list[str], np.ndarray, np.ndarray]:
    implied = json.loads((DATA / "PoliticalDemocracy_implied.json").read_text())["implied"]
    names = implied["cov"]["rownames"]
    mean = np.array(implied["mean"]["values"], dtype=float)
    return names, mean, np.array(implied["cov"]["values"], dtype=float)


def simulate(n: int, seed: int, missing: bool = True) -> pd.DataFrame:
    """n rows from the population; y1 missing in 15 % of rows, x2 and x3 in 10 % more."""
    names, mean, cov = population()
    rng = np.random.default_rng(seed)
    y = rng.multivariate_normal(mean, cov, size=n, method="cholesky")
    if missing:
        u = rng.random(n)
        y[u < 0.15, names.index("y1")] = np.nan
        rows = np.flatnonzero((u >= 0.15) & (u < 0.25))
        y[np.ix_(rows, [names.index("x2"), names.index("x3")])] = np.nan
    return pd.DataFrame(y, columns=names)


@pytest.fixture(autouse=True)
def _threads():
    # the local threaded scheduler unless a test starts its own cluster
    with dask.config.set(scheduler="threads", num_workers=2):
        yield


def _covariances(m) -> np.ndarray:
    # the factors' eigenvector signs are arbitrary; their products are the statistics
    return np.einsum("kij,klj->kil", m.factor, m.factor)


# ------------------------------------------------------------------ (a) the statistics
def test_statistics_at_a_million_rows_equal_numpy_and_pandas():
    """Dask's per-partition centred sums, merged up a tree, give NumPy's statistics.

    Tolerance: both sides compute in float64 from the same numbers; the merge (Chan et al.)
    is backward stable, so the differences are a few units of rounding (~1e-15 relative,
    measured ~1e-14) grown by the tree's depth and the means-to-spread ratio (< 10 here).
    rtol 1e-10 leaves four orders of magnitude for that and is still a million times below
    any change of the data that a fit could notice.
    """
    frame = simulate(1_000_000, seed=20261207)
    names = list(frame.columns)
    ddf = dd.from_pandas(frame, npartitions=24)
    summary = dask_statistics(ddf, names)
    rows = DaskData(ddf, summary)
    expected = moments(check_data(frame, names))
    got = rows.observed_moments
    assert got.n.tolist() == expected.n.tolist() and len(got.n) == 3
    assert got.mask.tolist() == expected.mask.tolist()
    assert got.n_total == expected.n_total == 1_000_000
    np.testing.assert_allclose(got.mean, expected.mean, rtol=1e-10, atol=0)
    np.testing.assert_allclose(_covariances(got), _covariances(expected), rtol=1e-10,
                               atol=1e-12)
    # what the route asks of a frame (marker checks, start values): pandas' pairwise numbers
    np.testing.assert_allclose(rows.mean(), frame.mean(), rtol=1e-10)
    np.testing.assert_allclose(rows.cov(), frame.cov(), rtol=1e-10)
    np.testing.assert_allclose(rows.corr(), frame.corr(), rtol=1e-10)
    assert len(rows) == len(frame) and rows.notna().any(axis=1).sum() == 1_000_000
    # the checks came with them: per column answers, smallest and largest
    np.testing.assert_array_equal(summary.count[None], frame.notna().sum().to_numpy())
    np.testing.assert_array_equal(summary.low[None], frame.min().to_numpy())
    np.testing.assert_array_equal(summary.high[None], frame.max().to_numpy())


def test_statistics_per_group_and_after_missing_codes():
    frame = simulate(20_000, seed=3).assign(
        region=np.random.default_rng(4).choice(["south", "north", "west"], 20_000))
    frame.loc[::97, "y3"] = -99.0
    ddf = dd.from_pandas(frame, npartitions=5)
    rows = validate_dask_data(ddf, list(frame.columns[:-1]), group="region",
                              missing_codes=[-99])
    clean = frame.replace(-99.0, np.nan)
    assert rows.group_names == list(pd.unique(frame["region"]))
    for name in rows.group_names:
        part = clean.loc[clean["region"] == name].drop(columns="region")
        expected = moments(check_data(part, list(part.columns)))
        got = rows.group_rows(name).observed_moments
        assert got.n.tolist() == expected.n.tolist()
        np.testing.assert_allclose(got.mean, expected.mean, rtol=1e-10)
        np.testing.assert_allclose(_covariances(got), _covariances(expected), rtol=1e-10,
                                   atol=1e-12)


def test_statistics_through_a_local_distributed_cluster():
    distributed_ = pytest.importorskip("distributed")
    frame = simulate(50_000, seed=8)
    # a real scheduler and two workers on 127.0.0.1 (TCP), in this process
    with distributed_.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                   protocol="tcp://", host="127.0.0.1",
                                   dashboard_address=None) as cluster, \
            distributed_.Client(cluster) as client:
        assert client.scheduler_info()["address"].startswith("tcp://127.0.0.1:")
        ddf = dd.from_pandas(frame, npartitions=6)
        got = DaskData(ddf, dask_statistics(ddf, list(frame.columns))).observed_moments
        # the partitions were summarized and merged by the cluster's workers
        assert cluster.scheduler.transition_counter > 0
        # task prefixes, not groups: a group is dropped once its tasks are forgotten, which
        # can happen before this line runs; prefixes stay for the scheduler's lifetime
        assert {"summarize", "merge"} <= set(cluster.scheduler.task_prefixes)
        fit = br.sem(SMALL, ddf, **QUICK)
    expected = moments(check_data(frame, list(frame.columns)))
    np.testing.assert_allclose(got.mean, expected.mean, rtol=1e-10)
    np.testing.assert_allclose(_covariances(got), _covariances(expected), rtol=1e-10,
                               atol=1e-12)
    assert fit.settings["density"] == "generic" and fit.moments.n_total == 50_000


# ------------------------------------------------------------------ (b) the fits
def test_one_partition_gives_the_pandas_fit_bit_for_bit():
    """One partition: the statistics are computed as from the rows in memory, bit for bit,
    so the whole route (checks, start values, sampling) gives the very same draws."""
    frame = simulate(3_000, seed=5, missing=False)
    a = br.sem(POLITICAL_DEMOCRACY, frame, **QUICK)
    b = br.sem(POLITICAL_DEMOCRACY, dd.from_pandas(frame, npartitions=1), **QUICK)
    assert b.settings["density"] == "generic"
    np.testing.assert_array_equal(b.idata.posterior["parameters"].values,
                                  a.idata.posterior["parameters"].values)
    pd.testing.assert_frame_equal(b.summary(), a.summary())


def test_group_fit_from_one_partition_equals_pandas():
    frame = simulate(2_000, seed=6, missing=False).assign(
        school=np.random.default_rng(7).choice(["b", "a"], 2_000))
    a = br.sem(SMALL, frame, group="school", **QUICK)
    b = br.sem(SMALL, dd.from_pandas(frame, npartitions=1), group="school", **QUICK)
    # lavaan's order: first appearance in the data
    assert b.group_names == a.group_names == list(pd.unique(frame["school"]))
    np.testing.assert_array_equal(b.idata.posterior["parameters"].values,
                                  a.idata.posterior["parameters"].values)
    pd.testing.assert_frame_equal(b.standardized(), a.standardized())


def test_many_partitions_with_missing_answers_give_the_same_posterior():
    """Several partitions: the statistics differ from NumPy's by rounding only (~1e-15), but
    NUTS is chaotic in its inputs, and such a difference changes the draws themselves within
    the warm-up (measured: 30 % at the first kept draw). So the posteriors are compared:
    every posterior mean within 5 Monte Carlo standard errors of the difference."""
    frame = simulate(5_000, seed=9)
    options = dict(QUICK, draws=400, tune=300)
    a = br.sem(POLITICAL_DEMOCRACY, frame, **options).summary()
    b = br.sem(POLITICAL_DEMOCRACY, dd.from_pandas(frame, npartitions=7), **options).summary()
    free = a["free"].to_numpy(dtype=bool)
    a, b = a.loc[free], b.loc[free]
    mcse = np.sqrt(a["sd"] ** 2 / a["ess_bulk"] + b["sd"] ** 2 / b["ess_bulk"])
    assert (np.abs(a["mean"] - b["mean"]) < 5 * mcse).all(), (a["mean"] - b["mean"]) / mcse


# ------------------------------------------------------------------ (c) refusals
@pytest.fixture
def no_compile(monkeypatch):
    """Fail if a fit gets past validation (no backend chosen, nothing compiled)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the request got past validation")

    monkeypatch.setattr("bayes_rent.model.choose_backend", refuse)


@pytest.fixture(scope="module")
def small_ddf():
    return dd.from_pandas(simulate(400, seed=12), npartitions=3)


@pytest.mark.parametrize(("syntax", "options", "error", "fragment"), [
    (SMALL, dict(ordered=True), OptionError, "ordinal items"),
    ("f =~ x1 + x2 + x3\nx1 | t1", {}, OptionError, "ordinal items"),
    (SMALL, dict(cluster="x1"), OptionError, "cluster= with a Dask DataFrame"),
    ("level: 1\nf =~ y1 + y2 + y3\nlevel: 2\nf =~ y1 + y2 + y3", dict(cluster="x1"),
     DataError, "two-level model"),
    (SMALL, dict(group=np.zeros(400)), OptionError, "must name a column"),
    (SMALL, dict(group="school"), DataError, "group column 'school' is not in the data"),
    ("f =~ x1 + x2 + xx3", {}, DataError, "did you mean"),
])
def test_refused_before_anything_compiles(no_compile, small_ddf, syntax, options, error,
                                          fragment):
    with pytest.raises(error, match=fragment):
        br.sem(syntax, small_ddf, **QUICK, **options)


def test_scattered_missingness_is_refused(no_compile):
    frame = simulate(60, seed=13, missing=False)
    frame = frame.mask(np.random.default_rng(14).random(frame.shape) < 0.3)
    with pytest.raises(DataError, match=r"scattered over \d+ missingness patterns.*dropna"):
        br.sem(SMALL, dd.from_pandas(frame, npartitions=2), **QUICK)


def test_too_many_patterns_stop_the_pass(no_compile, monkeypatch):
    monkeypatch.setattr(distributed, "MAX_PATTERNS", 2)
    frame = simulate(2_000, seed=15)
    with pytest.raises(DataError, match="missingness patterns.*complete cases"):
        br.sem(SMALL, dd.from_pandas(frame, npartitions=4), **QUICK)


def test_bad_values_are_found_in_the_pass(no_compile):
    frame = simulate(300, seed=16)
    frame.loc[[7, 250], "y2"] = np.inf
    frame["x3"] = 4.0
    frame = frame.set_index(pd.RangeIndex(1, 301))
    ddf = dd.from_pandas(frame, npartitions=3)
    with pytest.raises(DataError) as err:
        br.sem(SMALL, ddf, **QUICK)
    assert "column 'y2' holds infinite values at row(s) [8, 251]" in str(err.value)
    frame.loc[[8, 251], "y2"] = 1.0
    with pytest.raises(DataError, match="'x3' is constant"):
        br.sem(SMALL, dd.from_pandas(frame, npartitions=3), **QUICK)


def test_scale_text_columns_and_group_gaps():
    pt = build_partable(SMALL)
    frame = simulate(200, seed=17).round()
    frame.loc[5, "y4"] = 42.0
    with pytest.raises(DataError, match=r"'y4' has answers \['42'\] outside its -20-20 scale"):
        validate_fit_request(pt, dd.from_pandas(frame, npartitions=2), scale=(-20, 20))
    text = frame.assign(y2=frame["y2"].astype(str))
    with pytest.raises(DataError, match=r"'y2' \(.*\) are not numeric.*to_numeric"):
        validate_fit_request(pt, dd.from_pandas(text, npartitions=2))
    gaps = frame.assign(region=["a", None] * 100)
    with pytest.raises(DataError, match="group column 'region' has missing values"):
        validate_fit_request(pt, dd.from_pandas(gaps, npartitions=2), group="region")


def test_per_respondent_results_say_why_they_are_refused(small_ddf):
    fit = br.sem(SMALL, small_ddf, **QUICK)
    # what needs only the draws and the statistics works as for a pandas frame
    assert fit.summary()["mean"].notna().all() and fit.r2()["mean"].notna().all()
    assert "400 respondents" in repr(fit) and "Latent Variables" in fit.report()
    for result in (fit.loo, fit.waic, fit.log_likelihood, fit.scores, fit.reliability):
        with pytest.raises(DataError, match="stayed on the cluster.*pandas DataFrame"):
            result()


def test_the_package_works_without_dask():
    code = (
        "import sys\n"
        "for name in ('dask', 'dask.dataframe', 'distributed'):\n"
        "    sys.modules[name] = None  # an import of them fails\n"
        "import pandas as pd, bayes_rent as br\n"
        "from bayes_rent.spec.partable import build_partable\n"
        "from bayes_rent.validation import validate_fit_request\n"
        "d = br.datasets.political_democracy()\n"
        "assert validate_fit_request(build_partable('f =~ x1 + x2 + x3'), d) is None\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.stdout.strip() == "ok", out.stderr


def test_undeclared_codes_warn_as_for_a_pandas_frame():
    rng = np.random.default_rng(18)
    frame = pd.DataFrame(rng.integers(1, 6, (500, 11)).astype(float),
                         columns=population()[0])
    frame.loc[[3, 50, 420], "y2"] = -99.0
    frame.loc[7, "x1"] = 9.0
    frame.loc[11, "y4"] = 99.0  # declared below: no warning
    pt = build_partable(SMALL)
    with pytest.warns(DataWarning) as pandas_warnings:
        validate_fit_request(pt, frame, missing_codes=[99])
    with pytest.warns(DataWarning) as dask_warnings:
        validate_fit_request(pt, dd.from_pandas(frame, npartitions=3), missing_codes=[99])
    messages = sorted(str(w.message) for w in dask_warnings)
    assert messages == sorted(str(w.message) for w in pandas_warnings)
    assert len(messages) == 2 and "'y2' holds -99 at row(s) [3, 50, 420]" in messages[1]
