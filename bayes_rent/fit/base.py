"""``Fit``: the posterior of a model, reported in the shape of lavaan's parameter table."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayes_rent.backend.base import Backend
from bayes_rent.backend.clustered import ClusterMoments, cluster_results
from bayes_rent.backend.conditional import Responses
from bayes_rent.backend.parameters import PriorGroup, element_draws, priors_table
from bayes_rent.data.observed import ObservedMoments
from bayes_rent.results import fit_indices as _fit_indices
from bayes_rent.results.console import console_report
from bayes_rent.results.defined import defined_draws
from bayes_rent.results.diagnostics import ConvergenceReport, check_convergence
from bayes_rent.results.diagram import path_diagram
from bayes_rent.results.effects import effects_table
from bayes_rent.results.measures import reliability_table, validity_table
from bayes_rent.results.plots import plot_forest, plot_trace
from bayes_rent.results.scores import latent_scores
from bayes_rent.results.standardized import r2, standardized_summary
from bayes_rent.results.summary import SUMMARY_COLUMNS as _SUMMARY_COLUMNS
from bayes_rent.results.summary import summarize_draws
from bayes_rent.spec.identification import align_signs
from bayes_rent.spec.layout import Layout
from bayes_rent.spec.partable import n_free

if TYPE_CHECKING:
    import graphviz
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_TABLE_KEYS = ["lhs", "op", "rhs", "label"]


def parameter_names(partable: pd.DataFrame) -> list[str]:
    """Readable names of the rows, ``lhs op rhs`` as lavaan prints them."""
    return [
        f"{a} {o} {b}".strip() if o != "~1" else f"{a} ~1"
        for a, o, b in partable[["lhs", "op", "rhs"]].itertuples(index=False)
    ]


class Fit:
    """A fitted model: posterior draws, parameter table and diagnostics.

    Attributes
    ----------
    idata : arviz.InferenceData
        The sampler's output; the posterior also holds ``parameters`` (every row of the
        parameter table per draw, dim ``parameter``), after sign alignment under ``std_lv``.
    partable : pandas.DataFrame
        The parameter table that was fitted (after any marker change).
    convergence : ConvergenceReport
        R-hat, ESS, divergences and stuck chains. A part of a larger fit (one group of a
        multi-group fit) is given the whole fit's report and is not checked again.
    settings : dict
        The sampling options the fit ran with (``draws``, ``tune``, ``chains``, ``sampler``,
        ``seed``).
    responses : Responses or None
        For a model with ordinal items (the conditional backend): the answers as the
        likelihood saw them, with each ordinal item's categories.
    clusters : ClusterMoments or None
        For firms nested in clusters: the statistics per cluster (``clusters.clusters``
        names them); see :meth:`cluster_results`.
    """

    def __init__(
        self,
        *,
        model: Any,  # the bayes_rent.model.Model that was fitted (a layer above)
        backend: Backend,
        partable: pd.DataFrame,
        layout: Layout,
        groups: list[PriorGroup],
        idata: az.InferenceData,
        data: pd.DataFrame,
        moments: ObservedMoments,
        sampler: str,
        settings: dict | None = None,
        responses: Responses | None = None,
        clusters: ClusterMoments | None = None,
        convergence: ConvergenceReport | None = None,
        element_map: np.ndarray | None = None,
    ) -> None:
        self.model = model
        # the kind of model that wrote the likelihood; results ask it how to treat this fit
        self.backend = backend
        self.partable = partable
        self.layout = layout
        self.groups = groups
        self.idata = idata
        self.data = data
        self.moments = moments
        self.sampler = sampler
        # the conditional backend's answers (ordinal codes); None for the marginal backend
        self.responses = responses
        # firms nested in clusters: the per-cluster statistics; None without clusters
        self.clusters = clusters
        # the sampling options of Model.fit (draws, tune, chains, sampler, seed), so follow-up
        # fits such as the null model of the fit indices can repeat them
        self.settings = dict(settings or {"sampler": sampler})
        # one level of a two-level fit: where its layout's elements sit in the sampled vector
        self.element_map = element_map
        draws = self.parameter_draws
        self.idata.posterior["parameters"] = draws.rename({"par": "parameter"}).assign_coords(
            parameter=self._parameter_labels()
        ).drop_vars([c for c in ("id",) if c in draws.coords])
        # a part of a larger fit (one group of a multi-group fit) shares that fit's report
        self.convergence = convergence or self._check_convergence()

    # ------------------------------------------------------------------ draws
    @cached_property
    def parameter_draws(self) -> xr.DataArray:
        """Every parameter-table row (except ``:=``) per draw: dims ``(chain, draw, par)``.

        ``par`` holds the table's ``id``. Variances are variances (SD²), covariances are
        covariances. Factors whose first loading is free (``std_lv``) are sign-aligned.
        """
        if self.element_map is None:
            elements = element_draws(self.idata.posterior, self.groups, len(self.layout.elements))
        else:
            # every sampled element belongs to one prior group
            size = sum(len(g.elements) for g in self.groups)
            elements = element_draws(self.idata.posterior, self.groups, size)[
                ..., self.element_map]
        # a no-op for marker-identified factors (their sign is fixed by the marker)
        rows = align_signs(self.partable, self.layout.row_values(elements))
        return self._row_draws(rows)

    def _row_draws(self, rows: np.ndarray) -> xr.DataArray:
        """Values of every table row per draw, ``(chain, draw, n_rows)``, labelled as
        :attr:`parameter_draws` (the ``:=`` rows dropped)."""
        keep = (self.partable["op"] != ":=").to_numpy()
        post = self.idata.posterior
        return xr.DataArray(
            rows[..., keep],
            dims=("chain", "draw", "par"),
            coords={"chain": post["chain"].values, "draw": post["draw"].values,
                    "par": self.partable["id"].to_numpy()[keep]},
        )

    @cached_property
    def matrices(self) -> xr.Dataset:
        """Model matrices per draw, labelled (all-y LISREL form).

        ``Lambda (chain, draw, observed, latent)``, ``B`` and ``Psi`` ``(chain, draw, latent,
        latent_col)`` with B[i, j] the direct effect of j on i, ``Theta (chain, draw,
        observed, observed_col)``, ``nu (chain, draw, observed)``, ``alpha (chain, draw,
        latent)``; the ``latent`` dim carries a boolean ``phantom`` coordinate.
        """
        full = np.zeros(self.parameter_draws.shape[:2] + (len(self.partable),))
        keep = (self.partable["op"] != ":=").to_numpy()
        full[..., keep] = self.parameter_draws.values
        mats = self.layout.matrices(full)
        lat, obs = self.layout.latent, self.layout.observed
        coords = {
            "chain": self.parameter_draws["chain"].values,
            "draw": self.parameter_draws["draw"].values,
            "observed": obs, "observed_col": obs, "latent": lat, "latent_col": lat,
        }
        dims = {
            "Lambda": ("observed", "latent"), "B": ("latent", "latent_col"),
            "Psi": ("latent", "latent_col"), "Theta": ("observed", "observed_col"),
            "nu": ("observed",), "alpha": ("latent",),
        }
        ds = xr.Dataset(
            {k: (("chain", "draw") + d, mats[k]) for k, d in dims.items()}, coords=coords
        )
        return ds.assign_coords(phantom=("latent", self.layout.phantom))

    # ------------------------------------------------------------------ tables
    def summary(self, hdi_prob: float = 0.9) -> pd.DataFrame:
        """One row per parameter, in the shape of lavaan's parameter table.

        Parameters
        ----------
        hdi_prob : float
            Mass of the highest-density interval.

        Returns
        -------
        pandas.DataFrame
            Columns ``lhs, op, rhs, label, free, mean, sd, hdi_low, hdi_high, r_hat,
            ess_bulk``; fixed parameters are kept and marked ``free == False``.

        Examples
        --------
        >>> fit.summary().query("op == '~'")  # doctest: +SKIP
        """
        stats = summarize_draws(self.parameter_draws, "par", hdi_prob=hdi_prob)
        pt = self.partable.loc[self.partable["op"] != ":="].set_index("id")
        table = pt[_TABLE_KEYS + ["free"]].join(stats)
        return table.reset_index(drop=True)

    def standardized(self, kind: str = "std_all", hdi_prob: float = 0.9) -> pd.DataFrame:
        """The standardized solution, same rows and columns as :meth:`summary`.

        Parameters
        ----------
        kind : {"std_all", "std_lv"}
            lavaan's definitions: ``std_lv`` scales by the latent SDs, ``std_all`` by the
            observed SDs too.
        hdi_prob : float
            Mass of the highest-density interval.
        """
        return standardized_summary(
            self.matrices, self.partable, self.parameter_draws, kind=kind, hdi_prob=hdi_prob
        )

    def effects(
        self, *, hdi_prob: float = 0.9, rope: float | tuple[float, float] | None = None,
        via: list[list[str]] | None = None, standardized: bool = False,
    ) -> pd.DataFrame:
        """Direct, indirect and total effects between the model's variables, per draw.

        Columns ``from, to, kind, via, mean, sd, hdi_low, hdi_high, p_direction`` (and
        ``p_rope`` with ``rope``); specific indirect effects through each mediator chain.
        """
        return effects_table(
            self.matrices, hdi_prob=hdi_prob, rope=rope, via=via, standardized=standardized
        )

    def defined(self, hdi_prob: float = 0.9) -> pd.DataFrame:
        """The ``:=`` parameters of the syntax, evaluated per draw and summarized."""
        draws = defined_draws(self.partable, self.parameter_draws)
        if draws.sizes.get("defined", 0) == 0:
            return pd.DataFrame(columns=["name", "expression"] + list(_SUMMARY_COLUMNS))
        stats = summarize_draws(draws, "defined", hdi_prob=hdi_prob)
        rows = self.partable.loc[self.partable["op"] == ":=", ["lhs", "rhs"]]
        expr = dict(zip(rows["lhs"], rows["rhs"], strict=True))
        stats.insert(0, "expression", [expr.get(n, "") for n in stats.index])
        return stats.rename_axis("name").reset_index()

    def r2(self, hdi_prob: float = 0.9) -> pd.DataFrame:
        """R² of every endogenous variable (lavaan's definition), summarized per variable."""
        return summarize_draws(r2(self.matrices), "variable", hdi_prob=hdi_prob).reset_index()

    def reliability(self, hdi_prob: float = 0.9, seed: int | None = None) -> pd.DataFrame:
        """Per construct: Cronbach's alpha, composite reliability (omega) and AVE."""
        return reliability_table(
            self.matrices, self.partable, self.data, hdi_prob=hdi_prob, seed=seed
        )

    def validity(self, hdi_prob: float = 0.9) -> pd.DataFrame:
        """HTMT and the Fornell–Larcker comparison, with posterior probabilities."""
        return validity_table(self.matrices, self.partable, self.data, hdi_prob=hdi_prob)

    def fit_indices(
        self, seed: int | None = None, null_fit: Fit | None = None, incremental: bool = True,
        hdi_prob: float = 0.9,
    ) -> pd.DataFrame:
        """PPP, BRMSEA, BGammaHat, adjusted BGammaHat, BMc, BCFI, BTLI and SRMR.

        BCFI and BTLI compare against the independence model, which is fitted here with the
        same settings unless ``null_fit`` is given. See :mod:`bayes_rent.results.fit_indices`.
        """
        return _fit_indices.fit_indices(
            self, seed=seed, null_fit=null_fit, incremental=incremental, hdi_prob=hdi_prob
        )

    def log_likelihood(self) -> xr.DataArray:
        """Pointwise log-likelihood per respondent and draw (latent variables integrated out).

        The units are the backend's: respondents, or clusters for a two-level model
        (:meth:`bayes_rent.backend.base.Backend.pointwise_loglik`).
        """
        return _fit_indices.log_likelihood(self)

    def loo(self, **kwargs):
        """PSIS-LOO through ArviZ on the per-respondent log-likelihood."""
        return _fit_indices.loo(self, **kwargs)

    def waic(self, **kwargs):
        """WAIC through ArviZ on the per-respondent log-likelihood."""
        return _fit_indices.waic(self, **kwargs)

    def scores(self, kind: str = "draws", seed: int | None = None) -> xr.DataArray:
        """Posterior latent scores per respondent: dims ``(chain, draw, respondent, construct)``.

        With ordinal items the scores were sampled with the parameters and are returned as
        they are (``kind`` and ``seed`` do not apply); otherwise see
        :func:`bayes_rent.results.scores.latent_scores`.
        """
        if self.backend.samples_scores:
            return self.idata.posterior["latent_scores"].rename("scores")
        if self.backend.name == "clustered":
            raise NotImplementedError(
                "latent scores of a model with clusters are not computed yet (they would "
                "need each firm's cluster mean)"
            )
        return latent_scores(self, kind=kind, seed=seed)

    def cluster_results(self) -> xr.Dataset:
        """Per cluster and draw: latent intercepts and means, item means, random paths.

        Dims ``(chain, draw, cluster, ...)``; see
        :func:`bayes_rent.backend.clustered.cluster_results`.
        """
        if self.backend.name != "clustered":
            raise ValueError("this model was fitted without cluster=")
        return cluster_results(self.idata.posterior, self.layout, self.groups)

    # ------------------------------------------------------------------ pictures
    def _block_fit(self, block: Any) -> Fit:
        """The Fit of one block (group or level) by name; this fit itself without blocks."""
        # BlockFit (fit/blocks.py imports this module) holds block_names and block_fits
        names = getattr(self, "block_names", None)
        if names is None:
            if block is not None:
                raise ValueError("this fit has no groups or levels; leave block=None")
            return self
        for k, name in enumerate(names):
            if block == name or str(block) == str(name):
                return self.block_fits[k]
        raise ValueError(
            f"block must be one of {list(names)} (this fit's groups or levels), got {block!r}"
        )

    def plot_diagram(
        self, *, block: Any = None, collapse: bool | None = None, hdi_prob: float = 0.9,
        title: str | None = None, caption: bool | str = True, digits: int = 2,
    ) -> graphviz.Digraph:
        """The path diagram, each arrow labelled with its standardized mean and HDI.

        AMOS's grammar: latent variables as ellipses, items as boxes, residuals as small
        circles; second-order models are collapsed to their constructs unless
        ``collapse=False``. See :func:`bayes_rent.results.diagram.path_diagram`; save it
        with :func:`bayes_rent.results.diagram.write_diagram`.

        Parameters
        ----------
        block : optional
            For a multi-group or two-level fit, the group or level to draw (one of
            ``block_names``); each block has its own diagram and there is no default.
        collapse, hdi_prob, title, caption, digits
            As for :func:`~bayes_rent.results.diagram.path_diagram`.

        Returns
        -------
        graphviz.Digraph
            Shown as SVG in Jupyter (needs Graphviz's ``dot``); ``.source`` is the DOT text.

        Examples
        --------
        >>> fit.plot_diagram(title="Sub-model 1")  # doctest: +SKIP
        >>> group_fit.plot_diagram(block="urban")  # doctest: +SKIP
        """
        names = getattr(self, "block_names", None)
        if names is not None and block is None:
            raise ValueError(
                f"this fit has one diagram per group or level: pass block=, one of "
                f"{list(names)}"
            )
        return path_diagram(self._block_fit(block), collapse=collapse, hdi_prob=hdi_prob,
                            title=title, caption=caption, digits=digits)

    def plot_forest(
        self, kind: str = "paths", *, block: Any = None, hdi_prob: float = 0.9,
        standardized: bool = True, ax: Axes | None = None,
    ) -> Figure:
        """Forest plot of the paths, effects (with ``:=`` parameters) or loadings.

        See :func:`bayes_rent.results.plots.plot_forest`. A multi-group or two-level fit
        shows every block's rows, labelled ``[group name]`` or ``[level 1]``, unless
        ``block`` picks one (a group's name, or the level 1 or 2).

        Examples
        --------
        >>> fig = fit.plot_forest("effects")  # doctest: +SKIP
        """
        names = getattr(self, "block_names", None)
        if names is not None and block is None:
            # groups by their name; levels (numbered 1, 2) as "level 1", "level 2"
            column = getattr(self, "block_column", "group")
            target: Any = {
                (str(n) if column == "group" else f"{column} {n}"): f
                for n, f in zip(names, self.block_fits, strict=True)
            }
        else:
            target = self._block_fit(block)
        return plot_forest(target, kind, hdi_prob=hdi_prob, standardized=standardized,
                           ax=ax)

    def plot_trace(self, worst: int = 4, kind: str = "trace") -> Figure:
        """Trace (or ``kind="rank"``: rank) plots of the ``worst`` parameters by R-hat.

        See :func:`bayes_rent.results.plots.plot_trace`.

        Examples
        --------
        >>> fig = fit.plot_trace(worst=4, kind="rank")  # doctest: +SKIP
        """
        return plot_trace(self, worst=worst, kind=kind)

    @property
    def priors(self) -> pd.DataFrame:
        """The prior actually used for every free parameter."""
        return priors_table(self.layout, self.groups)

    def _parameter_labels(self) -> list[str]:
        """Names of the rows of ``parameter_draws`` (``lhs op rhs``)."""
        return parameter_names(self.partable.loc[self.partable["op"] != ":="])

    def _check_convergence(self) -> ConvergenceReport:
        free = self.partable.loc[self.partable["op"] != ":=", "free"].to_numpy()
        draws = self.parameter_draws.isel(par=np.flatnonzero(free))
        names = [n for n, f in zip(self._parameter_labels(), free, strict=True) if f]
        stats = summarize_draws(draws, "par")
        stats.index = names
        stats_div = self.idata.sample_stats.get("diverging")
        divergences = int(stats_div.sum()) if stats_div is not None else 0
        return check_convergence(stats, draws.values, names, divergences,
                                 settings=self.settings)

    def report(
        self, *, all_rows: bool = False, std: bool = False, hdi_prob: float = 0.9,
        fit_indices: bool | pd.DataFrame = False, title: str | None = None,
    ) -> str:
        """The fit as lavaan's ``summary()`` prints it: a header, then one section per kind.

        Parameters
        ----------
        all_rows : bool
            Also show the rows fixed at zero (latent intercepts, ...).
        std : bool
            Add the ``std.all`` column.
        hdi_prob : float
            Mass of the highest-density intervals.
        fit_indices : bool or pandas.DataFrame
            ``True`` computes PPP and BRMSEA for the header (a replicate data set per draw);
            a table from :meth:`fit_indices` is shown as it is.
        title : str, optional
            First line of the header.

        Examples
        --------
        >>> print(fit.report(std=True))  # doctest: +SKIP
        """
        return console_report(self, all_rows=all_rows, std=std, hdi_prob=hdi_prob,
                              fit_indices=fit_indices, title=title)

    def __str__(self) -> str:
        return self.report()

    def _units(self) -> str:
        """What the likelihood counts, for :meth:`__repr__`."""
        return f"{self.moments.n_total} respondents"

    def __repr__(self) -> str:
        post = self.idata.posterior
        return (
            f"<bayes_rent.{type(self).__name__}: {n_free(self.partable)} free parameters, "
            f"{self._units()}, {post.sizes['chain']} chains × {post.sizes['draw']} draws "
            f"({self.sampler}); "
            f"{'converged' if self.convergence.converged else 'NOT CONVERGED'}>"
        )
