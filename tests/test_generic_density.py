"""The generic density (bayes_rent.backend.generic) is the PyMC model's density.

For every kind of continuous model the generic kernel serves, its log density and gradient
at 20 random unconstrained points equal those of the PyMC model the marginal and multi-group
backends build (``model.logp()`` and its gradient with respect to the value variables,
evaluated by PyTensor without a C compile), to a relative error of 1e-8; among them two fits
that sample scattered missing answers (data augmentation). The expanded draw has the PyMC
model's variables, in its order, with its dims and back-transforms. A fresh process fits
three model structures it has never seen (one with sampled missing answers) and compiles
nothing for the later ones. An augmented fit through the generic density has the PyMC
route's posterior.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytensor
import pytest
from conftest import HOLZINGER_SWINEFORD, POLITICAL_DEMOCRACY
from pytensor.compile.mode import Mode

from bayes_rent.backend import generic
from bayes_rent.backend.base import FitRequest
from bayes_rent.backend.multigroup import DEFAULT_POOLING_PRIOR
from bayes_rent.backend.registry import choose_backend
from bayes_rent.data.observed import moments
from bayes_rent.data.survey import models_dir
from bayes_rent.model import Model

N_POINTS = 20
RTOL = 1e-8
ROOT = Path(__file__).resolve().parents[1]

# PoliticalDemocracy with lavaan's equality-constrained loadings (labels shared by two rows)
# and labelled paths
PD_LABELLED = """
ind60 =~ x1 + x2 + x3
dem60 =~ y1 + l2*y2 + l3*y3 + l4*y4
dem65 =~ y5 + l2*y6 + l3*y7 + l4*y8
dem60 ~ a*ind60
dem65 ~ c*ind60 + b*dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8
"""

# one prior of every family on the kinds that accept it, and every variance scale
PRIORS_PD = {
    "loadings": "normal(1,2)",
    "a": "student_t(3,0,5)",
    "b": "cauchy(0,2)",
    "c": "uniform(-5,5)",
    "intercepts": "normal(5,20)",
    "x1~~x1": "lognormal(0,1)[sd]",
    "x2~~x2": "halfnormal(2)[var]",
    "x3~~x3": "gamma(2,1)[prec]",
    "y1~~y1": "halfcauchy(2)",
    "y2~~y2": "halfstudent_t(3,2)",
    "y3~~y3": "inv_gamma(3,2)[var]",
    "y4~~y4": "exponential(1)[prec]",
    "y5~~y5": "gamma(2,0.5)[var]",
    "y1~~y5": "beta(2,3)",
    "y2~~y4": "uniform(-1,1)",
}
PRIORS_HS = {
    "visual=~x2": "student_t(4,1,3)",
    "textual=~x5": "lognormal(0,0.5)",
    "speed=~x8": "gamma(3,2)",
    "visual~~visual": "inv_gamma(2,1)",
    "textual~~textual": "halfnormal(1)[prec]",
    "visual~~textual": "beta(3,3)",
    "visual~~speed": "uniform(-1,1)",
    "intercepts": "cauchy(0,10)",
}
PHANTOM = "f =~ y1 + y2 + y3\nf ~ x1\nz ~ f + x1"


def _phantom_data() -> pd.DataFrame:
    """Data for a model with observed variables in the structural part (phantom latents)."""
    rng = np.random.default_rng(5)
    x1 = rng.normal(size=200)
    f = 0.6 * x1 + rng.normal(size=200)
    cols = {f"y{k}": (0.5 + 0.3 * k) * f + rng.normal(size=200) for k in (1, 2, 3)}
    return pd.DataFrame({**cols, "x1": x1, "z": 0.4 * f - 0.3 * x1 + rng.normal(size=200)})


def _with_missing_patterns(hs: pd.DataFrame) -> pd.DataFrame:
    """HS with blocks of respondents missing whole sets of items: a few patterns."""
    data = hs.copy()
    rng = np.random.default_rng(11)
    rows = rng.permutation(len(data))
    data.loc[data.index[rows[:40]], ["x3"]] = np.nan
    data.loc[data.index[rows[40:70]], ["x7", "x8"]] = np.nan
    data.loc[data.index[rows[70:85]], ["x1", "x5", "x9"]] = np.nan
    return data


def _scattered(data: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """The data with a share of the answers blanked at random, one by one.

    PoliticalDemocracy (75 rows, 11 items) needs ~10 % for the gaps to count as scattered
    (more patterns than ``ObservedMoments.scattered`` allows: K p > 3 N), so that the
    marginal backend samples them (data augmentation).
    """
    return data.mask(np.random.default_rng(seed).random(data.shape) < share)


def _survey() -> pd.DataFrame:
    """The shipped survey through the questionnaire map (reverse-keyed items recoded), as
    ``bayes-rent fit --survey models/questionnaire.yaml`` reads it: ~3 % scattered gaps."""
    import bayes_rent as br

    return br.read_survey(br.datasets.cluster_survey(), br.book_schema(), reverse=True).data


AUGMENTED = ("pd_augmented", "survey_second_order_augmented")
CASES = {
    "pd_labels": lambda d: (Model(PD_LABELLED), d["pd"], {}),
    "hs_cfa": lambda d: (Model(HOLZINGER_SWINEFORD), d["hs"], {}),
    "hs_missing_patterns": lambda d: (Model(HOLZINGER_SWINEFORD),
                                      _with_missing_patterns(d["hs"]), {}),
    "pd_std_lv": lambda d: (Model(POLITICAL_DEMOCRACY, std_lv=True), d["pd"], {}),
    "pd_prior_families": lambda d: (Model(PD_LABELLED), d["pd"], {"priors": PRIORS_PD}),
    "hs_prior_families": lambda d: (Model(HOLZINGER_SWINEFORD), d["hs"],
                                    {"priors": PRIORS_HS}),
    "phantom_latents": lambda d: (Model(PHANTOM), _phantom_data(), {}),
    "hs_two_groups": lambda d: (Model(HOLZINGER_SWINEFORD), d["hs"],
                                {"group": "school", "group_equal": ["loadings"]}),
    "pd_augmented": lambda d: (Model(PD_LABELLED), _scattered(d["pd"], 0.1, 7), {}),
    "survey_second_order_augmented": lambda d: (
        Model((models_dir() / "submodel1_re.lav").read_text()), _survey(), {}),
}


def fit_generic(model: Model, data: pd.DataFrame, **options):
    """``Model.fit`` with the generic density's switch in it (what Model.fit would run).

    The same route (defaults, choose the backend, prepare, sample, build the Fit) with
    :func:`bayes_rent.backend.generic.sample_prepared` before ``run_sampler``. The result
    says which density sampled it in ``fit.density`` (``"generic"`` or the reason the PyMC
    route ran). ``bench/bench_generic_density.py`` uses it too.
    """
    from bayes_rent.model import FIT_KINDS, ORDINAL_SAMPLING, SAMPLER_OPTIONS, SAMPLING
    from bayes_rent.sampling import DEFAULT_SAMPLER, run_sampler

    native = options.pop("native", None)
    ordinal = bool(options.get("ordered")) or model.partable["op"].eq("|").any()
    for name, value in (ORDINAL_SAMPLING if ordinal else SAMPLING).items():
        if options.get(name) is None:
            options[name] = value
    options = {"sampler": DEFAULT_SAMPLER, "progressbar": True, "seed": None,
               "pooling_prior": DEFAULT_POOLING_PRIOR, **options}
    options["group_equal"] = list(options.get("group_equal", ()))
    request = FitRequest(**options)
    backend = choose_backend(model, data, request)
    prepared = backend.prepare(model, data, request)
    settings = {k: prepared.settings[k] for k in SAMPLER_OPTIONS}
    idata, reason = generic.sample_prepared(backend.name, prepared, native=native, **settings)
    if idata is None:
        idata = run_sampler(prepared.pm_model, prepared.key, prepared.data, prepared.initvals,
                            **settings, **prepared.sampler_options)
    fit = FIT_KINDS[prepared.fit_kind](
        model=model, backend=backend, idata=idata, sampler=request.sampler,
        settings=prepared.settings, **prepared.fit_parts,
    )
    # not in settings: a null-model fit repeats the settings as Model.fit keywords
    fit.density = reason or "generic"
    return fit


def _prepare(model: Model, data: pd.DataFrame, options: dict):
    """The backend's preparation of a fit, as Model.fit runs it."""
    request = FitRequest(draws=10, tune=10, chains=1, seed=1, sampler="nutpie",
                         progressbar=False, target_accept=None,
                         **{"pooling_prior": DEFAULT_POOLING_PRIOR, **options})
    backend = choose_backend(model, data, request)
    return backend, backend.prepare(model, data, request)


