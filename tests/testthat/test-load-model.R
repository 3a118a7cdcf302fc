# load_model() and load_model_weights(): small Keras-layout files from
# helper-keras-files.R, then the real files against their expected.json.

as_keras_weights <- function(w) {
  lapply(w, function(a) if (is.null(dim(a))) array(a, length(a)) else a)
}

expect_model_weights <- function(model, expected) {
  for (layer in model$layers) {
    got <- unname(get_weights(layer)) %||% list()
    want <- as_keras_weights(expected[[layer$name]] %||% list())
    expect_identical(got, want, label = layer$name)
  }
}

test_that("load_model() builds a Keras 2 .h5 model with its weights, compiled", {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture("keras2_h5")
  model <- load_model(fx$path)
  expect_s3_class(model, "gru_model")
  expect_identical(vapply(model$layers, function(l) l$name, ""), c("gru", "dense"))
  expect_model_weights(model, fx$weights)
  compiled <- gru:::model_self(model)$compiled
  expect_false(is.null(compiled))
  expect_identical(compiled$optimizer$config$learning_rate, 0.01)
  expect_null(gru:::model_self(load_model(fx$path, compile = FALSE))$compiled)
})

test_that("load_model() reads Keras 3 .keras and legacy .h5 files", {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture("keras3_zip")
  model <- load_model(fx$path)
  expect_identical(vapply(model$layers, function(l) l$name, ""),
                   c("gru", "dropout", "dense", "dense_1"))
  expect_model_weights(model, fx$weights)
  x <- array(stats::runif(2 * 5 * 2), c(2, 5, 2))
  expect_identical(dim(predict(model, x)), c(2L, 1L))

  fx <- keras_fixture("keras3_h5")
  expect_model_weights(load_model(fx$path), fx$weights)
})

test_that("a CuDNNGRU model loads as a reset_after GRU computing cuDNN's numbers", {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture("cudnn")
  model <- load_model(fx$path, compile = FALSE)
  gru_layer <- model$layers[[1]]
  cfg <- get_config(gru_layer)
  expect_identical(attr(cfg, "class_name"), "GRU")
  expect_true(cfg$reset_after)
  set.seed(3)
  x <- array(stats::runif(2 * 4 * 2, -1, 1), c(2, 4, 2))
  stored <- fx$weights$cu_dnngru_1
  h <- cudnn_gru(x, stored[[1]], stored[[2]], stored[[3]])
  dense <- fx$weights$dense_1
  expected <- sweep(h %*% dense[[1]], 2, as.vector(dense[[2]]), "+")
  expect_equal(unname(predict(model, x)), expected, tolerance = 1e-6)
})

test_that("a Keras 2.0.8 Bidirectional GRU loads with reset_after = FALSE and Keras 2's hard sigmoid", {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture("bidirectional")
  model <- load_model(fx$path)
  inner <- get_config(model$layers[[1]])$layer$config
  expect_false(inner$reset_after)
  expect_identical(inner$recurrent_activation, "hard_sigmoid_keras2")
  expect_model_weights(model, fx$weights)
})

test_that("weights-only files go through load_model_weights()", {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture("keras1")
  expect_error(load_model(fx$path), class = "gru_error_file", regexp = "weights only")
  arch <- gru:::read_keras_json(fx$json)
  model <- from_config(gru:::legacy_model_config(arch$model_config, arch$keras_version))
  expect_identical(load_model_weights(model, fx$path), model)
  set.seed(4)
  x <- array(stats::runif(3 * 4 * 3, -1, 1), c(3, 4, 3))
  h <- keras1_gru(x, stats::setNames(fx$weights$gru_1,
                                     gru:::read_keras_file(fx$path)$weight_names$gru_1))
  expected <- sweep(h %*% fx$weights$dense_1[[1]], 2, as.vector(fx$weights$dense_1[[2]]), "+")
  expect_equal(unname(predict(model, x)), expected, tolerance = 1e-6)
})

