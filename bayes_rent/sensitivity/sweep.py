"""Prior sweeps: one model, one data set, one seed, a grid of priors.

Within a prior family the prior's arguments are ``pm.Data`` of the compiled model
(:func:`bayes_rent.backend.parameters.element_vector`), so every setting of a sweep that runs
in one process reuses one compiled model; :attr:`Sweep.compiles` counts the compiles done.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from bayes_rent.model import Model
from bayes_rent.results.summary import SUMMARY_COLUMNS
from bayes_rent.sampling import compiled_models
from bayes_rent.sensitivity.executors import InlineExecutor, local_executor

_KEYS = ["lhs", "op", "rhs", "label"]

Grid = Sequence[Mapping[str, str]] | Mapping[str, Sequence[str]]


def expand_grid(grid: Grid) -> list[dict[str, str]]:
    """The settings of a grid: a list of ``priors=`` mappings.

    A mapping from prior keys to lists of prior strings gives the Cartesian product of the
    lists; a list of mappings is taken as it is.

    Examples
    --------
    >>> expand_grid({"paths": ["normal(0,1)", "normal(0,10)"], "loadings": ["normal(0,1)"]})
    [{'paths': 'normal(0,1)', 'loadings': 'normal(0,1)'}, {'paths': 'normal(0,10)', 'loadings': 'normal(0,1)'}]
    """  # noqa: E501
    if isinstance(grid, Mapping):
        keys = list(grid)
        return [dict(zip(keys, values, strict=True))
                for values in itertools.product(*(list(grid[k]) for k in keys))]
    return [dict(setting) for setting in grid]


def setting_key(priors: Mapping[str, str]) -> str:
    """A short, stable name of a setting (the file name of its results in a store).

    Examples
    --------
    >>> setting_key({"paths": "normal(0,1)"}) == setting_key({"paths": "normal(0, 1)"})
    False
    >>> len(setting_key({"paths": "normal(0,1)"}))
    12
    """
    text = json.dumps(dict(sorted(priors.items())), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def fit_setting(model: Model, data: pd.DataFrame, priors: Mapping[str, str], seed: int,
                effects: bool, fit_options: Mapping[str, object]) -> dict:
    """Fit one setting and return what a sweep keeps of it (runs in a worker).

    Returns a dict with ``table`` (summary rows: free, defined and, with ``effects``,
    indirect effects), ``parameters`` (the posterior ``parameters`` DataArray) and
    ``compiles`` (models compiled in this process for the fit).
    """
    before = compiled_models()
    fit = model.fit(data, priors=dict(priors), seed=seed, **fit_options)
    compiles = compiled_models() - before
    summary = fit.summary()
    tables = [summary.loc[summary["free"], _KEYS + SUMMARY_COLUMNS]]
    defined = fit.defined()
    if len(defined):
        tables.append(defined.assign(lhs=defined["name"], op=":=", rhs=defined["expression"],
                                     label=defined["name"])[_KEYS + SUMMARY_COLUMNS])
    if effects:
        fx = fit.effects()
        fx = fx.loc[fx["kind"] == "indirect"]
        tables.append(fx.assign(lhs=fx["to"], op="ind", rhs=fx["from"], label=fx["via"].astype(str),
                                r_hat=np.nan, ess_bulk=np.nan)[_KEYS + SUMMARY_COLUMNS])
    table = pd.concat(tables, ignore_index=True)
    parameters = fit.idata.posterior["parameters"].load()
    # "generic": the shared log density (nothing compiled per structure); else the PyMC route
    density = str(fit.settings.get("density", "pymc"))
    return dict(table=table, parameters=parameters, compiles=compiles, density=density)


def _write_atomic(path: Path, write: Callable[[str], object]) -> None:
    """Write with ``write(tmp_path)`` to a temporary file beside ``path``, then rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store_result(store: Path, key: str, result: dict) -> None:
    """Save a finished setting: ``<key>.nc`` (posterior parameters), then ``<key>.csv``.

    The CSV is written last, so a setting counts as done only when both files are whole.
    """
    store.mkdir(parents=True, exist_ok=True)
    parameters = result["parameters"].assign_attrs(compiles=int(result["compiles"]),
                                                   density=result.get("density", ""))
    _write_atomic(store / f"{key}.nc", lambda tmp: parameters.to_netcdf(tmp))
    _write_atomic(store / f"{key}.csv", lambda tmp: result["table"].to_csv(tmp, index=False))


