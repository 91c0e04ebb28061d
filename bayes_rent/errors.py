"""The error contract of bayes-rent: every refusal of user input is a :class:`BayesRentError`.

A caller (the command line, a notebook, a batch script) catches one class and shows its message;
anything else that escapes is a bug in bayes-rent. The classes also derive from ``ValueError``
because they were ``ValueError`` before the contract existed, and code that catches that must
keep working.

This module imports nothing from the package, so every layer may raise these errors.

Examples
--------
>>> from bayes_rent.errors import BayesRentError, OptionError
>>> try:
...     raise OptionError("draws must be a whole number >= 1, got -5")
... except BayesRentError as err:
...     print(err)
draws must be a whole number >= 1, got -5
"""

from __future__ import annotations

__all__ = [
    "BayesRentError",
    "DataError",
    "DataWarning",
    "IdentificationError",
    "OptionError",
]


class BayesRentError(Exception):
    """Base class of every error bayes-rent raises about its input; the message names the remedy.

    Examples
    --------
    >>> issubclass(DataError, BayesRentError)
    True
    """


class DataError(BayesRentError, ValueError):
    """The data cannot be used with the model; the message names the columns and rows.

    Examples
    --------
    >>> isinstance(DataError("column 'x1': ..."), ValueError)
    True
    """


class OptionError(BayesRentError, ValueError):
    """An argument or command-line option has a value that cannot work (``draws=-5``).

    Examples
    --------
    >>> str(OptionError("chains must be >= 1, got 0"))
    'chains must be >= 1, got 0'
    """


class IdentificationError(BayesRentError, ValueError):
    """The model is not identified: some parameters cannot be estimated from the data.

    Examples
    --------
    >>> issubclass(IdentificationError, ValueError)
    True
    """


class DataWarning(UserWarning):
    """The data can be used but look suspicious (for example an undeclared missing-value code).

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn("column 'x1': -99 looks like a missing-value code", DataWarning)
    >>> caught[0].category.__name__
    'DataWarning'
    """
