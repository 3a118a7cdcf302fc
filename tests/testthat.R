# The whole suite always runs, under R CMD check too. testthat skips snapshot
# expectations when NOT_CRAN is unset (as under R CMD check); the error-text
# snapshots are part of the contract, so they run everywhere.
Sys.setenv(NOT_CRAN = "true")
library(testthat)
library(gru)

test_check("gru")