def _pymc_functions(pm_model):
    """logp, its gradient and the constrained values of the PyMC model, compiled without C."""
    value_vars = pm_model.value_vars
    names = {v.name for v in value_vars}
    constrained = [v for v in pm_model.unobserved_value_vars if v.name not in names]
    logp = pm_model.logp()
    # the Python linker without graph rewrites: compiles in about a second, no C compiler
    fn = pytensor.function(
        value_vars, [logp, *pytensor.grad(logp, value_vars), *constrained],
        mode=Mode(linker="py", optimizer=None), on_unused_input="ignore",
    )
    return fn, value_vars, constrained


@pytest.fixture(scope="module")
def datasets(pd_data, hs_data):
    return {"pd": pd_data, "hs": hs_data}


@pytest.fixture(scope="module", params=list(CASES))
def case(request, datasets):
    model, data, options = CASES[request.param](datasets)
    backend, prepared = _prepare(model, data, options)
    structure, reason = generic.structure_for(backend.name, prepared)
    assert reason is None, reason
    return request.param, prepared, structure, _pymc_functions(prepared.pm_model)


def test_density_and_gradient_equal_pymc(case):
    name, prepared, structure, (fn, value_vars, _) = case
    moments_ = generic.pack_moments(prepared.data)
    start = generic.flat_point(structure, prepared.initvals[0])
    sizes = [v.stop - v.start for v in structure.variables if not v.constrained]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    compared = 0
    for _ in range(10 * N_POINTS):
        u = start + rng.normal(0.0, 0.5, size=start.shape)
        out = fn(*np.split(u, np.cumsum(sizes)[:-1]))
        expected, expected_grad = out[0], np.concatenate(out[1:1 + len(value_vars)])
        got, grad = generic.log_density(structure, moments_, u)
        if not np.isfinite(expected):
            # Σ not positive definite at this point: both densities say so
            assert got == -np.inf, name
            continue
        assert abs(got - expected) <= RTOL * abs(expected), name
        # per component, relative to the gradient's scale (a component can be ~0)
        np.testing.assert_allclose(grad, expected_grad, rtol=RTOL,
                                   atol=RTOL * np.abs(expected_grad).max())
        compared += 1
        if compared == N_POINTS:
            break
    assert compared == N_POINTS


