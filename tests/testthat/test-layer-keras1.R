# Keras 1's MaxoutDense and Highway (built from configs, as Keras 1 files
# hold them), against Keras 1.2.2's formulas written out here.

test_that("MaxoutDense takes the max over its feature maps", {
  set.seed(1)
  layer <- from_config(list(class_name = "MaxoutDense",
                            config = list(name = "mx", output_dim = 3, nb_feature = 2,
                                          input_dim = 4, init = "glorot_uniform",
                                          W_regularizer = NULL)))
  expect_equal(layer$count_params(), 2L * 4L * 3L + 2L * 3L)
  W <- array(rnorm(2 * 4 * 3), c(2, 4, 3))
  b <- matrix(rnorm(2 * 3), 2, 3)
  set_weights(layer, list(W, b))
  x <- matrix(rnorm(5 * 4), 5, 4)
  want <- matrix(NA_real_, 5, 3)
  for (i in 1:5) for (j in 1:3) {
    want[i, j] <- max(vapply(1:2, function(k) sum(x[i, ] * W[k, , j]) + b[k, j], 0))
  }
  expect_equal(layer(x), want)
  expect_error(from_config(list(class_name = "MaxoutDense",
                                config = list(name = "m2", nb_feature = 2))),
               class = "gru_error_config")
})

test_that("Highway mixes its transform and its input by the carry gate", {
  set.seed(2)
  layer <- from_config(list(class_name = "Highway",
                            config = list(name = "hw", activation = "relu", input_dim = 3,
                                          transform_bias = -2)))
  w <- list(matrix(rnorm(9), 3), rnorm(3), matrix(rnorm(9), 3), rnorm(3))
  set_weights(layer, w)
  x <- matrix(rnorm(4 * 3), 4, 3)
  t <- 1 / (1 + exp(-(x %*% w[[3]] + matrix(w[[4]], 4, 3, byrow = TRUE))))
  h <- pmax(x %*% w[[1]] + matrix(w[[2]], 4, 3, byrow = TRUE), 0)
  expect_equal(layer(x), t * h + (1 - t) * x)
  expect_identical(layer$count_params(), 2L * (9L + 3L))
  expect_snapshot(error = TRUE, from_config(list(
    class_name = "Highway",
    config = list(name = "hw2", W_regularizer = list(l2 = 0.1), input_dim = 3))))
})
