# Keras' TimeDistributed: output[, t, ...] = layer(input[, t, ...]) for every
# timestep t, with the same weights. The expectations loop over timesteps
# and call the wrapped layer on each slice.

# The slice x[, t, ...] of an array of any rank, keeping the batch axis.
timestep <- function(x, t) {
  d <- dim(x)
  args <- c(list(x, TRUE, t), rep(list(TRUE), length(d) - 2L), list(drop = FALSE))
  s <- do.call(`[`, args)
  array(s, d[-2L])
}

# Stacks per-timestep outputs (batch, ...) along a new axis 2.
stack_timesteps <- function(outs) {
  d <- dim(outs[[1L]])
  n <- length(d)
  a <- array(unlist(lapply(outs, function(o) aperm(o, c(seq_len(n)[-1L], 1L)))),
             c(d[-1L], d[1L], length(outs)))
  aperm(a, c(n, n + 1L, seq_len(n - 1L)))
}

test_that("time_distributed applies a dense layer at every timestep", {
  x <- array(rnorm(3 * 5 * 4), c(3, 5, 4))
  dense <- layer_dense(units = 2, activation = "tanh")
  td <- layer_time_distributed(layer = dense)
  y <- td(x)
  expect_identical(dim(y), c(3L, 5L, 2L))
  expected <- stack_timesteps(lapply(1:5, function(t) dense(timestep(x, t))))
  expect_equal(y, expected, tolerance = 1e-14)
  # the layer given first, as layer_bidirectional() takes it
  expect_equal(layer_time_distributed(dense)(x), y, tolerance = 1e-14)
  # 4-D input: the dense layer sees (batch, inner, features) slices
  z <- array(rnorm(2 * 3 * 4 * 4), c(2, 3, 4, 4))
  expect_equal(td(z), stack_timesteps(lapply(1:3, function(t) dense(timestep(z, t)))),
               tolerance = 1e-14)
})

test_that("a GRU inside time_distributed runs over the inner sequences", {
  set.seed(21)
  x <- array(rnorm(2 * 3 * 6 * 4), c(2, 3, 6, 4))   # (batch, outer, inner, features)
  for (dtype in c("float32", "float64")) {
    g <- layer_gru(units = 5, dtype = dtype)
    y <- layer_time_distributed(layer = g)(x)
    expect_identical(dim(y), c(2L, 3L, 5L))
    expected <- stack_timesteps(lapply(1:3, function(t) g(timestep(x, t))))
    expect_equal(y, expected, tolerance = if (dtype == "float32") 1e-6 else 1e-12)
    seq <- layer_gru(units = 5, dtype = dtype, return_sequences = TRUE)
    ys <- layer_time_distributed(layer = seq)(x)
    expect_identical(dim(ys), c(2L, 3L, 6L, 5L))
    expected <- stack_timesteps(lapply(1:3, function(t) seq(timestep(x, t))))
    expect_equal(ys, expected, tolerance = if (dtype == "float32") 1e-6 else 1e-12)
  }
  # a bidirectional GRU is a layer too
  bi <- layer_bidirectional(layer_gru(units = 2))
  expect_equal(layer_time_distributed(layer = bi)(x),
               stack_timesteps(lapply(1:3, function(t) bi(timestep(x, t)))), tolerance = 1e-6)
})

test_that("the wrapper's weights are the wrapped layer's", {
  dense <- layer_dense(units = 3, input_shape = 4)
  td <- layer_time_distributed(layer = dense)
  expect_identical(td$layer, dense)
  expect_identical(td$get_weights(), dense$get_weights())
  expect_identical(td$count_params(), 4L * 3L + 3L)
  w <- list(matrix(1, 4, 3), rep(0.5, 3))
  td$set_weights(w)
  expect_equal(unname(lapply(dense$get_weights(), as.vector)), lapply(w, as.vector))
  expect_error(td$set_weights(list(matrix(1, 4, 3))), class = "gru_error_weights")
  x <- array(1, c(2, 2, 4))
  expect_equal(td(x), array(4.5, c(2, 2, 3)))
  # an unbuilt layer is built on the first call, for each timestep's shape
  lazy <- layer_time_distributed(layer = layer_gru(units = 2))
  expect_false(lazy$built)
  invisible(lazy(array(0, c(1, 2, 3, 5))))
  expect_true(lazy$built)
  expect_identical(dim(lazy$get_weights()[[1]]), c(5L, 6L))
})

