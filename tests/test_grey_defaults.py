"""Sub-model 5 with no names typed: the coupling's NC and AC systems come from the
questionnaire map, so ``coupling_from_scores(fit.scores())`` works on the book's full model."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import bayes_rent as br
from bayes_rent import grey

MODELS = Path(__file__).parent.parent / "models"


def full_model_latents() -> list[str]:
    """The latent variables of models/full_model.lav (every lhs of ``=~``), in order."""
    text = (MODELS / "full_model.lav").read_text(encoding="utf-8")
    return list(dict.fromkeys(re.findall(r"^\s*(\w+)\s*=~", text, flags=re.MULTILINE)))


def fake_scores(names: list[str], n: int = 24, seed: int = 0) -> xr.DataArray:
    """Draws shaped like ``fit.scores()``: (chain, draw, respondent, construct)."""
    rng = np.random.default_rng(seed)
    return xr.DataArray(rng.normal(size=(2, 5, n, len(names))),
                        dims=("chain", "draw", "respondent", "construct"),
                        coords={"construct": names})


def small_map(nc: list[str], ac: list[str]) -> br.SurveySchema:
    def construct(cid: str, dims: list[str]) -> dict:
        return {"id": cid, "dimensions": [
            {"id": d, "items": [{"id": f"{d}{k}"} for k in (1, 2)]} for d in dims]}

    return br.SurveySchema.from_dict({"respondent_id": "firm", "cluster": None, "constructs": [
        construct("NC", nc), construct("AC", ac)]})


def test_defaults_are_the_nc_and_ac_dimensions_of_the_books_map():
    schema = br.book_schema()
    assert grey.NC_DIMENSIONS == tuple(d.id for d in schema.construct("NC").dimensions)
    assert grey.AC_DIMENSIONS == tuple(d.id for d in schema.construct("AC").dimensions)
    assert grey.system_dimensions(schema, "NC") == grey.NC_DIMENSIONS
    # and the shipped full model names its latent variables after the map
    assert set(grey.NC_DIMENSIONS + grey.AC_DIMENSIONS) <= set(full_model_latents())


def test_scores_of_the_full_model_need_no_names():
    scores = fake_scores(full_model_latents())
    res = grey.coupling_from_scores(scores, outcomes=["KR", "IG"])
    post = res.posterior
    assert list(post["gamma"]["x"].values) == list(grey.NC_DIMENSIONS)
    assert list(post["gamma"]["y"].values) == list(grey.AC_DIMENSIONS)
    named = grey.coupling_from_scores(scores, x=list(grey.NC_DIMENSIONS),
                                      y=list(grey.AC_DIMENSIONS), outcomes=["KR", "IG"])
    xr.testing.assert_equal(post["D"], named.posterior["D"])
    # the map given explicitly is the same default
    mapped = grey.coupling_from_scores(scores, schema=br.book_schema())
    xr.testing.assert_equal(mapped.posterior["grey_C"], post["grey_C"])


def test_a_users_map_gives_the_systems():
    scores = fake_scores(["net_a", "net_b", "abs_a", "abs_b", "abs_c"])
    res = grey.coupling_from_scores(scores, schema=small_map(["net_a", "net_b"],
                                                             ["abs_a", "abs_b", "abs_c"]))
    assert list(res.posterior["gamma"]["x"].values) == ["net_a", "net_b"]
    assert list(res.posterior["gamma"]["y"].values) == ["abs_a", "abs_b", "abs_c"]
    # a plain mapping works as a map; a name given still wins over the map
    res = grey.coupling_from_scores(scores, x=["net_b", "net_a"],
                                    schema={"NC": ["net_a"], "AC": ["abs_c", "abs_a"]})
    assert list(res.posterior["gamma"]["x"].values) == ["net_b", "net_a"]
    assert list(res.posterior["gamma"]["y"].values) == ["abs_c", "abs_a"]
    # system_names pick the map's constructs
    res = grey.coupling_from_scores(scores, schema={"N": ["net_a"], "A": ["abs_b"]},
                                    system_names=("N", "A"))
    assert list(res.posterior["U"]["system"].values) == ["N", "A"]


def test_defaults_that_do_not_match_say_where_they_came_from():
    scores = fake_scores(["vision", "construction", "acquisition", "assimilation"])
    with pytest.raises(ValueError, match="dimensions of the book's questionnaire map"):
        grey.coupling_from_scores(scores)
    with pytest.raises(ValueError, match="dimensions of the map given"):
        grey.coupling_from_scores(scores, schema=small_map(["vision", "reach"], ["uptake"]))
    with pytest.raises(KeyError, match="no construct 'NC'"):
        grey.coupling_from_scores(scores, schema={"AC": ["acquisition"]})
    # names given explicitly get no hint about defaults
    with pytest.raises(ValueError, match=r"available: \[.*\]$"):
        grey.coupling_from_scores(scores, x=["vision", "reach"], y=["acquisition"])
