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
