test_that("noise layers pass their input through unless training", {
  x <- array(runif(2 * 3 * 4), c(2, 3, 4))
  layers <- list(layer_spatial_dropout_1d(rate = 0.5), layer_gaussian_noise(stddev = 0.5),
                 layer_gaussian_dropout(rate = 0.5))
  for (layer in layers) {
    expect_identical(layer(x), x)
    expect_identical(layer(x, training = FALSE), x)
  }
  m <- matrix(runif(6), 2, 3)
  expect_identical(layers[[2]](m), m)
  expect_identical(layers[[3]](m), m)
  # a rate or stddev of 0 never changes anything
  expect_identical(layer_spatial_dropout_1d(rate = 0)(x, training = TRUE), x)
  expect_identical(layer_gaussian_noise(stddev = 0)(x, training = TRUE), x)
  expect_identical(layer_gaussian_dropout(rate = 0)(x, training = TRUE), x)
  expect_identical(layer_gaussian_noise(stddev = 0.1)(array(2L, c(1, 2))), array(2, c(1, 2)))
})

test_that("spatial dropout drops whole channels and scales the rest", {
  x <- array(runif(40 * 6 * 50, 1, 2), c(40, 6, 50))
  for (rate in c(0.2, 0.5)) {
    y <- layer_spatial_dropout_1d(rate = rate, seed = 3)(x, training = TRUE)
    # each (sample, channel) is kept at every timestep or at none
    ratio <- y / x
    for (t in 2:6) expect_identical(ratio[, t, ], ratio[, 1, ])
    kept <- ratio[, 1, ] != 0
    expect_equal(ratio[, 1, ][kept], rep(1 / (1 - rate), sum(kept)))
    # 2000 draws: the dropped share is within 4 percentage points of rate
    expect_lt(abs(mean(!kept) - rate), 0.04)
  }
})

test_that("gaussian noise adds N(0, stddev) and gaussian dropout multiplies by N(1, sd)", {
  x <- array(runif(50 * 20 * 20, 1, 2), c(50, 20, 20))
  noise <- layer_gaussian_noise(stddev = 0.3, seed = 1)(x, training = TRUE) - x
  # 20000 draws: mean within 0.02, sd within 3%
  expect_lt(abs(mean(noise)), 0.02)
  expect_lt(abs(sd(noise) / 0.3 - 1), 0.03)
  rate <- 0.2
  factor <- layer_gaussian_dropout(rate = rate, seed = 2)(x, training = TRUE) / x
  expect_lt(abs(mean(factor) - 1), 0.02)
  expect_lt(abs(sd(factor) / sqrt(rate / (1 - rate)) - 1), 0.03)
  expect_gt(length(unique(as.vector(factor))), 19000)
})

test_that("seed makes the draws reproducible; NULL uses set.seed()", {
  x <- array(1, c(4, 5, 6))
  makers <- list(function(seed) layer_spatial_dropout_1d(rate = 0.3, seed = seed),
                 function(seed) layer_gaussian_noise(stddev = 0.3, seed = seed),
                 function(seed) layer_gaussian_dropout(rate = 0.3, seed = seed))
  for (make in makers) {
    a <- make(42)
    b <- make(42)
    set.seed(1)
    before <- .Random.seed
    ya <- a(x, training = TRUE)
    expect_identical(.Random.seed, before)  # the session's stream is untouched
    expect_identical(b(x, training = TRUE), ya)
    expect_false(identical(a(x, training = TRUE), ya))  # the stream advances
    c1 <- make(NULL)
    set.seed(5)
    y1 <- c1(x, training = TRUE)
    set.seed(5)
    expect_identical(c1(x, training = TRUE), y1)
  }
})

test_that("a mask passes through the noise layers", {
  x <- array(runif(2 * 4 * 3), c(2, 4, 3))
  x[2, 3:4, ] <- 0
  a <- gru:::layer_forward(layer_masking(), x)
  for (layer in list(layer_spatial_dropout_1d(rate = 0.5), layer_gaussian_noise(stddev = 0.5),
                     layer_gaussian_dropout(rate = 0.5))) {
    b <- gru:::layer_forward(layer, a$output, mask = a$mask, training = TRUE)
    expect_identical(b$mask, a$mask)
  }
  expect_null(gru:::layer_forward(layer_gaussian_noise(stddev = 0.1), matrix(1, 2, 3),
                                  mask = a$mask)$mask)
})

