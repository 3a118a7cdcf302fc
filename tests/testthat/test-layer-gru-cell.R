test_that("a cell step equals a one-step layer_gru() and a cell loop equals the layer", {
  set.seed(1)
  x <- array(runif(3 * 4 * 2), c(3, 4, 2))
  cell <- layer_gru_cell(5, name = "cell")
  h0 <- matrix(runif(15), 3, 5)
  res <- cell(x[, 1, ], list(h0))
  expect_length(res, 2L)
  expect_equal(dim(res[[1]]), c(3L, 5L))
  expect_type(res[[2]], "list")
  expect_identical(res[[1]], res[[2]][[1]])
  layer <- layer_gru(units = 5, return_sequences = TRUE)
  layer$set_weights(cell$get_weights())
  expect_identical(layer(x[, 1, , drop = FALSE], initial_state = h0)[, 1, ], res[[1]])

  # stepping the cell in R over the sequence gives the layer's sequence
  h <- list(h0)
  outs <- array(0, c(3, 4, 5))
  for (t in 1:4) {
    step <- cell(x[, t, ], h)
    outs[, t, ] <- step[[1]]
    h <- step[[2]]
  }
  expect_equal(outs, layer(x, initial_state = h0), tolerance = 1e-6)
})

test_that("a cell has the layer's weights, config keys and printing", {
  cell <- rnn_cell_gru(3, reset_after = FALSE, name = "c1", input_dim = 2)
  expect_true(cell$built)
  expect_identical(lapply(cell$get_weights(), dim),
                   list(kernel = c(2L, 9L), recurrent_kernel = c(3L, 9L), bias = 9L))
  expect_length(cell$get_weights()$bias, 9L)
  cfg <- get_config(cell)
  expect_identical(attr(cfg, "class_name"), "GRUCell")
  expect_false("return_sequences" %in% names(cfg))
  expect_true(all(c("units", "reset_after", "dropout", "kernel_initializer") %in% names(cfg)))
  expect_match(format(cell)[1], "<gru cell \"c1\"> 3 units")
  expect_output(print(cell), "built for 2 input features")
  expect_identical(layer_gru_cell(2, seed = 3)$seed, 3L)
  # states = NULL means zeros
  z <- cell(matrix(1, 1, 2))
  expect_identical(z, cell(matrix(1, 1, 2), list(matrix(0, 1, 3))))
})

test_that("cells reject sequences, unknown arguments and being used as layers", {
  cell <- layer_gru_cell(2, name = "c")
  expect_error(cell(array(0, c(1, 2, 3))), class = "gru_error_shape")
  expect_error(layer_gru_cell(2, return_sequences = TRUE),
               class = "gru_error_unknown_argument")
  expect_error(layer_gru_cell(), class = "gru_error_input")
  expect_error(layer_gru_cell(0), class = "gru_error_input")
  expect_error(array(0, c(1, 2, 3)) |> layer_bidirectional(cell),
               class = "gru_error_layer_kind")
  expect_snapshot(error = TRUE, cell(array(0, c(1, 2, 3))))
  expect_snapshot(error = TRUE, layer_bidirectional(layer = cell))
})
