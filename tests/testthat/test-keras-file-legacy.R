# Legacy conversions against hand-computed expectations: configs key by key,
# weights through layer_gru() against GRUs written out in plain R from the
# formulas of the Keras version (or cuDNN) that trained them (keras1_gru(),
# cudnn_gru() in helper-keras-files.R).

keras_fixture_config_keras1_gru <- function() {
  skip_if_no_keras_file_deps()
  keras_fixture("keras1")$config$config[[2]]$config
}

test_that("a Keras 1 GRU config becomes a Keras 2/3 GRU config", {
  skip_if_not_installed("jsonlite")
  cfg <- keras_fixture_config_keras1_gru()
  out <- gru:::legacy_layer_config("GRU", cfg, NA_character_)
  expect_identical(out$class_name, "GRU")
  c2 <- out$config
  expect_identical(c2$units, 2L)
  expect_identical(c2$recurrent_activation, "hard_sigmoid_keras2")
  expect_identical(c2$activation, "tanh")
  expect_identical(c2$kernel_initializer, "glorot_uniform")
  expect_identical(c2$recurrent_initializer, "orthogonal")
  expect_identical(c2$dropout, 0)
  expect_identical(c2$recurrent_dropout, 0)
  expect_identical(c2$implementation, 1L)  # consume_less "cpu" -> 0 -> 1
  expect_false(c2$reset_after)
  expect_identical(c2$batch_input_shape, list(NULL, NULL, 3L))
  for (k in c("output_dim", "inner_activation", "init", "inner_init", "dropout_W",
              "dropout_U", "consume_less", "input_dim", "input_length",
              "W_regularizer", "U_regularizer", "b_regularizer")) {
    expect_false(k %in% names(c2), label = k)
  }
  expect_true(all(c("kernel_regularizer", "recurrent_regularizer", "bias_regularizer") %in% names(c2)))
})

test_that("Keras 1 Dense, Dropout, Masking and Embedding names are converted", {
  dense <- gru:::legacy_layer_config("Dense", list(
    name = "dense_1", output_dim = 4L, init = "glorot_uniform", W_regularizer = NULL,
    b_regularizer = NULL, W_constraint = NULL, b_constraint = NULL, bias = TRUE,
    input_dim = NULL, activation = "hard_sigmoid", input_dtype = "float32"
  ), NA_character_)$config
  expect_identical(dense$units, 4L)
  expect_identical(dense$kernel_initializer, "glorot_uniform")
  expect_true(dense$use_bias)
  expect_identical(dense$dtype, "float32")
  expect_identical(dense$activation, "hard_sigmoid_keras2")
  expect_false(any(c("output_dim", "init", "bias", "input_dim", "input_dtype") %in% names(dense)))
  first <- gru:::legacy_layer_config("Dense", list(output_dim = 4L, input_dim = 7L), "1.2.2")$config
  expect_identical(first$batch_input_shape, list(NULL, 7L))

  expect_identical(gru:::legacy_layer_config("Dropout", list(p = 0.25, name = "d"), NA)$config,
                   list(name = "d", rate = 0.25))
  expect_identical(gru:::legacy_layer_config("Masking", list(mask_value = 0, input_dtype = "float32"), NA)$config,
                   list(mask_value = 0, dtype = "float32"))
  emb <- gru:::legacy_layer_config("Embedding", list(input_dim = 5L, output_dim = 2L, init = "uniform",
                                                    dropout = 0.1), NA)$config
  expect_identical(emb, list(input_dim = 5L, output_dim = 2L, embeddings_initializer = "uniform"))
})

test_that("Keras 2 GRUs without reset_after are reset-before; hard_sigmoid is Keras 2's before Keras 3", {
  cfg <- list(name = "gru1", units = 4L, recurrent_activation = "hard_sigmoid",
              activation = "tanh", implementation = 0L)
  out <- gru:::legacy_layer_config("GRU", cfg, "2.0.8")$config
  expect_false(out$reset_after)
  expect_identical(out$recurrent_activation, "hard_sigmoid_keras2")
  expect_identical(out$implementation, 1L)
  kept <- gru:::legacy_layer_config("GRU", c(cfg[1:3], reset_after = TRUE), "2.15.0")$config
  expect_true(kept$reset_after)
  k3 <- gru:::legacy_layer_config("GRU", cfg, "3.9.2")
  expect_identical(k3, list(class_name = "GRU", config = cfg))

  bidir <- gru:::legacy_layer_config("Bidirectional", list(
    name = "b", layer = list(class_name = "GRU", config = cfg)), "2.0.8")$config
  expect_false(bidir$layer$config$reset_after)
  expect_identical(bidir$layer$config$recurrent_activation, "hard_sigmoid_keras2")
})

test_that("the Keras version decides, or the config's format when none is recorded", {
  expect_true(gru:::is_keras3_file("3.0.0"))
  expect_false(gru:::is_keras3_file("2.15.0"))
  expect_false(gru:::is_keras3_file("1.2.2"))
  expect_false(gru:::is_keras3_file(NA_character_, list(class_name = "Sequential")))
  expect_true(gru:::is_keras3_file(NA_character_, list(module = "keras", class_name = "Sequential")))
})

