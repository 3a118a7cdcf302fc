# Layer and batch normalization against Keras' documented formulas written
# out here (keras/src/layers/normalization/*.py): the normalization, Keras
# 3's moving-statistics rule and its masked moments, non-trainable weights
# in training and in the parameter counts, gradients against finite
# differences, configs.

arr <- function(...) array(rnorm(prod(c(...))), c(...))

# (x - mean) / sqrt(var + eps) * gamma + beta over the values of `v`, var
# being the mean squared deviation.
normalize <- function(v, eps) (v - mean(v)) / sqrt(mean((v - mean(v))^2) + eps)

test_that("layer normalization computes Keras' formula over its axes", {
  set.seed(1)
  x <- arr(3, 4, 5) * 2 + 1
  ln <- layer_layer_normalization(epsilon = 0.01, name = "ln")
  invisible(ln(x))
  gamma <- runif(5, 0.5, 1.5)
  beta <- rnorm(5)
  ln$set_weights(list(gamma = gamma, beta = beta))
  expected <- x
  for (b in 1:3) for (t in 1:4) expected[b, t, ] <- normalize(x[b, t, ], 0.01) * gamma + beta
  expect_equal(ln(x), expected)
  expect_equal(ln(x, training = TRUE), expected)
  expect_equal(ln(x[, 1, ]), expected[, 1, ])
  # over timesteps and features: one gamma per (timestep, feature)
  ln2 <- layer_layer_normalization(axis = c(2, 3))
  invisible(ln2(x))
  expect_equal(dim(ln2$get_weights()$gamma), c(4L, 5L))
  g2 <- array(runif(20), c(4, 5))
  ln2$set_weights(list(g2, array(0, c(4, 5))))
  expected <- x
  for (b in 1:3) expected[b, , ] <- array(normalize(x[b, , ], 0.001), c(4, 5)) * g2
  expect_equal(ln2(x), expected)
  # over the batch axis (R's axis 1)
  ln1 <- layer_layer_normalization(axis = 1, center = FALSE, scale = FALSE)
  expected <- x
  for (t in 1:4) for (f in 1:5) expected[, t, f] <- normalize(x[, t, f], 0.001)
  expect_equal(ln1(x), expected)
  expect_length(ln1$get_weights(), 0L)
  # rms_scaling: x / sqrt(var + eps) * gamma, no beta
  rms <- layer_layer_normalization(rms_scaling = TRUE)
  invisible(rms(x))
  expect_identical(names(rms$get_weights()), "gamma")
  rms$set_weights(list(gamma))
  expected <- x
  for (b in 1:3) for (t in 1:4) {
    v <- x[b, t, ]
    expected[b, t, ] <- v / sqrt(mean((v - mean(v))^2) + 0.001) * gamma
  }
  expect_equal(rms(x), expected)
  # the mask passes through
  m <- matrix(c(TRUE, FALSE), 3, 4)
  expect_identical(ln$compute_mask(x, m), m)
})

# Keras' BatchNormalization over every axis but the last, by hand.
bn_reference <- function(x, mean, var, gamma, beta, eps) {
  out <- x
  for (f in seq_len(dim(x)[3])) {
    out[, , f] <- (x[, , f] - mean[f]) / sqrt(var[f] + eps) * gamma[f] + beta[f]
  }
  out
}

channel_moments <- function(x, w = array(1, dim(x))) {
  n <- apply(w, 3, sum)
  mean <- apply(x * w, 3, sum) / n
  var <- vapply(seq_along(mean), function(f) sum(w[, , f] * (x[, , f] - mean[f])^2), 1) / n
  list(mean = mean, var = var)
}