def load_result(store: Path, key: str) -> dict | None:
    """A setting saved by :func:`store_result`, or None when it is not (wholly) there."""
    csv, nc = store / f"{key}.csv", store / f"{key}.nc"
    if not (csv.exists() and nc.exists()):
        return None
    table = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    table["label"] = table["label"].fillna("").astype(str)
    with xr.open_dataarray(nc) as stored:
        parameters = stored.load()
    return dict(table=table, parameters=parameters, compiles=0,
                density=str(parameters.attrs.get("density", "")))


@dataclass
class Sweep:
    """The results of a prior sweep.

    Attributes
    ----------
    settings : list of dict
        The ``priors=`` of each setting, in grid order.
    columns : list of str
        The grid keys (one column of :meth:`summary` each).
    compiles : int
        Models compiled for the sweep: the change of
        :func:`bayes_rent.sampling.compiled_models` in the process that ran each fit (0 for
        settings loaded from a store, and for fits served by the generic log density, which
        compiles nothing per structure).
    seed : int
        The seed every setting was fitted with.
    skipped : int
        Settings found in the store.
    densities : list of str
        Each setting's log density (``fit.settings["density"]``).
    """

    settings: list[dict[str, str]]
    columns: list[str]
    tables: list[pd.DataFrame] = field(repr=False)
    parameters: list[xr.DataArray] = field(repr=False)
    compiles: int = 0
    seed: int = 0
    skipped: int = 0
    densities: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """One row per setting and parameter: the grid keys, then ``lhs, op, rhs, label,
        mean, sd, hdi_low, hdi_high, r_hat, ess_bulk``.

        Examples
        --------
        >>> sweep.summary().query("lhs == 'dem60' and op == '~'")  # doctest: +SKIP
        """
        parts = []
        for setting, table in zip(self.settings, self.tables, strict=True):
            values = {c: setting.get(c, "") for c in self.columns}
            parts.append(table.assign(**values)[self.columns + _KEYS + SUMMARY_COLUMNS])
        return pd.concat(parts, ignore_index=True)

    @property
    def posterior(self) -> xr.Dataset:
        """The posterior ``parameters`` of every setting, stacked along ``setting``.

        The grid keys are coordinates of ``setting``.
        """
        stacked = xr.concat([p.drop_attrs() for p in self.parameters], dim="setting",
                            join="override")
        coords = {c: ("setting", [s.get(c, "") for s in self.settings]) for c in self.columns}
        stacked = stacked.assign_coords(setting=np.arange(len(self.settings)), **coords)
        return xr.Dataset({"parameters": stacked})

    def plot(self, parameters: str | Sequence[str], *, hdi: bool = True):
        """How each parameter's posterior moves across the grid: mean and 90 % HDI per setting.

        Parameters
        ----------
        parameters : str or list of str
            Labels of the ``parameter`` coordinate (``"dem60 ~ ind60"``) or ``:=`` names.
        hdi : bool
            Draw the HDI bars.

        Returns
        -------
        numpy.ndarray of matplotlib.axes.Axes
            One panel per parameter.

        Examples
        --------
        >>> axes = sweep.plot("dem60 ~ ind60")  # doctest: +SKIP
        """
        import matplotlib.pyplot as plt

        names = [parameters] if isinstance(parameters, str) else list(parameters)
        table = self.summary()
        table["name"] = _row_names(table)
        fig, axes = plt.subplots(len(names), 1, figsize=(6, 2.4 * len(names)), squeeze=False)
        ticks = [", ".join(s.get(c, "") for c in self.columns) for s in self.settings]
        for ax, name in zip(axes[:, 0], names, strict=True):
            rows = table.loc[table["name"] == name]
            if rows.empty:
                raise KeyError(f"{name!r} is not a parameter of the sweep")
            x = np.arange(len(rows))
            mean = rows["mean"].to_numpy()
            err = np.vstack([mean - rows["hdi_low"], rows["hdi_high"] - mean]) if hdi else None
            ax.errorbar(x, mean, yerr=err, fmt="o", capsize=3)
            ax.axhline(0.0, color="grey", lw=0.5)
            ax.set_xticks(x, ticks, rotation=30, ha="right", fontsize=8)
            ax.set_title(name, fontsize=9)
        fig.tight_layout()
        return axes[:, 0]


