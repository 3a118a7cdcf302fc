# to_categorical() and pad_sequences() against hand-written cases (Keras'
# documented examples) and independent loop implementations of Keras'
# algorithms.

test_that("to_categorical() one-hot encodes 0-based classes (Keras' example)", {
  expect_identical(to_categorical(c(0, 1, 2, 3), num_classes = 4), diag(4))
  expect_identical(to_categorical(c(2, 0)), rbind(c(0, 0, 1), c(1, 0, 0)))
  expect_identical(to_categorical(c(1L, 1L), num_classes = 3), rbind(c(0, 1, 0), c(0, 1, 0)))
  expect_identical(to_categorical(c(TRUE, FALSE)), rbind(c(0, 1), c(1, 0)))
})

test_that("to_categorical() adds a last axis and drops a trailing axis of one", {
  set.seed(1)
  x <- matrix(sample(0:4, 12, replace = TRUE), 3, 4)
  out <- to_categorical(x, num_classes = 6)
  expect_identical(dim(out), c(3L, 4L, 6L))
  for (i in 1:3) for (j in 1:4) {
    want <- numeric(6)
    want[x[i, j] + 1] <- 1
    expect_identical(out[i, j, ], want)
  }
  col <- matrix(c(0, 2, 1), ncol = 1)
  expect_identical(to_categorical(col), to_categorical(c(0, 2, 1)))
  expect_identical(dim(to_categorical(array(0:1, c(2, 1, 1)))), c(2L, 1L, 2L))
  expect_identical(dim(to_categorical(array(0:2, 3))), c(3L, 3L))
  expect_identical(dim(to_categorical(integer(), num_classes = 3)), c(0L, 3L))
})

test_that("to_categorical() takes a factor's codes minus one and its levels", {
  f <- factor(c("b", "a", "b"), levels = c("a", "b", "c"))
  expect_identical(to_categorical(f), rbind(c(0, 1, 0), c(1, 0, 0), c(0, 1, 0)))
  expect_identical(to_categorical(f, num_classes = 4)[, 4], c(0, 0, 0))
})

test_that("to_categorical() rejects labels that are not 0-based classes", {
  expect_error(to_categorical(c(0, -1)), class = "gru_error_input")
  expect_error(to_categorical(c(0, 1.5)), class = "gru_error_input")
  expect_error(to_categorical(c(0, NA)), class = "gru_error_input")
  expect_error(to_categorical(c("a", "b")), class = "gru_error_input")
  expect_error(to_categorical(list(1, 2)), class = "gru_error_input")
  expect_error(to_categorical(c(1, 2, 3), num_classes = 3), class = "gru_error_input")
  expect_error(to_categorical(c(1, 2), num_classes = 0), class = "gru_error_input")
  expect_error(to_categorical(integer()), class = "gru_error_input")
  expect_snapshot(to_categorical(c(1, 2, 3), num_classes = 3), error = TRUE)
})

# Keras 2's pad_sequences() written as its Python loop: truncate each
# sequence (keep its last or first maxlen values), then place it at the end
# or the start of a row of `value`s.
pad_reference <- function(sequences, maxlen, padding, truncating, value) {
  out <- matrix(value, length(sequences), maxlen)
  for (i in seq_along(sequences)) {
    s <- sequences[[i]]
    if (length(s) == 0L) next
    trunc <- if (truncating == "pre") utils::tail(s, maxlen) else utils::head(s, maxlen)
    cols <- if (padding == "post") seq_along(trunc) else
      (maxlen - length(trunc) + 1L):maxlen
    out[i, cols] <- trunc
  }
  out
}

test_that("pad_sequences() gives Keras' documented results", {
  sequence <- list(c(1), c(2, 3), c(4, 5, 6))
  expect_identical(pad_sequences(sequence),
                   rbind(c(0L, 0L, 1L), c(0L, 2L, 3L), c(4L, 5L, 6L)))
  expect_identical(pad_sequences(sequence, value = -1),
                   rbind(c(-1L, -1L, 1L), c(-1L, 2L, 3L), c(4L, 5L, 6L)))
  expect_identical(pad_sequences(sequence, padding = "post"),
                   rbind(c(1L, 0L, 0L), c(2L, 3L, 0L), c(4L, 5L, 6L)))
  expect_identical(pad_sequences(sequence, maxlen = 2),
                   rbind(c(0L, 1L), c(2L, 3L), c(5L, 6L)))
  expect_identical(pad_sequences(sequence, maxlen = 2, truncating = "post"),
                   rbind(c(0L, 1L), c(2L, 3L), c(4L, 5L)))
})

test_that("pad_sequences() matches Keras' loop for every padding and truncation", {
  set.seed(2)
  seqs <- lapply(c(0, 1, 3, 7, 5, 10, 2), function(n) sample.int(20, n, replace = TRUE))
  seqs[[8]] <- NULL
  seqs <- c(seqs, list(NULL))
  for (padding in c("pre", "post")) for (truncating in c("pre", "post")) {
    for (maxlen in list(NULL, 1, 4, 12)) {
      m <- maxlen %||% max(lengths(seqs))
      got <- pad_sequences(seqs, maxlen = maxlen, padding = padding,
                           truncating = truncating, value = 99)
      want <- pad_reference(seqs, m, padding, truncating, 99L)
      storage.mode(want) <- "integer"
      expect_identical(got, want, label = paste(padding, truncating, m))
    }
  }
})

test_that("pad_sequences() casts to dtype as NumPy does", {
  s <- list(c(1.7, -1.7), 2.5)
  expect_identical(pad_sequences(s), rbind(c(1L, -1L), c(0L, 2L)))
  expect_identical(pad_sequences(s, dtype = "float32"), rbind(c(1.7, -1.7), c(0, 2.5)))
  expect_identical(pad_sequences(s, dtype = "int64"), rbind(c(1, -1), c(0, 2)))
  expect_identical(pad_sequences(s, dtype = "float64", value = NA),
                   rbind(c(1.7, -1.7), c(NA, 2.5)))
  expect_identical(pad_sequences(list(), maxlen = 3), matrix(0L, 0, 3))
  expect_identical(pad_sequences(list(NULL, integer())), matrix(0L, 2, 0))
  # a matrix element is read column by column, as keras3 reads it
  expect_identical(pad_sequences(list(matrix(1:4, 2))), matrix(1:4, 1))
})

test_that("pad_sequences() rejects bad arguments with classed errors", {
  s <- list(1:3, 1:2)
  expect_error(pad_sequences(1:3), class = "gru_error_input")
  expect_error(pad_sequences(list(1:3, "a")), class = "gru_error_input")
  expect_error(pad_sequences(list(1:3, list(1))), class = "gru_error_input")
  expect_error(pad_sequences(s, maxlen = 0), class = "gru_error_input")
  expect_error(pad_sequences(s, maxlen = 2.5), class = "gru_error_input")
  expect_error(pad_sequences(s, dtype = "object"), class = "gru_error_input")
  expect_error(pad_sequences(s, padding = "middle"), class = "gru_error_input")
  expect_error(pad_sequences(s, truncating = "both"), class = "gru_error_input")
  expect_error(pad_sequences(s, value = NA), class = "gru_error_input")
  expect_error(pad_sequences(s, value = c(0, 1)), class = "gru_error_input")
  expect_error(pad_sequences(s, value = "x"), class = "gru_error_input")
  expect_error(pad_sequences(list(c(1, NA))), class = "gru_error_input")
  expect_snapshot(pad_sequences(list(1:3, "a")), error = TRUE)
})