test_that("a mask passes through to the next layer and not into the wrapped one", {
  x <- array(runif(2 * 4 * 3), c(2, 4, 3))
  x[2, 3:4, ] <- 0
  masking <- layer_masking()
  td <- layer_time_distributed(layer = layer_dense(units = 2))
  a <- gru:::layer_forward(masking, x)
  b <- gru:::layer_forward(td, a$output, mask = a$mask)
  expect_identical(b$mask, a$mask)
  g <- layer_gru(units = 2)
  expect_identical(gru:::layer_forward(g, b$output, mask = b$mask)$output,
                   g(td(x), mask = a$mask))
  # a GRU inside sees whole inner sequences, unmasked
  z <- array(runif(2 * 4 * 3 * 2), c(2, 4, 3, 2))
  inner <- layer_time_distributed(layer = layer_gru(units = 2))
  mask <- matrix(c(TRUE, TRUE, TRUE, FALSE), 2, 4)
  res <- gru:::layer_forward(inner, z, mask = mask)
  expect_identical(res$mask, mask)
  expect_identical(res$output, inner(z))
})

test_that("gradients through time_distributed match finite differences", {
  set.seed(22)
  x <- array(rnorm(3 * 4 * 2), c(3, 4, 2))
  dense_model <- keras_model_sequential(input_shape = c(4, 2)) |>
    layer_time_distributed(layer_dense(units = 3, activation = "tanh", dtype = "float64")) |>
    layer_gru(units = 2, dtype = "float64") |>
    layer_dense(units = 1, dtype = "float64")
  expect_model_gradients(dense_model, x, matrix(rnorm(3), 3), "mse")
  z <- array(rnorm(3 * 3 * 4 * 2), c(3, 3, 4, 2))
  gru_model <- keras_model_sequential(input_shape = c(3, 4, 2)) |>
    layer_time_distributed(layer_gru(units = 3, dtype = "float64")) |>
    layer_gru(units = 2, dtype = "float64", return_sequences = TRUE) |>
    layer_time_distributed(layer_dense(units = 1, dtype = "float64"))
  expect_model_gradients(gru_model, z, array(rnorm(3 * 3), c(3, 3, 1)), "mse")
  # sequences inside, and a time_distributed inside a time_distributed
  nested <- keras_model_sequential(input_shape = c(3, 4, 2)) |>
    layer_time_distributed(layer_gru(units = 3, dtype = "float64", return_sequences = TRUE)) |>
    layer_time_distributed(layer_time_distributed(layer_dense(units = 2, dtype = "float64"))) |>
    layer_reshape(target_shape = c(3, 8)) |>
    layer_gru(units = 2, dtype = "float64") |>
    layer_dense(units = 1, dtype = "float64")
  expect_model_gradients(nested, z, matrix(rnorm(3), 3), "mse")
  # a mask passes through to the GRU after the wrapper
  x[1, 3:4, ] <- 0
  masked <- keras_model_sequential(input_shape = c(4, 2)) |>
    layer_masking() |>
    layer_time_distributed(layer_dense(units = 3, activation = "tanh", dtype = "float64")) |>
    layer_gru(units = 2, dtype = "float64") |>
    layer_dense(units = 1, dtype = "float64")
  y <- matrix(rnorm(3), 3)
  expect_model_gradients(masked, x, y, "mse")
  # the masked sample ends where its mask does
  plain <- keras_model_sequential(input_shape = c(NA, 2)) |>
    layer_time_distributed(layer_dense(units = 3, activation = "tanh", dtype = "float64")) |>
    layer_gru(units = 2, dtype = "float64") |>
    layer_dense(units = 1, dtype = "float64")
  set_weights(plain, get_weights(masked))
  expect_equal(predict(masked, x)[1, ], predict(plain, x[1, 1:2, , drop = FALSE])[1, ],
               tolerance = 1e-12)
  expect_false(isTRUE(all.equal(predict(masked, x)[1, ], predict(plain, x)[1, ])))
})

