# Every documented bad input: a classed gru_error (contract) and its text
# (snapshot).

x <- array(runif(2 * 3 * 4), c(2, 3, 4))

test_that("units must be a positive whole number", {
  for (bad in list(0, -1, 2.5, NA, "8", c(1, 2), Inf)) {
    expect_error(layer_gru(units = bad), class = "gru_error_input")
  }
  expect_error(layer_gru(), class = "gru_error_input")
  expect_error(layer_gru(8), class = "gru_error_input")
  expect_snapshot(error = TRUE, layer_gru(units = 2.5))
  expect_snapshot(error = TRUE, layer_gru(units = "8"))
  expect_snapshot(error = TRUE, layer_gru(8))
})

test_that("rates must lie in [0, 1)", {
  for (bad in list(-0.1, 1, 1.5, NA, "0.5")) {
    expect_error(layer_gru(units = 2, dropout = bad), class = "gru_error_input")
    expect_error(layer_gru(units = 2, recurrent_dropout = bad), class = "gru_error_input")
  }
  expect_snapshot(error = TRUE, layer_gru(units = 2, dropout = 1))
  expect_snapshot(error = TRUE, layer_gru(units = 2, recurrent_dropout = -0.1))
})

test_that("unknown activations, initializers and layer arguments are errors", {
  expect_error(layer_gru(units = 2, activation = "tanhh"), class = "gru_error_input")
  expect_error(layer_gru(units = 2, recurrent_activation = 3), class = "gru_error_input")
  expect_error(layer_gru(units = 2, kernel_initializer = "glorot"), class = "gru_error_input")
  expect_error(layer_gru(units = 2, kernel_regularizer = "l3"), class = "gru_error_input")
  expect_error(layer_gru(units = 2, bias_constraint = "big"), class = "gru_error_input")
  expect_error(layer_gru(units = 2, retrun_sequences = TRUE),
               class = "gru_error_unknown_argument")
  expect_error(layer_gru(units = 2, dtype = "float16"), class = "gru_error_input")
  expect_error(layer_gru(units = 2, implementation = 3), class = "gru_error_input")
  expect_error(layer_gru(units = 2, use_cudnn = "yes"), class = "gru_error_input")
  expect_error(layer_gru(units = 2, return_sequences = NA), class = "gru_error_input")
  expect_snapshot(error = TRUE, layer_gru(units = 2, activation = "tanhh"))
  expect_snapshot(error = TRUE, layer_gru(units = 2, recurrent_initializer = "orthogonl"))
  expect_snapshot(error = TRUE, layer_gru(units = 2, retrun_sequences = TRUE))
})

test_that("inputs must be finite numeric 3-D arrays with no empty dimension", {
  layer <- layer_gru(units = 2)
  expect_error(layer("a"), class = "gru_error_input")
  expect_error(layer(list(1, 2)), class = "gru_error_input")
  expect_error(layer(matrix(1, 2, 3)), class = "gru_error_shape")
  expect_error(layer(1:3), class = "gru_error_shape")
  expect_error(layer(array(0, c(2, 0, 3))), class = "gru_error_shape")
  bad <- x
  bad[2, 3, 1] <- NA
  expect_error(layer(bad), class = "gru_error_nonfinite")
  expect_error(layer(bad), class = "gru_error_input")
  bad[2, 3, 1] <- Inf
  expect_error(layer(bad), class = "gru_error_nonfinite")
  bad[2, 3, 1] <- NaN
  expect_error(layer(bad), class = "gru_error_nonfinite")
  # the input check finds a non-finite value anywhere, in inputs of any length
  all_finite <- get("cpp_all_finite", envir = asNamespace("gru"))
  for (n in c(1, 2, 3, 7, 8, 33, 1000)) {
    v <- stats::runif(n, -1, 1) * 1e308
    expect_true(all_finite(v))
    for (at in unique(c(1, ceiling(n / 2), n))) {
      for (value in list(NA_real_, NaN, Inf, -Inf)) {
        w <- v
        w[at] <- value
        expect_false(all_finite(w), label = paste(n, at, value))
      }
    }
  }
  expect_true(all_finite(c(.Machine$double.xmax, -.Machine$double.xmax, 5e-324, -0, 0)))
  expect_false(layer$built)
  expect_snapshot(error = TRUE, layer(matrix(1, 2, 3)))
  expect_snapshot(error = TRUE, layer(array(0, c(2, 0, 3))))
  expect_snapshot(error = TRUE, layer(bad))
  expect_snapshot(error = TRUE, layer("a"))
})

test_that("a feature size other than the built one is an error", {
  layer <- layer_gru(units = 2, name = "encoder")
  layer(x)
  expect_error(layer(array(0, c(2, 3, 5))), class = "gru_error_shape")
  expect_snapshot(error = TRUE, layer(array(0, c(2, 3, 5))))
})

test_that("masks must be logical or 0/1 (batch, timesteps) matrices", {
  layer <- layer_gru(units = 2)
  expect_error(layer(x, mask = matrix(TRUE, 3, 2)), class = "gru_error_shape")
  expect_error(layer(x, mask = rep(TRUE, 6)), class = "gru_error_shape")
  expect_error(layer(x, mask = matrix("a", 2, 3)), class = "gru_error_input")
  expect_error(layer(x, mask = matrix(c(TRUE, NA), 2, 3)), class = "gru_error_input")
  expect_error(layer(x, mask = matrix(2, 2, 3)), class = "gru_error_input")
  expect_snapshot(error = TRUE, layer(x, mask = matrix(TRUE, 3, 2)))
  expect_snapshot(error = TRUE, layer(x, mask = matrix(c(TRUE, NA), 2, 3)))
})

