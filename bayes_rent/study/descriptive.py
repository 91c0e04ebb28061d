"""Step 1 of the study: descriptive statistics per item and construct means per cluster.

Examples
--------
>>> import pandas as pd
>>> from bayes_rent.data.survey import SurveySchema
>>> schema = SurveySchema.from_dict({"respondent_id": "id", "cluster": "cl", "constructs": [
...     {"id": "F", "items": [{"id": "x1"}, {"id": "x2"}, {"id": "x3"}]}]})
>>> data = pd.DataFrame({"id": [1, 2, 3, 4], "cl": ["a", "a", "b", "b"],
...                      "x1": [1, 2, 4, 5], "x2": [2, 2, 4, None], "x3": [1, 3, 5, 5]})
>>> item_descriptives(data, schema)[["item", "n", "mean", "missing_share"]].round(2)
  item  n  mean  missing_share
0   x1  4  3.00           0.00
1   x2  3  2.67           0.25
2   x3  4  3.50           0.00
>>> cluster_means(data, schema).round(2)
  cluster  n_firms     F
0       a        2  1.83
1       b        2  4.67
"""

from __future__ import annotations

import pandas as pd

from bayes_rent.data.survey import SurveySchema

__all__ = ["construct_scores", "cluster_means", "item_descriptives"]


def item_descriptives(data: pd.DataFrame, schema: SurveySchema) -> pd.DataFrame:
    """Per item: construct, dimension, n, mean, SD, min, max, skewness, kurtosis, missing share.

    Skewness and (excess) kurtosis are the bias-corrected sample estimators pandas computes,
    the same SPSS reports; the SD has ``n - 1`` in the denominator. Reverse-keyed items are
    described as they are in ``data`` (recoded, when read with ``reverse=True``).
    """
    rows = []
    for item in schema.items:
        values = pd.to_numeric(data[item.id], errors="coerce")
        construct, dimension = schema.locate(item.id)
        rows.append({
            "item": item.id, "construct": construct, "dimension": dimension or "",
            "reverse": item.reverse, "n": int(values.notna().sum()), "mean": values.mean(),
            "sd": values.std(), "min": values.min(), "max": values.max(),
            "skewness": values.skew(), "kurtosis": values.kurt(),
            "missing_share": float(values.isna().mean()),
        })
    return pd.DataFrame(rows)


def construct_scores(data: pd.DataFrame, schema: SurveySchema) -> pd.DataFrame:
    """Each firm's mean answer over each construct's items (missing answers skipped)."""
    return pd.DataFrame({
        c.id: data[[item.id for item in c.items]].apply(pd.to_numeric, errors="coerce")
        .mean(axis=1)
        for c in schema.constructs
    }, index=data.index)


def cluster_means(data: pd.DataFrame, schema: SurveySchema) -> pd.DataFrame:
    """Per cluster: the number of firms and the mean of every construct's item-mean score.

    Without a cluster column in the questionnaire map, one row for all firms.
    """
    scores = construct_scores(data, schema)
    if schema.cluster and schema.cluster in data:
        groups = data[schema.cluster].astype(str).rename("cluster")
    else:
        groups = pd.Series("all firms", index=data.index, name="cluster")
    means = scores.groupby(groups, sort=True).mean()
    means.insert(0, "n_firms", groups.value_counts().reindex(means.index).astype(int))
    return means.reset_index()
