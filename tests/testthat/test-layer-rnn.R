x <- array(runif(3 * 6 * 2), c(3, 6, 2))

test_that("layer_rnn(GRU cell) equals layer_gru() with the same weights", {
  mask <- matrix(TRUE, 3, 6)
  mask[2, 5:6] <- FALSE
  mask[3, c(2, 4)] <- FALSE
  h0 <- matrix(runif(12), 3, 4)
  for (gb in c(FALSE, TRUE)) for (rs in c(FALSE, TRUE)) for (zo in c(FALSE, TRUE)) {
    rnn <- layer_rnn(cell = layer_gru_cell(4), return_sequences = rs,
                     return_state = TRUE, go_backwards = gb,
                     zero_output_for_mask = zo)
    gru <- layer_gru(units = 4, return_sequences = rs, return_state = TRUE,
                     go_backwards = gb, zero_output_for_mask = zo)
    rnn(x)
    gru$set_weights(rnn$get_weights())
    expect_identical(rnn(x), gru(x))
    expect_identical(rnn(x, mask = mask), gru(x, mask = mask))
    expect_identical(rnn(x, initial_state = list(h0)), gru(x, initial_state = list(h0)))
  }
  # the keras example, as written there
  rnn <- layer_rnn(cell = layer_gru_cell(4), return_sequences = TRUE, return_state = TRUE)
  res <- rnn(x)
  expect_equal(dim(res[[1]]), c(3L, 6L, 4L))
  expect_equal(dim(res[[2]]), c(3L, 4L))
  # the layer uses the cell it is given
  cell <- layer_gru_cell(2)
  r <- layer_rnn(cell = cell)
  r(x)
  expect_identical(r$get_weights(), cell$get_weights())
  expect_identical(r$cell, cell)
})

test_that("layer_rnn() runs the sequence in one engine call, not an R step loop", {
  rnn <- layer_rnn(cell = layer_gru_cell(3))
  seen <- integer()
  counter <- new.env()
  counter$steps <- integer()
  suppressMessages(trace(
    "cpp_gru_forward", where = asNamespace("gru"), print = FALSE,
    tracer = bquote(assign("steps", c(get("steps", .(counter)), engine$dims[2]), envir = .(counter)))
  ))
  on.exit(suppressMessages(untrace("cpp_gru_forward", where = asNamespace("gru"))))
  rnn(x)
  expect_identical(counter$steps, 6L)
})

test_that("stateful layer_rnn() carries and resets its state like layer_gru()", {
  rnn <- layer_rnn(cell = layer_gru_cell(3), stateful = TRUE)
  gru <- layer_gru(units = 3, stateful = TRUE)
  rnn(x)
  gru$set_weights(rnn$get_weights())
  rnn$reset_state()
  expect_identical(rnn(x), gru(x))
  expect_identical(rnn(x), gru(x))
  expect_identical(rnn$states, gru$states)
  reset_state(rnn)
  gru$reset_state()
  expect_identical(rnn(x), gru(x))
  expect_error(rnn(x[1:2, , , drop = FALSE]), class = "gru_error_stateful_batch")
})

test_that("dropout in layer_rnn() follows the cell's seed and training flag", {
  rnn <- layer_rnn(cell = layer_gru_cell(3, dropout = 0.5, seed = 2))
  expect_identical(rnn(x), rnn(x, training = FALSE))
  expect_false(identical(rnn(x, training = TRUE), rnn(x)))
})

test_that("layer_rnn() wants a cell, not a layer", {
  expect_error(layer_rnn(cell = layer_gru(units = 2)), class = "gru_error_layer_kind")
  expect_error(layer_rnn(cell = "gru"), class = "gru_error_input")
  expect_error(layer_rnn(), class = "gru_error_input")
  expect_error(layer_rnn(cell = layer_gru_cell(2), retrun_sequences = TRUE),
               class = "gru_error_unknown_argument")
  expect_snapshot(error = TRUE, layer_rnn(cell = layer_gru(units = 2, name = "g")))
  expect_output(print(layer_rnn(cell = layer_gru_cell(2, name = "c"), name = "r")),
                "<rnn layer \"r\">")
})