test_that("initial_state must be (batch, units)", {
  layer <- layer_gru(units = 2)
  expect_error(layer(x, initial_state = matrix(0, 2, 3)), class = "gru_error_shape")
  expect_error(layer(x, initial_state = list(matrix(0, 2, 2), matrix(0, 2, 2))),
               class = "gru_error_shape")
  expect_error(layer(x, initial_state = "a"), class = "gru_error_input")
  expect_error(layer(x, initial_state = matrix(NA_real_, 2, 2)), class = "gru_error_nonfinite")
  expect_snapshot(error = TRUE, layer(x, initial_state = matrix(0, 2, 3)))
})

test_that("set_weights() checks number, shape and type and keeps the old weights", {
  layer <- layer_gru(units = 2, name = "encoder")
  layer(x)
  old <- layer$get_weights()
  w <- old
  expect_error(layer$set_weights(w[1:2]), class = "gru_error_weights")
  w$recurrent_kernel <- matrix(0, 3, 6)
  expect_error(layer$set_weights(w), class = "gru_error_weights")
  w <- old
  w$bias <- as.numeric(w$bias)
  expect_error(layer$set_weights(w), class = "gru_error_weights")
  w <- old
  w$kernel <- matrix("a", 4, 6)
  expect_error(layer$set_weights(w), class = "gru_error_weights")
  w <- old
  w$kernel[1, 1] <- NaN
  expect_error(layer$set_weights(w), class = "gru_error_weights")
  expect_error(layer$set_weights("kernel"), class = "gru_error_weights")
  expect_identical(layer$get_weights(), old)
  w <- old
  w$recurrent_kernel <- matrix(0, 3, 6)
  expect_snapshot(error = TRUE, layer$set_weights(w))
  expect_snapshot(error = TRUE, layer$set_weights(old[1:2]))
})

test_that("a stateful layer called with another batch size is an error", {
  layer <- layer_gru(units = 2, stateful = TRUE, name = "encoder")
  layer(x)
  expect_error(layer(array(0, c(3, 3, 4))), class = "gru_error_stateful_batch")
  fixed <- layer_gru(units = 2, stateful = TRUE, batch_size = 5)
  expect_error(fixed(x), class = "gru_error_stateful_batch")
  expect_snapshot(error = TRUE, layer(array(0, c(3, 3, 4))))
})

test_that("use_cudnn = TRUE fails with every reason when cuDNN cannot run", {
  skip_if(cuda_is_available())
  layer <- layer_gru(units = 2, use_cudnn = TRUE, reset_after = FALSE,
                     activation = "relu")
  expect_error(layer(x), class = "gru_error_cudnn_unavailable")
  err <- tryCatch(layer(x), error = identity)
  msg <- conditionMessage(err)
  expect_match(msg, "activation")
  expect_match(msg, "reset_after")
  expect_match(msg, "CUDA|GPU")
})

test_that("a layer is unusable only where it must be: errors leave it working", {
  layer <- layer_gru(units = 2)
  try(layer(array(NA_real_, c(2, 3, 4))), silent = TRUE)
  expect_equal(dim(layer(x)), c(2L, 2L))
  expect_error(layer_gru(units = 2)$count_params(), class = "gru_error_not_built")
})

test_that("an engine failure is a gru_error_backend with the C++ error as parent", {
  layer <- layer_gru(units = 2)
  layer(x)
  e <- gru:::gru_prepare_call(gru:::layer_self(layer), x)$engine
  run <- function(options) {
    gru:::with_backend_errors(
      gru:::cpp_gru_forward(replace(e, "options", list(options)), float64 = FALSE,
                            gpu = FALSE),
      what = "GRU forward pass", call = quote(layer(x))
    )
  }
  expect_equal(dim(run(e$options)$output), c(2L, 2L))
  cnd <- expect_error(run(list()), class = "gru_error_backend")
  expect_s3_class(cnd, "gru_error")
  expect_s3_class(cnd$parent, "error")
  expect_identical(cnd$call, quote(layer(x)))
  expect_match(conditionMessage(cnd), "GRU forward pass failed")
})

test_that("classed and non-double inputs take the full checks", {
  layer <- layer_gru(units = 2)
  classed <- structure(x, class = "my_array")
  expect_equal(layer(classed), layer(x))
  expect_equal(layer(x > 0), layer(array(as.double(x > 0), dim(x))))
  int <- array(1:24, c(2, 3, 4))
  expect_equal(layer(int), layer(array(as.double(int), dim(int))))
  expect_error(layer(structure(list(1), class = "my_array")), class = "gru_error_input")
  bad <- x
  bad[1, 1, 1] <- NA
  expect_error(layer(structure(bad, class = "my_array")), class = "gru_error_nonfinite")
  bad_int <- int
  bad_int[2] <- NA
  expect_error(layer(bad_int), class = "gru_error_nonfinite")
})

test_that("the training engine refuses more rows than its products can index", {
  # The training products take batch x timesteps as one int dimension. The
  # engine is called directly with dims claiming 65536 x 32769 rows (the
  # input itself stays tiny): the check comes before any allocation of
  # that size, and the same call with the real dims runs.
  x <- array(stats::runif(2 * 3), c(2, 3, 1))
  layer <- layer_gru(units = 1, use_cudnn = FALSE)
  layer(x)
  engine <- gru:::gru_prepare_call(gru:::layer_self(layer), x)$engine
  run <- function(dims) {
    engine$dims <- dims
    gru:::cpp_gru_train_forward(engine, float64 = FALSE)
  }
  expect_error(run(c(65536L, 32769L, 1L, 1L)),
               "at most 2147483647 rows \\(batch x timesteps\\); got 2147549184")
  expect_identical(dim(run(c(2L, 3L, 1L, 1L))$output), c(2L, 1L))
})
