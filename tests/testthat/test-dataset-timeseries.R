# timeseries_dataset_from_array() against windows built here by explicit
# loops over Keras' definition (0-based positions p = 0, stride, ... below
# min(end - start - (len - 1) * rate, NROW(targets)); window rows start + p
# + k * rate; target row start + p), plus the internal helpers fit() uses.

# Every window and target of Keras' definition, in time order: x is
# (windows, sequence_length, features), y is (windows) or (windows, k).
windows_reference <- function(data, targets, len, stride = 1, rate = 1,
                              start = NULL, end = NULL) {
  data <- as.matrix(data)
  start <- start %||% 0
  end <- end %||% nrow(data)
  num <- end - start - (len - 1) * rate
  if (!is.null(targets)) num <- min(num, NROW(targets))
  positions <- seq(0, num - 1, by = stride)
  x <- array(NA_real_, c(length(positions), len, ncol(data)))
  y <- NULL
  if (!is.null(targets)) y <- matrix(NA_real_, length(positions), NCOL(targets))
  for (w in seq_along(positions)) {
    p <- positions[w]
    for (k in 0:(len - 1)) {
      x[w, k + 1, ] <- data[start + p + k * rate + 1, ]
    }
    if (!is.null(targets)) y[w, ] <- as.matrix(targets)[start + p + 1, ]
  }
  list(x = x, y = y)
}

series <- function(n = 60, f = 2) {
  matrix(seq_len(n * f) + 0.5, n, f)
}

test_that("windows and targets follow Keras' indexing", {
  data <- series(60, 2)
  targets <- 1000 + seq_len(60)
  grid <- list(
    list(len = 5), list(len = 1), list(len = 4, stride = 3),
    list(len = 4, rate = 2), list(len = 6, stride = 2, rate = 3),
    list(len = 5, start = 7), list(len = 5, end = 40),
    list(len = 3, stride = 4, rate = 2, start = 10, end = 50),
    list(len = 5, end = 60)
  )
  for (g in grid) {
    args <- list(sequence_length = g$len, sequence_stride = g$stride %||% 1,
                 sampling_rate = g$rate %||% 1, start_index = g$start,
                 end_index = g$end)
    ds <- do.call(timeseries_dataset_from_array, c(list(data, targets), args))
    want <- windows_reference(data, targets, g$len, g$stride %||% 1, g$rate %||% 1,
                              g$start, g$end)
    got <- dataset_arrays(ds)
    label <- paste(names(g), unlist(g), collapse = " ")
    expect_identical(got$x, want$x, label = label)
    expect_identical(got$y, as.vector(want$y), label = label)
    expect_identical(dataset_size(ds), dim(want$x)[1], label = label)
  }
})

test_that("shorter targets limit the windows as in Keras", {
  data <- series(30, 1)
  targets <- 1:12
  ds <- timeseries_dataset_from_array(data, targets, sequence_length = 4)
  want <- windows_reference(data, targets, 4)
  expect_identical(dataset_arrays(ds)$x, want$x)
  expect_identical(dataset_size(ds), 12L)
  expect_identical(dataset_arrays(ds)$y, 1:12)
})

test_that("Keras' documented example 1 gives its sequences", {
  ds <- timeseries_dataset_from_array(0:98, NULL, sequence_length = 10,
                                      sampling_rate = 2, sequence_stride = 3)
  x <- dataset_arrays(ds)$x
  expect_identical(x[1, ], c(0L, 2L, 4L, 6L, 8L, 10L, 12L, 14L, 16L, 18L))
  expect_identical(x[2, ], c(3L, 5L, 7L, 9L, 11L, 13L, 15L, 17L, 19L, 21L))
  expect_identical(x[3, ], c(6L, 8L, 10L, 12L, 14L, 16L, 18L, 20L, 22L, 24L))
  expect_identical(x[nrow(x), ], c(78L, 80L, 82L, 84L, 86L, 88L, 90L, 92L, 94L, 96L))
  expect_null(dataset_arrays(ds)$y)
})