test_that("batch normalization: batch statistics and Keras' moving-statistics rule", {
  set.seed(2)
  x <- arr(8, 5, 3) * 3 + 2
  bn <- layer_batch_normalization(momentum = 0.9, epsilon = 0.01, name = "bn")
  invisible(bn(x))
  w0 <- list(gamma = runif(3, 0.5, 2), beta = rnorm(3), moving_mean = rnorm(3),
             moving_variance = runif(3, 0.5, 2))
  bn$set_weights(w0)
  # inference: the moving statistics
  expect_equal(bn(x), bn_reference(x, w0$moving_mean, w0$moving_variance,
                                   w0$gamma, w0$beta, 0.01))
  expect_identical(bn$get_weights()$moving_mean, array(w0$moving_mean, 3))
  # training: the batch's statistics over batch and time, and the update
  mo <- channel_moments(x)
  expect_equal(bn(x, training = TRUE), bn_reference(x, mo$mean, mo$var, w0$gamma,
                                                    w0$beta, 0.01))
  w1 <- bn$get_weights()
  expect_equal(as.numeric(w1$moving_mean), w0$moving_mean * 0.9 + mo$mean * 0.1)
  expect_equal(as.numeric(w1$moving_variance), w0$moving_variance * 0.9 + mo$var * 0.1)
  expect_equal(as.numeric(w1$gamma), w0$gamma)
  # then inference uses the updated statistics
  expect_equal(bn(x), bn_reference(x, as.numeric(w1$moving_mean),
                                   as.numeric(w1$moving_variance), w0$gamma, w0$beta, 0.01))
  # axis = 2: one channel per timestep, statistics over batch and features
  bt <- layer_batch_normalization(axis = 2, center = FALSE, scale = FALSE)
  y <- bt(x, training = TRUE)
  for (t in 1:5) expect_equal(y[, t, ], array(normalize(x[, t, ], 0.001), c(8, 3)))
  expect_length(bt$get_weights()$moving_mean, 5L)
})

test_that("masked steps do not count in the batch statistics (Keras adds 1e-7 to the count)", {
  set.seed(3)
  x <- arr(6, 4, 2) + 1
  m <- matrix(TRUE, 6, 4)
  m[1, 3:4] <- FALSE
  m[4, 1] <- FALSE
  bn <- layer_batch_normalization(momentum = 0.5)
  y <- bn(x, mask = m, training = TRUE)
  w <- array(m, dim(x))
  n <- sum(m) + 1e-7
  mean <- apply(x * w, 3, sum) / n
  var <- vapply(1:2, function(f) sum(w[, , f] * (x[, , f] - mean[f])^2), 1) / n
  expect_equal(y, bn_reference(x, mean, var, c(1, 1), c(0, 0), 0.001))
  expect_equal(as.numeric(bn$get_weights()$moving_mean), 0.5 * mean)
  expect_equal(as.numeric(bn$get_weights()$moving_variance), 0.5 + 0.5 * var)
  expect_identical(bn$compute_mask(x, m), m)
})

