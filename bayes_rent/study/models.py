"""The models of the book's study and the checks made on them before anything is fitted.

The model files ship inside the package (``bayes_rent/models/``, found through
:func:`bayes_rent.data.survey.models_dir`); the repository's ``models/`` is the same folder.

Examples
--------
>>> [m.key for m in BOOK_MODELS]
['submodel1_re', 'submodel2_se', 'submodel3_nc', 'submodel4_ac', 'full_model']
>>> sorted(observed_variables("F =~ x1 + x2 + x3\\nG =~ y1 + y2\\nG ~ F + z"))
['x1', 'x2', 'x3', 'y1', 'y2', 'z']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bayes_rent.data.survey import SurveySchema, models_dir
from bayes_rent.errors import OptionError
from bayes_rent.spec.partable import build_partable
from bayes_rent.spec.syntax import ModelSyntaxError

__all__ = ["BOOK_MODELS", "StudyModel", "check_models", "observed_variables", "read_models"]


@dataclass(frozen=True)
class StudyModel:
    """A model of the study: key (file stem), title, antecedent construct and file name."""

    key: str
    title: str
    antecedent: str | None
    file: str


BOOK_MODELS = (
    StudyModel("submodel1_re", "Sub-model 1: relational embeddedness (RE → KR → IG)", "RE",
               "submodel1_re.lav"),
    StudyModel("submodel2_se", "Sub-model 2: structural embeddedness (SE → KR → IG)", "SE",
               "submodel2_se.lav"),
    StudyModel("submodel3_nc", "Sub-model 3: network capability (NC → KR → IG)", "NC",
               "submodel3_nc.lav"),
    StudyModel("submodel4_ac", "Sub-model 4: absorptive capability (AC → KR → IG)", "AC",
               "submodel4_ac.lav"),
    StudyModel("full_model", "Full model: RE, SE, NC, AC → KR → IG", None, "full_model.lav"),
)


def observed_variables(syntax: str) -> set[str]:
    """The observed variables a model needs from the data (indicators and observed predictors)."""
    table = build_partable(syntax)
    latent = set(table.loc[table["op"] == "=~", "lhs"])
    rows = table.loc[table["op"].isin(["=~", "~", "~~"])]
    names = set(rows["rhs"]) | set(rows.loc[rows["op"] != "=~", "lhs"])
    return {n for n in names if n and n not in latent}


def read_models(folder: str | Path | None = None) -> dict[str, str]:
    """The syntax of every model of :data:`BOOK_MODELS`, read from ``folder``.

    Parameters
    ----------
    folder : str or path-like, optional
        Where the ``.lav`` files are; by default the package's own models.

    Raises
    ------
    bayes_rent.errors.OptionError
        Naming a model file that is missing or cannot be read.
    """
    folder = Path(folder) if folder is not None else models_dir()
    out = {}
    for model in BOOK_MODELS:
        path = folder / model.file
        try:
            out[model.key] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise OptionError(f"model file {path} cannot be read: {err}") from err
    return out


def check_models(syntaxes: dict[str, str], schema: SurveySchema,
                 folder: str | Path | None = None) -> None:
    """Check, before fitting, that every model parses and uses only the questionnaire's items.

    Raises
    ------
    bayes_rent.spec.syntax.ModelSyntaxError
        A model that does not parse, with its file name in front.
    bayes_rent.errors.OptionError
        A model that needs variables the questionnaire map does not have.
    """
    folder = Path(folder) if folder is not None else models_dir()
    known = set(schema.columns)
    files = {m.key: folder / m.file for m in BOOK_MODELS}
    for key, syntax in syntaxes.items():
        try:
            needed = observed_variables(syntax)
        except ModelSyntaxError as err:
            err.args = (f"{files.get(key, key)}: {err}",)
            raise
        unknown = sorted(needed - known)
        if unknown:
            raise OptionError(
                f"model file {files.get(key, key)} uses variables that questionnaire "
                f"{schema.source or schema.name} does not have: {', '.join(unknown[:8])}"
                + (f" and {len(unknown) - 8} more" if len(unknown) > 8 else "")
            )
