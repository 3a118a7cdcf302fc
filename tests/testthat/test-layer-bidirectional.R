x <- array(runif(3 * 5 * 2), c(3, 5, 2))
mask <- matrix(TRUE, 3, 5)
mask[2, 4:5] <- FALSE

# The forward layer and a go_backwards layer with the bidirectional's
# weights, computed separately.
directions <- function(bi, return_sequences) {
  w <- bi$get_weights()
  f <- layer_gru(units = 3, return_sequences = return_sequences, return_state = TRUE)
  b <- layer_gru(units = 3, return_sequences = return_sequences, return_state = TRUE,
                 go_backwards = TRUE)
  f$set_weights(w[1:3])
  b$set_weights(w[4:6])
  list(f = f, b = b)
}

test_that("a bidirectional GRU equals a forward layer and a flipped backwards layer", {
  for (rs in c(FALSE, TRUE)) {
    bi <- layer_bidirectional(layer = layer_gru(units = 3, return_sequences = rs,
                                                return_state = TRUE))
    bi(x)
    d <- directions(bi, rs)
    for (m in list(NULL, mask)) {
      fr <- d$f(x, mask = m)
      br <- d$b(x, mask = m)
      y_rev <- if (rs) br[[1]][, 5:1, , drop = FALSE] else br[[1]]
      n <- length(dim(fr[[1]]))
      expected <- array(c(fr[[1]], y_rev), c(dim(fr[[1]])[-n], 6L))
      res <- bi(x, mask = m)
      expect_length(res, 3L)
      expect_identical(res[[1]], expected)
      expect_identical(res[[2]], fr[[2]])
      expect_identical(res[[3]], br[[2]])
      if (rs) {
        expect_identical(res[[1]][, , 1:3], fr[[1]])
        expect_identical(res[[1]][, , 4:6], y_rev)
      }
    }
  }
})

test_that("merge modes sum, mul, ave and NULL", {
  make <- function(mode) {
    l <- layer_bidirectional(layer = layer_gru(units = 3, return_sequences = TRUE),
                             merge_mode = mode)
    l
  }
  bi <- make("concat")
  y <- bi(x)
  w <- bi$get_weights()
  f <- y[, , 1:3]
  b <- y[, , 4:6]
  for (mode in c("sum", "mul", "ave")) {
    other <- make(mode)
    other$set_weights(w)
    expected <- switch(mode, sum = f + b, mul = f * b, ave = (f + b) / 2)
    expect_identical(other(x), expected)
  }
  none <- make(NULL)
  none$set_weights(w)
  expect_identical(none(x), list(f, b))
})

test_that("a built layer's weights are copied; names, backward_layer and state", {
  g <- layer_gru(units = 2, name = "enc", input_shape = c(NA, 2))
  bi <- layer_bidirectional(layer = g, name = "bi")
  expect_identical(bi$forward_layer$name, "forward_enc")
  expect_identical(bi$backward_layer$name, "backward_enc")
  expect_true(bi$backward_layer$go_backwards)
  expect_identical(bi$forward_layer$get_weights(), g$get_weights())
  back <- layer_gru(units = 2, go_backwards = TRUE, name = "back")
  bi2 <- layer_bidirectional(layer = g, backward_layer = back)
  expect_identical(bi2$backward_layer$name, "backward_back")
  expect_identical(get_config(bi2)$backward_layer$config$name, "back")
  st <- layer_bidirectional(layer = layer_gru(units = 2, stateful = TRUE))
  a <- st(x)
  expect_false(identical(st(x), a))
  reset_state(st)
  expect_identical(st(x), a)
  expect_output(print(bi), "<bidirectional layer \"bi\">")
})

test_that("bad merge modes and layers are classed errors", {
  g <- layer_gru(units = 2, name = "g")
  expect_error(layer_bidirectional(layer = g, merge_mode = "max"), class = "gru_error_input")
  expect_error(layer_bidirectional(layer = layer_dense(units = 2)), class = "gru_error_input")
  expect_error(layer_bidirectional(layer = g, backward_layer = layer_gru(units = 2)),
               class = "gru_error_input")
  expect_error(layer_bidirectional(), class = "gru_error_input")
  expect_snapshot(error = TRUE, layer_bidirectional(layer = g, merge_mode = "max"))
  expect_snapshot(error = TRUE,
                  layer_bidirectional(layer = g, backward_layer = layer_gru(units = 2, name = "b")))
})
