"""Timing helpers the benchmarks share (imported by their fresh worker processes too).

The benches run from the repository root; a worker started with ``python -c`` puts ``bench``
on ``sys.path`` first and imports from here.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable

import numpy as np


def best_cpu_us(call: Callable[[], object], n: int = 20000, repeats: int = 5) -> float:
    """CPU microseconds of one ``call()``: the best of ``repeats`` means over ``n`` calls."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(n):
            call()
        best = min(best, (time.process_time() - start) / n * 1e6)
    return best


def ctypes_call(cfunc, x: np.ndarray, user_data: int):
    """A nutpie C log-density callback, called as nutpie calls it (through ctypes: ~1 µs).

    Returns ``(call, gradient, logp)``: ``call()`` returns the callback's status (0 when
    fine) and fills the two arrays.
    """
    fn = cfunc.ctypes
    out, logp = np.zeros_like(x), np.zeros(1)
    args = (ctypes.c_uint64(x.size), x.ctypes.data_as(fn.argtypes[1]),
            out.ctypes.data_as(fn.argtypes[2]), logp.ctypes.data_as(fn.argtypes[3]),
            ctypes.c_void_p(user_data))
    return (lambda: fn(*args)), out, logp
