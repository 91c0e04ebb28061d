"""The marginal backend without sampling: moments, likelihood, identification, data checks.

The strongest external check here: plugging lavaan's ML estimates for PoliticalDemocracy into
our layout and likelihood must reproduce lavaan's log-likelihood (``logl``) and the saturated
log-likelihood (``unrestricted.logl``) from ``tests/data/PoliticalDemocracy_sem_fit.json``.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytensor.tensor as pt
import pytest
from conftest import DATA, POLITICAL_DEMOCRACY
from scipy import stats

from bayes_rent.backend.marginal import pattern_loglik
from bayes_rent.backend.parameters import prior_groups
from bayes_rent.data.observed import DataError, check_data, moments, saturated_loglik
from bayes_rent.spec.identification import MarkerWarning, align_signs, check_markers
from bayes_rent.spec.implied import implied_moments
from bayes_rent.spec.layout import build_layout
from bayes_rent.spec.partable import build_partable
from bayes_rent.spec.priors import parse_prior, resolve_prior


def lavaan_elements(layout, estimates: pd.DataFrame) -> np.ndarray:
    """Element values (SDs, correlations) from lavaan's estimates of the same model."""
    est = {(r.lhs, r.op, r.rhs): r.est for r in estimates.itertuples()}
    pt_rows = layout.partable.set_index("id")
    out = np.zeros(len(layout.elements))
    for k, e in enumerate(layout.elements):
        row = pt_rows.loc[e.rows[0]]
        value = est[(row.lhs, row.op, row.rhs)]
        if e.kind == "sd":
            value = np.sqrt(value)
        elif e.kind == "correlation":
            value = value / np.sqrt(est[(row.lhs, "~~", row.lhs)] * est[(row.rhs, "~~", row.rhs)])
        out[k] = value
    return out


def loglik_at_lavaan(data, estimates):
    pt_ = build_partable(POLITICAL_DEMOCRACY, meanstructure=False)
    layout = build_layout(pt_)
    x = lavaan_elements(layout, estimates)
    frame = check_data(data, layout.observed)
    m = moments(frame)
    sigma, mu = implied_moments(layout, x)
    # without a mean structure the ML means are the sample means
    mean_term_free = m.mean[0]
    return layout, x, m, pattern_loglik(sigma, mean_term_free, m.n, m.mask, m.mean, m.factor)


def test_loglik_at_lavaan_estimates_matches_lavaan_logl(pd_data, pd_lavaan):
    fit_measures = json.loads((DATA / "PoliticalDemocracy_sem_fit.json").read_text())["fit"]
    _, _, m, ll = loglik_at_lavaan(pd_data, pd_lavaan)
    # lavaan prints estimates to 15 digits, so the log-likelihood agrees to ~1e-6
    assert ll == pytest.approx(fit_measures["logl"], abs=1e-4)
    assert saturated_loglik(m) == pytest.approx(fit_measures["unrestricted.logl"], abs=1e-6)


def test_pattern_loglik_equals_rowwise_normal_density():
    rng = np.random.default_rng(3)
    p = 4
    a = rng.normal(size=(p, p))
    sigma = a @ a.T + p * np.eye(p)
    mu = rng.normal(size=p)
    y = rng.multivariate_normal(mu, sigma, size=60, method="cholesky")
    y[rng.random(y.shape) < 0.15] = np.nan
    y[0] = np.nan  # a respondent with no answers contributes nothing
    frame = pd.DataFrame(y, columns=list("abcd"))
    m = moments(frame)
    assert m.n.sum() == 59 and len(m.n) > 3
    expected = 0.0
    for row in y:
        o = ~np.isnan(row)
        if o.any():
            expected += stats.multivariate_normal(mu[o], sigma[np.ix_(o, o)]).logpdf(row[o])
    got = pattern_loglik(sigma, mu, m.n, m.mask, m.mean, m.factor)
    assert got == pytest.approx(expected, rel=1e-10)
    # the symbolic version in the PyMC model computes the same number
    sym = pattern_loglik(
        pt.as_tensor(sigma), pt.as_tensor(mu), pt.as_tensor(m.n.astype(float)),
        pt.as_tensor(m.mask.astype(float)), pt.as_tensor(m.mean), pt.as_tensor(m.factor), xp=pt,
    ).eval()
    assert sym == pytest.approx(expected, rel=1e-10)


def test_symbolic_and_numeric_moments_agree(pd_lavaan):
    layout = build_layout(build_partable(POLITICAL_DEMOCRACY))
    rng = np.random.default_rng(0)
    x = rng.uniform(0.2, 0.8, size=len(layout.elements))
    sigma, mu = implied_moments(layout, x)
    s_sym, m_sym = implied_moments(layout, pt.as_tensor(x), xp=pt)
    np.testing.assert_allclose(s_sym.eval(), sigma, rtol=1e-12)
    np.testing.assert_allclose(m_sym.eval(), mu, rtol=1e-12)
    # vectorized over draws equals one draw at a time
    xs = rng.uniform(0.2, 0.8, size=(2, 3, len(layout.elements)))
    s_all, _ = implied_moments(layout, xs)
    np.testing.assert_allclose(s_all[1, 2], implied_moments(layout, xs[1, 2])[0], rtol=1e-12)


