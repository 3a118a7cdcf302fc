test_that("dropout passes its input through unless training", {
  x <- array(runif(2 * 3 * 4), c(2, 3, 4))
  drop <- layer_dropout(rate = 0.5)
  expect_identical(drop(x), x)
  expect_identical(drop(x, training = FALSE), x)
  m <- matrix(runif(6), 2, 3)
  expect_identical(drop(m), m)
  # a rate of 0 never drops
  expect_identical(layer_dropout(rate = 0)(x, training = TRUE), x)
  # logical and integer input come out as doubles, as from the other layers
  expect_identical(drop(array(TRUE, c(1, 2))), array(1, c(1, 2)))
  expect_identical(drop(array(2L, c(1, 2))), array(2, c(1, 2)))
})

test_that("training drops a fraction `rate` and scales the rest", {
  x <- array(runif(20 * 50 * 10, 1, 2), c(20, 50, 10))
  for (rate in c(0.1, 0.5, 0.8)) {
    y <- layer_dropout(rate = rate, seed = 7)(x, training = TRUE)
    expect_identical(dim(y), dim(x))
    kept <- y != 0
    expect_equal(y[kept], x[kept] / (1 - rate))
    # 10000 draws: the dropped share is within 2.5 percentage points of rate
    expect_lt(abs(mean(!kept) - rate), 0.025)
  }
})

test_that("noise_shape shares draws along its axes of size 1", {
  x <- array(1, c(3, 6, 5))
  y <- layer_dropout(rate = 0.5, noise_shape = c(NA, 1, NA), seed = 1)(x, training = TRUE)
  for (t in 2:6) expect_identical(y[, t, ], y[, 1, ])
  expect_true(any(y == 0) && any(y == 2))
  # keras3's spelling, a list with NULLs, means the same
  z <- layer_dropout(rate = 0.5, noise_shape = list(NULL, 1L, NULL), seed = 1)(x, training = TRUE)
  expect_identical(z, y)
  # sizes given in full are the input's own
  w <- layer_dropout(rate = 0.5, noise_shape = c(3, 1, 5), seed = 1)(x, training = TRUE)
  expect_identical(w, y)
  # one draw per batch row: every element of a row shares it
  r <- layer_dropout(rate = 0.5, noise_shape = c(NA, 1, 1), seed = 2)(x, training = TRUE)
  for (b in 1:3) expect_length(unique(as.vector(r[b, , ])), 1L)
})

test_that("seed makes the masks reproducible; NULL uses set.seed()", {
  x <- array(1, c(4, 5, 6))
  a <- layer_dropout(rate = 0.3, seed = 42)
  b <- layer_dropout(rate = 0.3, seed = 42)
  set.seed(1)
  before <- .Random.seed
  ya <- a(x, training = TRUE)
  expect_identical(.Random.seed, before)  # the session's stream is untouched
  expect_identical(b(x, training = TRUE), ya)
  # the layer's stream advances: the next call draws a new mask
  expect_false(identical(a(x, training = TRUE), ya))
  c1 <- layer_dropout(rate = 0.3)
  set.seed(5)
  y1 <- c1(x, training = TRUE)
  set.seed(5)
  expect_identical(c1(x, training = TRUE), y1)
})

test_that("a mask passes through dropout to the next recurrent layer", {
  x <- array(runif(2 * 4 * 3), c(2, 4, 3))
  x[2, 3:4, ] <- 0
  masking <- layer_masking()
  drop <- layer_dropout(rate = 0.5)
  g <- layer_gru(units = 2)
  a <- gru:::layer_forward(masking, x)
  b <- gru:::layer_forward(drop, a$output, mask = a$mask)
  expect_identical(b$mask, a$mask)
  expect_identical(gru:::layer_forward(g, b$output, mask = b$mask)$output,
                   g(x, mask = masking$compute_mask(x)))
  # a 2-D input has no time axis, so no mask comes out
  expect_null(gru:::layer_forward(drop, matrix(1, 2, 3), mask = a$mask)$mask)
})

test_that("models train through dropout; inference does not drop", {
  set.seed(3)
  x <- array(runif(32 * 5 * 3), c(32, 5, 3))
  y <- matrix(rowSums(x[, , 1]), 32, 1)
  model <- keras_model_sequential(input_shape = c(5, 3)) |>
    layer_gru(6, return_sequences = TRUE) |>
    layer_dropout(rate = 0.3, seed = 1) |>
    layer_gru(4) |>
    layer_dropout(rate = 0.2, seed = 2) |>
    layer_dense(1)
  expect_output(print(model), "Dropout")
  compile(model, optimizer = optimizer_adam(0.01), loss = "mse")
  p <- predict(model, x)
  expect_identical(predict(model, x), p)
  # without the dropout layers, the same weights predict the same
  plain <- keras_model_sequential(input_shape = c(5, 3)) |>
    layer_gru(6, return_sequences = TRUE) |>
    layer_gru(4) |>
    layer_dense(1)
  set_weights(plain, get_weights(model))
  expect_identical(predict(plain, x), p)
  # training mode draws masks, so the loss differs from inference's
  g_train <- gradients(model, x, y, training = TRUE)
  g_eval <- gradients(model, x, y, training = FALSE)
  expect_false(isTRUE(all.equal(attr(g_train, "loss"), attr(g_eval, "loss"))))
  expect_equal(attr(g_eval, "loss"), evaluate(model, x, y, verbose = 0)[["loss"]])
  h <- fit(model, x, y, epochs = 20, batch_size = 8, verbose = 0)
  expect_lt(h$metrics$loss[20], h$metrics$loss[1])
  # it round-trips through its config and through saveRDS()
  m2 <- from_config(get_config(model))
  expect_identical(vapply(get_config(m2)$layers, `[[`, "", "class_name"),
                   vapply(get_config(model)$layers, `[[`, "", "class_name"))
  f <- tempfile(fileext = ".rds")
  on.exit(unlink(f))
  saveRDS(model, f)
  expect_identical(predict(readRDS(f), x), predict(model, x))
})