def test_expanded_draw_has_the_pymc_variables(case):
    name, prepared, structure, (fn, value_vars, constrained) = case
    pm_model = prepared.pm_model
    values = [v for v in structure.variables if not v.constrained]
    assert [v.name for v in values] == [v.name for v in value_vars]
    assert [v.name for v in structure.variables if v.constrained] == [
        v.name for v in constrained]
    dims = pm_model.named_vars_to_dims
    for v in structure.variables:
        if v.name in dims:
            assert v.dims == tuple(dims[v.name]), v.name
            assert list(structure.coords[v.dims[0]]) == list(pm_model.coords[v.dims[0]])
    u = generic.flat_point(structure, prepared.initvals[0]) + 0.3
    sizes = [v.stop - v.start for v in values]
    out = fn(*np.split(u, np.cumsum(sizes)[:-1]))
    expanded = generic.expand_draw(structure, u)
    assert list(expanded) == [v.name for v in structure.variables]
    for var, expected in zip(constrained, out[1 + len(value_vars):], strict=True):
        np.testing.assert_allclose(expanded[var.name], expected, rtol=1e-13)


def test_augmented_cases_sample_the_missing_answers(case):
    """The augmented cases do take the data-augmentation route: one coordinate per gap,
    after the parameters, starting at the column means as the PyMC route's chains do."""
    name, prepared, structure, _ = case
    if name not in AUGMENTED:
        assert structure.n_missing == 0
        return
    values = prepared.fit_parts["data"].to_numpy(dtype=float)
    gaps = np.isnan(values)
    assert prepared.fit_parts["moments"].scattered and "filled_data" in prepared.data
    assert structure.n_missing == gaps.sum() > 0
    missing = next(v for v in structure.variables if v.name == "missing_answers")
    assert (missing.start, missing.stop) == (structure.ndim - gaps.sum(), structure.ndim)
    assert missing.dims == ("missing_answer",)
    start = generic.flat_point(structure, prepared.initvals[0])[missing.start:]
    np.testing.assert_array_equal(start, np.nanmean(values, axis=0)[np.nonzero(gaps)[1]])


