# save_model(): a gru model written as a Keras 3 .keras archive reads back
# as the same model.

test_that("save_model() and load_model() round-trip a model", {
  skip_if_no_keras_file_deps()
  set.seed(11)
  model <- keras_model_sequential(input_shape = c(NA, 3), name = "tour") |>
    layer_masking(mask_value = 0) |>
    layer_gru(4, return_sequences = TRUE, recurrent_activation = "hard_sigmoid_keras2") |>
    layer_bidirectional(layer_gru(units = 2, reset_after = FALSE)) |>
    layer_dense(1)
  path <- tempfile(fileext = ".keras")
  expect_identical(save_model(model, path), path)
  copy <- load_model(path)
  expect_identical(get_config(copy), get_config(model))
  x <- array(stats::runif(2 * 5 * 3), c(2, 5, 3))
  # The file holds float32, as Keras' files do.
  expect_equal(predict(copy, x), predict(model, x), tolerance = 1e-6)
  file <- gru:::read_keras_file(path)
  expect_identical(file$format, "keras")
  expect_identical(names(file$weights), vapply(model$layers, function(l) l$name, ""))
  expect_identical(zip_members(path)$name, c("metadata.json", "config.json", "model.weights.h5"))
})

test_that("save_model() checks its arguments", {
  skip_if_no_keras_file_deps()
  model <- keras_model_sequential(input_shape = c(NA, 3)) |> layer_gru(2)
  path <- tempfile(fileext = ".keras")
  save_model(model, path)
  expect_error(save_model(model, path), class = "gru_error_file", regexp = "already exists")
  expect_no_error(save_model(model, path, overwrite = TRUE))
  expect_error(save_model(model, tempfile(fileext = ".h5")), class = "gru_error_input")
  expect_error(save_model(layer_gru(units = 2), path), class = "gru_error_input")
  unbuilt <- keras_model_sequential() |> layer_gru(2)
  expect_error(save_model(unbuilt, tempfile(fileext = ".keras")), class = "gru_error_not_built")
})

test_that("functional models, compile settings and weights files round-trip", {
  skip_if_no_keras_file_deps()
  set.seed(21)
  a <- keras_input(c(6, 3), name = "a")
  b <- keras_input(c(6, 3), name = "b")
  g <- layer_gru(units = 3, return_sequences = TRUE, name = "shared")
  bi <- bidirectional(layer_gru(units = 2, name = "inner"), name = "bi")
  model <- keras_model(list(a, b), list(layer_dense(bi(g(a)), 1, name = "o1"),
                                        layer_dense(g(b), 2, name = "o2")))
  compile(model, optimizer = optimizer_rmsprop(learning_rate = 0.003),
          loss = list("mse", "mae"), loss_weights = c(1, 0.25))
  x <- array(runif(2 * 6 * 3), c(2, 6, 3))
  path <- tempfile(fileext = ".keras")
  save_model(model, path)
  copy <- load_model(path)
  expect_equal(predict(copy, list(x, x)), predict(model, list(x, x)), tolerance = 1e-6)
  expect_identical(get_config(copy), get_config(model))
  cc <- gru:::model_self(copy)$compiled
  expect_identical(cc$optimizer$class_name, "RMSprop")
  expect_equal(cc$optimizer$config$learning_rate, 0.003)
  expect_identical(vapply(cc$losses, function(l) l$class_name, ""),
                   c("MeanSquaredError", "MeanAbsoluteError"))
  # the archive holds the InputLayers' (empty) groups and the shared GRU once
  h5 <- tempfile(fileext = ".weights.h5")
  save_model_weights(model, h5)
  f <- hdf5r::H5File$new(h5, mode = "r")
  groups <- f[["layers"]]$names
  f$close_all()
  expect_true(all(c("input_layer", "input_layer_1", "gru", "bidirectional",
                    "dense", "dense_1") %in% groups))
  fresh <- from_config(get_config(model))
  load_model_weights(fresh, h5)
  expect_equal(predict(fresh, list(x, x)), predict(model, list(x, x)), tolerance = 1e-6)
  expect_error(save_model_weights(model, h5), class = "gru_error_file")
  expect_error(save_model_weights(model, tempfile(fileext = ".h5")), class = "gru_error_input")
})

test_that("every layer type gru has round-trips through a .keras file", {
  skip_if_no_keras_file_deps()
  set.seed(22)
  tok <- keras_input(c(12), name = "tokens", dtype = "int32")
  seq_in <- keras_input(c(12, 4), name = "series")
  e <- layer_embedding(tok, input_dim = 20, output_dim = 6, mask_zero = FALSE)
  c1 <- e |> layer_conv_1d(8, 3, padding = "same", activation = "relu") |>
    layer_max_pooling_1d(2) |>
    layer_batch_normalization() |>
    layer_spatial_dropout_1d(0.1) |>
    bidirectional(layer_gru(units = 4, return_sequences = TRUE))
  c2 <- seq_in |> layer_masking() |>
    layer_gru(8, return_sequences = TRUE) |>
    layer_average_pooling_1d(2) |>
    layer_layer_normalization() |>
    layer_gaussian_noise(0.1) |>
    layer_time_distributed(layer = layer_dense(units = 8))
  merged <- list(c1, c2) |> layer_concatenate()
  summed <- list(layer_dense(merged, 8), layer_dense(merged, 8)) |> layer_add()
  rnn <- summed |> layer_rnn(cell = list(rnn_cell_gru(4), rnn_cell_gru(3)), return_sequences = TRUE)
  out1 <- rnn |> layer_global_average_pooling_1d() |> layer_dense(2, activation = "softmax")
  out2 <- summed |> layer_flatten() |> layer_reshape(c(6, 8)) |> layer_permute(c(2, 1)) |>
    layer_global_max_pooling_1d() |> layer_repeat_vector(2) |> layer_activation("tanh") |>
    layer_gaussian_dropout(0.1) |> layer_dropout(0.1) |> layer_flatten()
  model <- keras_model(list(tok, seq_in), list(out1, out2), name = "everything")
  x <- list(matrix(sample(0:19, 3 * 12, TRUE), 3), array(runif(3 * 12 * 4), c(3, 12, 4)))
  # batch normalization's moving statistics move away from their start
  compile(model, loss = "mse")
  fit(model, x, list(matrix(runif(6), 3), matrix(runif(3 * 12), 3)), epochs = 1, verbose = 0)
  path <- tempfile(fileext = ".keras")
  save_model(model, path)
  copy <- load_model(path)
  expect_identical(get_config(copy), get_config(model))
  expect_equal(predict(copy, x), predict(model, x), tolerance = 1e-6)
  w <- get_weights(model)
  expect_equal(get_weights(copy), w, tolerance = 1e-7)
})