test_that("load_model_weights() matches by order, by name, and by object path", {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture("keras2_weights")
  model <- keras_model_sequential(input_shape = c(NA, 4), name = "m") |>
    layer_masking(name = "mask") |>
    layer_gru(2, name = "other_gru") |>
    layer_dense(3, name = "other_dense")
  load_model_weights(model, fx$path)
  expect_identical(unname(get_weights(model$layers[[2]])), as_keras_weights(fx$weights$gru_6))

  # By name: a layer without a namesake in the file is left as it is.
  named <- keras_model_sequential(input_shape = c(NA, 4)) |>
    layer_gru(2, name = "gru_6") |>
    layer_dense(3, name = "not_in_file")
  before <- get_weights(named$layers[[2]])
  load_model_weights(named, fx$path, by_name = TRUE)
  expect_identical(unname(get_weights(named$layers[[1]])), as_keras_weights(fx$weights$gru_6))
  expect_identical(get_weights(named$layers[[2]]), before)

  # Keras 3 .weights.h5 of a GRU(3) + Dense(1) model.
  k3 <- keras_fixture("keras3_weights")
  target <- keras_model_sequential(input_shape = c(NA, 2)) |> layer_gru(3) |> layer_dense(1)
  load_model_weights(target, k3$path)
  expect_identical(unname(get_weights(target$layers[[1]])), as_keras_weights(k3$weights$gru))
  expect_identical(unname(get_weights(target$layers[[2]])), as_keras_weights(k3$weights$dense))
})

test_that("load_model_weights() refuses weights that do not fit, or skips them", {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture("keras2_weights")
  wrong <- keras_model_sequential(input_shape = c(NA, 4)) |>
    layer_gru(5) |>
    layer_dense(3)
  expect_error(load_model_weights(wrong, fx$path), class = "gru_error_weights")
  expect_error(load_model_weights(wrong, fx$path), class = "gru_error_file")
  warnings <- capture_warnings(load_model_weights(wrong, fx$path, skip_mismatch = TRUE))
  expect_length(warnings, 2L)
  expect_match(warnings, "Skipping the weights of layer")
  one <- keras_model_sequential(input_shape = c(NA, 4)) |> layer_gru(2)
  expect_error(load_model_weights(one, fx$path), class = "gru_error_weights",
               regexp = "count mismatch")
  expect_error(load_model_weights(list(), fx$path), class = "gru_error_input")
})

test_that("unknown layer classes are gru_error_unsupported, or built by custom_objects", {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture("keras2_h5")
  layers <- list(gru = stats::setNames(fx$weights$gru, paste0("gru/gru_cell/", c("kernel", "recurrent_kernel", "bias"), ":0")),
                 dense = stats::setNames(fx$weights$dense, c("dense/kernel:0", "dense/bias:0")))
  custom <- fx$config
  custom$config$layers[[3]]$class_name <- "TotallyCustomLayer"
  path <- tempfile(fileext = ".h5")
  write_keras2_h5(path, custom, layers, "2.10.0")
  err <- expect_error(load_model(path), class = "gru_error_unsupported")
  expect_s3_class(err, "gru_error_file")
  expect_match(conditionMessage(err), "TotallyCustomLayer")
  expect_match(conditionMessage(err), basename(path), fixed = TRUE)

  # A builder from custom_objects stands in for the class.
  model <- load_model(path, custom_objects = list(
    TotallyCustomLayer = function(config) layer_dense(units = config$units, name = config$name)
  ))
  expect_model_weights(model, fx$weights)
  expect_null(gru:::layer_type_by_class("TotallyCustomLayer"))
  expect_error(load_model(path, custom_objects = list(function(x) x)), class = "gru_error_input")
})

# --- the real files ---------------------------------------------------------

real_expected <- function(dir, id) {
  jsonlite::fromJSON(file.path(dir, id, "expected.json"), simplifyVector = FALSE)
}

expect_real_outputs <- function(model, expected, label) {
  x <- nested_to_array(expected$input$data)
  y <- predict(model, x)
  want <- nested_to_array(expected$outputs[[1]]$data)
  expect_identical(dim(y), dim(want), label = label)
  expect_equal(unname(y), want, tolerance = expected$tolerance_suggested %||% 1e-5,
               label = label)
}

test_that("the real sequential Keras files load and compute their expected outputs", {
  skip_if_no_keras_file_deps()
  dir <- skip_if_no_real_keras_files()
  ids <- c("benedict-k210-gru", "ccrnn-k392-gru-keras", "ccrnn-k392-gru-h5",
           "toxic-tfk215-bigru", "medaka-k208-bigru")
  for (id in ids) {
    if (!dir.exists(file.path(dir, id))) next
    expected <- real_expected(dir, id)
    model <- suppressMessages(load_model(file.path(dir, expected$file)))
    expect_real_outputs(model, expected, id)
  }
})

