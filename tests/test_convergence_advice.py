"""A fit that did not converge says what to try, with numbers from its own settings."""

from __future__ import annotations

import warnings

import pandas as pd
from conftest import POLITICAL_DEMOCRACY

import bayes_rent as br
from bayes_rent.results.diagnostics import ConvergenceReport

SETTINGS = {"draws": 1000, "tune": 1000, "chains": 4, "target_accept": None}


def test_divergences_ask_for_smaller_steps():
    report = ConvergenceReport(1.004, 900.0, 7, pd.DataFrame(), settings=SETTINGS)
    (advice,) = report.remedies()
    assert "7 divergent transitions" in advice and "target_accept=0.95" in advice
    report.settings["target_accept"] = 0.95
    assert "target_accept=0.99" in report.remedies()[0]


def test_disagreeing_chains_ask_for_a_longer_run():
    report = ConvergenceReport(1.03, 80.0, 0, pd.DataFrame(), settings=SETTINGS)
    (advice,) = report.remedies()  # ESS follows once the chains agree: one line, not two
    assert "R-hat 1.030" in advice and "tune=2000, draws=2000" in advice


def test_low_ess_asks_for_the_draws_that_reach_400():
    report = ConvergenceReport(1.005, 200.0, 0, pd.DataFrame(), settings=SETTINGS)
    # ESS grows in proportion to the draws: 2 × 1 000, with a fifth to spare
    assert report.remedies() == [
        "bulk ESS 200 < 400: ESS grows with the draws; refit with draws=2400 (--draws 2400)."]


def test_an_empty_worst_table_prints_no_header():
    report = ConvergenceReport(1.005, 200.0, 0, pd.DataFrame(), settings=SETTINGS)
    assert "Worst parameters" not in report.message()


def test_a_short_run_warns_with_the_remedies_and_the_report_repeats_them(pd_data):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = br.sem(POLITICAL_DEMOCRACY, pd_data, draws=40, tune=40, chains=2, seed=3,
                     progressbar=False)
    messages = [str(w.message) for w in caught if issubclass(w.category, br.ConvergenceWarning)]
    assert len(messages) == 1
    assert "Worst parameters:" in messages[0] and "What to try:" in messages[0]
    assert "--draws" in messages[0] or "draws=80" in messages[0]
    for remedy in fit.convergence.remedies():
        assert remedy in fit.report()