test_that("gradients through dropout match finite differences", {
  set.seed(4)
  x <- array(rnorm(3 * 4 * 2), c(3, 4, 2))
  y <- array(rnorm(3 * 4), c(3, 4, 1))
  model <- keras_model_sequential(input_shape = c(4, 2)) |>
    layer_gru(3, dtype = "float64", return_sequences = TRUE) |>
    layer_dropout(rate = 0.4, noise_shape = c(NA, 1, NA), seed = 9) |>
    layer_gru(2, dtype = "float64", return_sequences = TRUE) |>
    layer_dropout(rate = 0.5, seed = 3) |>
    layer_dense(1)
  drop <- model$layers[[2]]
  drop2 <- model$layers[[4]]
  expect_s3_class(drop, "gru_layer_dropout")
  expect_s3_class(drop2, "gru_layer_dropout")
  # Restarting the layers' streams before every evaluation gives them the
  # same masks each time, so the loss is a smooth function of the weights.
  restart <- function() {
    assign("rng", NULL, envir = gru:::layer_self(drop))
    assign("rng", NULL, envir = gru:::layer_self(drop2))
  }
  restart()
  y_drop <- gru:::layer_forward(drop, array(1, c(3, 4, 3)), training = TRUE)$output
  expect_true(any(y_drop == 0))  # the masks do drop something
  expect_model_gradients(model, x, y, "mse", training = TRUE, before = restart)
  restart()
  g <- gradients(model, x, y, loss = "mse", training = TRUE)
  # and the dropout changed them: inference-mode gradients differ
  g0 <- gradients(model, x, y, loss = "mse", training = FALSE)
  expect_false(isTRUE(all.equal(g0, g)))
})

test_that("bad arguments and inputs give classed errors", {
  expect_error(layer_dropout(rate = 1), class = "gru_error_input")
  expect_error(layer_dropout(rate = -0.1), class = "gru_error_input")
  expect_error(layer_dropout(rate = "a"), class = "gru_error_input")
  expect_error(layer_dropout(), class = "gru_error_input")
  expect_error(layer_dropout(0.3), class = "gru_error_input")
  expect_error(layer_dropout(rate = 0.2, noise_shape = c(0, 1)), class = "gru_error_input")
  expect_error(layer_dropout(rate = 0.2, noise_shape = "a"), class = "gru_error_input")
  expect_error(layer_dropout(rate = 0.2, seed = 1.5), class = "gru_error_input")
  expect_error(layer_dropout(rate = 0.2, units = 3), class = "gru_error")
  x <- array(1, c(2, 3, 4))
  expect_error(layer_dropout(rate = 0.2, noise_shape = c(NA, 2, NA))(x, training = TRUE),
               class = "gru_error_shape")
  expect_error(layer_dropout(rate = 0.2, noise_shape = c(NA, 1))(x), class = "gru_error_shape")
  expect_error(layer_dropout(rate = 0.2)("a"), class = "gru_error_input")
  expect_snapshot(error = TRUE, {
    layer_dropout(0.3)
    layer_dropout(rate = 1)
    layer_dropout(rate = 0.2, noise_shape = c(NA, 2, NA), name = "d")(x, training = TRUE)
  })
  # in a model, a noise_shape of the wrong rank is caught when the layer is added
  expect_error(
    keras_model_sequential(input_shape = c(3, 4)) |> layer_dropout(rate = 0.2, noise_shape = c(NA, 1)),
    class = "gru_error"
  )
})

test_that("a Keras Dropout config builds the layer", {
  skip_if_not_installed("jsonlite")
  json <- '{"class_name": "Dropout", "config": {"name": "dropout", "trainable": true,
    "dtype": "float32", "rate": 0.25, "noise_shape": [null, 1, null], "seed": 7}}'
  layer <- from_config(jsonlite::fromJSON(json, simplifyVector = FALSE))
  expect_s3_class(layer, "gru_layer_dropout")
  cfg <- get_config(layer)
  expect_identical(attr(cfg, "class_name"), "Dropout")
  expect_identical(cfg$rate, 0.25)
  expect_identical(cfg$noise_shape, list(NULL, 1L, NULL))
  expect_identical(
    as.character(jsonlite::toJSON(cfg$noise_shape, auto_unbox = TRUE, null = "null")),
    "[null,1,null]"
  )
  expect_identical(cfg$seed, 7L)
  x <- array(1, c(2, 3, 4))
  expect_identical(layer(x, training = TRUE),
                   layer_dropout(rate = 0.25, noise_shape = c(NA, 1, NA), seed = 7)(x, training = TRUE))
  plain <- from_config(list(class_name = "Dropout",
                            config = list(name = "d", rate = 0.5, noise_shape = NULL, seed = NULL)))
  expect_identical(plain(x), x)
})
