"""Questionnaire maps and checked reading of survey files (CSV, Excel, SPSS).

The questionnaire map (:class:`SurveySchema`) says which constructs a study measures, through
which dimensions and items, on how many scale points, and which items are reverse-keyed.
:func:`read_survey` reads a data file against it and refuses, with every problem listed, anything
it would otherwise have to guess about.

Examples
--------
>>> from bayes_rent.data.survey import book_schema
>>> schema = book_schema()
>>> [c.id for c in schema.constructs]
['RE', 'SE', 'AC', 'NC', 'KR', 'IG']
"""

from bayes_rent.data.survey.read import (
    Problem,
    Survey,
    SurveyError,
    SurveyReport,
    read_survey,
    read_table,
)
from bayes_rent.data.survey.schema import (
    Construct,
    Covariate,
    Dimension,
    Item,
    SchemaError,
    SurveySchema,
    book_schema,
    models_dir,
)

__all__ = [
    "Construct",
    "Covariate",
    "Dimension",
    "Item",
    "Problem",
    "SchemaError",
    "Survey",
    "SurveyError",
    "SurveyReport",
    "SurveySchema",
    "book_schema",
    "models_dir",
    "read_survey",
    "read_table",
]