test_that("training steps update the moving statistics by the rule, never by gradients", {
  set.seed(4)
  x <- arr(10, 5, 3) * 2 + 1
  y <- rnorm(10)
  model <- keras_model_sequential(input_shape = c(5, 3)) |>
    layer_batch_normalization(momentum = 0.8, name = "bn") |>
    layer_gru(4, dtype = "float64") |>
    layer_dense(1)
  compile(model, optimizer = optimizer_sgd(learning_rate = 0.1), loss = "mse")
  bn <- model$layers[[1]]
  w0 <- bn$get_weights()
  g <- gradients(model, x, y, training = TRUE)
  expect_identical(bn$get_weights(), w0)          # gradients() changes nothing
  expect_equal(as.numeric(g[[3]]), c(0, 0, 0))    # moving_mean's gradient in training
  train_on_batch(model, x, y)
  w1 <- bn$get_weights()
  mo <- channel_moments(x)
  expect_equal(as.numeric(w1$moving_mean), as.numeric(w0$moving_mean) * 0.8 + mo$mean * 0.2)
  expect_equal(as.numeric(w1$moving_variance), as.numeric(w0$moving_variance) * 0.8 + mo$var * 0.2)
  expect_equal(as.numeric(w1$gamma), as.numeric(w0$gamma - 0.1 * g[[1]]))
  expect_equal(as.numeric(w1$beta), as.numeric(w0$beta - 0.1 * g[[2]]))
  # two epochs of one full batch: the rule twice
  fit(model, x, y, epochs = 2, batch_size = 10, verbose = 0)
  w3 <- bn$get_weights()
  expect_equal(as.numeric(w3$moving_mean),
               as.numeric(w1$moving_mean) * 0.8^2 + mo$mean * (1 - 0.8^2))
  # inference after training uses them
  expect_equal(bn(x), bn_reference(x, as.numeric(w3$moving_mean), as.numeric(w3$moving_variance),
                                   as.numeric(w3$gamma), as.numeric(w3$beta), 0.001))
  expect_equal(predict(model, x), model$layers[[3]](model$layers[[2]](bn(x))))
  # the optimizer keeps state for gamma and beta only
  compile(model, optimizer = "adam", loss = "mse")
  train_on_batch(model, x, y)
  slots <- names(gru:::model_self(model)$compiled$optimizer$slots)
  expect_true(all(c("bn/gamma", "bn/beta") %in% slots))
  expect_false(any(c("bn/moving_mean", "bn/moving_variance") %in% slots))
})

test_that("a wrapped batch normalization is updated too (TimeDistributed)", {
  set.seed(12)
  x <- arr(6, 4, 3) + 1
  model <- keras_model_sequential(input_shape = c(4, 3)) |>
    layer_time_distributed(layer_batch_normalization(momentum = 0.5)) |>
    layer_gru(2) |>
    layer_dense(1)
  compile(model, optimizer = "sgd", loss = "mse")
  train_on_batch(model, x, rnorm(6))
  # every (sample, timestep) is a row of the wrapped layer's batch
  w <- get_weights(model)
  expect_equal(as.numeric(w$moving_mean), 0.5 * channel_moments(x)$mean)
  expect_equal(as.numeric(w$moving_variance), 0.5 + 0.5 * channel_moments(x)$var)
  expect_identical(summary(model)$trainable_params[1], 6L)
})

test_that("a batch normalization that is not trainable uses and keeps its moving statistics", {
  set.seed(5)
  x <- arr(8, 4, 2)
  model <- keras_model_sequential(input_shape = c(4, 2)) |>
    layer_batch_normalization(trainable = FALSE, name = "frozen") |>
    layer_gru(3) |>
    layer_dense(1)
  compile(model, optimizer = "sgd", loss = "mse")
  bn <- model$layers[[1]]
  w0 <- bn$get_weights()
  train_on_batch(model, x, rnorm(8))
  expect_identical(bn$get_weights(), w0)
  expect_equal(bn(x, training = TRUE), bn(x))
  s <- summary(model)
  expect_identical(s$trainable_params[1], 0L)
  expect_match(format(s), "Non-trainable params: 8", all = FALSE)
})