def test_augmented_structure_refuses_other_data(pd_data):
    """The kernel reads the filled data without bounds checks: a structure that samples
    missing answers is refused any other data (here the pattern statistics) before a call."""
    _, prepared = _prepare(Model(POLITICAL_DEMOCRACY), _scattered(pd_data, 0.1, 7), {})
    structure, _ = generic.structure_for("marginal", prepared)
    u = generic.flat_point(structure, prepared.initvals[0])
    assert np.isfinite(generic.log_density(structure, generic.pack_moments(prepared.data), u)[0])
    patterns = generic.pack_moments(prepared.fit_parts["moments"])
    with pytest.raises(ValueError, match="filled data"):
        generic.log_density(structure, patterns, u)
    with pytest.raises(ValueError, match="filled data"):
        generic.native_model(structure, prepared.fit_parts["moments"])


def test_start_point_is_pymc_initial_point(case):
    """flat_point transforms a chain's start values as PyMC's initial-point function does."""
    from pymc.initial_point import make_initial_point_fn

    _, prepared, structure, _ = case
    fn = make_initial_point_fn(model=prepared.pm_model, overrides=prepared.initvals[0],
                               jitter_rvs=set(), return_transformed=True)
    point = fn(0)
    expected = np.concatenate([np.ravel(point[v.name]) for v in prepared.pm_model.value_vars])
    np.testing.assert_allclose(generic.flat_point(structure, prepared.initvals[0]), expected,
                               rtol=1e-12)


def test_non_positive_definite_sigma_gives_minus_infinity(pd_data):
    """Residual correlations that no covariance matrix has, and latent variances ~0: the
    implied Σ is indefinite, the density -inf (nutpie counts the step as divergent)."""
    _, prepared = _prepare(Model(PD_LABELLED), pd_data, {})
    structure, _ = generic.structure_for("marginal", prepared)
    u = generic.flat_point(structure, prepared.initvals[0])
    by_name = {v.name: v for v in structure.variables}
    sds, cors = by_name["sds_log__"], by_name["correlations_logodds__"]
    for k, name in enumerate(structure.coords["sd"]):
        if name.split("~~")[0] in ("ind60", "dem60", "dem65"):
            u[sds.start + k] = -20.0
    # y2-y4, y2-y6, y4-y8 at +0.99 and y6-y8 at -0.99 cannot hold together
    r = {"y2~~y4": 0.99, "y2~~y6": 0.99, "y4~~y8": 0.99, "y6~~y8": -0.99}
    for k, name in enumerate(structure.coords["correlation"]):
        if name in r:
            s = (r[name] + 1) / 2
            u[cors.start + k] = np.log(s / (1 - s))
    logp, grad = generic.log_density(structure, generic.pack_moments(prepared.data), u)
    assert logp == -np.inf and np.all(grad == 0)


def test_data_swap_without_rebuilding(pd_data):
    """The nutpie model takes new data through with_data, as the PyMC route's does."""
    backend, prepared = _prepare(Model(POLITICAL_DEMOCRACY), pd_data, {})
    structure, _ = generic.structure_for(backend.name, prepared)
    compiled = generic.compile_model(structure, prepared.data)
    half = moments(prepared.fit_parts["data"].iloc[::2])
    swapped = compiled.with_data(moments=generic.pack_moments(half))
    u = generic.flat_point(structure, prepared.initvals[0])
    logp_fn = swapped._make_logp_func()
    got = logp_fn(u, **swapped._shared_data)[0]
    assert got == generic.log_density(structure, generic.pack_moments(half), u)[0]
    assert got != generic.log_density(structure, generic.pack_moments(prepared.data), u)[0]


