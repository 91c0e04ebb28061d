"""The study's report in a real browser: headless Chromium through Playwright.

Opened from a ``file://`` URL with every other request refused: it must show without a
console error, with every figure drawn, and each sub-model's path diagram must name its
constructs. Skipped only when no ``chromium`` is on PATH (CI installs Debian's).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from study_run import quick_study_fixture  # noqa: F401  (the quick_study fixture)

from bayes_rent.data.survey import models_dir
from bayes_rent.report.fits import construct_names
from bayes_rent.spec.partable import build_partable
from bayes_rent.study import BOOK_MODELS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install "
                                                         "chromium); CI installs it")


def _constructs(model_file: str) -> list[str]:
    syntax = (models_dir() / model_file).read_text(encoding="utf-8")
    return construct_names(build_partable(syntax))


@pytest.fixture(scope="module")
def page(quick_study):
    from playwright.sync_api import sync_playwright

    url = Path(quick_study.out / "report.html").resolve().as_uri()
    errors: list[str] = []
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-background-networking"])
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            tab.on("pageerror", lambda err: errors.append(str(err)))

            def route(r):
                if r.request.url.startswith(("file:", "data:")):
                    return r.continue_()
                outside.append(r.request.url)
                return r.abort()

            tab.route("**/*", route)
            tab.goto(url, wait_until="load")
            yield tab, errors, outside
        finally:
            browser.close()


def test_no_console_error_and_no_request_outside_the_file(page):
    tab, errors, outside = page
    assert errors == []
    assert outside == []
    assert tab.title().startswith("bayes-rent study")


def test_every_figure_is_rendered(page):
    tab, _, _ = page
    images = tab.locator("img")
    assert images.count() >= 10
    for i in range(images.count()):
        img = images.nth(i)
        img.scroll_into_view_if_needed()
        box = img.bounding_box()
        natural = img.evaluate("e => [e.complete, e.naturalWidth, e.naturalHeight]")
        assert natural[0] and natural[1] > 0 and natural[2] > 0, img.get_attribute("alt")
        assert box and box["width"] > 0 and box["height"] > 0, img.get_attribute("alt")
    svgs = tab.locator("figure svg")
    assert svgs.count() >= 5
    for i in range(svgs.count()):
        box = svgs.nth(i).bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0


@pytest.mark.parametrize("model", BOOK_MODELS, ids=[m.key for m in BOOK_MODELS])
def test_each_diagram_names_its_constructs(page, model):
    tab, _, _ = page
    figure = tab.locator(f"figure#diagram-{model.key.replace('_', '-')} svg")
    assert figure.count() == 1
    text = figure.text_content()
    for construct in _constructs(model.file):
        assert re.search(rf"\b{construct}\b", text), (model.key, construct)
