test_that("initializers draw the shapes and distributions Keras documents", {
  set.seed(1)
  w <- gru:::initialize_weight(initializer_glorot_uniform(), c(200, 300))
  expect_equal(dim(w), c(200L, 300L))
  limit <- sqrt(6 / 500)
  expect_true(all(abs(w) <= limit))
  expect_equal(stats::sd(as.numeric(w)), limit / sqrt(3), tolerance = 0.02)
  n <- gru:::initialize_weight(initializer_he_normal(), c(400, 100))
  expect_true(all(abs(n) <= 2 * sqrt(2 / 400) / 0.87962566103423978 + 1e-12))
  expect_equal(gru:::initialize_weight(initializer_constant(3), 4), array(3, 4))
  expect_equal(gru:::initialize_weight(initializer_ones(), c(2, 2)), array(1, c(2, 2)))
  expect_equal(gru:::initialize_weight(initializer_identity(2), c(2, 3)),
               array(c(2, 0, 0, 2, 0, 0), c(2, 3)))
  o <- gru:::initialize_weight(initializer_orthogonal(gain = 2), c(6, 3))
  expect_equal(crossprod(o), diag(4, 3), tolerance = 1e-10)
  u <- gru:::initialize_weight(initializer_random_uniform(-1, 1), 1000)
  expect_true(all(u >= -1 & u <= 1))
  tn <- gru:::initialize_weight(initializer_truncated_normal(0, 1), 1000)
  expect_true(all(abs(tn) <= 2))
  vs <- gru:::initialize_weight(
    initializer_variance_scaling(1, "fan_out", "uniform"), c(10, 30))
  expect_true(all(abs(vs) <= sqrt(3 / 30)))
})

test_that("a seeded initializer repeats itself and leaves the session RNG alone", {
  init <- initializer_glorot_normal(seed = 3)
  set.seed(10)
  before <- runif(1)
  set.seed(10)
  a <- gru:::initialize_weight(init, c(3, 4))
  b <- gru:::initialize_weight(init, c(3, 4))
  expect_identical(a, b)
  expect_identical(runif(1), before)
})

test_that("initializers resolve from names, class names, objects and functions", {
  r <- gru:::resolve_initializer
  expect_identical(r("orthogonal"), initializer_orthogonal())
  expect_identical(r("Orthogonal"), initializer_orthogonal())
  expect_identical(r(list(class_name = "RandomNormal", config = list(stddev = 2))),
                   initializer_random_normal(stddev = 2))
  f <- function(shape) array(7, shape)
  layer <- layer_gru(units = 1, kernel_initializer = f, input_shape = c(NA, 2))
  expect_true(all(layer$get_weights()$kernel == 7))
  expect_error(initializer_orthogonal(gain = "a"), class = "gru_error_input")
  expect_error(initializer_variance_scaling(mode = "fan"), class = "gru_error_input")
  expect_output(print(initializer_orthogonal()), "Orthogonal")
})
