"""Prior distributions: blavaan's defaults, prior strings, and user overrides.

Priors are written as short strings, the way blavaan users write them::

    normal(0,10)          loadings, paths (mean, SD)
    gamma(1,0.5)[sd]      on a standard deviation (shape, rate); [var] or [prec] move the prior
                          to the variance or the precision
    beta(1,1)             on a correlation, rescaled from (0, 1) to (-1, 1)

A prior comes from, in order of precedence: ``prior("...")`` in the syntax, ``priors=`` keyed by
``"lhs op rhs"``, by label, by parameter type (``"loadings"``, ``"=~"``, ``"lambda"``, ...), and
finally the defaults below.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pymc as pm
import pytensor.tensor as pt

#: blavaan's default priors, on the SD scale for variances.
DEFAULT_PRIORS: dict[str, str] = {
    "loading": "normal(0,10)",
    "path": "normal(0,10)",
    "intercept": "normal(0,32)",
    "latent_mean": "normal(0,10)",
    "sd": "gamma(1,0.5)[sd]",
    "correlation": "beta(1,1)",
    "threshold": "normal(0,1.5)",
}

#: Names a user may key ``priors=`` by, for each kind of parameter.
KIND_KEYS: dict[str, str] = {
    "loadings": "loading", "=~": "loading", "lambda": "loading",
    "paths": "path", "regressions": "path", "~": "path", "beta": "path",
    "intercepts": "intercept", "~1": "intercept", "nu": "intercept",
    "latent_means": "latent_mean", "alpha": "latent_mean",
    "variances": "sd", "theta": "sd", "psi": "sd",
    "covariances": "correlation", "correlations": "correlation", "rho": "correlation",
    "thresholds": "threshold", "|": "threshold", "tau": "threshold",
}

_FAMILIES: dict[str, tuple[type, tuple[str, ...], bool]] = {
    # name: (PyMC class, parameter names, support is positive)
    "normal": (pm.Normal, ("mu", "sigma"), False),
    "student_t": (pm.StudentT, ("nu", "mu", "sigma"), False),
    "cauchy": (pm.Cauchy, ("alpha", "beta"), False),
    "uniform": (pm.Uniform, ("lower", "upper"), False),
    "lognormal": (pm.LogNormal, ("mu", "sigma"), True),
    "gamma": (pm.Gamma, ("alpha", "beta"), True),
    "inv_gamma": (pm.InverseGamma, ("alpha", "beta"), True),
    "halfnormal": (pm.HalfNormal, ("sigma",), True),
    "halfcauchy": (pm.HalfCauchy, ("beta",), True),
    "halfstudent_t": (pm.HalfStudentT, ("nu", "sigma"), True),
    "exponential": (pm.Exponential, ("lam",), True),
    "beta": (pm.Beta, ("alpha", "beta"), True),
}

_PRIOR_RE = re.compile(
    r"^\s*(?P<family>[a-z_]+)\s*\((?P<args>[^()]*)\)\s*(?:\[(?P<scale>sd|var|prec)\])?\s*$"
)


@dataclass(frozen=True)
class PriorSpec:
    """A parsed prior string."""

    family: str
    args: tuple[float, ...]
    scale: str | None = None  # for variances: sd (the default), var or prec

    @property
    def text(self) -> str:
        args = ",".join(f"{a:g}" for a in self.args)
        tail = f"[{self.scale}]" if self.scale else ""
        return f"{self.family}({args}){tail}"


def parse_prior(text: str) -> PriorSpec:
    """Parse a prior string such as ``"normal(0,10)"`` or ``"gamma(1,0.5)[sd]"``.

    Parameters
    ----------
    text : str
        Family name, numeric arguments in parentheses, and an optional ``[sd]``, ``[var]`` or
        ``[prec]`` for priors on variances.

    Returns
    -------
    PriorSpec

    Raises
    ------
    ValueError
        Naming the text and what is wrong with it.

    Examples
    --------
    >>> parse_prior("gamma(1, 0.5)[sd]")
    PriorSpec(family='gamma', args=(1.0, 0.5), scale='sd')
    >>> parse_prior("normal(0,10)").text
    'normal(0,10)'
    """
    m = _PRIOR_RE.match(text)
    if not m:
        raise ValueError(
            f"prior {text!r}: expected family(arg, ...) with an optional [sd|var|prec], "
            'e.g. "normal(0,10)" or "gamma(1,0.5)[sd]"'
        )
    family = m["family"]
    if family not in _FAMILIES:
        raise ValueError(f"prior {text!r}: unknown family {family!r}; known: {sorted(_FAMILIES)}")
    try:
        args = tuple(float(a) for a in m["args"].split(",")) if m["args"].strip() else ()
    except ValueError:
        raise ValueError(f"prior {text!r}: arguments must be numbers") from None
    names = _FAMILIES[family][1]
    if len(args) != len(names):
        raise ValueError(
            f"prior {text!r}: {family} takes {len(names)} argument(s) ({', '.join(names)})"
        )
    return PriorSpec(family, args, m["scale"])


def resolve_prior(
    kind: str,
    rows: list[dict],
    overrides: Mapping[str, str] | None,
) -> str:
    """The prior string for one sampled element.

    Parameters
    ----------
    kind : str
        Element kind (``loading``, ``path``, ``intercept``, ``latent_mean``, ``sd``,
        ``correlation``, ``threshold``).
    rows : list of dict
        The parameter-table rows the element stands for (``lhs``, ``op``, ``rhs``, ``label``,
        ``prior``).
    overrides : mapping, optional
        ``priors=`` given to the fit.

    Returns
    -------
    str

    Examples
    --------
    >>> resolve_prior("loading", [dict(lhs="f", op="=~", rhs="x2", label="", prior="")],
    ...               {"loadings": "normal(1,1)"})
    'normal(1,1)'
    """
    for r in rows:
        if r["prior"]:
            return r["prior"]
    overrides = dict(overrides or {})
    norm = {re.sub(r"\s+", "", k): v for k, v in overrides.items()}
    for r in rows:
        key = f"{r['lhs']}{r['op']}{r['rhs']}"
        if key in norm:
            return norm[key]
        if r["op"] == "~~":
            flipped = f"{r['rhs']}~~{r['lhs']}"
            if flipped in norm:
                return norm[flipped]
    for r in rows:
        if r["label"] and r["label"] in overrides:
            return overrides[r["label"]]
    for key, value in overrides.items():
        if KIND_KEYS.get(key) == kind:
            return value
    return DEFAULT_PRIORS[kind]


def check_override_keys(overrides: Mapping[str, str] | None, known: set[str]) -> None:
    """Raise when a key of ``priors=`` names nothing in the model.

    Parameters
    ----------
    overrides : mapping, optional
        ``priors=`` as given by the user.
    known : set of str
        Labels and ``lhs op rhs`` names (without spaces) of the model's free parameters.
    """
    for key, value in (overrides or {}).items():
        parse_prior(value)
        bare = re.sub(r"\s+", "", key)
        if key in KIND_KEYS or key in known or bare in known:
            continue
        raise ValueError(
            f"priors: key {key!r} is neither a parameter type ({sorted(set(KIND_KEYS))}), "
            "a label, nor a parameter of the model written as 'lhs op rhs'"
        )


def prior_rv(name: str, spec: PriorSpec, kind: str, dims: str, size: int, args=None):
    """Create the PyMC random variable for a group of elements that share one prior.

    Returns the random variable and the symbolic natural-scale values (SDs for variances,
    correlations in (-1, 1)); :func:`natural_values` repeats the same mapping on draws.

    Parameters
    ----------
    name : str
        Variable name in the model.
    spec : PriorSpec
        The prior.
    kind : str
        Element kind, which decides the allowed supports and the mapping.
    dims : str
        Name of the model dimension the vector is labelled with.
    size : int
        Number of elements.
    args : tensor, optional
        The prior's arguments as a tensor (``pm.Data``), in the order of ``spec.args``, so a
        compiled model takes other values of them (a prior sweep) without being rebuilt.
    """
    cls, pnames, positive = _FAMILIES[spec.family]
    if kind == "sd" and not positive:
        raise ValueError(
            f"prior '{spec.text}' for a variance must have positive support "
            "(gamma, lognormal, halfnormal, halfcauchy, exponential, inv_gamma)"
        )
    if kind == "correlation" and spec.family not in ("beta", "uniform"):
        raise ValueError(f"prior '{spec.text}' for a correlation: use beta(a,b) or uniform(-1,1)")
    if kind != "correlation" and spec.family == "beta":
        raise ValueError(f"prior '{spec.text}': beta priors are for correlations only")
    values = spec.args if args is None else [args[i] for i in range(len(spec.args))]
    rv = cls(name, **dict(zip(pnames, values, strict=True)), dims=dims)
    return rv, natural_values(rv, spec, kind, module=pt)


def prior_distribution(spec: PriorSpec):
    """The prior as an unnamed PyMC distribution (for ``pm.logp`` of a derived quantity).

    Examples
    --------
    >>> import pymc as pm
    >>> round(float(pm.logp(prior_distribution(parse_prior("normal(0,10)")), 0.0).eval()), 4)
    -3.2215
    """
    cls, pnames, _ = _FAMILIES[spec.family]
    return cls.dist(**dict(zip(pnames, spec.args, strict=True)))


def natural_values(raw, spec: PriorSpec, kind: str, module=None):
    """Map sampled values to the natural scale (works on tensors and on numpy arrays)."""
    import numpy as np

    xp = module or np
    if kind == "correlation" and spec.family == "beta":
        return 2.0 * raw - 1.0
    if kind == "sd" and spec.scale == "var":
        return xp.sqrt(raw)
    if kind == "sd" and spec.scale == "prec":
        return 1.0 / xp.sqrt(raw)
    return raw
