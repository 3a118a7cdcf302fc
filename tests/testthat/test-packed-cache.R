# The CPU engine's packed kernels, kept by a layer between calls with the
# same weights (PackedWeights in src/gru/gru.h, held by gru_engine_plan()):
# a call that reuses them gives exactly what a call that packs does, and new
# weights are never run with the old packing.

plan_of <- function(layer) rlang::wref_value(gru:::layer_self(layer)$engine_plan)$plan
packed_bytes <- function(layer) gru:::cpp_packed_bytes(plan_of(layer)$packed)

# The layer's call with its packing dropped first (the engine packs again),
# and a call that reuses it; the same seed before each, for dropout.
repacked_and_cached <- function(layer, x, ...) {
  gru:::cpp_packed_clear(plan_of(layer)$packed)
  set.seed(5)
  packed <- layer(x, ...)
  expect_gt(packed_bytes(layer), 0)
  set.seed(5)
  list(packed = packed, cached = layer(x, ...))
}

test_that("a layer keeps its packed kernels after a call, and reusing them changes nothing", {
  set.seed(1)
  grid <- expand.grid(
    reset_after = c(TRUE, FALSE), go_backwards = c(FALSE, TRUE),
    dtype = c("float32", "float64"), masked = c(FALSE, TRUE),
    threads = c(1L, 2L), stringsAsFactors = FALSE
  )
  # 40 units: a partial vector panel; batch 13: a partial row tile.
  x <- array(stats::rnorm(13 * 6 * 9), c(13, 6, 9))
  for (i in seq_len(nrow(grid))) {
    g <- grid[i, ]
    info <- paste(names(g), g, collapse = " ")
    old <- gru_threads(g$threads)
    layer <- layer_gru(units = 40, reset_after = g$reset_after,
                       go_backwards = g$go_backwards, dtype = g$dtype,
                       return_sequences = TRUE, return_state = TRUE)
    mask <- if (g$masked) matrix(stats::runif(13 * 6) > 0.3, 13, 6)
    expect_null(gru:::layer_self(layer)$engine_plan)
    layer(x, mask = mask)
    expect_gt(packed_bytes(layer), 0)
    r <- repacked_and_cached(layer, x, mask = mask)
    expect_identical(r$cached, r$packed, info = info)
    # Filled once: the second call reused it.
    bytes <- packed_bytes(layer)
    layer(x, mask = mask)
    expect_identical(packed_bytes(layer), bytes, info = info)
    gru_threads(old)
  }
})

test_that("cached kernels give the same results with dropout in training", {
  set.seed(2)
  x <- array(stats::rnorm(8 * 5 * 6), c(8, 5, 6))
  for (impl in c(1L, 2L)) {
    layer <- layer_gru(units = 20, dropout = 0.3, recurrent_dropout = 0.2,
                       implementation = impl, return_sequences = TRUE)
    layer(x)
    r <- repacked_and_cached(layer, x, training = TRUE)
    expect_identical(r$cached, r$packed, info = paste("implementation", impl))
  }
})

test_that("packing on one thread count and reusing on another changes nothing", {
  set.seed(3)
  x <- array(stats::rnorm(16 * 4 * 9), c(16, 4, 9))
  old <- gru_threads(1)
  on.exit(gru_threads(old))
  layer <- layer_gru(units = 48, return_sequences = TRUE)
  one <- layer(x)
  gru_threads(2)
  expect_equal(layer(x), one, tolerance = 1e-6)
  gru_threads(1)
  gru:::cpp_packed_clear(plan_of(layer)$packed)
  gru_threads(2)
  layer(x)
  gru_threads(1)
  expect_identical(layer(x), one)
})

test_that("new weights are never run with the old packing", {
  set.seed(4)
  x <- array(stats::rnorm(4 * 5 * 3), c(4, 5, 3))
  fresh <- function(weights) {
    layer_gru(units = 6, return_sequences = TRUE, weights = weights)(x)
  }
  layer <- layer_gru(units = 6, return_sequences = TRUE)
  layer(x)
  old_plan <- plan_of(layer)
  expect_gt(gru:::cpp_packed_bytes(old_plan$packed), 0)

  # set_weights(): the next call packs the new kernels, and the old plan's
  # packing is freed then, not at the next garbage collection.
  w <- layer$get_weights()
  w$kernel <- w$kernel * 2
  w$recurrent_kernel[1, ] <- -w$recurrent_kernel[1, ]
  layer$set_weights(w)
  expect_equal(layer(x), fresh(w))
  expect_identical(gru:::cpp_packed_bytes(old_plan$packed), 0)
  expect_gt(packed_bytes(layer), 0)

  # An edit of one element in place.
  self <- gru:::layer_self(layer)
  self$weights$recurrent_kernel[2, 3] <- self$weights$recurrent_kernel[2, 3] + 1
  expect_equal(layer(x), fresh(layer$get_weights()))

  # A training step, then predict().
  model <- keras_model_sequential(input_shape = c(5, 3)) |>
    layer_gru(6) |>
    layer_dense(1)
  before <- predict(model, x)
  compile(model, optimizer = optimizer_sgd(0.5), loss = "mse")
  train_on_batch(model, x, matrix(10, 4, 1))
  twin <- keras_model_sequential(input_shape = c(5, 3)) |>
    layer_gru(6) |>
    layer_dense(1)
  set_weights(twin, get_weights(model))
  after <- predict(model, x)
  expect_false(isTRUE(all.equal(after, before)))
  expect_identical(after, predict(twin, x))
})