def _row_names(table: pd.DataFrame) -> list[str]:
    """``lhs op rhs`` as in the ``parameter`` coordinate, ``:=`` rows by their name."""
    return [
        a if o == ":=" else (f"{a} ~1" if o == "~1" else f"{a} {o} {b}")
        for a, o, b in table[["lhs", "op", "rhs"]].itertuples(index=False)
    ]


def prior_sweep(
    model: Model | str, data: pd.DataFrame, grid: Grid, *, seed: int | None = None,
    executor: Executor | str | None = None, store: str | os.PathLike | None = None,
    progress: bool = True, effects: bool = False, **fit_options,
) -> Sweep:
    """Fit a model under every prior setting of a grid, with one seed.

    Parameters
    ----------
    model : Model or str
        The model, or its lavaan syntax.
    data : pandas.DataFrame
        The data, the same for every setting.
    grid : list of mapping, or mapping of lists
        ``priors=`` settings, or prior keys with lists of prior strings (their Cartesian
        product), e.g. ``{"paths": ["normal(0,0.05)", "normal(0,10)"]}``.
    seed : int, optional
        The seed of every setting (drawn once when None).
    executor : concurrent.futures.Executor or "inline", optional
        Where the fits run. None: local worker processes
        (:func:`~bayes_rent.sensitivity.executors.local_executor`); ``"inline"``: one after
        another in this process (one compile for the whole sweep); or any executor, e.g.
        :func:`~bayes_rent.sensitivity.executors.dask_executor`.
    store : path, optional
        Folder that keeps every finished setting (``<key>.nc`` and ``<key>.csv``, written
        atomically); a re-run with the same store skips the settings found there.
    progress : bool
        Show a progress bar over settings.
    effects : bool
        Add indirect effects (``op == "ind"``) to the summary.
    **fit_options
        Passed to :meth:`Model.fit` (``draws``, ``tune``, ``chains``, ...).

    Returns
    -------
    Sweep

    Examples
    --------
    >>> import bayes_rent as br
    >>> grid = {"paths": ["normal(0,0.05)", "normal(0,1)", "normal(0,10)"]}
    >>> sweep = br.sensitivity.prior_sweep(syntax, data, grid, seed=1,
    ...                                    executor="inline")  # doctest: +SKIP
    >>> sweep.compiles  # doctest: +SKIP
    1
    """
    from tqdm.auto import tqdm

    model = Model(model) if isinstance(model, str) else model
    settings = expand_grid(grid)
    columns = list(dict.fromkeys(k for s in settings for k in s))
    seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1) if seed is None else seed
    fit_options = {"progressbar": False, **fit_options}
    keys = [setting_key(s) for s in settings]
    folder = None if store is None else Path(store)
    results: dict[int, dict] = {}
    if folder is not None:
        for i, key in enumerate(keys):
            found = load_result(folder, key)
            if found is not None:
                results[i] = found
    todo = [i for i in range(len(settings)) if i not in results]
    skipped = len(results)
    own = executor is None and bool(todo)
    pool = (InlineExecutor() if executor == "inline" or not todo
            else local_executor(len(todo)) if executor is None else executor)
    try:
        futures = {pool.submit(fit_setting, model, data, settings[i], seed, effects,
                               fit_options): i for i in todo}
        for future in tqdm(as_completed(futures), total=len(futures), disable=not progress,
                           desc="prior sweep"):
            i = futures[future]
            results[i] = future.result()
            if folder is not None:
                store_result(folder, keys[i], results[i])
    finally:
        if own:
            pool.shutdown(cancel_futures=True)
    ordered = [results[i] for i in range(len(settings))]
    return Sweep(
        settings=settings, columns=columns, tables=[r["table"] for r in ordered],
        parameters=[r["parameters"] for r in ordered],
        compiles=sum(int(r["compiles"]) for r in ordered), seed=seed, skipped=skipped,
        densities=[r.get("density", "") for r in ordered],
    )