test_that("the real weights-only files load into models built from their architecture", {
  skip_if_no_keras_file_deps()
  dir <- skip_if_no_real_keras_files()
  id <- "battery-k24-gru-weights"
  skip_if_not(dir.exists(file.path(dir, id)))
  expected <- real_expected(dir, id)
  arch <- gru:::read_keras_json(file.path(dir, id, "architecture.json"))
  model <- from_config(arch$model_config)
  load_model_weights(model, file.path(dir, expected$file))
  expect_real_outputs(model, expected, id)

  # Keras 1: Masking + GRU of the lwtnn model (its TotallyCustomLayer and Highway
  # are not gru layers), against the GRU output the oracles computed.
  id <- "lwtnn-keras1-gru"
  skip_if_not(dir.exists(file.path(dir, id)))
  expected <- real_expected(dir, id)
  arch <- gru:::read_keras_json(file.path(dir, id, "GRU.json"))
  cfg <- gru:::legacy_model_config(arch$model_config, arch$keras_version)
  cfg$config$layers <- cfg$config$layers[1:2]
  model <- from_config(cfg)
  load_model_weights(model, file.path(dir, expected$file), by_name = TRUE)
  x <- nested_to_array(expected$input$data)
  want <- nested_to_array(expected$intermediate_gru_output$data)
  expect_equal(unname(predict(model, x)), want, tolerance = 1e-5)
  expect_error(load_model(file.path(dir, expected$file)), class = "gru_error_file")
  # The whole Keras 1 model, MaxoutDense, Highway and Activation included,
  # as keras 2 scripts load it: model_from_json() then the weights.
  full <- model_from_json(file.path(dir, id, "GRU.json"))
  load_model_weights_hdf5(full, file.path(dir, expected$file), by_name = TRUE)
  expect_real_outputs(full, expected, id)
})

test_that("the real functional file (three GRUs, two Concatenates, two outputs) loads", {
  skip_if_no_keras_file_deps()
  dir <- skip_if_no_real_keras_files()
  id <- "rnnoise-k211"
  skip_if_not(dir.exists(file.path(dir, id)))
  expected <- real_expected(dir, id)
  # its WeightClip constraint is the repository's own Python class
  expect_message(model <- load_model(file.path(dir, expected$file)), "WeightClip")
  expect_identical(model$outputs, vapply(expected$outputs, function(o) o$name, ""))
  x <- nested_to_array(expected$input$data)
  y <- predict(model, x)
  for (k in seq_along(expected$outputs)) {
    want <- nested_to_array(expected$outputs[[k]]$data)
    expect_equal(unname(y[[k]]), want, tolerance = expected$tolerance_suggested,
                 label = expected$outputs[[k]]$name)
  }
})

test_that("model_to_json() and model_from_json() round-trip, and read Keras 1 JSON", {
  skip_if_no_keras_file_deps()
  set.seed(7)
  a <- keras_input(c(5, 2), name = "a")
  model <- keras_model(a, layer_dense(layer_gru(a, 3, name = "g"), 1, name = "d"))
  json <- model_to_json(model)
  expect_type(json, "character")
  parsed <- jsonlite::fromJSON(json, simplifyVector = FALSE)
  expect_identical(parsed$class_name, "Functional")
  copy <- model_from_json(json)
  expect_identical(get_config(copy), get_config(model))
  set_weights(copy, get_weights(model))
  x <- array(runif(2 * 5 * 2), c(2, 5, 2))
  expect_identical(predict(copy, x), predict(model, x))
  # Keras 1: output_dim, inner_activation = "hard_sigmoid" (Keras 2's formula)
  k1 <- '{"class_name": "Sequential", "config": [
    {"class_name": "GRU", "config": {"name": "gru_1", "output_dim": 4, "input_dim": 2,
      "batch_input_shape": [null, 5, 2], "activation": "tanh",
      "inner_activation": "hard_sigmoid", "return_sequences": false,
      "go_backwards": false, "stateful": false, "unroll": false,
      "consume_less": "cpu", "init": "glorot_uniform", "inner_init": "orthogonal",
      "dropout_W": 0.0, "dropout_U": 0.0, "W_regularizer": null, "U_regularizer": null,
      "b_regularizer": null, "trainable": true, "input_dtype": "float32"}}]}'
  m1 <- model_from_json(k1)
  g <- m1$layers[[1]]
  expect_identical(g$units, 4L)
  expect_identical(g$recurrent_activation, "hard_sigmoid_keras2")
  expect_false(g$reset_after)
  expect_error(model_from_json("[1, 2]"), class = "gru_error_config")
  expect_error(model_from_json("{not json"), class = "gru_error_file")
  fx <- keras_fixture("keras2_h5")
  x <- array(runif(2 * 5 * 2), c(2, 5, 2))
  expect_identical(predict(load_model_hdf5(fx$path), x), predict(load_model(fx$path), x))
})
