"""A fused PyTensor Op for the normal terms against the PyMC route and the generic density.

Run from the repository root (one benchmark at a time on the shared machine)::

    nice -n 10 .venv/bin/python bench/bench_fused_op.py               # checks + timings, 10-30 min
    nice -n 10 .venv/bin/python bench/bench_fused_op.py --check-only  # equality checks, ~5 min
    nice -n 10 .venv/bin/python bench/bench_fused_op.py --skip-check --seed 3 --routes pymc fused

(``--seed`` draws the added residual covariances; a seed used before gives structures the
machine has compiled already, so pick a new one for cold figures.)

The marginal PyMC model writes the pattern-wise normal log-likelihood from sufficient
statistics as a graph of PyTensor ops (padded batched Cholesky, two triangular solves, sums;
``bayes_rent.backend.marginal.pattern_loglik``), and PyTensor differentiates that graph.
This script replaces it by one Op, :class:`NormalFromMoments`, whose gradient is a second Op,
:class:`NormalFromMomentsGrad`, computing the analytic gradient

    dℓ/dΣ_p = -½ N_p (Σ_p⁻¹ - Σ_p⁻¹ (S_p + d dᵀ) Σ_p⁻¹),   dℓ/dμ_p = N_p Σ_p⁻¹ d,

(d = x̄_p - μ_p) pattern by pattern. Both Ops have a NumPy ``perform`` and a numba
implementation registered for PyTensor's numba backend (``register_funcify_default_op_cache_key``,
so PyTensor caches the compiled graph on disk as it does for its own ops); nutpie compiles PyMC
models with ``mode="NUMBA"``, so its compiled log density calls the numba kernel. The pattern
statistics stay the model's ``pm.Data`` and enter the Op as inputs without a gradient (not as
constants of the Op): the package compiles a structure once and hands the data to the compiled
model with ``with_data``, which needs them to stay shared variables of the graph. The pattern's
observed items are read from its mask inside the kernel. A variant,
:class:`NormalFromMomentsWithGrad`, is one node with three outputs (ℓ, dℓ/dΣ, dℓ/dμ) whose
gradient reads its own outputs, so each log density + gradient runs the kernel once instead of
twice (one Cholesky per pattern instead of two).

What it does:

1. equality: at 20 random points (the start point plus N(0, 0.3²) noise on the unconstrained
   scale) the log density and gradient nutpie compiles for the model with the fused Op (both
   variants) equal those of the package's PyMC model (both through the C callback; asserted
   that no ``perform`` ran, i.e. nutpie called the numba kernel); the same for the fused
   models compiled with PyTensor's Python linker, which runs the Ops' NumPy ``perform``.
   It also prints the number of nodes of the log density + gradient graph after the NUMBA
   mode's rewrites.
   Models: PoliticalDemocracy's SEM, Holzinger–Swineford's CFA, and PoliticalDemocracy with
   10 % of its cells blanked at random (seed 0), kept on the pattern-wise likelihood (the
   package would sample the answers of so many patterns, see ``ObservedMoments.scattered``);
2. timings: for each model one residual covariance is added at random (a structure this
   machine has never compiled), and each route runs in its own fresh process, fitting it twice
   with the defaults (4 chains x (1 000 + 1 000), seed 1): ``pymc`` (``Model.fit`` with the
   generic density switched off, as ``bench_generic_density.py`` runs it), ``fused`` (the same
   with ``marginal.pattern_loglik`` replaced by the pair of Ops), ``fused1`` (the one-node
   variant) and ``generic`` (``Model.fit`` as it is: the generic density). Per route: cold end
   to end (imports + first fit; wall and the process's CPU), the time in
   ``nutpie.compile_pymc_model`` (wall and CPU), the warm fit's wall time and sampling CPU,
   min bulk ESS per second of sampling (warm; wall and CPU), and µs per log density + gradient
   through the C callback nutpie calls (ctypes, BLAS at one thread, best of 5 x 20 000 calls,
   CPU time; for the fused routes also the Op's kernel calls alone, called from Python), with
   the load average. The numba kernel is cached on disk (``cache=True``) and PyTensor caches
   the compiled graphs, as the package's own kernels and PyMC graphs are: run the checks once
   before timing cold fits.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numba
import numpy as np
import pytensor.tensor as pt
from bench_generic_density import new_structure  # that bench's never-compiled structures
from pytensor.gradient import DisconnectedType, disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import numba_njit, register_funcify_default_op_cache_key
from timing import best_cpu_us, ctypes_call

ROOT = Path(__file__).resolve().parents[1]
LOG_2PI = float(np.log(2 * np.pi))
MODELS = {
    "PoliticalDemocracy": ("bayes_rent/models/political_democracy.lav", "political_democracy"),
    "HolzingerSwineford": ("bayes_rent/models/holzinger_swineford.lav", "holzinger_swineford"),
}


# ------------------------------------------------------------------------- the numba kernel
@numba.njit(cache=True)
def moments_loglik(sigma, mu, n, mask, mean, factor, scale, gsigma, gmu, want_grad):
    """Pattern-wise normal log-likelihood from sufficient statistics, and its gradient.

    ``sigma`` is read symmetrised; ``factor[g]`` holds ``F`` with ``F Fᵀ = S_g`` on the
    pattern's items. With ``want_grad`` the gradient times ``scale`` is written into
    ``gsigma`` (p x p) and ``gmu`` (p). Returns -inf (and a zero gradient) where a pattern's
    block of Σ is not positive definite.
    """
    p = sigma.shape[0]
    idx = np.empty(p, np.int64)
    chol = np.empty((p, p))
    linv = np.empty((p, p))
    prec = np.empty((p, p))
    m = np.empty((p, p))
    b = np.empty((p, p))
    d = np.empty(p)
    if want_grad:
        gsigma[:, :] = 0.0
        gmu[:] = 0.0
    total = 0.0
    for g in range(n.shape[0]):
        k = 0
        for j in range(p):
            if mask[g, j] > 0.5:
                idx[k] = j
                k += 1
        if k == 0:
            continue
        ng = n[g]
        # Cholesky of the pattern's block, lower
        logdet = 0.0
        for j in range(k):
            s = 0.5 * (sigma[idx[j], idx[j]] + sigma[idx[j], idx[j]])
            for q in range(j):
                s -= chol[j, q] * chol[j, q]
            if not s > 0.0:
                if want_grad:
                    gsigma[:, :] = 0.0
                    gmu[:] = 0.0
                return -np.inf
            djj = np.sqrt(s)
            chol[j, j] = djj
            logdet += 2.0 * np.log(djj)
            for i in range(j + 1, k):
                s = 0.5 * (sigma[idx[i], idx[j]] + sigma[idx[j], idx[i]])
                for q in range(j):
                    s -= chol[i, q] * chol[j, q]
                chol[i, j] = s / djj
        # L⁻¹ (lower), then Σ_p⁻¹ = L⁻ᵀ L⁻¹
        for j in range(k):
            linv[j, j] = 1.0 / chol[j, j]
            for i in range(j + 1, k):
                s = 0.0
                for q in range(j, i):
                    s -= chol[i, q] * linv[q, j]
                linv[i, j] = s / chol[i, i]
        for i in range(k):
            for j in range(i + 1):
                s = 0.0
                for q in range(i, k):
                    s += linv[q, i] * linv[q, j]
                prec[i, j] = s
                prec[j, i] = s
        for i in range(k):
            d[i] = mean[g, idx[i]] - mu[idx[i]]
        # M = S_p + d dᵀ and tr(Σ_p⁻¹ M)
        trace = 0.0
        for i in range(k):
            for j in range(i + 1):
                s = d[i] * d[j]
                for q in range(k):
                    s += factor[g, idx[i], idx[q]] * factor[g, idx[j], idx[q]]
                m[i, j] = s
                m[j, i] = s
                trace += prec[i, j] * s if i == j else 2.0 * prec[i, j] * s
        total += -0.5 * ng * (k * LOG_2PI + logdet + trace)
        if want_grad:
            for i in range(k):
                for j in range(k):
                    s = 0.0
                    for q in range(k):
                        s += prec[i, q] * m[q, j]
                    b[i, j] = s
            c = -0.5 * ng * scale
            for i in range(k):
                for j in range(i + 1):
                    s = 0.0
                    for q in range(k):
                        s += b[i, q] * prec[q, j]
                    v = c * (prec[i, j] - s)
                    gsigma[idx[i], idx[j]] += v
                    if i != j:
                        gsigma[idx[j], idx[i]] += v
                s = 0.0
                for q in range(k):
                    s += prec[i, q] * d[q]
                gmu[idx[i]] += ng * scale * s
    return total


def numpy_loglik(sigma, mu, n, mask, mean, factor, scale=1.0, want_grad=False):
    """The same as :func:`moments_loglik` written with NumPy's linear algebra (``perform``)."""
    sigma = 0.5 * (sigma + sigma.T)
    p = sigma.shape[0]
    gsigma, gmu, total = np.zeros((p, p)), np.zeros(p), 0.0
    for g in range(len(n)):
        o = np.flatnonzero(mask[g] > 0.5)
        if o.size == 0:
            continue
        try:
            chol = np.linalg.cholesky(sigma[np.ix_(o, o)])
        except np.linalg.LinAlgError:
            return -np.inf, np.zeros((p, p)), np.zeros(p)
        prec = np.linalg.inv(sigma[np.ix_(o, o)])
        d = mean[g, o] - mu[o]
        f = factor[g][np.ix_(o, o)]
        m = f @ f.T + np.outer(d, d)
        logdet = 2.0 * np.log(np.diag(chol)).sum()
        total += -0.5 * n[g] * (o.size * LOG_2PI + logdet + np.sum(prec * m))
        if want_grad:
            gsigma[np.ix_(o, o)] += -0.5 * n[g] * scale * (prec - prec @ m @ prec)
            gmu[o] += n[g] * scale * prec @ d
    return total, gsigma, gmu


