"""The Examples sections of bayes_rent.grey run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["normalize", "weights", "relational", "coupling", "coordination", "levels",
           "posterior"]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name: str) -> None:
    module = importlib.import_module(f"bayes_rent.grey.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