test_that("gradients through normalization layers match finite differences", {
  set.seed(6)
  x <- arr(6, 5, 3)
  xm <- x
  xm[1, 4:5, ] <- 0
  xm[3, 1:2, ] <- 0
  y <- rnorm(6)
  # Layer normalization computes the same in training; batch normalization
  # is checked in both modes.
  norms <- list(
    list(function(o) layer_layer_normalization(o, dtype = "float64"), FALSE),
    list(function(o) layer_layer_normalization(o, axis = c(2, 3), dtype = "float64"), FALSE),
    list(function(o) layer_layer_normalization(o, rms_scaling = TRUE, dtype = "float64"), FALSE),
    list(function(o) layer_batch_normalization(o, dtype = "float64"), c(FALSE, TRUE)),
    list(function(o) layer_batch_normalization(o, axis = 2, center = FALSE, dtype = "float64"),
         c(FALSE, TRUE))
  )
  for (case in norms) for (masked in c(FALSE, TRUE)) for (training in case[[2]]) {
    norm <- case[[1]]
    model <- keras_model_sequential(input_shape = c(5, 3))
    if (masked) model <- layer_masking(model)
    model <- model |> layer_gru(3, return_sequences = TRUE, dtype = "float64") |>
      norm() |> layer_gru(2, dtype = "float64") |> layer_dense(1, dtype = "float64")
    w <- get_weights(model)
    set_weights(model, lapply(w, function(v) v + runif(length(v), 0.1, 0.5)))
    expect_model_gradients(model, if (masked) xm else x, y, loss = "mse", tol = 1e-6,
                           training = training)
  }
  # after a merge of two GRU branches in a functional model
  a <- keras_input(c(5, 3))
  b <- keras_input(c(5, 2))
  merged <- layer_concatenate(list(layer_gru(a, 3, return_sequences = TRUE, dtype = "float64"),
                                   layer_gru(b, 3, return_sequences = TRUE, dtype = "float64")))
  out <- merged |> layer_batch_normalization(dtype = "float64") |>
    layer_gru(2, dtype = "float64") |> layer_dense(1, dtype = "float64")
  model <- keras_model(list(a, b), out)
  expect_model_gradients(model, list(x, arr(6, 5, 2)), y, loss = "mse", tol = 1e-6,
                         training = TRUE)
})

test_that("parameter counts: trainable and non-trainable as Keras counts them", {
  model <- keras_model_sequential(input_shape = c(5, 3), name = "counts") |>
    layer_gru(8, return_sequences = TRUE, name = "enc") |>
    layer_batch_normalization(name = "bn") |>
    layer_layer_normalization(name = "ln") |>
    layer_batch_normalization(center = FALSE, name = "bn_nc") |>
    layer_layer_normalization(axis = c(2, 3), name = "ln_2d")
  s <- summary(model)
  gru <- 3L * (8L * (3L + 8L) + 2L * 8L)
  # BatchNormalization: gamma, beta (trainable), moving mean and variance
  # (not), C each; LayerNormalization: gamma and beta of the axes' shape.
  expect_identical(s$params, c(gru, 4L * 8L, 2L * 8L, 3L * 8L, 2L * 5L * 8L))
  expect_identical(s$trainable_params, c(gru, 2L * 8L, 2L * 8L, 8L, 2L * 5L * 8L))
  expect_identical(model$count_params(), sum(s$params))
  text <- format(s)
  expect_match(text, sprintf("Trainable params: %d", sum(s$trainable_params)), all = FALSE)
  expect_match(text, "Non-trainable params: 32", all = FALSE)
  bn <- model$layers[[2]]
  expect_identical(names(bn$get_weights()), c("gamma", "beta", "moving_mean", "moving_variance"))
  expect_identical(names(bn$trainable_weights), c("gamma", "beta"))
  expect_identical(names(bn$non_trainable_weights), c("moving_mean", "moving_variance"))
  expect_identical(bn$count_params(), 32L)
  expect_length(layer_batch_normalization(scale = FALSE, center = FALSE, input_shape = 4)$get_weights(), 2L)
  expect_output(print(bn), "built for size 8: 32 params \\(16 non-trainable\\)")
  # set_weights() builds an unbuilt layer from the weights' shapes
  fresh <- layer_batch_normalization()
  fresh$set_weights(list(1:3, 1:3, 1:3, 1:3))
  expect_identical(fresh$count_params(), 12L)
})