def test_c_and_python_callbacks_give_the_same_draws(pd_data):
    """nutpie's C callbacks (the default) and from_pyfunc's Python callback sample the same
    density from the same start: the same draws, named as the PyMC route names them."""
    backend, prepared = _prepare(Model(PD_LABELLED), pd_data, {})
    structure, _ = generic.structure_for(backend.name, prepared)
    draws = [
        generic.sample(structure, prepared.data, prepared.initvals, draws=30, tune=30,
                       chains=2, seed=4, progressbar=False, native=native).posterior
        for native in (True, False)
    ]
    assert list(draws[0].data_vars) == list(draws[1].data_vars) == [
        v.name for v in structure.variables]
    for name in draws[0].data_vars:
        assert draws[0][name].dims == draws[1][name].dims
        np.testing.assert_allclose(draws[0][name].values, draws[1][name].values, rtol=1e-12)
    sds = draws[0]["sds"].values
    np.testing.assert_allclose(sds, np.exp(draws[0]["sds_log__"].values), rtol=1e-14)


@pytest.mark.parametrize(
    "options, data_kind, reason",
    [
        ({"ordered": True}, "likert", "conditional backend"),
        ({"group": "school", "pooling": "partial"}, "hs_paths", "partially pooled"),
    ],
)
def test_unsupported_models_fall_back(options, data_kind, reason, pd_data, hs_data):
    rng = np.random.default_rng(2)
    syntax, data = POLITICAL_DEMOCRACY, pd_data
    if data_kind == "likert":
        syntax = "f =~ x1 + x2 + x3 + x4"
        data = pd.DataFrame(rng.integers(1, 5, size=(150, 4)), columns=["x1", "x2", "x3", "x4"])
    elif data_kind == "hs_paths":
        syntax, data = HOLZINGER_SWINEFORD + "speed ~ visual\n", hs_data
    backend, prepared = _prepare(Model(syntax), data, options)
    structure, why = generic.structure_for(backend.name, prepared)
    assert structure is None and reason in why


def test_priors_the_pymc_route_refuses_are_refused(pd_data):
    """A prior PyMC's route rejects (normal on a variance) is not served either: the PyMC
    route then raises its own message."""
    from bayes_rent.backend.parameters import checked_prior_groups
    from bayes_rent.spec.layout import build_layout
    from bayes_rent.spec.partable import build_partable

    layout = build_layout(build_partable(POLITICAL_DEMOCRACY))
    for prior, words in [("normal(0,1)", "positive support"), ("beta(2,2)", "correlations")]:
        groups = checked_prior_groups(layout, {"x1~~x1": prior})
        assert words in generic.unsupported_reason(layout, groups)
    groups = checked_prior_groups(layout, {"y1~~y5": "gamma(2,2)"})
    assert "beta or uniform" in generic.unsupported_reason(layout, groups)


WORKER = textwrap.dedent("""
    import json, sys, warnings
    warnings.simplefilter("ignore")
    import numpy as np
    import nutpie
    from numba.core import event
    from pytensor.compile.function import types

    counts = {"numba": [], "pytensor": 0, "nutpie_compile": 0}

    class Compiles(event.Listener):
        def on_start(self, ev):
            f = ev.data["dispatcher"].py_func
            counts["numba"].append(f"{f.__module__}.{f.__qualname__}")

        def on_end(self, ev):
            pass

    event.register("numba:compile", Compiles())
    create = types.FunctionMaker.create

    def counted_create(self, *args, **kwargs):
        counts["pytensor"] += 1
        return create(self, *args, **kwargs)

    types.FunctionMaker.create = counted_create
    compile_pymc_model = nutpie.compile_pymc_model

    def counted_compile(*args, **kwargs):
        counts["nutpie_compile"] += 1
        return compile_pymc_model(*args, **kwargs)

    nutpie.compile_pymc_model = counted_compile

    import bayes_rent as br
    sys.path.insert(0, "tests")
    from test_generic_density import fit_generic

    out = {}
    pd_data = br.datasets.political_democracy()
    scattered = pd_data.mask(np.random.default_rng(7).random(pd_data.shape) < 0.1)
    for name, syntax, data in [
        ("cfa", sys.argv[1], br.datasets.holzinger_swineford()),
        ("sem", sys.argv[2], pd_data),
        ("augmented", sys.argv[3], scattered),
    ]:
        before = {"numba": len(counts["numba"]), "pytensor": counts["pytensor"],
                  "nutpie_compile": counts["nutpie_compile"]}
        fit = fit_generic(br.Model(syntax), data, draws=100, tune=100, chains=2, seed=3,
                          progressbar=False)
        out[name] = {
            "density": fit.density,
            "numba": counts["numba"][before["numba"]:],
            "pytensor": counts["pytensor"] - before["pytensor"],
            "nutpie_compile": counts["nutpie_compile"] - before["nutpie_compile"],
            "draws": int(fit.idata.posterior.sizes["draw"]),
            "missing": int(fit.idata.posterior.sizes.get("missing_answer", 0)),
        }
    print("RESULT " + json.dumps(out))
""")


