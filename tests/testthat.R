library(testthat)
library(gru)

test_check("gru")