test_that("models with time_distributed train, summarise and round-trip", {
  set.seed(23)
  x <- array(runif(16 * 6 * 5 * 2), c(16, 6, 5, 2))
  y <- matrix(apply(x, 1, mean), 16, 1)
  model <- keras_model_sequential(input_shape = c(6, 5, 2), name = "windows") |>
    layer_time_distributed(layer_gru(units = 8), name = "per_window") |>
    layer_time_distributed(layer_dense(units = 2), name = "td_dense") |>
    layer_gru(units = 4, name = "g") |>
    layer_dense(units = 1, name = "out")
  s <- summary(model)
  expect_identical(s$type, c("TimeDistributed", "TimeDistributed", "GRU", "Dense"))
  expect_identical(s$output_shape, c("(NA, 6, 8)", "(NA, 6, 2)", "(NA, 4)", "(NA, 1)"))
  expect_identical(s$params, c(3L * (2L * 8L + 8L * 8L + 2L * 8L), 8L * 2L + 2L,
                               3L * (2L * 4L + 4L * 4L + 2L * 4L), 5L))
  expect_output(print(model$layers[[1]]), "<time_distributed layer \"per_window\">")
  compile(model, optimizer = optimizer_adam(0.01), loss = "mse")
  h <- fit(model, x, y, epochs = 5, batch_size = 8, verbose = 0)
  expect_lt(h$metrics$loss[5], h$metrics$loss[1])
  cfg <- get_config(model)
  td_cfg <- cfg$layers[[2]]
  expect_identical(td_cfg$class_name, "TimeDistributed")
  expect_identical(names(td_cfg$config), c("name", "trainable", "dtype", "layer"))
  expect_identical(td_cfg$config$layer$class_name, "GRU")
  copy <- from_config(cfg)
  set_weights(copy, get_weights(model))
  expect_identical(predict(copy, x), predict(model, x))
  f <- tempfile(fileext = ".rds")
  on.exit(unlink(f))
  saveRDS(model, f)
  expect_identical(predict(readRDS(f), x), predict(model, x))
  # a frozen wrapper freezes the wrapped layer
  frozen <- keras_model_sequential(input_shape = c(6, 5, 2)) |>
    layer_time_distributed(layer_dense(units = 1), trainable = FALSE) |>
    layer_flatten() |>
    layer_dense(units = 1)
  compile(frozen, optimizer = optimizer_sgd(0.1), loss = "mse")
  w0 <- get_weights(frozen)
  fit(frozen, x, y, epochs = 1, verbose = 0)
  expect_identical(get_weights(frozen)[1:2], w0[1:2])
  expect_false(identical(get_weights(frozen)[3:4], w0[3:4]))
})

test_that("a Keras TimeDistributed config builds the layer", {
  skip_if_not_installed("jsonlite")
  json <- '{"module": "keras.layers", "class_name": "TimeDistributed",
    "config": {"name": "time_distributed", "trainable": true,
      "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}},
      "layer": {"module": "keras.layers", "class_name": "Dense",
        "config": {"name": "dense", "trainable": true, "dtype": "float32", "units": 2,
          "activation": "relu", "use_bias": true,
          "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
            "config": {"seed": null}, "registered_name": null},
          "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros",
            "config": {}, "registered_name": null},
          "kernel_regularizer": null, "bias_regularizer": null, "kernel_constraint": null,
          "bias_constraint": null}, "registered_name": null}},
    "registered_name": null}'
  td <- from_config(jsonlite::fromJSON(json, simplifyVector = FALSE))
  expect_s3_class(td, "gru_layer_time_distributed")
  expect_s3_class(td$layer, "gru_layer_dense")
  x <- array(rnorm(2 * 3 * 4), c(2, 3, 4))
  y <- td(x)
  w <- td$get_weights()
  expect_equal(y[, 2, ], pmax(x[, 2, ] %*% w[[1]] + rep(w[[2]], each = 2), 0))
})

test_that("bad arguments and shapes give classed errors", {
  expect_error(layer_time_distributed(), class = "gru_error_input")
  expect_error(layer_time_distributed(layer = 3), class = "gru_error_input")
  expect_error(layer_time_distributed(layer = layer_gru_cell(units = 2)), class = "gru_error_layer_kind")
  expect_error(layer_time_distributed(layer = layer_gru(units = 2, return_state = TRUE)),
               class = "gru_error_input")
  expect_error(layer_time_distributed(layer = layer_gru(units = 2, stateful = TRUE)),
               class = "gru_error_input")
  expect_error(layer_time_distributed(layer = layer_bidirectional(layer_gru(units = 2), merge_mode = NULL)),
               class = "gru_error_input")
  expect_error(layer_time_distributed(layer = layer_dense(units = 2), units = 3),
               class = "gru_error_unknown_argument")
  expect_error(layer_time_distributed(layer = layer_dense(units = 2), input_shape = 4),
               class = "gru_error_shape")
  td <- layer_time_distributed(layer = layer_dense(units = 2, input_shape = 3, name = "inner"), name = "td")
  expect_error(td(matrix(0, 2, 3)), class = "gru_error_shape")
  expect_error(td(array(0, c(2, 4, 5))), class = "gru_error_shape")
  expect_error(td(array(0, c(2, 4, 3)), mask = matrix(TRUE, 2, 3)), class = "gru_error_mask")
  expect_error(td(array(0, c(2, 4, 3)), initial_state = list(matrix(0, 2, 2))),
               class = "gru_error_input")
  expect_error(td("a"), class = "gru_error_input")
  expect_error(
    keras_model_sequential(input_shape = c(4, 5)) |> layer_time_distributed(layer_dense(units = 2, input_shape = 3)),
    class = "gru_error_shape"
  )
  expect_snapshot(error = TRUE, {
    layer_time_distributed(layer = layer_gru(units = 2, stateful = TRUE, name = "s"))
    td(matrix(0, 2, 3))
    td(array(0, c(2, 4, 5)))
    td(array(0, c(2, 4, 3)), mask = matrix(TRUE, 2, 3))
  })
})
