"""The console report (``fit.report()``, ``bayes-rent fit``): lavaan's summary() sections,
the header, ``--version``, and no third-party notices on the CLI's stderr."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayes_rent as br
from bayes_rent.cli import main
from bayes_rent.results.console import SECTIONS, console_report

MODELS = Path(__file__).parent.parent / "models"
ALL_TITLES = [title for title, _ in SECTIONS] + ["Defined Parameters"]
BLAS_NOTICE = "could not link to a BLAS installation"
ARVIZ_NOTICE = "ArviZ is undergoing a major refactor"


@pytest.fixture(scope="module")
def pd_fit():
    syntax = (MODELS / "political_democracy.lav").read_text(encoding="utf-8")
    with warnings.catch_warnings():
        # a short run may not converge; the report is what is tested here
        warnings.simplefilter("ignore", br.ConvergenceWarning)
        return br.sem(syntax, br.datasets.political_democracy(), draws=200, tune=200,
                      chains=2, seed=1, progressbar=False)


def sections(report: str) -> dict[str, list[str]]:
    """Section title -> its row lines (the column header and the bundle heads dropped)."""
    out: dict[str, list[str]] = {}
    current = None
    for line in report.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            current = line[:-1]
            out[current] = []
        elif current and line.strip() and not line.strip().endswith(("=~", "~", "~~")):
            if "Estimate" not in line:
                out[current].append(line)
    return out


def first_number(line: str) -> float:
    return float(next(tok for tok in line.split() if tok.lstrip("-")[:1].isdigit()))


def test_sections_in_lavaans_order_with_fixed_zero_rows_hidden(pd_fit):
    report = console_report(pd_fit)
    found = sections(report)
    assert list(found) == ["Latent Variables", "Regressions", "Covariances", "Intercepts",
                           "Variances", "Defined Parameters"]
    assert list(found) == [t for t in ALL_TITLES if t in found]
    table = pd_fit.summary()
    fixed_zero = ~table["free"] & (table["mean"] == 0)
    for title, select in SECTIONS:
        expected = int((select(table) & ~fixed_zero).sum())
        assert len(found.get(title, [])) == expected, title
    # the latent intercepts are fixed at 0: hidden unless asked for
    assert not any("ind60" in line for line in found["Intercepts"])
    shown = sections(console_report(pd_fit, all_rows=True))
    assert len(shown["Intercepts"]) == len(found["Intercepts"]) + 3
    # dem60 and dem65 are regressed on other factors: their intercepts are residual ones
    assert [ln.split()[0] for ln in shown["Intercepts"][-3:]] == ["ind60", ".dem60", ".dem65"]


def test_rows_grouped_as_lavaan_prints_them(pd_fit):
    lines = console_report(pd_fit).splitlines()
    start = lines.index("Latent Variables:")
    assert lines[start + 2] == "  ind60 =~"
    assert lines[start + 3].startswith("    x1 ") and lines[start + 4].startswith("    x2 ")
    x2 = pd_fit.summary().query("lhs == 'ind60' and rhs == 'x2'").iloc[0]
    assert first_number(lines[start + 4]) == pytest.approx(round(x2["mean"], 3))
    # the marker loading is fixed: its estimate and nothing else
    assert lines[start + 3].split() == ["x1", "1.000"]
    # labels in parentheses, residual (co)variances with lavaan's dot
    assert any(line.split()[:2] == ["ind60", "(a)"] for line in lines)
    assert " .y1 ~~" in lines and any(line.startswith("   .y5 ") for line in lines)
    variances = sections("\n".join(lines))["Variances"]
    assert any(line.startswith("    ind60 ") for line in variances)  # exogenous: no dot
    assert any(line.startswith("   .dem60 ") for line in variances)


def test_std_adds_the_std_all_column(pd_fit):
    plain, with_std = console_report(pd_fit), console_report(pd_fit, std=True)
    assert "Std.all" not in plain and "Std.all" in with_std
    std = pd_fit.standardized().query("lhs == 'ind60' and op == '=~' and rhs == 'x1'")
    x1 = next(ln for ln in sections(with_std)["Latent Variables"] if ln.split()[0] == "x1")
    assert x1.split() == ["x1", "1.000", f"{std['mean'].iloc[0]:.3f}"]


def test_header_and_defined_parameters(pd_fit):
    report = console_report(pd_fit, title="political_democracy.lav")
    assert report.startswith(f"bayes-rent {version('bayes-rent')}: political_democracy.lav")
    verdict = "converged" if pd_fit.convergence.converged else "NOT CONVERGED"
    assert any(line.split()[-1:] == ["75"] and "observations" in line
               for line in report.splitlines())
    assert f"Convergence{' ' * 10}" in report and verdict in report
    assert "2 × 200" in report and "PPP / BRMSEA" in report
    defined = pd_fit.defined().set_index("name")
    line = next(ln for ln in sections(report)["Defined Parameters"] if "indirect" in ln)
    assert first_number(line) == pytest.approx(round(defined.loc["indirect", "mean"], 3))


def test_fit_indices_table_given_is_shown(pd_fit):
    table = pd.DataFrame({"mean": [0.412, 0.051], "sd": [np.nan, 0.01],
                          "hdi_low": [np.nan, 0.03], "hdi_high": [np.nan, 0.07]},
                         index=pd.Index(["ppp", "brmsea"], name="index"))
    report = console_report(pd_fit, fit_indices=table)
    (ppp_line,) = [line for line in report.splitlines() if "PPP (χ² discrepancy)" in line]
    assert ppp_line.split()[-1] == "0.412"
    assert "0.051 [0.030, 0.070]" in report


def fake_fit(block: str, keys: list) -> SimpleNamespace:
    """A duck-typed multi-group or two-level fit: only the public face the report reads."""
    rows = []
    params = [("f", "=~", "y1", False, 1.0), ("f", "=~", "y2", True, 0.8),
              ("y1", "~~", "y1", True, 0.5), ("f", "~1", "", False, 0.0)]
    for key in keys:
        for lhs, op, rhs, free, mean in params:
            rows.append({"lhs": lhs, "op": op, "rhs": rhs, block: key, "label": "", "free": free,
                         "mean": mean, "sd": 0.1 if free else 0.0, "hdi_low": mean - 0.2,
                         "hdi_high": mean + 0.2, "r_hat": 1.0 if free else np.nan,
                         "ess_bulk": 500.0 if free else np.nan})
    table = pd.DataFrame(rows)
    posterior = xr.Dataset(coords={"chain": [0, 1], "draw": np.arange(10)})

    def not_here(**kwargs):
        raise NotImplementedError("not computed for this kind of fit yet")

    return SimpleNamespace(
        summary=lambda hdi_prob=0.9: table,
        defined=lambda hdi_prob=0.9: pd.DataFrame(columns=["name", "expression", "mean"]),
        standardized=not_here, fit_indices=not_here,
        idata=SimpleNamespace(posterior=posterior), settings={"sampler": "nutpie"},
        convergence=SimpleNamespace(converged=True, max_r_hat=1.0, min_ess_bulk=500.0,
                                    divergences=0, stuck_chains={}),
    )


def test_one_block_per_group_and_per_level():
    report = console_report(fake_fit("group", ["Pasteur", "Grant-White"]))
    assert "Group 1 [Pasteur]:" in report and "Group 2 [Grant-White]:" in report
    assert report.index("Group 1 [Pasteur]:") < report.index("Group 2 [Grant-White]:")
    assert report.count("Latent Variables:") == 2 and "Intercepts:" not in report
    two = console_report(fake_fit("level", [1, 2]), std=True, fit_indices=True)
    assert "Level 1 [within]:" in two and "Level 2 [between]:" in two
    # what a two-level fit does not compute is said once, not raised
    assert "Std.all not shown: not computed" in two and "not available" in two


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"bayes-rent {br.__version__}"
    assert br.__version__ == version("bayes-rent")


def _run(args: list[str], cache: Path) -> subprocess.CompletedProcess:
    # a fresh cache directory, so ArviZ's once-a-day notice is due
    cache.mkdir()
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=cache, timeout=900)


def test_cli_stderr_has_no_blas_or_arviz_notice(tmp_path):
    control = _run(["-c", "import arviz, pytensor; pytensor.config.blas__ldflags"],
                   tmp_path / "control")
    if BLAS_NOTICE not in control.stderr:
        pytest.skip("PyTensor finds a BLAS on this machine: there is no notice to keep away")
    assert ARVIZ_NOTICE in control.stderr  # without bayes_rent's filter both notices show
    run = _run(["-m", "bayes_rent.cli", "fit", str(MODELS / "political_democracy.lav"),
                "--data", "political_democracy", "--draws", "100", "--tune", "100",
                "--chains", "2", "--seed", "1", "--no-progress", "--std"], tmp_path / "cli")
    assert run.returncode in (0, 2), run.stderr
    assert "Latent Variables:" in run.stdout and "Std.all" in run.stdout
    assert BLAS_NOTICE not in run.stderr
    assert ARVIZ_NOTICE not in run.stderr
