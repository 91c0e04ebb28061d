"""Cost of the ordered-probit likelihood per answer: two formulations side by side.

The conditional backend evaluates, for every answer, log(Φ(b) − Φ(a)) with its gradient. This
script times value + gradient over 70 000 answers (N = 2 800 firms × 25 items) compiled with
PyTensor's numba backend (the one nutpie uses), BLAS limited to one thread:

* ``log-CDF route``: log Φ(b) + log1mexp(log Φ(a) − log Φ(b)), with a log Φ that is exact in
  the far tail (erfc above −20 SD, the asymptotic series below);
* ``erfc difference`` (the backend's): log(½ (erfc(−b/√2) − erfc(−a/√2))) after reflecting the
  interval into the lower tail.

Both are checked against scipy before timing. Usage: ``python bench/bench_probit.py``.
"""

from __future__ import annotations

import time

import numpy as np
import pytensor
import pytensor.tensor as pt
from scipy.special import log_ndtr as scipy_log_ndtr
from threadpoolctl import threadpool_limits

from bayes_rent.backend.conditional import _OPEN_END, log_probit_interval

CELLS = 2800 * 25
REPEATS = 50


def log_cdf_route(lower, upper):
    """log(Φ(upper) − Φ(lower)) through two log-CDFs."""

    def log_ndtr(x):
        central, tail = pt.maximum(x, -20.0), pt.minimum(x, -20.0)
        r = 1.0 / tail**2
        series = (-0.5 * tail**2 - pt.log(-tail) - 0.5 * np.log(2 * np.pi)
                  + pt.log1p(r * (-1.0 + r * (3.0 + r * (-15.0 + 105.0 * r)))))
        return pt.switch(x > -20.0, pt.log(0.5 * pt.erfc(-central / np.sqrt(2.0))), series)

    flip = (lower + upper) > 0
    a, b = pt.switch(flip, -upper, lower), pt.switch(flip, -lower, upper)
    log_b = log_ndtr(b)
    return log_b + pt.log1mexp(log_ndtr(a) - log_b)


def main() -> None:
    rng = np.random.default_rng(0)
    cuts = np.array([-_OPEN_END, -1.5, -0.5, 0.5, 1.5, _OPEN_END])
    codes = rng.integers(0, 5, CELLS)
    lower, upper = cuts[codes], cuts[codes + 1]
    x = rng.normal(size=CELLS) * 0.5
    lo, hi = lower - x, upper - x
    flip = lo + hi > 0
    a, b = np.where(flip, -hi, lo), np.where(flip, -lo, hi)
    reference = scipy_log_ndtr(b) + np.log1p(-np.exp(scipy_log_ndtr(a) - scipy_log_ndtr(b)))

    mu = pt.vector("mu")
    timings = {}
    for name, fn in (("log-CDF route", log_cdf_route), ("erfc difference", log_probit_interval)):
        cells = fn(pt.as_tensor(lower) - mu, pt.as_tensor(upper) - mu)
        value = cells.sum()
        compiled = pytensor.function([mu], [value, pytensor.grad(value, mu)], mode="NUMBA")
        check = pytensor.function([mu], cells, mode="NUMBA")(x)
        assert np.allclose(check, reference, rtol=1e-10), name
        compiled(x)
        with threadpool_limits(limits=1, user_api="blas"):
            start = time.perf_counter()
            for _ in range(REPEATS):
                compiled(x)
        timings[name] = (time.perf_counter() - start) / REPEATS
        print(f"{name:>16}: {1000 * timings[name]:6.2f} ms per value+gradient "
              f"({1e9 * timings[name] / CELLS:5.0f} ns per answer)")
    print(f"ratio log-CDF route / erfc difference: "
          f"{timings['log-CDF route'] / timings['erfc difference']:.1f}x")


if __name__ == "__main__":
    main()
