"""The model as written: lavaan syntax, the parameter table, priors, identification, groups,
and where every row lives in the LISREL matrices (the layout). Nothing here samples."""