def test_phantom_latents_for_observed_variables_in_regressions():
    pt_ = build_partable("f =~ y1 + y2 + y3\nf ~ x1\nz ~ f + x1")
    layout = build_layout(pt_)
    assert [v for v, ph in zip(layout.latent, layout.phantom, strict=True) if ph] == ["z", "x1"]
    x = np.full(len(layout.elements), 0.5)
    sigma, _ = implied_moments(layout, x)
    assert np.all(np.linalg.eigvalsh(sigma) > 0)


def test_std_lv_sign_alignment_keeps_implied_covariance(pd_lavaan):
    pt_ = build_partable(POLITICAL_DEMOCRACY, std_lv=True)
    layout = build_layout(pt_)
    rng = np.random.default_rng(1)
    x = np.where(
        [e.kind == "sd" for e in layout.elements],
        rng.uniform(0.5, 1.5, len(layout.elements)),
        rng.uniform(-0.6, 0.6, len(layout.elements)),
    )
    rows = layout.row_values(x[None, :].repeat(8, 0))
    aligned = align_signs(pt_, rows)
    first = [pt_.index[(pt_.op == "=~") & (pt_.lhs == f)][0] for f in ("ind60", "dem60", "dem65")]
    assert np.all(aligned[:, first] > 0)

    def sigma(r):
        mats = layout.matrices(r)
        a = np.linalg.inv(np.eye(layout.n_latent) - mats["B"])
        la = mats["Lambda"] @ a
        return la @ mats["Psi"] @ np.swapaxes(la, -1, -2) + mats["Theta"]

    np.testing.assert_allclose(sigma(aligned), sigma(rows), atol=1e-12)


def test_sign_alignment_of_second_order_factor():
    pt_ = build_partable("g =~ f1 + f2\nf1 =~ a1 + a2 + a3\nf2 =~ b1 + b2 + b3", std_lv=True)
    ids = {(r.lhs, r.rhs): k for k, r in enumerate(pt_.itertuples()) if r.op == "=~"}
    vals = np.zeros((1, len(pt_)))
    vals[0, ids[("g", "f1")]] = 0.7
    vals[0, ids[("f1", "a1")]] = -0.8  # f1 flipped: g's first loading must flip with it
    vals[0, ids[("f2", "b1")]] = 0.6
    out = align_signs(pt_, vals)
    assert out[0, ids[("f1", "a1")]] > 0 and out[0, ids[("g", "f1")]] > 0


def test_reverse_keyed_marker_is_replaced():
    rng = np.random.default_rng(7)
    f = rng.normal(size=300)
    d = pd.DataFrame({f"x{k}": f + rng.normal(scale=0.7, size=300) for k in range(1, 5)})
    d["x1"] = -d["x1"]
    with pytest.warns(MarkerWarning, match="'x1' correlates negatively"):
        pt_ = check_markers(build_partable("f =~ x1 + x2 + x3 + x4"), d)
    loadings = pt_[pt_.op == "=~"].set_index("rhs")
    assert loadings.loc["x1", "free"] and not loadings.loc["x2", "free"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = check_markers(build_partable("f =~ x2 + x1 + x3 + x4"), d)
    assert not same.set_index("rhs").loc["x2"].iloc[0]["free"]


@pytest.mark.parametrize(
    "frame, match",
    [
        (pd.DataFrame({"x1": ["1", "2", "a", "4"] * 5, "x2": range(20), "x3": range(20)}),
         r"column 'x1' is not numeric: rows \[3, 7, 11, 15, 19\] hold \['a', 'a', 'a'\]"),
        (pd.DataFrame({"x1": [3.0] * 20, "x2": range(20), "x3": np.arange(20) ** 2}),
         r"column 'x1' is constant \(3\)"),
        (pd.DataFrame({"x1": [1.0, 2], "x2": [2.0, 1], "x3": [1.0, 3]}),
         r"2 respondents with answers but 3 observed variables"),
        (pd.DataFrame({"x1": range(20), "x3": np.arange(20) ** 2}),
         r"column\(s\) \['x2'\] are named in the model but are not in the data"),
    ],
)
def test_bad_data_gives_clear_errors(frame, match):
    with pytest.raises(DataError, match=match):
        check_data(frame, ["x1", "x2", "x3"])


def test_priors_precedence_and_errors():
    row = dict(lhs="f", op="=~", rhs="x2", label="a", prior="")
    assert resolve_prior("loading", [row], None) == "normal(0,10)"
    assert resolve_prior("loading", [row], {"loadings": "normal(1,1)"}) == "normal(1,1)"
    assert resolve_prior("loading", [row], {"loadings": "normal(1,1)", "a": "normal(2,1)"}) == (
        "normal(2,1)"
    )
    assert resolve_prior("loading", [row], {"a": "normal(2,1)", "f =~ x2": "normal(3,1)"}) == (
        "normal(3,1)"
    )
    assert resolve_prior("loading", [dict(row, prior="normal(4,1)")], {"a": "normal(2,1)"}) == (
        "normal(4,1)"
    )
    with pytest.raises(ValueError, match="unknown family 'normel'"):
        parse_prior("normel(0,1)")
    with pytest.raises(ValueError, match="gamma takes 2 argument"):
        parse_prior("gamma(1)")


def test_prior_groups_follow_syntax_priors():
    pt_ = build_partable('f =~ x1 + prior("normal(1,0.5)")*x2 + x3 + x4')
    groups = prior_groups(build_layout(pt_), None)
    by_name = {g.name: g for g in groups}
    assert by_name["loadings"].spec.text == "normal(0,10)"
    assert by_name["loadings_1"].spec.text == "normal(1,0.5)"
    assert by_name["sds"].spec.text == "gamma(1,0.5)[sd]"