def test_fresh_process_compiles_nothing_per_model():
    """Three structures never fitted before, one fresh process: no compile for any.

    The kernel is compiled once per machine (numba's on-disk cache); on a machine whose
    cache is empty the first fit fills it. The later structures, one of them sampling
    scattered missing answers, must compile nothing at all: no numba function, no PyTensor
    function, no nutpie model.
    """
    cfa = "visual =~ x1 + x2 + x3 + x9\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
    sem = "ind60 =~ x1 + x2 + x3\ndem60 =~ y1 + y2 + y3 + y4\ndem60 ~ ind60\ny1 ~~ y3"
    # every item of the data: its gaps count as scattered (see _scattered)
    augmented = ("ind60 =~ x1 + x2 + x3\ndem60 =~ y1 + y2 + y3 + y4\n"
                 "dem65 =~ y5 + y6 + y7 + y8\ndem65 ~ ind60 + dem60")
    proc = subprocess.run([sys.executable, "-c", WORKER, cfa, sem, augmented],
                          capture_output=True, text=True, cwd=ROOT, timeout=900, check=True)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    out = json.loads(line[len("RESULT "):])
    for name in ("cfa", "sem", "augmented"):
        assert out[name]["density"] == "generic"
        assert out[name]["draws"] == 100
        assert out[name]["pytensor"] == 0 and out[name]["nutpie_compile"] == 0, out
    assert out["sem"]["missing"] == 0 and out["augmented"]["missing"] > 0, out
    # the first fit of a process may compile the kernel (once per machine, into numba's
    # cache, with the numba internals it calls) and arviz's numba variance (once per
    # process, for the ESS of every fit)
    once = ("bayes_rent.backend.generic_kernels.", "numba.", "arviz.")
    assert all(f.startswith(once) for f in out["cfa"]["numba"]), out
    assert out["sem"]["numba"] == [] and out["augmented"]["numba"] == [], out


def test_augmented_fit_agrees_with_the_pymc_route(pd_data, monkeypatch):
    """Scattered missing answers: Model.fit samples them through the generic density, and
    the posterior is the PyMC route's (same variables, dims and coordinates; means within
    Monte Carlo error), both with the defaults (4 chains x (1 000 + 1 000)).

    The tolerance is 4 combined MCSEs per posterior mean (~130 means: a chance failure
    ~1 % of seeds; a bias of ~0.15 posterior SD fails it).
    """
    import arviz as az

    data = _scattered(pd_data, 0.1, 7)
    model = Model(POLITICAL_DEMOCRACY)
    fit = model.fit(data, seed=2, progressbar=False)
    assert fit.settings["density"] == "generic"
    assert fit.convergence.converged, fit.convergence
    with monkeypatch.context() as patch:
        # the PyMC route: Model.fit with the generic density switched off
        patch.setattr(generic, "sample_prepared", lambda *args, **kwargs: (None, "PyMC route"))
        ref = model.fit(data, seed=3, progressbar=False)
    assert ref.settings["density"] == "PyMC route"
    assert ref.convergence.converged, ref.convergence
    post, expected = fit.idata.posterior, ref.idata.posterior
    assert sorted(post.data_vars) == sorted(expected.data_vars)
    for name in expected.data_vars:
        assert post[name].dims == expected[name].dims, name
        for dim in expected[name].dims:
            assert list(post[dim].values) == list(expected[dim].values), dim
    n_missing = int(np.isnan(data.to_numpy(dtype=float)).sum())
    assert post.sizes["missing_answer"] == n_missing > 0
    worst = {}
    for name in ("loadings", "paths", "intercepts", "sds", "correlations", "missing_answers"):
        if name not in expected:
            continue
        diff = post[name].mean(("chain", "draw")) - expected[name].mean(("chain", "draw"))
        mcse = np.hypot(az.mcse(post[name], method="mean")[name],
                        az.mcse(expected[name], method="mean")[name])
        worst[name] = float(np.abs(diff / mcse).max())
    assert max(worst.values()) < 4.0, worst