# ------------------------------------------------------------------------------- the Ops
def _inputs(sigma, mu, n, mask, mean, factor):
    return [pt.as_tensor_variable(x).astype("float64")
            for x in (sigma, mu, n, mask, mean, factor)]


class NormalFromMoments(Op):
    """ℓ(Σ, μ) of the pattern statistics (n, mask, mean, factor): a scalar.

    Inputs ``sigma`` (p, p), ``mu`` (p,), ``n`` (K,), ``mask`` (K, p), ``mean`` (K, p),
    ``factor`` (K, p, p) as in :class:`bayes_rent.data.observed.ObservedMoments`; only Σ and
    μ have a gradient.
    """

    __props__ = ()
    #: calls of the NumPy ``perform`` (the check asserts that nutpie's callback makes none)
    performed = 0

    def make_node(self, sigma, mu, n, mask, mean, factor):
        inputs = _inputs(sigma, mu, n, mask, mean, factor)
        return Apply(self, inputs, [pt.dscalar()])

    def perform(self, node, inputs, outputs):
        NormalFromMoments.performed += 1
        outputs[0][0] = np.asarray(numpy_loglik(*inputs)[0], dtype="float64")

    def connection_pattern(self, node):
        return [[True], [True], [False], [False], [False], [False]]

    def grad(self, inputs, output_grads):
        gsigma, gmu = NormalFromMomentsGrad()(*inputs, output_grads[0])
        return [gsigma, gmu] + [disconnected_type() for _ in range(4)]


