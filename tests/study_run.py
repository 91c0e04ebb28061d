"""One quick run of ``bayes-rent study``, shared by tests/test_study.py and test_report_browser.py.

The quick study fits six models and takes minutes, so it runs once per test session: the
fixture is session-scoped, and under pytest-xdist the workers share it through a file lock in
the session's base folder (the recipe of the pytest-xdist documentation), whichever worker
gets there first running it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parent.parent


def bayes_rent_command() -> list[str]:
    """The installed console script (beside this Python), or ``python -m bayes_rent.cli``."""
    script = Path(sys.executable).parent / "bayes-rent"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bayes_rent.cli"]


def run_cli(args: list[str], cwd: Path, timeout: float = 1800) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*bayes_rent_command(), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@dataclass
class QuickStudy:
    out: Path
    returncode: int
    stdout: str
    stderr: str
    seconds: float


@pytest.fixture(scope="session", name="quick_study")
def quick_study_fixture(tmp_path_factory, worker_id) -> QuickStudy:
    # under xdist every worker has its own base folder; their parent is the session's
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    record = shared / "quick_study.json"
    with FileLock(str(shared / "quick_study.lock")):
        if not record.exists():
            out = shared / "quick_study"
            shutil.rmtree(out, ignore_errors=True)
            start = time.perf_counter()
            proc = run_cli(["study", "--quick", "--seed", "1", "--out", str(out)], cwd=shared)
            record.write_text(json.dumps({
                "out": str(out), "returncode": proc.returncode, "stdout": proc.stdout,
                "stderr": proc.stderr, "seconds": time.perf_counter() - start,
            }))
        done = json.loads(record.read_text())
    done["out"] = Path(done["out"])
    return QuickStudy(**done)
