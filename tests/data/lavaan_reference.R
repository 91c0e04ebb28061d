# lavaan_reference.R -- the command that made the lavaan reference files below.
#
# Run from the repository root (/work/main):
#     Rscript tests/data/lavaan_reference.R
# Made with R 4.2.2 and lavaan 0.6.14 / jsonlite 1.8.4 from Debian 12
# (apt-get install r-base-core r-cran-lavaan r-cran-jsonlite).
#
# Files written (all into tests/data/):
#   Demo_twolevel.csv
#       lavaan's built-in Demo.twolevel data set, all 12 columns
#       (y1..y6, x1..x3, w1, w2, cluster), 2500 rows, 200 clusters.
#   Demo_twolevel_estimates.csv / Demo_twolevel_fit.json
#       lavaan's documented two-level SEM (within: fw =~ y1+y2+y3, fw ~ x1+x2+x3;
#       between: fb =~ y1+y2+y3, fb ~ w1+w2), sem(model, data, cluster = "cluster"), ML.
#       CSV columns: lhs, op, rhs, level (1 = within, 2 = between), est, se,
#       std.lv, std.all (standardizedSolution type = "std.lv" / "std.all",
#       matched to parameterEstimates by row).
#       JSON: lavaan/R version, N, number of clusters, logl, npar, chisq, df,
#       and per level ("within", "cluster") the model-implied covariance matrix
#       and mean vector (lavInspect(fit, "implied")) and the estimated model
#       matrices (lavInspect(fit, "est")).
#   Demo_twolevel_cfa_estimates.csv / Demo_twolevel_cfa_fit.json
#       the same for the two-level CFA without covariates
#       (within: fw =~ y1+y2+y3; between: fb =~ y1+y2+y3).
#   PoliticalDemocracy_implied.json
#       lavaan's classic PoliticalDemocracy SEM, sem(model, data, meanstructure = TRUE):
#       model-implied covariance matrix and mean vector (lavInspect(fit, "implied"))
#       and the estimated model matrices lambda, theta, psi, beta, nu, alpha
#       (lavInspect(fit, "est")), so that
#       Sigma = Lambda (I - B)^-1 Psi (I - B)^-T Lambda^T + Theta and
#       mu = nu + Lambda (I - B)^-1 alpha can be recomputed and compared.
#
# JSON matrix format: {"rownames": [...], "colnames": [...], "values": [[row 1], [row 2], ...]}
# (row-major); vectors: {"names": [...], "values": [...]}.
# Numbers are written with 15 significant digits (17 where needed to round-trip).

suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})

out_dir <- file.path("tests", "data")
stopifnot(dir.exists(out_dir))

lavaan_version <- as.character(packageVersion("lavaan"))
r_version <- R.version.string

mat_json <- function(m) {
  m <- unclass(m)
  m <- as.matrix(m)
  # I() keeps length-1 name vectors as JSON arrays under auto_unbox
  list(rownames = I(rownames(m)), colnames = I(colnames(m)),
       values = unname(m))
}

vec_json <- function(v) {
  v <- unclass(v)
  list(names = I(names(v)), values = I(unname(as.numeric(v))))
}

implied_json <- function(imp) {
  # imp: list(cov = , mean = ) for one block/level
  out <- list(cov = mat_json(imp$cov))
  if (!is.null(imp$mean)) out$mean <- vec_json(imp$mean)
  out
}

write_json_file <- function(x, path) {
  txt <- jsonlite::toJSON(x, auto_unbox = TRUE, pretty = TRUE, digits = NA,
                          matrix = "rowmajor", null = "null", na = "null")
  writeLines(txt, path)
}

# Parameter table with standardized columns; standardizedSolution() is called
# with the same defaults as parameterEstimates() so rows correspond one-to-one.
estimates_table <- function(fit) {
  pe <- parameterEstimates(fit)
  s_lv <- standardizedSolution(fit, type = "std.lv")
  s_all <- standardizedSolution(fit, type = "std.all")
  stopifnot(nrow(pe) == nrow(s_lv), nrow(pe) == nrow(s_all),
            identical(pe$lhs, s_all$lhs), identical(pe$op, s_all$op),
            identical(pe$rhs, s_all$rhs),
            identical(pe$lhs, s_lv$lhs), identical(pe$op, s_lv$op),
            identical(pe$rhs, s_lv$rhs))
  level <- if (!is.null(pe$level)) pe$level else pe$block
  data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, level = level,
             est = pe$est, se = pe$se,
             std.lv = s_lv$est.std, std.all = s_all$est.std,
             stringsAsFactors = FALSE)
}

