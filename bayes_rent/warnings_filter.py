"""Third-party notices that a bayes-rent user cannot act on, kept off the screen.

Imported first by ``bayes_rent/__init__.py``, so it is in place before ArviZ is imported and
before PyTensor compiles anything. Each filter matches one notice by its category, the start of
its text and the module that issues it; every other warning of those libraries still shows.

* PyTensor's "could not link to a BLAS installation": PyTensor looks for a BLAS it can link its
  C code to (``pytensor.config.blas__ldflags``) the first time a graph is compiled. The BLAS
  that NumPy and SciPy wheels ship (``scipy_openblas``) exports prefixed names
  (``scipy_dgemm_``), so PyTensor cannot link to it and no ``blas__ldflags`` would be correct;
  matrix products then go through NumPy, which does use that OpenBLAS. The samplers bayes-rent
  uses (nutpie's numba and JAX backends) do not run PyTensor's C BLAS code at all. Setting
  ``blas__ldflags`` to ``""`` ourselves would silence it too, but would also stop PyTensor
  from finding a real BLAS (MKL in a conda environment), so only the notice is filtered.
* ArviZ's once-a-day FutureWarning that it "is undergoing a major refactor": a notice to
  library authors (bayes-rent pins ``arviz<0.24``), not to the people reading a fit.

Examples
--------
>>> import warnings
>>> from bayes_rent.warnings_filter import QUIETED, quiet_third_party_notices
>>> quiet_third_party_notices()
>>> with warnings.catch_warnings(record=True) as seen:
...     warnings.simplefilter("default")
...     quiet_third_party_notices()
...     warnings.warn_explicit("PyTensor could not link to a BLAS installation.", UserWarning,
...                            "cmodule.py", 1, module="pytensor.link.c.cmodule")
>>> len(seen), len(QUIETED)
(0, 2)
"""

from __future__ import annotations

import warnings

__all__ = ["QUIETED", "quiet_third_party_notices"]

#: (category, start of the message, issuing module) of every notice kept off the screen;
#: message and module are regular expressions matched at the start, as in ``warnings``.
QUIETED: tuple[tuple[type[Warning], str, str], ...] = (
    (UserWarning, r"PyTensor could not link to a BLAS installation", r"pytensor\."),
    (FutureWarning, r"\s*ArviZ is undergoing a major refactor", r"arviz"),
)


def quiet_third_party_notices() -> None:
    """Install the filters of :data:`QUIETED` (idempotent: ``warnings`` drops duplicates).

    Examples
    --------
    >>> quiet_third_party_notices()
    """
    for category, message, module in QUIETED:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)


quiet_third_party_notices()