class NormalFromMomentsGrad(Op):
    """dℓ/dΣ and dℓ/dμ of :class:`NormalFromMoments`, times the output gradient ``gz``."""

    __props__ = ()

    def make_node(self, sigma, mu, n, mask, mean, factor, gz):
        inputs = [*_inputs(sigma, mu, n, mask, mean, factor),
                  pt.as_tensor_variable(gz).astype("float64")]
        return Apply(self, inputs, [inputs[0].type(), inputs[1].type()])

    def perform(self, node, inputs, outputs):
        NormalFromMoments.performed += 1
        *data, gz = inputs
        _, gsigma, gmu = numpy_loglik(*data, scale=float(gz), want_grad=True)
        outputs[0][0], outputs[1][0] = gsigma, gmu


@register_funcify_default_op_cache_key(NormalFromMoments)
def numba_funcify_normal_from_moments(op, node, **kwargs):
    @numba_njit
    def normal_from_moments(sigma, mu, n, mask, mean, factor):
        none = np.empty((0, 0))
        return np.array(moments_loglik(sigma, mu, n, mask, mean, factor, 1.0, none,
                                       np.empty(0), False))

    return normal_from_moments


@register_funcify_default_op_cache_key(NormalFromMomentsGrad)
def numba_funcify_normal_from_moments_grad(op, node, **kwargs):
    @numba_njit
    def normal_from_moments_grad(sigma, mu, n, mask, mean, factor, gz):
        p = sigma.shape[0]
        gsigma, gmu = np.empty((p, p)), np.empty(p)
        moments_loglik(sigma, mu, n, mask, mean, factor, gz.item(), gsigma, gmu, True)
        return gsigma, gmu

    return normal_from_moments_grad