# ---------------------------------------------------------------------------
# a. Demo.twolevel data
# ---------------------------------------------------------------------------
write.csv(Demo.twolevel, file.path(out_dir, "Demo_twolevel.csv"), row.names = FALSE)

# ---------------------------------------------------------------------------
# b. two-level models
# ---------------------------------------------------------------------------
twolevel_models <- list(
  Demo_twolevel = list(
    description = "lavaan documented two-level SEM on Demo.twolevel, ML, cluster = 'cluster'",
    model = '
level: 1
    fw =~ y1 + y2 + y3
    fw ~ x1 + x2 + x3
level: 2
    fb =~ y1 + y2 + y3
    fb ~ w1 + w2
'),
  Demo_twolevel_cfa = list(
    description = "two-level CFA without covariates on Demo.twolevel, ML, cluster = 'cluster'",
    model = '
level: 1
    fw =~ y1 + y2 + y3
level: 2
    fb =~ y1 + y2 + y3
')
)

for (stem in names(twolevel_models)) {
  spec <- twolevel_models[[stem]]
  fit <- sem(spec$model, data = Demo.twolevel, cluster = "cluster")
  stopifnot(lavInspect(fit, "converged"))

  est <- estimates_table(fit)
  write.csv(est, file.path(out_dir, paste0(stem, "_estimates.csv")), row.names = FALSE)

  imp <- lavInspect(fit, "implied")
  mats <- lavInspect(fit, "est")
  fm <- fitMeasures(fit, c("logl", "npar", "chisq", "df"))
  info <- list(
    name = stem,
    description = spec$description,
    model = spec$model,
    lavaan_version = lavaan_version,
    R_version = r_version,
    estimator = lavInspect(fit, "options")$estimator,
    converged = lavInspect(fit, "converged"),
    N = lavInspect(fit, "ntotal"),
    nclusters = lavInspect(fit, "nclusters"),
    logl = unname(fm["logl"]),
    npar = unname(fm["npar"]),
    chisq = unname(fm["chisq"]),
    df = unname(fm["df"]),
    level_names = names(imp),   # "within" (level 1), "cluster" (level 2)
    implied = lapply(imp, implied_json),
    est = lapply(mats, function(block) lapply(block, mat_json))
  )
  write_json_file(info, file.path(out_dir, paste0(stem, "_fit.json")))
}

# ---------------------------------------------------------------------------
# c. PoliticalDemocracy: implied moments and model matrices
# ---------------------------------------------------------------------------
pd_model <- '
    ind60 =~ x1 + x2 + x3
    dem60 =~ y1 + y2 + y3 + y4
    dem65 =~ y5 + y6 + y7 + y8
    dem60 ~ ind60
    dem65 ~ ind60 + dem60
    y1 ~~ y5
    y2 ~~ y4 + y6
    y3 ~~ y7
    y4 ~~ y8
    y6 ~~ y8
'
pd_fit <- sem(pd_model, data = PoliticalDemocracy, meanstructure = TRUE)
stopifnot(lavInspect(pd_fit, "converged"))
pd_imp <- lavInspect(pd_fit, "implied")
pd_est <- lavInspect(pd_fit, "est")
pd_fm <- fitMeasures(pd_fit, c("logl", "npar", "chisq", "df"))
pd_info <- list(
  name = "PoliticalDemocracy_sem",
  description = "lavaan classic PoliticalDemocracy SEM, ML, meanstructure = TRUE",
  model = pd_model,
  lavaan_version = lavaan_version,
  R_version = r_version,
  N = lavInspect(pd_fit, "ntotal"),
  logl = unname(pd_fm["logl"]),
  npar = unname(pd_fm["npar"]),
  chisq = unname(pd_fm["chisq"]),
  df = unname(pd_fm["df"]),
  implied = implied_json(pd_imp),
  est = lapply(pd_est[c("lambda", "theta", "psi", "beta", "nu", "alpha")], mat_json)
)
write_json_file(pd_info, file.path(out_dir, "PoliticalDemocracy_implied.json"))

cat("lavaan", lavaan_version, "- reference files written to", out_dir, "\n")