test_that("legacy_model_config() turns a Keras 1 layer list into a Sequential config", {
  skip_if_no_keras_file_deps()
  cfg <- keras_fixture("keras1")$config
  out <- gru:::legacy_model_config(cfg, NA_character_)
  expect_named(out$config, c("name", "layers"), ignore.order = TRUE)
  expect_identical(vapply(out$config$layers, function(l) l$class_name, ""),
                   c("Masking", "GRU", "Dropout", "Dense"))
  expect_identical(out$config$layers[[3]]$config$rate, 0.2)
  expect_identical(out$config$layers[[4]]$config$units, 1L)
})

test_that("Keras 1 per-gate weights run in layer_gru() as the Keras 1 formula", {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture("keras1")
  file <- gru:::read_keras_file(fx$path)
  gru_cfg <- fx$config$config[[2]]
  converted <- gru:::legacy_layer_config(gru_cfg$class_name, gru_cfg$config, file$keras_version)
  layer <- from_config(converted)
  w <- gru:::legacy_layer_weights("GRU", gru_cfg$config, file$weights$gru_1, file$keras_version)
  expect_identical(lapply(w, dim), list(c(3L, 6L), c(2L, 6L), 6L))
  set_weights(layer, w)
  set.seed(7)
  x <- array(stats::runif(4 * 5 * 3, -2, 2), c(4, 5, 3))
  expected <- keras1_gru(x, stats::setNames(fx$weights$gru_1, file$weight_names$gru_1))
  # float32 engine against a float64 formula.
  expect_equal(unname(layer(x)), expected, tolerance = 1e-6)
})

test_that("CuDNNGRU weights run in a reset_after GRU as cuDNN computes them", {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture("cudnn")
  file <- gru:::read_keras_file(fx$path)
  layer_cfg <- file$model_config$config$layers[[1]]
  converted <- gru:::legacy_layer_config(layer_cfg$class_name, layer_cfg$config, file$keras_version)
  expect_identical(converted$class_name, "GRU")
  expect_true(converted$config$reset_after)
  expect_identical(converted$config$activation, "tanh")
  expect_identical(converted$config$recurrent_activation, "sigmoid")
  layer <- from_config(converted)
  w <- gru:::legacy_layer_weights("CuDNNGRU", layer_cfg$config,
                                  file$weights$cu_dnngru_1, file$keras_version)
  expect_identical(lapply(w, dim), list(c(2L, 9L), c(3L, 9L), c(2L, 9L)))
  set_weights(layer, w)
  set.seed(8)
  x <- array(stats::runif(3 * 6 * 2, -2, 2), c(3, 6, 2))
  stored <- fx$weights$cu_dnngru_1
  expected <- cudnn_gru(x, stored[[1]], stored[[2]], stored[[3]])
  expect_equal(unname(layer(x)), expected, tolerance = 1e-6)

  # Recognised by the bias shape in a GRU too (load_model_weights() into a
  # GRU(reset_after = TRUE)); refused for reset_after = FALSE.
  w2 <- gru:::legacy_layer_weights("GRU", list(reset_after = TRUE), stored, "2.2.4")
  expect_identical(w2, w)
  expect_error(gru:::legacy_layer_weights("GRU", list(reset_after = FALSE), stored, "2.2.4"),
               class = "gru_error_weights")
})

test_that("the CuDNNGRU kernel conversion is numpy's k.T.reshape(k.shape, order = 'F')", {
  # numpy, for k = [[0, 1, 2], [3, 4, 5]]: k.T.reshape((2, 3), order="F")
  # is [[0, 2, 4], [1, 3, 5]] (tf-keras hdf5_format.py transpose_input()).
  k <- matrix(as.numeric(0:5), 2, 3, byrow = TRUE)
  w <- gru:::cudnn_to_gru_weights(
    list(cbind(k, k, k), matrix(0, 3, 9), array(0, 18)), units = 3L
  )
  expect_identical(w[[1]][, 1:3], matrix(c(0, 2, 4, 1, 3, 5), 2, 3, byrow = TRUE))
})

test_that("Bidirectional and TimeDistributed weights are converted per inner layer", {
  units <- 2L
  cudnn <- list(matrix(1, 3, 6), matrix(2, 2, 6), array(seq_len(12)))
  plain <- list(matrix(1, 3, 6), matrix(2, 2, 6), array(seq_len(6)))
  inner <- list(class_name = "GRU", config = list(units = units, reset_after = TRUE))
  out <- gru:::legacy_layer_weights("Bidirectional", list(layer = inner), c(cudnn, cudnn), "2.2.4")
  expect_length(out, 6L)
  expect_identical(dim(out[[3]]), c(2L, 6L))
  expect_identical(dim(out[[6]]), c(2L, 6L))
  td <- gru:::legacy_layer_weights("TimeDistributed", list(layer = inner), cudnn, "2.2.4")
  expect_identical(dim(td[[3]]), c(2L, 6L))
  inner$config$reset_after <- FALSE
  expect_identical(gru:::legacy_layer_weights("Bidirectional", list(layer = inner),
                                              c(plain, plain), "2.0.8"), c(plain, plain))
})
