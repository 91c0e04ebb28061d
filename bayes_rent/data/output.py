"""Output folders written whole or not at all.

A fit's outputs (summary tables, the posterior) are written into a temporary sibling of the
target folder and renamed into place when complete, so a run that is interrupted leaves the
previous output or the new one, never a half-written folder. An existing output is replaced
only when asked (``force=True``). A writer killed outright (SIGKILL, a power cut) cannot remove
its temporary sibling; the siblings carry the writer's process id, and the next write to the
same folder removes those whose process is gone.

Examples
--------
>>> import pathlib, tempfile
>>> target = pathlib.Path(tempfile.mkdtemp()) / "results"
>>> with atomic_output_dir(target) as tmp:
...     _ = (tmp / "summary.csv").write_text("lhs,op,rhs\\n")
>>> sorted(p.name for p in target.iterdir())
['summary.csv']
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bayes_rent.errors import OptionError

__all__ = ["atomic_output_dir", "check_output_dir", "remove_stale_siblings"]

_PARTIAL = ".partial"
_OLD = ".old"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, run by another user
        return True
    return True


def remove_stale_siblings(target: str | os.PathLike) -> list[Path]:
    """Remove the temporary siblings of ``target`` that killed writers left behind.

    A sibling is named ``.NAME.PID.XXXX.partial`` (or ``.old``); it is removed only when no
    process ``PID`` is running, so a write in progress elsewhere is never touched.

    Returns
    -------
    list of pathlib.Path
        The folders removed.
    """
    target = Path(target)
    removed = []
    for sibling in target.parent.glob(f".{glob.escape(target.name)}.*"):
        parts = sibling.name[len(target.name) + 2:].split(".")
        if (len(parts) == 3 and parts[0].isdigit() and f".{parts[2]}" in (_PARTIAL, _OLD)
                and sibling.is_dir() and not _process_alive(int(parts[0]))):
            shutil.rmtree(sibling, ignore_errors=True)
            removed.append(sibling)
    return removed


def check_output_dir(path: str | os.PathLike, force: bool = False) -> Path:
    """Check, before any work is done, that an output folder can be written.

    Parameters
    ----------
    path : str or path-like
        The folder the outputs go to.
    force : bool
        Allow replacing an existing folder.

    Returns
    -------
    pathlib.Path
        The absolute path.

    Raises
    ------
    bayes_rent.errors.OptionError
        When the path is a folder with files in it and ``force`` is not given, is a file, or
        its parent cannot be written.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> full = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (full / "summary.csv").write_text("")
    >>> check_output_dir(full)
    Traceback (most recent call last):
    ...
    bayes_rent.errors.OptionError: ... already exists; pass --force (force=True) to replace it, \
or choose another folder
    """
    target = Path(path).expanduser().absolute()
    if target.exists() and not target.is_dir():
        raise OptionError(f"output {target} is a file, not a folder; choose a folder name")
    # an empty folder (made ahead by the user, or by a test's tmp_path) holds nothing to lose
    if target.exists() and any(target.iterdir()) and not force:
        raise OptionError(
            f"output folder {target} already exists; pass --force (force=True) to replace it, "
            "or choose another folder"
        )
    ancestor = target.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise OptionError(f"output folder {target} cannot be created: {ancestor} is not writable")
    return target


@contextmanager
def atomic_output_dir(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """A temporary folder that becomes ``path`` when the ``with`` block completes.

    Parameters
    ----------
    path : str or path-like
        The output folder.
    force : bool
        Replace an existing folder (it is swapped out only once the new one is complete).

    Yields
    ------
    pathlib.Path
        The temporary folder to write into (a hidden sibling of ``path``).

    Raises
    ------
    bayes_rent.errors.OptionError
        As :func:`check_output_dir`.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> try:
    ...     with atomic_output_dir(target) as tmp:
    ...         _ = (tmp / "half.csv").write_text("x")
    ...         raise KeyboardInterrupt
    ... except KeyboardInterrupt:
    ...     pass
    >>> target.exists(), list(target.parent.iterdir())
    (False, [])
    """
    target = check_output_dir(path, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(target)
    # same folder as the target, so the final rename is one atomic step on one file system;
    # the process id lets a later write tell a killed writer's leftovers from a live one's
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=_PARTIAL,
                                dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        if target.exists():
            if not force:  # filled by someone else while we worked
                raise OptionError(f"output folder {target} appeared while writing; not replaced")
            old = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{_OLD}")
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