class NormalFromMomentsWithGrad(Op):
    """The variant with one node: ℓ, dℓ/dΣ and dℓ/dμ from one pass (one Cholesky per pattern).

    The log density is output 0; its gradient is outputs 1 and 2 times the output gradient,
    so the graph nutpie compiles evaluates the kernel once per call instead of twice.
    """

    __props__ = ()

    def make_node(self, sigma, mu, n, mask, mean, factor):
        inputs = _inputs(sigma, mu, n, mask, mean, factor)
        return Apply(self, inputs, [pt.dscalar(), inputs[0].type(), inputs[1].type()])

    def perform(self, node, inputs, outputs):
        NormalFromMoments.performed += 1
        ll, gsigma, gmu = numpy_loglik(*inputs, want_grad=True)
        outputs[0][0] = np.asarray(ll, dtype="float64")
        outputs[1][0], outputs[2][0] = gsigma, gmu

    def connection_pattern(self, node):
        return [[True] * 3, [True] * 3] + [[False] * 3 for _ in range(4)]

    def L_op(self, inputs, outputs, output_grads):
        for g in output_grads[1:]:
            if not isinstance(g.type, DisconnectedType):
                raise NotImplementedError("no second derivatives")
        gz = output_grads[0]
        return [gz * outputs[1], gz * outputs[2]] + [disconnected_type() for _ in range(4)]


@register_funcify_default_op_cache_key(NormalFromMomentsWithGrad)
def numba_funcify_normal_from_moments_with_grad(op, node, **kwargs):
    @numba_njit
    def normal_from_moments_with_grad(sigma, mu, n, mask, mean, factor):
        p = sigma.shape[0]
        gsigma, gmu = np.empty((p, p)), np.empty(p)
        ll = moments_loglik(sigma, mu, n, mask, mean, factor, 1.0, gsigma, gmu, True)
        return np.array(ll), gsigma, gmu

    return normal_from_moments_with_grad


NORMAL_FROM_MOMENTS = NormalFromMoments()
NORMAL_FROM_MOMENTS_WITH_GRAD = NormalFromMomentsWithGrad()


def use_fused_op(one_node: bool = False) -> None:
    """Make the marginal backend build its pattern-wise likelihood with the fused Op.

    ``one_node``: with :class:`NormalFromMomentsWithGrad` instead of the pair
    :class:`NormalFromMoments` / :class:`NormalFromMomentsGrad`.
    """
    from bayes_rent.backend import marginal

    original = marginal.pattern_loglik

    def fused_pattern_loglik(sigma, mu, n, mask, mean, factor, xp=np):
        if xp is np:  # the NumPy uses (pointwise log-likelihood, fit indices) stay as they are
            return original(sigma, mu, n, mask, mean, factor, xp=xp)
        if one_node:
            return NORMAL_FROM_MOMENTS_WITH_GRAD(sigma, mu, n, mask, mean, factor)[0]
        return NORMAL_FROM_MOMENTS(sigma, mu, n, mask, mean, factor)

    marginal.pattern_loglik = fused_pattern_loglik


# ------------------------------------------------------------------------------ helpers
def dataset_frame(dataset: str, blank: float = 0.0):
    import bayes_rent as br

    data = getattr(br.datasets, dataset)()
    if blank:
        data = data.copy()
        rng = np.random.default_rng(0)
        cols = [c for c in data.columns if np.issubdtype(data[c].dtype, np.number)]
        values = data[cols].to_numpy(dtype=float, copy=True)
        values[rng.random(values.shape) < blank] = np.nan
        data[cols] = values
    return data


def prepare(syntax: str, data, *, patterns: bool = False):
    import bayes_rent as br
    from bayes_rent.backend.base import FitRequest
    from bayes_rent.backend.registry import choose_backend
    from bayes_rent.data.observed import ObservedMoments

    request = FitRequest(draws=1000, tune=1000, chains=4, seed=1, sampler="nutpie",
                         progressbar=False, target_accept=None)
    model = br.Model(syntax)
    backend = choose_backend(model, data, request)
    scattered = ObservedMoments.scattered
    if patterns:  # keep scattered answers on the pattern-wise likelihood
        ObservedMoments.scattered = property(lambda self: False)
    try:
        return backend.prepare(model, data, request)
    finally:
        ObservedMoments.scattered = scattered


