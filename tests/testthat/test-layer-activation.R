test_that("activation applies Keras' formulas elementwise", {
  x <- array(rnorm(2 * 3 * 4), c(2, 3, 4))
  formulas <- list(
    relu = function(v) pmax(v, 0),
    sigmoid = function(v) 1 / (1 + exp(-v)),
    tanh = function(v) (exp(v) - exp(-v)) / (exp(v) + exp(-v)),
    linear = function(v) v,
    elu = function(v) ifelse(v > 0, v, exp(v) - 1),
    softplus = function(v) log1p(exp(v)),
    softsign = function(v) v / (1 + abs(v)),
    exponential = function(v) exp(v),
    silu = function(v) v / (1 + exp(-v)),
    hard_sigmoid = function(v) pmin(pmax(v + 3, 0), 6) / 6,
    relu6 = function(v) pmin(pmax(v, 0), 6)
  )
  for (nm in names(formulas)) {
    y <- layer_activation(activation = nm)(x)
    expect_identical(dim(y), dim(x))
    expect_equal(as.vector(y), formulas[[nm]](as.vector(x)), tolerance = 1e-12, info = nm)
  }
  expect_identical(layer_activation(activation = NULL)(x), x)
  # a matrix and a plain vector (one sample)
  expect_equal(layer_activation(activation = "relu")(matrix(c(-3, -1, 0, 2), 1)),
               matrix(c(0, 0, 0, 2), 1))
  expect_equal(layer_activation(activation = "relu")(c(-3, -1, 0, 2)), matrix(c(0, 0, 0, 2), 1))
})

test_that("softmax normalises over the last axis", {
  x <- array(rnorm(2 * 3 * 4), c(2, 3, 4))
  y <- layer_activation(activation = "softmax")(x)
  for (b in 1:2) for (t in 1:3) {
    e <- exp(x[b, t, ])
    expect_equal(y[b, t, ], e / sum(e))
  }
  big <- matrix(c(1000, 1001, 1002, 0), 1)
  expect_equal(layer_activation(activation = "softmax")(big)[1, 1:3],
               exp(0:2) / sum(exp(0:2)))
})

test_that("an R function is applied as it is, and cannot be trained", {
  x <- matrix(rnorm(6), 2, 3)
  act <- layer_activation(activation = function(v) v^2, name = "square")
  expect_equal(act(x), x^2)
  expect_output(print(act), "<activation layer \"square\"> <function>")
  model <- keras_model_sequential(input_shape = 3, layers = act) |> layer_dense(1)
  expect_equal(dim(predict(model, x)), c(2L, 1L))
  expect_error(gradients(model, x, matrix(0, 2, 1), loss = "mse"), class = "gru_error_fit")
})

test_that("a mask passes through, as in Keras", {
  x <- array(runif(2 * 4 * 3), c(2, 4, 3))
  x[2, 3:4, ] <- 0
  masking <- layer_masking()
  act <- layer_activation(activation = "tanh")
  a <- gru:::layer_forward(masking, x)
  b <- gru:::layer_forward(act, a$output, mask = a$mask)
  expect_identical(b$mask, a$mask)
  g <- layer_gru(units = 2)
  expect_identical(gru:::layer_forward(g, b$output, mask = b$mask)$output,
                   g(tanh(x), mask = a$mask))
  expect_null(gru:::layer_forward(act, matrix(1, 2, 3), mask = a$mask)$mask)
})

test_that("gradients through activations match finite differences", {
  set.seed(12)
  x <- array(rnorm(3 * 4 * 2), c(3, 4, 2))
  y <- array(rnorm(3 * 4), c(3, 4, 1))
  for (nm in c("softmax", "tanh", "elu", "sigmoid", "softplus", "gelu", "selu")) {
    model <- keras_model_sequential(input_shape = c(4, 2)) |>
      layer_gru(3, dtype = "float64", return_sequences = TRUE) |>
      layer_activation(activation = nm, dtype = "float64") |>
      layer_dense(1, dtype = "float64")
    expect_model_gradients(model, x, y, "mse")
  }
  # a mask reaches the GRU after it, which the gradient follows
  x[1, 3:4, ] <- 0
  masked <- keras_model_sequential(input_shape = c(4, 2)) |>
    layer_masking() |>
    layer_activation(activation = "tanh") |>
    layer_gru(3, dtype = "float64") |>
    layer_dense(1, dtype = "float64")
  expect_model_gradients(masked, x, matrix(rnorm(3), 3), "mse")
})

test_that("configs carry Keras' keys, round-trip, and show in summaries", {
  act <- layer_activation(activation = "relu", name = "a", dtype = "float64")
  cfg <- get_config(act)
  expect_identical(attr(cfg, "class_name"), "Activation")
  expect_identical(names(cfg), c("name", "trainable", "dtype", "activation"))
  expect_identical(cfg$activation, "relu")
  expect_identical(get_config(from_config(cfg)), cfg)
  expect_identical(get_config(layer_activation(activation = NULL))$activation, "linear")
  expect_identical(get_config(layer_activation(activation = "softmax"))$activation, "softmax")
  model <- keras_model_sequential(input_shape = c(5, 3), name = "acts") |>
    layer_gru(4, return_sequences = TRUE, name = "g") |>
    layer_activation(activation = "softmax", name = "s") |>
    layer_dense(2, name = "d") |>
    layer_activation(activation = "sigmoid", name = "o")
  s <- summary(model)
  expect_identical(s$output_shape, c("(NA, 5, 4)", "(NA, 5, 4)", "(NA, 5, 2)", "(NA, 5, 2)"))
  expect_identical(s$params, c(3L * (3L * 4L + 4L * 4L + 2L * 4L), 0L, 10L, 0L))
  x <- array(runif(6 * 5 * 3), c(6, 5, 3))
  copy <- from_config(get_config(model))
  set_weights(copy, get_weights(model))
  expect_identical(predict(copy, x), predict(model, x))
  skip_if_not_installed("jsonlite")
  json <- '{"class_name": "Activation", "config": {"name": "activation", "trainable": true,
    "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}},
    "activation": "tanh"}}'
  layer <- from_config(jsonlite::fromJSON(json, simplifyVector = FALSE))
  expect_equal(layer(matrix(c(-1, 0, 2), 1)), tanh(matrix(c(-1, 0, 2), 1)))
})

test_that("bad arguments give classed errors", {
  expect_error(layer_activation(), class = "gru_error_input")
  expect_error(layer_activation(activation = "maxout"), class = "gru_error_input")
  expect_error(layer_activation(activation = 3), class = "gru_error_input")
  expect_error(layer_activation(activation = "relu", units = 2),
               class = "gru_error_unknown_argument")
  expect_error(layer_activation(activation = "relu")("a"), class = "gru_error_input")
  expect_error(layer_activation(activation = "relu", dtype = "float16"), class = "gru_error_input")
  expect_snapshot(error = TRUE, {
    layer_activation()
    layer_activation(activation = "maxout")
    layer_activation(activation = "relu", units = 2)
  })
})
