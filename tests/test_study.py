"""``bayes-rent study``: the whole study on the shipped survey, its report, and bad input."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import pytest
from study_run import quick_study_fixture, run_cli  # noqa: F401  (the quick_study fixture)

import bayes_rent as br
from bayes_rent.data.survey import models_dir
from bayes_rent.study import BOOK_MODELS, STEPS

ROOT = Path(__file__).resolve().parent.parent
MODELS = [m.key for m in BOOK_MODELS]
FITTED = ["measurement", *MODELS]
EXTERNAL = re.compile(r"^\s*(https?:)?//", re.I)
CSS_URL = re.compile(r"url\(\s*['\"]?\s*(https?:)?//", re.I)


class _Collector(HTMLParser):
    """Every id, every src/href, and the text of <style> elements."""

    def __init__(self):
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id":
                self.ids.append(value)
            if name in ("src", "href", "xlink:href") and value:
                self.links.append(value)
            if name == "style" and value:
                self.styles.append(value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def test_quick_study_finishes_and_writes_everything(quick_study):
    print(f"\nquick study: {quick_study.seconds:.0f} s, exit status {quick_study.returncode}")
    assert quick_study.returncode in (0, 2), quick_study.stderr[-3000:]
    assert "Traceback" not in quick_study.stderr
    # the console says that a quick run is not for reporting, and shows every step
    assert "NOT for reporting" in quick_study.stderr
    for title in STEPS.values():
        assert f"{title}: done" in quick_study.stderr
    if quick_study.returncode == 2:
        assert "not converged:" in quick_study.stderr
    out = quick_study.out
    assert (out / "report.html").stat().st_size > 0
    tables = sorted(p.name for p in (out / "tables").glob("*.csv"))
    for number, step in enumerate(STEPS, start=1):
        assert any(name.startswith(f"{number:02d}_{step}_") for name in tables), step
    posteriors = {p.stem for p in (out / "posterior").glob("*.nc")}
    assert set(FITTED) | {"coupling"} <= posteriors
    assert all((out / "posterior" / f"{m}.nc").stat().st_size > 0 for m in FITTED)
    for model in MODELS:
        assert (out / "diagrams" / f"{model}.dot").stat().st_size > 0
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".partial")]


def test_report_is_self_contained_and_has_every_section(quick_study):
    html = (quick_study.out / "report.html").read_text(encoding="utf-8")
    parser = _Collector()
    parser.feed(html)
    parser.close()
    external = [link for link in parser.links if EXTERNAL.match(link)]
    assert not external
    assert not [s for s in parser.styles if CSS_URL.search(s)]
    assert all(link.startswith(("#", "data:image/png;base64,")) for link in parser.links)
    assert set(STEPS) | set(MODELS[:4]) <= set(parser.ids)  # steps, and a section per sub-model
    assert "NOT for reporting" in html  # the quick run says so in the report as well
    assert html.count("<img ") >= 10 and html.count("<svg") >= 5


def test_study_tables_hold_the_steps_results(quick_study):
    import pandas as pd

    tables = quick_study.out / "tables"
    items = pd.read_csv(tables / "01_descriptives_items.csv")
    assert len(items) == 69 and {"mean", "sd", "skewness", "kurtosis",
                                 "missing_share"} <= set(items.columns)
    clusters = pd.read_csv(tables / "01_descriptives_clusters.csv")
    assert len(clusters) == 8 and {"RE", "SE", "NC", "AC", "KR", "IG"} <= set(clusters.columns)
    efa = pd.read_csv(tables / "03_efa_tests.csv")
    assert 0.5 < efa["value"].iloc[0] <= 1  # KMO
    coupling = pd.read_csv(tables / "07_coupling_coordination.csv")
    assert len(coupling) == 8 and "p_level" in coupling.columns
    loo = pd.read_csv(tables / "08_comparison_loo.csv")
    assert loo["model"].tolist() == FITTED


def _bad_input_setup(tmp_path: Path) -> Path:
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "report.html").write_text("earlier report\n")
    (tmp_path / "bad.yaml").write_text(
        "respondent_id: firm_id\nconstructs:\n  - id: NC\n    items: [nc vi1, nc_vi2]\n")
    return existing


BAD_INPUT = [
    ("existing report", ["--out", "existing"], "already exists; pass --force"),
    ("missing data file", ["--data", "nowhere.xlsx"], "neither a file nor a shipped data set"),
    ("malformed questionnaire", ["--survey", "bad.yaml"], "bad.yaml"),
    ("draws with --quick", ["--quick", "--draws", "500"], "--quick fixes the sampling"),
    ("negative draws", ["--draws", "-5"], "draws must be"),
]


@pytest.mark.parametrize(("args", "fragment"), [pytest.param(*c[1:], id=c[0]) for c in BAD_INPUT])
def test_bad_input_exits_1_in_one_line_and_writes_nothing(tmp_path, args, fragment):
    existing = _bad_input_setup(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    extra = [] if "--out" in args else ["--out", "new"]
    quick = [] if "--draws" in args else ["--quick"]
    result = run_cli(["study", *quick, *args, *extra], cwd=tmp_path, timeout=300)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("bayes-rent: ") and fragment in lines[0]
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing new, no .partial
    assert (existing / "report.html").read_text() == "earlier report\n"


def test_help_documents_the_exit_statuses():
    result = run_cli(["study", "--help"], cwd=ROOT, timeout=120)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "0 done; 1 bad input" in text and "2 done, but some model did not converge" in text
    assert "--quick" in text and "--force" in text


def test_models_ship_with_the_package():
    shipped = resources.files("bayes_rent") / "models"
    names = {"questionnaire.yaml", *(m.file for m in BOOK_MODELS)}
    assert names <= {p.name for p in shipped.iterdir()}
    # the repository's models/ is the package's folder, not a second copy
    for name in names:
        assert (models_dir() / name).samefile(Path(str(shipped / name)))


@pytest.mark.filterwarnings("ignore::bayes_rent.ConvergenceWarning")  # 100 draws: on purpose
def test_report_of_fits_from_python(tmp_path):
    fit = br.sem("ind60 =~ x1 + x2 + x3\ndem60 =~ y1 + y2 + y3 + y4\ndem60 ~ a*ind60\n"
                 "twice := 2*a", br.datasets.political_democracy(), draws=100, tune=100,
                 chains=2, seed=1, progressbar=False)
    page = br.report({"democracy": fit}, tmp_path / "out")
    html = page.read_text(encoding="utf-8")
    assert page.name == "report.html"
    assert 'id="overview"' in html and 'id="democracy"' in html
    assert "Structural paths" in html and "Defined parameters" in html
    if not fit.convergence.converged:  # so short a run rarely converges: the report says so
        assert "did not converge" in html
    assert (tmp_path / "out" / "posterior" / "democracy.nc").stat().st_size > 0
    assert (tmp_path / "out" / "diagrams" / "democracy.dot").exists()
    with pytest.raises(br.BayesRentError, match="already exists"):
        br.report({"democracy": fit}, tmp_path / "out")
    assert br.report({"democracy": fit}, tmp_path / "out", force=True) == page