# -------------------------------------------------------------------------- equality check
def check_case(name: str, syntax: str, data, patterns: bool) -> dict:
    """Log density and gradient of the fused models against the PyMC model at 20 points.

    ``fused``: the pair of Ops; ``fused1``: :class:`NormalFromMomentsWithGrad`. Each through
    the C callback nutpie compiles (numba) and with PyTensor's Python linker (``perform``).
    """
    import nutpie
    import pytensor
    from pytensor.compile.mode import Mode, get_mode
    from pytensor.graph.traversal import applys_between, graph_inputs

    from bayes_rent.backend import marginal
    from bayes_rent.sampling import _flat_initial_point

    original = marginal.pattern_loglik
    prepared = {"pymc": prepare(syntax, data, patterns=patterns)}
    for label, op_name in (("fused", "NormalFromMoments"),
                           ("fused1", "NormalFromMomentsWithGrad")):
        use_fused_op(one_node=label == "fused1")
        try:
            prepared[label] = prepare(syntax, data, patterns=patterns)
        finally:
            marginal.pattern_loglik = original
        potential = prepared[label].pm_model.potentials[0]
        ops = {type(node.op).__name__
               for node in applys_between(graph_inputs([potential]), [potential])}
        assert op_name in ops, ops
    reference = prepared["pymc"]
    k = int(reference.data["pattern_n"].size)
    compiled = {label: nutpie.compile_pymc_model(r.pm_model).with_data(**r.data)
                for label, r in prepared.items()}
    # size of the log density + gradient graph after the NUMBA mode's rewrites (what nutpie
    # compiles), and the fused models with the Python linker: the Ops' NumPy perform
    python_linker = Mode(linker="py", optimizer=get_mode("NUMBA").optimizer)
    nodes, perform_fns = {}, {}
    for label, r in prepared.items():
        model = r.pm_model
        values = model.value_vars
        logp = model.logp(jacobian=True)
        fn = pytensor.function(values, [logp, *pt.grad(logp, values)], mode=python_linker)
        nodes[label] = len(fn.maker.fgraph.apply_nodes)
        shapes = [np.shape(model.initial_point()[v.name]) for v in values]
        perform_fns[label] = (fn, shapes)

    def perform(label, x):
        fn, shapes = perform_fns[label]
        parts, start = [], 0
        for shape in shapes:
            size = int(np.prod(shape))
            parts.append(x[start:start + size].reshape(shape))
            start += size
        out = fn(*parts)
        return float(out[0]), np.concatenate([np.ravel(g) for g in out[1:]])

    x0 = np.asarray(_flat_initial_point(reference.pm_model, reference.initvals[0])(1))
    rng = np.random.default_rng(1)
    worst = {f"{label} {how} {what}": 0.0 for label in ("fused", "fused1")
             for how in ("numba", "perform") for what in ("logp", "grad")}
    points = 0
    while points < 20:
        x = np.ascontiguousarray(x0 + 0.3 * rng.standard_normal(x0.size))
        out, performed = {}, NormalFromMoments.performed
        for label, c in compiled.items():
            call, grad, lp = ctypes_call(c.compiled_logp_func, x, c.user_data.ctypes.data)
            call()
            out[f"{label} numba"] = (float(lp[0]), grad.copy())
        assert NormalFromMoments.performed == performed  # nutpie ran the numba kernels
        ref_lp, ref_g = out["pymc numba"]
        if not np.isfinite(ref_lp):
            continue
        points += 1
        for label in ("fused", "fused1"):
            out[f"{label} perform"] = perform(label, x)
            for how in ("numba", "perform"):
                lp, g = out[f"{label} {how}"]
                worst[f"{label} {how} logp"] = max(worst[f"{label} {how} logp"],
                                                   abs(lp - ref_lp) / abs(ref_lp))
                worst[f"{label} {how} grad"] = max(
                    worst[f"{label} {how} grad"],
                    np.max(np.abs(g - ref_g)) / np.max(np.abs(ref_g)))
    result = dict(case=name, patterns=k, points=points, nodes=nodes, **worst)
    print(f"  {name}: {k} pattern(s), {points} points; nodes of the log density + gradient "
          f"graph (NUMBA rewrites) pymc {nodes['pymc']}, fused {nodes['fused']}, fused1 "
          f"{nodes['fused1']}; max relative error against the PyMC model:", flush=True)
    for label in ("fused", "fused1"):
        print(f"    {label}: numba (nutpie's C callback) log density "
              f"{worst[f'{label} numba logp']:.1e}, gradient {worst[f'{label} numba grad']:.1e}; "
              f"NumPy perform {worst[f'{label} perform logp']:.1e}, "
              f"{worst[f'{label} perform grad']:.1e}", flush=True)
    assert max(worst.values()) <= 1e-8, result
    return result


