round_trips <- function(layer) {
  cfg <- get_config(layer)
  copy <- from_config(cfg)
  expect_identical(class(copy), class(layer))
  expect_identical(get_config(copy), cfg)
  # a config is plain data: no gru objects inside
  plain <- function(v) if (is.list(v)) all(vapply(v, plain, TRUE)) && !is.object(v) else TRUE
  expect_true(plain(unclass(cfg)))
  copy
}

test_that("every layer, cell and model round-trips through its config", {
  round_trips(layer_gru(units = 3, name = "g", dropout = 0.1, seed = 4,
                        kernel_regularizer = regularizer_l1_l2(0.1, 0.2),
                        recurrent_constraint = constraint_unitnorm(),
                        bias_initializer = initializer_constant(0.5),
                        input_shape = c(NA, 2), go_backwards = TRUE))
  round_trips(layer_gru_cell(3, name = "c", reset_after = FALSE,
                             kernel_initializer = initializer_he_normal(seed = 1)))
  round_trips(layer_rnn(cell = layer_gru_cell(3, name = "c"), name = "r",
                        return_sequences = TRUE))
  r <- round_trips(layer_rnn(cell = list(rnn_cell_gru(3, name = "a"), rnn_cell_gru(2, name = "b")),
                             name = "rs", stateful = TRUE))
  expect_s3_class(r$cell, "gru_layer_stacked_cells")
  round_trips(rnn_cells_stack(list(rnn_cell_gru(2, name = "a")), name = "s"))
  round_trips(layer_bidirectional(layer = layer_gru(units = 2, name = "g"),
                                  merge_mode = "ave", name = "bi"))
  round_trips(layer_bidirectional(layer = layer_gru(units = 2, name = "g"),
                                  merge_mode = NULL, name = "bi",
                                  backward_layer = layer_gru(units = 2, name = "h", go_backwards = TRUE)))
  round_trips(layer_dense(units = 2, activation = "relu", name = "d", use_bias = FALSE))
  round_trips(layer_masking(mask_value = -1, name = "m"))
  round_trips(layer_embedding(input_dim = 5, output_dim = 2, mask_zero = TRUE, name = "e"))
  model <- keras_model_sequential(input_shape = c(4, 2), name = "model") |>
    layer_gru(units = 3, return_sequences = TRUE, name = "g") |>
    layer_dense(units = 1, name = "d")
  copy <- round_trips(model)
  expect_identical(copy$input_shape, model$input_shape)
  expect_identical(model$get_config(), get_config(model))
})

test_that("a Keras model JSON becomes a gru model", {
  skip_if_not_installed("jsonlite")
  json <- jsonlite::fromJSON(test_path("fixtures", "configs", "keras2_sequential.json"),
                             simplifyVector = FALSE)
  model <- from_config(json)
  expect_s3_class(model, "gru_model")
  expect_identical(model$input_shape, c(NA, 10L, 8L))
  expect_identical(vapply(model$layers, function(l) l$name, ""),
                   c("gru", "bidirectional", "dense"))
  g <- model$layers[[1]]
  expect_identical(g$units, 16L)
  expect_true(g$return_sequences)
  expect_identical(g$kernel_regularizer$class_name, "L2")
  expect_identical(layer_constraint_axis(g), 1)
  expect_identical(get_config(g)$kernel_constraint$config$axis, 0)
  x <- array(runif(2 * 10 * 8), c(2, 10, 8))
  expect_equal(dim(predict(model, x)), c(2L, 1L))
  expect_identical(summary(model)$params, c(1248L, 2L * 3L * (16L * 4L + 4L * 4L + 2L * 4L), 9L))
  # keras 3's dtype policies and batch_shape
  k3 <- list(class_name = "GRU", module = "keras.layers", registered_name = NULL,
             config = list(name = "g3", units = 2L, seed = NULL,
                           dtype = list(module = "keras", class_name = "DTypePolicy",
                                        config = list(name = "float32")),
                           batch_shape = list(NULL, 5L, 3L)))
  expect_true(from_config(k3)$built)
})

test_that("configs with unknown keys, classes or values are gru_error_config", {
  cfg <- get_config(layer_gru(units = 2, name = "g"))
  bad <- cfg
  bad$units_typo <- 3
  expect_error(from_config(bad), class = "gru_error_config")
  expect_snapshot(error = TRUE, from_config(bad))
  bad <- cfg
  bad$units <- -1
  expect_error(from_config(bad), class = "gru_error_config")
  expect_snapshot(error = TRUE, from_config(bad))
  bad <- cfg
  bad$time_major <- TRUE
  expect_error(from_config(bad), class = "gru_error_config")
  expect_error(from_config(cfg, class_name = "LSTM"), class = "gru_error_config")
  expect_snapshot(error = TRUE, from_config(cfg, class_name = "LSTM"))
  expect_error(from_config(unclass(cfg)[1:3]), class = "gru_error_config")
  expect_error(from_config("GRU"), class = "gru_error_config")
  rnn <- get_config(layer_rnn(cell = rnn_cell_gru(2), name = "r"))
  rnn$cell$config$bogus <- 1
  expect_error(from_config(rnn), class = "gru_error_config")
})

test_that("initializers, regularizers and constraints serialize as class_name/config", {
  layer <- layer_gru(units = 2, kernel_initializer = initializer_random_normal(0, 1, seed = 3),
                     recurrent_regularizer = regularizer_l2(0.5),
                     bias_constraint = constraint_nonneg())
  cfg <- get_config(layer)
  expect_identical(cfg$kernel_initializer,
                   list(class_name = "RandomNormal", config = list(mean = 0, stddev = 1, seed = 3L)))
  expect_identical(cfg$recurrent_regularizer, list(class_name = "L2", config = list(l2 = 0.5)))
  expect_identical(cfg$bias_constraint, list(class_name = "NonNeg", config = list()))
  expect_identical(layer$get_config(), cfg)
})