test_that("the engine repacks when the cache is given other kernel arrays", {
  # The engine's own check: the cache records the arrays it packed, so a
  # cache passed with another kernel (which R code never does) is refilled.
  set.seed(6)
  x <- array(stats::rnorm(3 * 4 * 5), c(3, 4, 5))
  layer <- layer_gru(units = 7)
  layer(x)
  e <- gru:::gru_prepare_call(gru:::layer_self(layer), x)$engine
  run <- function(kernel, packed, float64 = FALSE) {
    e$kernel <- kernel
    gru:::cpp_gru_forward(e, float64 = float64, gpu = FALSE, packed = packed)$output
  }
  p <- gru:::cpp_packed_new()
  expect_identical(gru:::cpp_packed_bytes(p), 0)
  k1 <- e$kernel
  k2 <- e$kernel + 0.25
  expect_identical(run(k1, p), run(k1, NULL))
  expect_identical(run(k2, p), run(k2, NULL))
  expect_false(isTRUE(all.equal(run(k2, p), run(k1, NULL))))
  # ... and when the same cache is used in another precision.
  expect_identical(run(k2, p, float64 = TRUE), run(k2, NULL, float64 = TRUE))
  expect_identical(run(k2, p), run(k2, NULL))
  expect_error(gru:::cpp_gru_forward(e, float64 = FALSE, gpu = FALSE, packed = "not a pointer"),
               "external pointer")
})

test_that("saved layers hold no packing and pack again after readRDS()", {
  set.seed(7)
  x <- array(stats::rnorm(2 * 3 * 4), c(2, 3, 4))
  layer <- layer_gru(units = 5, return_sequences = TRUE)
  y <- layer(x)
  path <- tempfile(fileext = ".rds")
  on.exit(unlink(path))
  saveRDS(layer, path)
  back <- readRDS(path)
  expect_null(rlang::wref_value(gru:::layer_self(back)$engine_plan))
  expect_identical(back(x), y)
  expect_gt(packed_bytes(back), 0)
})

# Cells build their engine plan per call, so their packing is memoised on
# the weights alone (packed_kernels()).
cell_packed_bytes <- function(cell) {
  memo <- rlang::wref_value(gru:::layer_self(cell)$packed_memo)
  gru:::cpp_packed_bytes(memo$packed)
}
clear_cell_packing <- function(cell) {
  gru:::cpp_packed_clear(rlang::wref_value(gru:::layer_self(cell)$packed_memo)$packed)
}

test_that("a cell keeps its packed kernels between steps, and new weights repack", {
  set.seed(8)
  x <- matrix(stats::rnorm(3 * 4), 3, 4)
  h <- list(matrix(stats::rnorm(3 * 20), 3, 20))
  for (dtype in c("float32", "float64")) {
    cell <- layer_gru_cell(20, dtype = dtype)
    first <- cell(x, h)
    expect_gt(cell_packed_bytes(cell), 0)
    expect_identical(cell(x, h), first, info = dtype)
    clear_cell_packing(cell)
    expect_identical(cell(x, h), first, info = dtype)
    expect_null(gru:::layer_self(cell)$engine_plan)

    old <- rlang::wref_value(gru:::layer_self(cell)$packed_memo)$packed
    w <- cell$get_weights()
    w$recurrent_kernel <- w$recurrent_kernel * -1
    cell$set_weights(w)
    twin <- layer_gru_cell(20, dtype = dtype)
    twin(x, h)
    twin$set_weights(w)
    expect_identical(cell(x, h), twin(x, h), info = dtype)
    expect_false(isTRUE(all.equal(cell(x, h), first)))
    expect_identical(gru:::cpp_packed_bytes(old), 0)
  }
})

test_that("layer_rnn() over a cell reuses the cell's packing with the same results", {
  set.seed(9)
  x <- array(stats::rnorm(5 * 6 * 3), c(5, 6, 3))
  cell <- layer_gru_cell(12)
  rnn <- layer_rnn(cell = cell, return_sequences = TRUE)
  y <- rnn(x)
  expect_gt(cell_packed_bytes(cell), 0)
  expect_identical(rnn(x), y)
  clear_cell_packing(cell)
  expect_identical(rnn(x), y)
})
