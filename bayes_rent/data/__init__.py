"""The data side: observed statistics, survey files and their questionnaire map, the shipped
data sets, and simulation from a population model."""