test_that("gradients through the noise layers in training mode match finite differences", {
  set.seed(31)
  x <- array(rnorm(3 * 4 * 2), c(3, 4, 2))
  y <- array(rnorm(3 * 4), c(3, 4, 1))
  model <- keras_model_sequential(input_shape = c(4, 2)) |>
    layer_gru(units = 3, dtype = "float64", return_sequences = TRUE) |>
    layer_spatial_dropout_1d(rate = 0.4, seed = 9) |>
    layer_gaussian_noise(stddev = 0.5, seed = 4) |>
    layer_gru(units = 3, dtype = "float64", return_sequences = TRUE) |>
    layer_gaussian_dropout(rate = 0.3, seed = 5) |>
    layer_dense(units = 1, dtype = "float64")
  noisy <- model$layers[c(2, 3, 5)]
  # Restarting the layers' streams before every evaluation gives them the
  # same draws each time, so the loss is a smooth function of the weights.
  restart <- function() {
    for (l in noisy) assign("rng", NULL, envir = gru:::layer_self(l))
  }
  restart()
  y_drop <- gru:::layer_forward(noisy[[1]], array(1, c(3, 4, 3)), training = TRUE)$output
  expect_true(any(y_drop == 0))  # the spatial dropout does drop something
  expect_model_gradients(model, x, y, "mse", training = TRUE, before = restart)
  restart()
  g <- gradients(model, x, y, loss = "mse", training = TRUE)
  g0 <- gradients(model, x, y, loss = "mse", training = FALSE)
  expect_false(isTRUE(all.equal(g0, g)))
  # the input gradient of the multiplicative layers is the gradient times the factor
  gd <- layer_gaussian_dropout(rate = 0.3, seed = 1)
  run <- gru:::layer_train_forward(gd, x, training = TRUE)
  go <- array(runif(length(x)), dim(x))
  expect_equal(gru:::layer_backward(gd, run$cache, go)$inputs, go * run$output / x)
  gn <- layer_gaussian_noise(stddev = 0.3, seed = 1)
  run <- gru:::layer_train_forward(gn, x, training = TRUE)
  expect_identical(gru:::layer_backward(gn, run$cache, go)$inputs, go)
})

test_that("configs carry Keras' keys, round-trip, and show in summaries", {
  sd1 <- layer_spatial_dropout_1d(rate = 0.25, seed = 7, name = "sd", dtype = "float64")
  cfg <- get_config(sd1)
  expect_identical(attr(cfg, "class_name"), "SpatialDropout1D")
  expect_identical(names(cfg), c("name", "dtype", "rate", "seed"))
  expect_identical(cfg$dtype, "float64")
  expect_identical(get_config(from_config(cfg)), cfg)
  gn <- get_config(layer_gaussian_noise(stddev = 0.1, name = "gn"))
  expect_identical(attr(gn, "class_name"), "GaussianNoise")
  expect_identical(names(gn), c("name", "trainable", "dtype", "stddev", "seed"))
  expect_identical(get_config(from_config(gn)), gn)
  gd <- get_config(layer_gaussian_dropout(rate = 0.1, seed = 3, name = "gd"))
  expect_identical(attr(gd, "class_name"), "GaussianDropout")
  expect_identical(names(gd), c("name", "trainable", "dtype", "rate", "seed"))
  expect_identical(get_config(from_config(gd)), gd)
  model <- keras_model_sequential(input_shape = c(5, 3), name = "noisy") |>
    layer_gaussian_noise(stddev = 0.1, name = "n") |>
    layer_gru(units = 4, return_sequences = TRUE, name = "g") |>
    layer_spatial_dropout_1d(rate = 0.2, name = "s") |>
    layer_gaussian_dropout(rate = 0.2, name = "d") |>
    layer_dense(units = 1, name = "o")
  s <- summary(model)
  expect_identical(s$output_shape, rep(c("(NA, 5, 3)", "(NA, 5, 4)", "(NA, 5, 1)"), c(1, 3, 1)))
  expect_identical(s$params, c(0L, 3L * (3L * 4L + 4L * 4L + 2L * 4L), 0L, 0L, 5L))
  expect_output(print(model$layers[[3]]), "<spatial_dropout_1d layer \"s\"> rate 0.2")
  x <- array(runif(6 * 5 * 3), c(6, 5, 3))
  copy <- from_config(get_config(model))
  set_weights(copy, get_weights(model))
  expect_identical(predict(copy, x), predict(model, x))
  compile(model, optimizer = optimizer_adam(0.01), loss = "mse")
  h <- fit(model, x, matrix(1, 6, 5), epochs = 3, verbose = 0)
  expect_lt(h$metrics$loss[3], h$metrics$loss[1])
})

