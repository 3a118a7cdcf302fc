x <- array(runif(3 * 6 * 2), c(3, 6, 2))
mask <- matrix(TRUE, 3, 6)
mask[2, 4:6] <- FALSE
mask[3, c(1, 3)] <- FALSE

# Two chained GRU layers carrying the stack's weights; both see the mask.
chain <- function(stack_layer, return_sequences = FALSE, zero = FALSE) {
  w <- stack_layer$get_weights()
  l1 <- layer_gru(units = 4, return_sequences = TRUE, return_state = TRUE)
  l2 <- layer_gru(units = 2, return_sequences = return_sequences,
                  return_state = TRUE, zero_output_for_mask = zero)
  l1$set_weights(w[1:3])
  l2$set_weights(w[4:6])
  function(x, mask = NULL, initial_state = list(NULL, NULL)) {
    a <- l1(x, mask = mask, initial_state = initial_state[[1]])
    b <- l2(a[[1]], mask = mask, initial_state = initial_state[[2]])
    list(b[[1]], a[[2]], b[[2]])
  }
}

test_that("a stack of two cells equals two chained GRU layers", {
  for (rs in c(FALSE, TRUE)) for (zo in c(FALSE, TRUE)) {
    rnn <- layer_rnn(cell = list(layer_gru_cell(4), layer_gru_cell(2)),
                     return_sequences = rs, return_state = TRUE,
                     zero_output_for_mask = zo)
    rnn(x)
    ref <- chain(rnn, rs, zo)
    expect_identical(rnn(x), ref(x))
    expect_identical(rnn(x, mask = mask), ref(x, mask = mask))
    h0 <- list(matrix(runif(12), 3, 4), matrix(runif(6), 3, 2))
    expect_identical(rnn(x, initial_state = h0), ref(x, initial_state = h0))
  }
})

test_that("a backwards stack equals the forward stack on reversed sequences", {
  rnn <- layer_rnn(cell = rnn_cells_stack(list(rnn_cell_gru(4), rnn_cell_gru(2))),
                   return_sequences = TRUE, return_state = TRUE, go_backwards = TRUE)
  rnn(x)
  ref <- chain(rnn, TRUE)
  rev_t <- 6:1
  # Equal to float32 rounding, not bit for bit: reversing the steps moves
  # rows between the input projection's micro-tiles, and a tile of one or two
  # rows sums its products in interleaved partial sums.
  expect_equal(rnn(x, mask = mask),
               ref(x[, rev_t, , drop = FALSE], mask = mask[, rev_t]), tolerance = 1e-6)
})

test_that("a stateful stack carries one state per cell", {
  rnn <- layer_rnn(cell = list(rnn_cell_gru(4), rnn_cell_gru(2)), stateful = TRUE,
                   return_state = TRUE)
  whole <- layer_rnn(cell = list(rnn_cell_gru(4), rnn_cell_gru(2)), return_state = TRUE)
  rnn(x)
  whole(x)
  whole$set_weights(rnn$get_weights())
  rnn$reset_state()
  rnn(x[, 1:3, , drop = FALSE])
  second <- rnn(x[, 4:6, , drop = FALSE])
  expect_equal(second, whole(x), tolerance = 1e-6)
  expect_length(rnn$states, 2L)
  expect_equal(dim(rnn$states[[2]]), c(3L, 2L))
})

test_that("the stack steps one timestep and flattens nested stacks", {
  stack <- layer_stacked_rnn_cells(list(rnn_cell_gru(4), rnn_cell_gru(2)), name = "s")
  res <- stack(x[, 1, ])
  expect_equal(dim(res[[1]]), c(3L, 2L))
  expect_length(res[[2]], 2L)
  expect_identical(res[[2]][[2]], res[[1]])
  expect_length(rnn_cells_stack(list(stack, rnn_cell_gru(1)))$cells, 3L)
  expect_output(print(stack), "<stacked cells \"s\"> 2 GRU cells")
  expect_length(stack$get_weights(), 6L)
})

test_that("stacks take cells only", {
  expect_error(rnn_cells_stack(list(rnn_cell_gru(2), layer_gru(units = 2))),
               class = "gru_error_layer_kind")
  expect_error(rnn_cells_stack(list()), class = "gru_error_input")
  expect_snapshot(error = TRUE,
                  rnn_cells_stack(list(rnn_cell_gru(2, name = "c"), layer_gru(units = 2, name = "g"))))
})