test_that("configs carry Keras' keys and 0-based axes, and round-trip", {
  bn <- layer_batch_normalization(axis = 2, momentum = 0.9, name = "bn", dtype = "float64")
  cfg <- get_config(bn)
  expect_identical(attr(cfg, "class_name"), "BatchNormalization")
  expect_identical(names(cfg), c("name", "trainable", "dtype", "axis", "momentum", "epsilon",
                                 "center", "scale", "beta_initializer", "gamma_initializer",
                                 "moving_mean_initializer", "moving_variance_initializer",
                                 "beta_regularizer", "gamma_regularizer", "beta_constraint",
                                 "gamma_constraint", "synchronized"))
  expect_identical(cfg$axis, 1L)
  expect_identical(cfg$dtype, "float64")
  expect_identical(get_config(from_config(cfg)), cfg)
  ln <- layer_layer_normalization(axis = c(2, 3), rms_scaling = TRUE, name = "ln")
  cfg <- get_config(ln)
  expect_identical(attr(cfg, "class_name"), "LayerNormalization")
  expect_identical(names(cfg), c("name", "trainable", "dtype", "axis", "epsilon", "center",
                                 "scale", "rms_scaling", "beta_initializer", "gamma_initializer",
                                 "beta_regularizer", "gamma_regularizer", "beta_constraint",
                                 "gamma_constraint"))
  expect_identical(cfg$axis, c(1L, 2L))
  expect_identical(get_config(from_config(cfg)), cfg)
  # Keras 3.14 writes batch renormalization keys; Keras 2 a list axis
  k <- list(class_name = "BatchNormalization",
            config = list(name = "k", axis = list(2L), momentum = 0.99, epsilon = 0.001,
                          renorm = FALSE, renorm_clipping = NULL, renorm_momentum = 0.99))
  layer <- from_config(k)
  expect_identical(gru:::layer_self(layer)$config$axis, 3L)
  k$config$renorm <- TRUE
  expect_error(from_config(k), class = "gru_error_config")
  expect_error(from_config(list(class_name = "LayerNormalization", config = list(groups = 2))),
               class = "gru_error_config")
  # weights and numbers survive a model's config round trip
  set.seed(7)
  model <- keras_model_sequential(input_shape = c(4, 3)) |>
    layer_batch_normalization() |> layer_layer_normalization() |> layer_gru(2)
  x <- arr(3, 4, 3)
  copy <- from_config(get_config(model))
  set_weights(copy, get_weights(model))
  expect_identical(predict(copy, x), predict(model, x))
})

test_that("bad arguments and shapes are classed errors", {
  x <- arr(2, 3, 4)
  expect_error(layer_batch_normalization(axis = 0), class = "gru_error_input")
  expect_error(layer_batch_normalization(axis = c(1, 2)), class = "gru_error_input")
  expect_error(layer_batch_normalization(momentum = "a"), class = "gru_error_input")
  expect_error(layer_layer_normalization(epsilon = -1), class = "gru_error_input")
  expect_error(layer_layer_normalization(center = NA), class = "gru_error_input")
  expect_error(layer_layer_normalization(units = 2), class = "gru_error_unknown_argument")
  expect_error(layer_batch_normalization(x, axis = 4), class = "gru_error_shape")
  expect_error(layer_layer_normalization(x, axis = c(2, -2)), class = "gru_error_shape")
  bn <- layer_batch_normalization()
  invisible(bn(x))
  expect_error(bn(arr(2, 3, 5)), class = "gru_error_shape")
  expect_error(bn(x[, 1, ], mask = c(TRUE, FALSE), training = TRUE), class = "gru_error_mask")
  expect_error(bn$set_weights(list(1:4, 1:4, 1:4)), class = "gru_error_weights")
  expect_error(
    keras_model_sequential(input_shape = c(3, 4)) |> layer_gru(2) |>
      layer_batch_normalization(axis = 3),
    class = "gru_error_shape"
  )
  expect_snapshot(error = TRUE, {
    layer_batch_normalization(name = "bn")(array(0, c(2, 3)), mask = matrix(TRUE, 2, 3))
    keras_model_sequential(input_shape = c(3, 4), name = "seq") |>
      layer_layer_normalization(axis = 4, name = "ln")
  })
})