test_that("the book's iteration example reads its batches, then NULL", {
  int_sequence <- seq(10)
  ds <- timeseries_dataset_from_array(
    data = head(int_sequence, -3), targets = tail(int_sequence, -3),
    sequence_length = 3, batch_size = 2
  )
  expect_identical(length(ds), 3L)
  it <- as_array_iterator(ds)
  seen <- list()
  repeat {
    batch <- iter_next(it)
    if (is.null(batch)) break
    seen[[length(seen) + 1L]] <- batch
  }
  expect_length(seen, 3)
  expect_identical(seen[[1]], list(rbind(1:3, 2:4), 4:5))
  expect_identical(seen[[2]], list(rbind(3:5, 4:6), 6:7))
  expect_identical(seen[[3]], list(rbind(5:7), 8L))
  expect_null(iter_next(it))
  expect_identical(iter_next(it, completed = "done"), "done")
  # a fresh iterator starts again
  expect_identical(iter_next(as_iterator(ds)), seen[[1]])
})

test_that("batches cover the windows in order, the last one shorter", {
  data <- series(50, 3)
  ds <- timeseries_dataset_from_array(data, data[, 1], sequence_length = 6,
                                      batch_size = 16)
  all <- dataset_arrays(ds)
  batches <- dataset_batches(ds)
  n <- dataset_size(ds)
  expect_identical(n, 45L)
  expect_identical(length(ds), 3L)
  expect_identical(dataset_batch_size(ds), 16L)
  expect_identical(vapply(batches, function(b) dim(b$x)[1], integer(1)), c(16L, 16L, 13L))
  for (i in seq_along(batches)) {
    rows <- ((i - 1) * 16 + 1):min(n, i * 16)
    expect_identical(batches[[i]]$x, all$x[rows, , , drop = FALSE])
    expect_identical(batches[[i]]$y, all$y[rows])
  }
  it <- as_iterator(ds)
  for (i in seq_along(batches)) {
    expect_identical(iter_next(it), unname(batches[[i]]))
  }
})

test_that("shuffling is a seeded permutation per epoch", {
  data <- series(40, 2)
  make <- function(seed) {
    timeseries_dataset_from_array(data, data[, 2], sequence_length = 5,
                                  batch_size = 8, shuffle = TRUE, seed = seed)
  }
  ds <- make(7)
  n <- dataset_size(ds)
  o1 <- dataset_order(ds, 1)
  o2 <- dataset_order(ds, 2)
  expect_identical(sort(o1), seq_len(n))
  expect_identical(sort(o2), seq_len(n))
  expect_false(identical(o1, seq_len(n)))
  expect_false(identical(o1, o2))
  expect_identical(dataset_order(make(7), 1), o1)
  expect_false(identical(dataset_order(make(8), 1), o1))
  all <- dataset_arrays(ds)
  batches <- dataset_batches(ds, epoch = 2)
  first <- o2[1:8]
  expect_identical(batches[[1]]$x, all$x[first, , , drop = FALSE])
  expect_identical(batches[[1]]$y, all$y[first])
  expect_identical(iter_next(as_iterator(ds))[[2]], all$y[o1[1:8]])
  # the session's RNG is left alone
  set.seed(3)
  before <- .Random.seed
  dataset_order(ds, 5)
  expect_identical(.Random.seed, before)
  # without a seed, set.seed() before making the dataset reproduces it
  set.seed(11)
  a <- dataset_order(make(NULL), 1)
  set.seed(11)
  expect_identical(dataset_order(make(NULL), 1), a)
})

test_that("shapes: matrix targets, arrays, vectors, unbatched datasets", {
  data <- array(seq_len(20 * 2 * 3), c(20, 2, 3))
  targets <- matrix(seq_len(40), 20, 2)
  ds <- timeseries_dataset_from_array(data, targets, sequence_length = 4, batch_size = 5)
  b <- dataset_batches(ds)[[2]]
  expect_identical(dim(b$x), c(5L, 4L, 2L, 3L))
  expect_identical(b$x[2, 3, , ], data[7 + 2, , ])
  expect_identical(b$y, targets[6:10, ])
  expect_s3_class(ds, "gru_timeseries_dataset")

  v <- timeseries_dataset_from_array(as.numeric(1:10), NULL, sequence_length = 3,
                                     batch_size = NULL)
  expect_identical(length(v), 8L)
  expect_identical(dataset_batch_size(v), 1L)
  expect_identical(iter_next(as_iterator(v)), c(1, 2, 3))
  expect_identical(dim(dataset_batches(v)[[1]]$x), c(1L, 3L))
  u <- timeseries_dataset_from_array(series(10, 2), 1:10, sequence_length = 3,
                                     batch_size = NULL)
  first <- iter_next(as_iterator(u))
  expect_identical(first, list(series(10, 2)[1:3, ], 1L))

  df <- data.frame(a = 1:10, b = 11:20)
  d <- timeseries_dataset_from_array(df, NULL, sequence_length = 2, batch_size = 4)
  expect_identical(dataset_arrays(d)$x[1, , ], rbind(c(1L, 11L), c(2L, 12L)))
})

