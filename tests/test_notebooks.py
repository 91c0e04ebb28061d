"""The tutorial notebooks in notebooks/: committed without outputs, and they run top to bottom.

The run tests execute every notebook with ``BAYES_RENT_QUICK=1`` (2 chains x 200 draws) in a
``python3`` kernel started from this interpreter, with the notebook's folder as working
directory, as nbmake does. Run them alone with

    nice -n 10 .venv/bin/python -m pytest -q -p no:cacheprovider tests/test_notebooks.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
IDS = [p.name for p in NOTEBOOKS]
#: seconds any one cell may take with the quick settings
CELL_TIMEOUT = 600


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_stripped(path):
    """Committed notebooks carry no outputs and no execution counts."""
    book = nbformat.read(path, as_version=4)
    dirty = [i for i, cell in enumerate(book.cells) if cell.cell_type == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (
        f"{path.name}: code cells {dirty} have outputs or execution counts; strip them "
        "(e.g. jupyter nbconvert --clear-output --inplace)"
    )


def test_python3_kernel_is_this_interpreter():
    """jupyter_client finds a ``python3`` kernel that runs this interpreter (the venv's)."""
    pytest.importorskip("ipykernel")
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    manager = KernelManager(kernel_name="python3")
    # ipykernel's spec says "python", which jupyter_client replaces by sys.executable
    command = manager.format_kernel_cmd()
    assert spec.argv[0] in ("python", sys.executable) or Path(spec.argv[0]).resolve() == Path(
        sys.executable).resolve()
    assert Path(command[0]).resolve() == Path(sys.executable).resolve()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs(path, monkeypatch):
    """The notebook runs top to bottom with the quick sampling settings."""
    pytest.importorskip("ipykernel")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("BAYES_RENT_QUICK", "1")
    # no display: figures are rendered to PNG outputs
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        book, kernel_name="python3", timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    errors = [out for cell in book.cells if cell.cell_type == "code"
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors
