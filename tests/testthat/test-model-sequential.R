test_that("layers piped into a model are appended and the model is returned", {
  model <- keras_model_sequential(input_shape = c(6, 3), name = "m")
  out <- model |> layer_gru(units = 4, return_sequences = TRUE, name = "g1")
  expect_identical(out, model)
  model |> layer_gru(units = 2, name = "g2") |> layer_dense(1, name = "d")
  expect_length(model$layers, 3L)
  expect_identical(vapply(model$layers, function(l) l$name, ""), c("g1", "g2", "d"))
  expect_true(model$built)
  expect_identical(model$output_shape, c(NA, 1L))
  x <- array(runif(5 * 6 * 3), c(5, 6, 3))
  # the model equals its layers applied in turn
  ref <- model$layers[[3]](model$layers[[2]](model$layers[[1]](x)))
  expect_identical(predict(model, x), ref)
  expect_identical(model(x), ref)
  # predict() batches and binds rows
  # (other batch sizes block the matrix products differently: float32 rounding)
  expect_equal(predict(model, x, batch_size = 2), ref, tolerance = 1e-5)
  # forward returns every layer's output
  fw <- gru:::model_forward(gru:::model_self(model), x)
  expect_length(fw$outputs, 3L)
  expect_equal(dim(fw$outputs[[1]]), c(5L, 6L, 4L))
})

test_that("summary and print show layers, output shapes and parameter counts", {
  model <- keras_model_sequential(input_shape = c(NA, 3), name = "tour") |>
    layer_masking(name = "mask") |>
    layer_gru(units = 4, return_sequences = TRUE, name = "enc") |>
    layer_bidirectional(layer = layer_gru(units = 2, name = "dec"), name = "bi") |>
    layer_dense(1, name = "head")
  s <- summary(model)
  expect_s3_class(s, "gru_model_summary")
  expect_identical(s$output_shape, c("(NA, NA, 3)", "(NA, NA, 4)", "(NA, 4)", "(NA, 1)"))
  expect_identical(s$params, c(0L, 3L * (3L * 4L + 4L * 4L + 2L * 4L), 2L * 3L * (4L * 2L + 2L * 2L + 2L * 2L), 5L))
  expect_identical(model$count_params(), sum(s$params))
  expect_snapshot(print(model))
  expect_snapshot(summary(model))
})

test_that("get_weights()/set_weights() on a model move every layer's weights", {
  make <- function() {
    keras_model_sequential(input_shape = c(4, 2)) |>
      layer_gru(units = 3, return_sequences = TRUE) |>
      layer_rnn(cell = list(rnn_cell_gru(2), rnn_cell_gru(2))) |>
      layer_dense(1)
  }
  a <- make()
  b <- make()
  w <- get_weights(a)
  expect_length(w, 3 + 6 + 2)
  set_weights(b, w)
  x <- array(runif(3 * 4 * 2), c(3, 4, 2))
  expect_identical(predict(b, x), predict(a, x))
  expect_identical(b$get_weights(), w)
  expect_error(set_weights(b, w[-1]), class = "gru_error_weights")
  bad <- w
  bad[[5]] <- matrix(0, 7, 7)
  before <- get_weights(b)
  expect_error(set_weights(b, bad), class = "gru_error_weights")
  expect_identical(get_weights(b), before)
})

test_that("a masked model equals the same model run on unpadded sequences one by one", {
  lengths <- c(5, 3, 1, 4)
  x <- array(0, c(4, 5, 2))
  for (i in 1:4) x[i, seq_len(lengths[i]), ] <- runif(2 * lengths[i], 0.1, 1)
  model <- keras_model_sequential(input_shape = c(NA, 2)) |>
    layer_masking(mask_value = 0) |>
    layer_gru(units = 3, return_sequences = TRUE) |>
    layer_bidirectional(layer = layer_gru(units = 2)) |>
    layer_dense(1)
  padded <- predict(model, x)
  for (i in 1:4) {
    alone <- predict(model, x[i, seq_len(lengths[i]), , drop = FALSE])
    expect_equal(padded[i, , drop = FALSE], alone, tolerance = 1e-6)
  }
  # the same through an embedding with mask_zero
  tokens <- rbind(c(4, 2, 7, 0, 0), c(1, 0, 0, 0, 0), c(3, 3, 3, 3, 3))
  emb <- keras_model_sequential() |>
    layer_embedding(input_dim = 8, output_dim = 3, mask_zero = TRUE) |>
    layer_gru(units = 2)
  padded <- predict(emb, tokens)
  for (i in 1:3) {
    keep <- tokens[i, tokens[i, ] != 0]
    expect_equal(padded[i, , drop = FALSE], predict(emb, matrix(keep, 1)), tolerance = 1e-6)
  }
})

test_that("masks stop at layers that drop the time axis", {
  model <- keras_model_sequential(input_shape = c(3, 1)) |>
    layer_masking() |>
    layer_gru(units = 2, return_sequences = TRUE) |>
    layer_gru(units = 2) |>
    layer_dense(1)
  x <- array(c(1, 0, 2, 0, 3, 0), c(2, 3, 1))
  fw <- gru:::model_forward(gru:::model_self(model), x)
  expect_identical(fw$masks[[1]], matrix(c(TRUE, FALSE), 2, 3))
  expect_identical(fw$masks[[2]], fw$masks[[1]])
  expect_null(fw$masks[[3]])
  expect_null(fw$masks[[4]])
})

test_that("stateful layers in a model carry state; reset_state() resets them", {
  model <- keras_model_sequential(input_shape = c(3, 2), batch_size = 2) |>
    layer_gru(units = 3, stateful = TRUE) |>
    layer_dense(1)
  x <- array(runif(2 * 3 * 2), c(2, 3, 2))
  first <- predict(model, x)
  expect_false(identical(predict(model, x), first))
  reset_state(model)
  expect_identical(predict(model, x), first)
  model$reset_state()
  expect_identical(predict(model, x), first)
})

test_that("shapes that do not chain, cells and multi-output layers are errors", {
  model <- keras_model_sequential(input_shape = c(5, 3), name = "m") |>
    layer_gru(units = 4, name = "g1")
  expect_error(model |> layer_gru(units = 2, name = "g2"), class = "gru_error_shape")
  expect_snapshot(error = TRUE, model |> layer_gru(units = 2, name = "g2"))
  expect_length(model$layers, 1L)
  built <- layer_dense(units = 2, input_shape = 7, name = "d7")
  expect_error(model |> gru:::compose_layer(built), class = "gru_error_shape")
  # unknown input shape: checked when the model runs
  lazy <- keras_model_sequential(name = "lazy") |>
    layer_gru(units = 4, name = "a") |>
    layer_gru(units = 2, name = "b")
  expect_snapshot(error = TRUE, predict(lazy, array(0, c(1, 2, 3))))
  expect_error(predict(model, array(0, c(1, 5, 2))), class = "gru_error_shape")
  expect_snapshot(error = TRUE, model$add(layer_gru_cell(2, name = "c")))
  expect_error(model |> layer_gru(units = 2, return_state = TRUE),
               class = "gru_error_input")
  expect_error(predict(keras_model_sequential()), class = "gru_error_input")
  expect_error(predict(keras_model_sequential(), array(0, c(1, 2, 3))),
               class = "gru_error_input")
  expect_error(keras_model_sequential(input_shape = c(0, 2)), class = "gru_error_shape")
})