test_that("the dataset is plain R data and survives saveRDS()", {
  data <- series(30, 2)
  ds <- timeseries_dataset_from_array(data, data[, 1], sequence_length = 4,
                                      batch_size = 8, shuffle = TRUE, seed = 1)
  path <- tempfile(fileext = ".rds")
  saveRDS(ds, path)
  back <- readRDS(path)
  expect_identical(dataset_batches(back, 3), dataset_batches(ds, 3))
  expect_output(print(ds), "27 windows of 4 timesteps x 2 features")
  expect_output(print(ds), "4 batches of 8 \\(the last of 3\\), shuffled")
  expect_output(print(as_iterator(ds)), "0 of 4 batches read")
})

test_that("fit() trains on the dataset's arrays", {
  set.seed(1)
  data <- matrix(sin(seq_len(80) / 4), ncol = 1)
  ds <- timeseries_dataset_from_array(data[1:72, , drop = FALSE], data[9:80, 1],
                                      sequence_length = 8, batch_size = 16)
  a <- dataset_arrays(ds)
  expect_identical(dim(a$x), c(65L, 8L, 1L))
  model <- keras_model_sequential(input_shape = c(8, 1)) |> layer_gru(4) |> layer_dense(1)
  compile(model, loss = "mse")
  h <- fit(model, x = a$x, y = a$y, epochs = 2, batch_size = dataset_batch_size(ds),
           verbose = 0)
  expect_length(h$metrics$loss, 2)
  expect_true(all(is.finite(h$metrics$loss)))
  b <- dataset_batches(ds)[[1]]
  expect_true(is.finite(train_on_batch(model, b$x, b$y)$loss))
})

test_that("bad arguments are classed input errors", {
  data <- series(20, 2)
  ts <- function(...) timeseries_dataset_from_array(...)
  expect_error(ts("a", NULL, 3), class = "gru_error_input")
  expect_error(ts(list(1, 2), NULL, 3), class = "gru_error_input")
  expect_error(ts(data.frame(a = 1:3, b = letters[1:3]), NULL, 2), class = "gru_error_input")
  expect_error(ts(numeric(), NULL, 3), class = "gru_error_input")
  expect_error(ts(data, "a", 3), class = "gru_error_input")
  expect_error(ts(data, NULL, 0), class = "gru_error_input")
  expect_error(ts(data, NULL, 2.5), class = "gru_error_input")
  expect_error(ts(data, NULL, 30), class = "gru_error_input")
  expect_error(ts(data, NULL, 3, sequence_stride = 0), class = "gru_error_input")
  expect_error(ts(data, NULL, 3, sequence_stride = 20), class = "gru_error_input")
  expect_error(ts(data, NULL, 3, sampling_rate = 20), class = "gru_error_input")
  expect_error(ts(data, NULL, 3, batch_size = 0), class = "gru_error_input")
  expect_error(ts(data, NULL, 3, shuffle = "yes"), class = "gru_error_input")
  expect_error(ts(data, NULL, 3, seed = 1.5), class = "gru_error_input")
  expect_error(ts(data, NULL, 3, start_index = -1), class = "gru_error_input")
  expect_error(ts(data, NULL, 3, start_index = 20), class = "gru_error_input")
  expect_error(ts(data, NULL, 3, end_index = 21), class = "gru_error_input")
  expect_error(ts(data, NULL, 3, start_index = 5, end_index = 5), class = "gru_error_input")
  expect_error(ts(data, 1:5, 3, start_index = 10), class = "gru_error_input")
  expect_error(as_iterator(list()), class = "gru_error_input")
  expect_error(iter_next(list()), class = "gru_error_input")
  expect_snapshot(ts(data, NULL, 6, sampling_rate = 4), error = TRUE)
})