def run_checks() -> list[dict]:
    results = []
    for name, (path, dataset) in MODELS.items():
        results.append(check_case(name, (ROOT / path).read_text(), dataset_frame(dataset), False))
    path, dataset = MODELS["PoliticalDemocracy"]
    results.append(check_case("PoliticalDemocracy, 10 % blanked", (ROOT / path).read_text(),
                              dataset_frame(dataset, 0.1), True))
    return results


# ------------------------------------------------------------------------------ timings
def worker(t0: float, route: str, syntax: str, dataset: str) -> None:
    """One route in a fresh process: a cold fit, a warm fit, the callback's cost."""
    warnings.simplefilter("ignore")
    import nutpie
    import threadpoolctl

    import bayes_rent as br
    from bayes_rent.backend import generic, generic_kernels

    import_s = time.perf_counter() - t0
    data = getattr(br.datasets, dataset)()
    timing = {"compile": 0.0, "compile_cpu": 0.0}
    sample, compile_model = nutpie.sample, nutpie.compile_pymc_model

    def timed_sample(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        out = sample(*args, **kwargs)
        timing.update(wall=time.perf_counter() - wall, cpu=time.process_time() - cpu)
        return out

    def timed_compile(*args, **kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        out = compile_model(*args, **kwargs)
        timing["compile"] += time.perf_counter() - start
        timing["compile_cpu"] += time.process_time() - cpu
        return out

    nutpie.sample, nutpie.compile_pymc_model = timed_sample, timed_compile
    if route != "generic":
        # Model.fit with the generic density switched off: the PyMC model compiled by nutpie
        generic.sample_prepared = lambda *args, **kwargs: (None, "PyMC route")
    if route in ("fused", "fused1"):
        use_fused_op(one_node=route == "fused1")

    def one_fit():
        timing["compile"] = timing["compile_cpu"] = 0.0
        start = time.perf_counter()
        fit = br.Model(syntax).fit(data, seed=1, progressbar=False)
        c = fit.convergence
        return dict(total=time.perf_counter() - start, compile=timing["compile"],
                    compile_cpu=timing["compile_cpu"],
                    sampling=timing["wall"], sampling_cpu=timing["cpu"],
                    min_ess=float(c.min_ess_bulk), max_rhat=float(c.max_r_hat),
                    divergences=int(c.divergences), density=fit.settings.get("density"),
                    load=os.getloadavg()[0])

    cold = one_fit()
    cold["end_to_end"] = import_s + cold["total"]
    cold["end_to_end_cpu"] = time.process_time()  # CPU of the process so far, all threads
    warm = one_fit()
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):  # as while sampling
        if route != "generic":
            from bayes_rent.sampling import _COMPILED

            compiled = next(iter(_COMPILED.values()))
            x = np.ascontiguousarray(compiled.initial_point_func(1), dtype=float)
            call = ctypes_call(compiled.compiled_logp_func, x, compiled.user_data.ctypes.data)[0]
        else:
            from bayes_rent.backend.base import FitRequest
            from bayes_rent.backend.registry import choose_backend

            request = FitRequest(draws=1, tune=1, chains=1, seed=1, sampler="nutpie",
                                 progressbar=False, target_accept=None)
            backend = choose_backend(br.Model(syntax), data, request)
            prepared = backend.prepare(br.Model(syntax), data, request)
            structure, _ = generic.structure_for(backend.name, prepared)
            x = generic.flat_point(structure, prepared.initvals[0])
            assert generic_kernels.logp_dlogp is not None
            native = generic.native_model(structure, prepared.data)
            call = ctypes_call(native.compiled_logp_func, x, native.user_data.ctypes.data)[0]
        assert call() == 0
        grad_us = best_cpu_us(call)
        kernel_us = None
        if route in ("fused", "fused1"):  # the fused Op's kernel calls alone
            stats = prepared_moments(syntax, data)
            kernel_us = best_cpu_us(lambda: fused_kernel_calls(*stats, route == "fused"))
    print("RESULT " + json.dumps(dict(import_s=import_s, cold=cold, warm=warm, grad_us=grad_us,
                                      kernel_us=kernel_us, load=os.getloadavg()[0])), flush=True)


def prepared_moments(syntax: str, data) -> tuple[np.ndarray, ...]:
    """Σ, μ at the sample moments and the pattern statistics, as the fused Op receives them."""
    prepared = prepare(syntax, data)
    stats = prepared.data
    frame = data[list(prepared.fit_parts["moments"].variables)]
    sigma = np.cov(frame.to_numpy(dtype=float), rowvar=False) + np.eye(frame.shape[1])
    return (sigma, frame.mean().to_numpy(), stats["pattern_n"], stats["pattern_mask"],
            stats["pattern_mean"], stats["pattern_factor"])


def fused_kernel_calls(sigma, mu, n, mask, mean, factor, value_call=True) -> None:
    p = sigma.shape[0]
    gsigma, gmu = np.empty((p, p)), np.empty(p)
    if value_call:  # the pair of Ops: one call for the value, one for the gradient
        moments_loglik(sigma, mu, n, mask, mean, factor, 1.0, gsigma, gmu, False)
    moments_loglik(sigma, mu, n, mask, mean, factor, 1.0, gsigma, gmu, True)


def run_worker(route: str, syntax: str, dataset: str) -> dict:
    code = ("import time; t0 = time.perf_counter(); import sys; sys.path.insert(0, 'bench'); "
            "import bench_fused_op as b; b.worker(t0, *sys.argv[1:])")
    proc = subprocess.run([sys.executable, "-c", code, route, syntax, dataset],
                          capture_output=True, text=True, cwd=ROOT)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"{route} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


ROUTES = {"pymc": "PyMC route (nutpie.compile_pymc_model)",
          "fused": "PyMC + fused Op (value Op + gradient Op)",
          "fused1": "PyMC + fused Op (one node: value and gradient)",
          "generic": "generic density (Model.fit)"}


def table(results: dict) -> str:
    rows = ["| model | route | cold, end to end (s) | in compile_pymc_model, cold (s) | "
            "warm fit (s) | sampling CPU, warm (s) | min bulk ESS | min ESS/s (warm, wall) | "
            "min ESS / CPU s | "
            "max R-hat | div | µs / log density + gradient | load (cold / warm / end) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (model, added), routes in results.items():
        first = True
        for route, r in routes.items():
            c, w = r["cold"], r["warm"]
            compile_s = (f"{c['compile']:.1f} ({c['compile_cpu']:.1f} CPU)"
                         if route != "generic" else "–")
            kernel = (f" (the Op's kernels alone: {r['kernel_us']:.1f})"
                      if r.get("kernel_us") else "")
            rows.append(
                f"| {model + ' + ' + added if first else ''} | {ROUTES[route]} | "
                f"{c['end_to_end']:.1f} ({c['end_to_end_cpu']:.1f} CPU) | {compile_s} | "
                f"{w['total']:.2f} | "
                f"{w['sampling_cpu']:.1f} | {w['min_ess']:.0f} | "
                f"{w['min_ess'] / w['sampling']:.0f} | "
                f"{w['min_ess'] / w['sampling_cpu']:.0f} | {w['max_rhat']:.3f} | "
                f"{w['divergences']} | {r['grad_us']:.1f}{kernel} | "
                f"{c['load']:.1f} / {w['load']:.1f} / {r['load']:.1f} |")
            first = False
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--routes", nargs="*", default=list(ROUTES))
    parser.add_argument("--check-only", action="store_true")
    parser.add_argument("--skip-check", action="store_true")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the added residual covariance (default: random)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    if not args.skip_check:
        print("Equality with the PyMC model (20 random points per model):", flush=True)
        run_checks()
    if args.check_only:
        return
    rng = random.Random(args.seed)
    results = {}
    for name in args.models:
        path, dataset = MODELS[name]
        syntax, added = new_structure(path, rng)
        print(f"\n{name} + '{added}' (a structure this machine has not compiled)", flush=True)
        results[(name, f"'{added}'")] = routes = {}
        for route in args.routes:
            routes[route] = r = run_worker(route, syntax, dataset)
            print(f"  {route}: {json.dumps(r)}", flush=True)
    print()
    print(table(results))


if __name__ == "__main__":
    main()
