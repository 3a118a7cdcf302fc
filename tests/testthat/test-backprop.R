# Model-level gradients (gradients(), the step fit() takes) against central
# finite differences of the loss, in float64: every weight of every layer,
# relative error max |analytic - numeric| / max |numeric| at most 1e-6.

# Random, non-trivial weights (biases included).
perturb_weights <- function(model, sd = 0.3) {
  w <- lapply(get_weights(model), function(w) {
    w + array(stats::rnorm(length(w), sd = sd), dim(w) %||% length(w))
  })
  set_weights(model, w)
  invisible(model)
}
`%||%` <- function(a, b) if (is.null(a)) b else a

test_that("a dense head on a GRU: mse, mae, huber, with regularizers", {
  set.seed(1)
  x <- array(rnorm(3 * 4 * 2), c(3, 4, 2))
  y <- matrix(rnorm(3 * 2), 3, 2)
  for (ra in c(TRUE, FALSE)) {
    model <- keras_model_sequential(input_shape = c(4, 2)) |>
      layer_gru(3, dtype = "float64", reset_after = ra,
                kernel_regularizer = regularizer_l2(0.01),
                recurrent_regularizer = regularizer_l1_l2(0.01, 0.02)) |>
      layer_dense(2, activation = "tanh", bias_regularizer = regularizer_l2(0.1))
    perturb_weights(model)
    expect_model_gradients(model, x, y, "mse")
    expect_model_gradients(model, x, y, loss_huber(delta = 0.5))
    expect_model_gradients(model, x, y, "mae")
  }
})

test_that("embedding + mask + GRU sequence output: sparse crossentropy", {
  set.seed(2)
  tokens <- rbind(c(3, 1, 4, 0), c(2, 2, 0, 0), c(1, 4, 3, 2))
  y <- matrix(c(0, 1, 2, 2, 1, 0, 1, 0, 2, 0, 0, 1), 3, 4)
  model <- keras_model_sequential(input_shape = c(4)) |>
    layer_embedding(input_dim = 5, output_dim = 2, mask_zero = TRUE) |>
    layer_gru(3, dtype = "float64", return_sequences = TRUE) |>
    layer_dense(3)
  perturb_weights(model)
  expect_model_gradients(model, tokens, y,
                         loss_sparse_categorical_crossentropy(from_logits = TRUE))
  # The padded positions do not count: changing their targets changes nothing.
  y2 <- y
  y2[2, 3:4] <- 2
  expect_equal(model_loss(model, tokens, y2, "sparse_categorical_crossentropy"),
               model_loss(model, tokens, y, "sparse_categorical_crossentropy"))
  model2 <- keras_model_sequential(input_shape = c(4)) |>
    layer_embedding(input_dim = 5, output_dim = 2, mask_zero = TRUE) |>
    layer_gru(3, dtype = "float64") |>
    layer_dense(1, activation = "sigmoid")
  perturb_weights(model2)
  expect_model_gradients(model2, tokens, c(1, 0, 1), "binary_crossentropy")
  expect_model_gradients(model2, tokens, c(1, 0, 1),
                         loss_binary_crossentropy(from_logits = TRUE))
})

test_that("bidirectional layers with every merge mode, after masking", {
  set.seed(3)
  x <- array(rnorm(3 * 4 * 2), c(3, 4, 2))
  x[2, 3:4, ] <- 0
  y <- matrix(runif(3 * 2), 3, 2)
  for (mode in c("concat", "sum", "mul", "ave")) {
    for (seq in c(FALSE, TRUE)) {
      model <- keras_model_sequential(input_shape = c(4, 2)) |>
        layer_masking(mask_value = 0) |>
        layer_bidirectional(layer_gru(units = 2, dtype = "float64", return_sequences = seq),
                            merge_mode = mode)
      if (seq) model <- model |> layer_gru(2, dtype = "float64")
      model <- model |> layer_dense(2, activation = "softmax")
      perturb_weights(model)
      expect_model_gradients(model, x, y / rowSums(y), "categorical_crossentropy")
    }
  }
})

test_that("stacked cells in layer_rnn(), forwards and backwards", {
  set.seed(4)
  x <- array(rnorm(2 * 5 * 3), c(2, 5, 3))
  mask <- matrix(TRUE, 2, 5)
  for (gb in c(FALSE, TRUE)) {
    for (seq in c(FALSE, TRUE)) {
      model <- keras_model_sequential(input_shape = c(5, 3)) |>
        layer_rnn(cell = list(rnn_cell_gru(3, dtype = "float64"),
                              rnn_cell_gru(2, dtype = "float64", reset_after = FALSE)),
                  go_backwards = gb, return_sequences = seq) |>
        layer_dense(1)
      perturb_weights(model)
      y <- if (seq) array(rnorm(2 * 5), c(2, 5, 1)) else rnorm(2)
      expect_model_gradients(model, x, y, "mse")
    }
  }
})

test_that("stateful models: the carried state is the batch's initial state", {
  set.seed(5)
  x <- array(rnorm(2 * 3 * 2), c(2, 3, 2))
  model <- keras_model_sequential(input_shape = c(3, 2), batch_size = 2) |>
    layer_gru(3, dtype = "float64", stateful = TRUE) |>
    layer_dense(1)
  perturb_weights(model)
  predict(model, x)                       # a non-zero carried state
  state <- model$layers[[1]]$states[[1]]
  expect_true(any(state != 0))
  expect_model_gradients(model, x, c(0.5, -1), loss_huber())
  # gradients() leaves the carried state as it found it
  expect_equal(model$layers[[1]]$states[[1]], state)
  # ... and it matters: from zeros the loss differs
  l1 <- model_loss(model, x, c(0.5, -1), "mse")
  reset_state(model)
  expect_false(isTRUE(all.equal(model_loss(model, x, c(0.5, -1), "mse"), l1)))
})

test_that("gradients() needs a loss and names the weights as get_weights()", {
  model <- keras_model_sequential(input_shape = c(3, 1)) |> layer_gru(2) |> layer_dense(1)
  x <- array(1, c(2, 3, 1))
  expect_error(gradients(model, x, 1:2), class = "gru_error_fit")
  g <- gradients(model, x, 1:2, loss = "mse")
  expect_equal(names(g), names(get_weights(model)))
  expect_true(is.numeric(attr(g, "loss")))
})