test_that("Keras 3 and Keras 2 JSON configs build the layers", {
  skip_if_not_installed("jsonlite")
  json <- '[
    {"class_name": "SpatialDropout1D", "config": {"rate": 0.5, "seed": 3,
      "name": "spatial_dropout1d", "dtype": "float32"}},
    {"class_name": "SpatialDropout1D", "config": {"name": "spatial_dropout1d_1",
      "trainable": false, "dtype": "float32", "rate": 0.5, "noise_shape": null, "seed": null}},
    {"class_name": "GaussianNoise", "config": {"name": "gaussian_noise", "trainable": true,
      "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}},
      "stddev": 0.2, "seed": null}},
    {"class_name": "GaussianDropout", "config": {"name": "gaussian_dropout",
      "trainable": true, "dtype": "float32", "rate": 0.3, "seed": 1}}]'
  layers <- lapply(jsonlite::fromJSON(json, simplifyVector = FALSE), from_config)
  expect_identical(vapply(layers, function(l) class(l)[1], ""),
                   c("gru_layer_spatial_dropout_1d", "gru_layer_spatial_dropout_1d",
                     "gru_layer_gaussian_noise", "gru_layer_gaussian_dropout"))
  expect_false(layers[[2]]$trainable)
  expect_identical(layers[[3]]$stddev, 0.2)
  x <- array(1, c(2, 3, 4))
  expect_identical(layers[[1]](x, training = TRUE),
                   layer_spatial_dropout_1d(rate = 0.5, seed = 3)(x, training = TRUE))
  expect_error(
    from_config(list(class_name = "SpatialDropout1D",
                     config = list(name = "s", rate = 0.5, noise_shape = list(NULL, 1L, NULL)))),
    class = "gru_error_config"
  )
})

test_that("bad arguments and shapes give classed errors", {
  expect_error(layer_spatial_dropout_1d(), class = "gru_error_input")
  expect_error(layer_spatial_dropout_1d(0.3), class = "gru_error_input")
  expect_error(layer_spatial_dropout_1d(rate = 1), class = "gru_error_input")
  expect_error(layer_spatial_dropout_1d(rate = 0.2, seed = 1.5), class = "gru_error_input")
  expect_error(layer_spatial_dropout_1d(rate = 0.2, dtype = "int32"), class = "gru_error_input")
  expect_error(layer_spatial_dropout_1d(rate = 0.2, input_shape = 3))
  expect_error(layer_gaussian_noise(), class = "gru_error_input")
  expect_error(layer_gaussian_noise(stddev = -0.1), class = "gru_error_input")
  expect_error(layer_gaussian_noise(stddev = 1.5), class = "gru_error_input")
  expect_error(layer_gaussian_noise(stddev = "a"), class = "gru_error_input")
  expect_error(layer_gaussian_noise(stddev = 0.1, units = 2), class = "gru_error_unknown_argument")
  expect_error(layer_gaussian_dropout(), class = "gru_error_input")
  expect_error(layer_gaussian_dropout(rate = 1), class = "gru_error_input")
  expect_error(layer_gaussian_dropout(rate = 0.1, seed = "a"), class = "gru_error_input")
  expect_error(layer_spatial_dropout_1d(rate = 0.2)(matrix(1, 2, 3), training = TRUE),
               class = "gru_error_shape")
  expect_error(layer_gaussian_noise(stddev = 0.1)("a"), class = "gru_error_input")
  expect_error(
    keras_model_sequential(input_shape = 4) |> layer_spatial_dropout_1d(rate = 0.2),
    class = "gru_error_shape"
  )
  expect_snapshot(error = TRUE, {
    layer_spatial_dropout_1d(0.3)
    layer_gaussian_noise(stddev = 1.5)
    layer_gaussian_dropout(rate = 1)
    layer_spatial_dropout_1d(rate = 0.2, name = "s")(matrix(1, 2, 3))
  })
})
