# Runs a fresh copy of a layer with `threads` threads. The seed makes the
# dropout masks the same in every run.
run_with_threads <- function(threads, x, ..., mask = NULL, training = NULL,
                             initial_state = NULL) {
  old <- gru_threads(threads)
  on.exit(gru_threads(old))
  set.seed(42)
  layer <- layer_gru(..., seed = 7)
  layer(x, mask = mask, training = training, initial_state = initial_state)
}

# A layer call with arguments `args` gives the same results on 1 and 2 threads.
expect_same_on_1_and_2_threads <- function(args, info = NULL) {
  one <- do.call(run_with_threads, c(list(1), args))
  two <- do.call(run_with_threads, c(list(2), args))
  expect_equal(two, one, tolerance = 1e-6, info = info)
}

random_mask <- function(b, n_steps) {
  m <- matrix(stats::runif(b * n_steps) > 0.3, b, n_steps)
  m[, 1] <- TRUE
  m
}

test_that("the thread count does not change results", {
  set.seed(1)
  # Shapes large enough that two threads really split the work, with units
  # that do and do not fill whole vectors.
  # The first two split a step's batch rows between threads; the third, one
  # row tile, splits its unit blocks (a barrier per step).
  shapes <- list(c(b = 16, t = 7, f = 9, h = 48), c(b = 13, t = 5, f = 20, h = 40),
                 c(b = 8, t = 6, f = 9, h = 100))
  grid <- expand.grid(
    shape = seq_along(shapes), reset_after = c(TRUE, FALSE),
    go_backwards = c(FALSE, TRUE), dtype = c("float32", "float64"),
    masked = c(FALSE, TRUE), stringsAsFactors = FALSE
  )
  for (i in seq_len(nrow(grid))) {
    g <- grid[i, ]
    s <- shapes[[g$shape]]
    x <- array(stats::rnorm(s[["b"]] * s[["t"]] * s[["f"]]), c(s[["b"]], s[["t"]], s[["f"]]))
    mask <- if (g$masked) random_mask(s[["b"]], s[["t"]])
    args <- list(
      x = x, units = s[["h"]], reset_after = g$reset_after,
      go_backwards = g$go_backwards, dtype = g$dtype, return_sequences = TRUE,
      return_state = TRUE, mask = mask
    )
    expect_same_on_1_and_2_threads(args, info = paste(names(g), g, collapse = " "))
  }
})

test_that("a batch large enough for the row split still matches when U is large", {
  # 512 units: U (3 MB in float) does not fit in a 2 MB L2 but each thread's
  # half does, so the engine splits unit blocks, not rows (with another L2 it
  # may take the row split: the results must agree either way).
  set.seed(3)
  x <- array(stats::rnorm(48 * 3 * 8), c(48, 3, 8))
  for (reset_after in c(TRUE, FALSE)) {
    args <- list(
      x = x, units = 512, reset_after = reset_after, return_sequences = TRUE,
      return_state = TRUE, recurrent_initializer = "glorot_uniform",
      mask = random_mask(48, 3)
    )
    expect_same_on_1_and_2_threads(args)
  }
})

test_that("dropout masks of 1 and 3 gate blocks give the same results on any thread count", {
  set.seed(2)
  x <- array(stats::rnorm(12 * 6 * 10), c(12, 6, 10))
  for (implementation in 1:2) {
    for (reset_after in c(TRUE, FALSE)) {
      for (dtype in c("float32", "float64")) {
        args <- list(
          x = x, units = 64, dropout = 0.3, recurrent_dropout = 0.2,
          implementation = implementation, reset_after = reset_after, dtype = dtype,
          return_sequences = TRUE, training = TRUE,
          initial_state = matrix(stats::rnorm(12 * 64), 12, 64)
        )
        expect_same_on_1_and_2_threads(args)
      }
    }
  }
})

test_that("two threads claiming unit blocks from both ends give identical results", {
  # With a unit split (a small batch, a large layer: a barrier per step) two
  # threads claim each step's unit blocks from opposite ends, so a slowed
  # thread hands blocks to the other; GRU_DYN=0 gives each a fixed half.
  # Which thread computes a block must not matter: every variant, 1 thread
  # and both 2-thread schemes, bit for bit.
  set.seed(8)
  x <- array(stats::rnorm(10 * 30 * 9), c(10, 30, 9))
  mask <- random_mask(10, 30)
  # Dropout on its 1 or 3 gate blocks (implementation 2 or 1) when training.
  cases <- expand.grid(reset_after = c(TRUE, FALSE), return_sequences = c(TRUE, FALSE),
                       implementation = 1:2, training = c(FALSE, TRUE))
  for (i in seq_len(nrow(cases))) {
    with(cases[i, ], {
      run <- function(threads) {
        old <- gru_threads(threads)
        on.exit(gru_threads(old))
        set.seed(3)
        layer <- layer_gru(units = 300, reset_after = reset_after, go_backwards = !reset_after,
                           return_sequences = return_sequences, return_state = TRUE,
                           dropout = 0.2, recurrent_dropout = 0.3,
                           implementation = implementation, seed = 4)
        layer(x, mask = mask, training = training)
      }
      info <- paste(names(cases), cases[i, ], collapse = " ")
      both_ends <- with_env_var("GRU_DYN", "1", run(2))
      halves <- with_env_var("GRU_DYN", "0", run(2))
      expect_identical(both_ends, halves, info = info)
      expect_identical(both_ends, run(1), info = info)
    })
  }
})

test_that("a batch of one gives the results its row gets in a larger batch", {
  # A batch of one writes its sequence output unit by unit; a larger batch
  # step by step. 1100 steps make two projection chunks for a batch of one.
  set.seed(4)
  x <- array(stats::rnorm(3 * 1100 * 5), c(3, 1100, 5))
  mask <- random_mask(3, 1100)
  for (dtype in c("float32", "float64")) {
    for (go_backwards in c(FALSE, TRUE)) {
      for (threads in 1:2) {
        old <- gru_threads(threads)
        set.seed(9)
        layer <- layer_gru(units = 20, go_backwards = go_backwards, dtype = dtype,
                           return_sequences = TRUE)
        all_rows <- layer(x, mask = mask)
        one <- layer(x[2, , , drop = FALSE], mask = mask[2, , drop = FALSE])
        gru_threads(old)
        tol <- if (dtype == "float32") 1e-6 else 1e-12
        expect_equal(one, all_rows[2, , , drop = FALSE], tolerance = tol,
                     info = paste(dtype, go_backwards, threads))
      }
    }
  }
})

test_that("a batch of one runs all its unit blocks' products at once, exactly", {
  # A batch of one takes every unit block's recurrent product in one kernel
  # call (row_panels in kernels_impl.inc; groups of up to 4 blocks, none
  # alone), summing each element's terms in the order a tile of three rows
  # does. Where the input projection's tiles are whole for both batches too
  # (96 steps: MR divides 96 and 3 x 96, and up to 70 units the chunk holds
  # all steps) its outputs are then its row's in a batch of three, bit for
  # bit. Larger layers project a step at a time (the chunk's memory budget),
  # and a one-row projection tile sums in another order, so they agree to
  # float rounding; 2 threads split their unit blocks (a barrier per step).
  # Units from one block to ten; both resets (reset_after = FALSE runs the
  # candidate's product through it too); each kernel set.
  set.seed(5)
  x <- array(stats::rnorm(3 * 96 * 7), c(3, 96, 7))
  for (isa in c("avx512", "avx2", "generic")) {
    for (units in c(5, 20, 40, 70, 150, 300)) {
      for (reset_after in c(TRUE, FALSE)) {
        for (dtype in c("float32", "float64")) {
          threads <- if (units >= 150) 2 else 1
          old <- gru_threads(threads)
          set.seed(9)
          layer <- layer_gru(units = units, reset_after = reset_after, dtype = dtype,
                             go_backwards = units == 40, return_sequences = TRUE,
                             return_state = TRUE)
          res <- with_env_var("GRU_ISA", isa,
                              list(all = layer(x), one = layer(x[2, , , drop = FALSE])))
          gru_threads(old)
          info <- paste(isa, units, reset_after, dtype)
          if (units <= 70) {
            expect_identical(res$one[[1]], res$all[[1]][2, , , drop = FALSE], info = info)
            expect_identical(res$one[[2]], res$all[[2]][2, , drop = FALSE], info = info)
          } else {
            tol <- if (dtype == "float32") 1e-6 else 1e-13
            expect_equal(res$one[[1]], res$all[[1]][2, , , drop = FALSE], tolerance = tol,
                         info = info)
            expect_equal(res$one[[2]], res$all[[2]][2, , drop = FALSE], tolerance = tol,
                         info = info)
          }
          w <- gru:::layer_self(layer)
          ref <- gru:::gru_forward_r(x[2, , , drop = FALSE], w$weights, w$config,
                                     gru:::memo_activation("tanh"),
                                     gru:::memo_activation("sigmoid"), NULL, NULL,
                                     gru:::no_dropout_masks)
          expect_equal(res$one[[1]], ref$output,
                       tolerance = if (dtype == "float32") 1e-5 else 1e-12, info = info)
        }
      }
    }
  }
})

test_that("the engine matches the R reference with dropout, masks and both resets", {
  set.seed(3)
  x <- array(stats::rnorm(9 * 5 * 6), c(9, 5, 6))
  mask <- random_mask(9, 5)
  for (implementation in 1:2) {
    for (reset_after in c(TRUE, FALSE)) {
      for (go_backwards in c(FALSE, TRUE)) {
        make <- function(activation) {
          set.seed(11)
          layer_gru(
            units = 20, activation = activation, dropout = 0.25,
            recurrent_dropout = 0.25, implementation = implementation,
            reset_after = reset_after, go_backwards = go_backwards,
            return_sequences = TRUE, dtype = "float64", seed = 5
          )
        }
        engine <- make("tanh")(x, mask = mask, training = TRUE)
        # An R function as activation runs the R reference path.
        reference <- make(function(v) tanh(v))(x, mask = mask, training = TRUE)
        expect_equal(engine, reference, tolerance = 1e-10)
      }
    }
  }
})

# layer_gradients() of a fresh layer (`units`, seeded weights and output
# gradient) on `threads` threads.
gradients_on <- function(threads, x, mask, units, reset_after, dtype, seed) {
  old <- gru_threads(threads)
  on.exit(gru_threads(old))
  set.seed(seed)
  d <- dim(x)
  layer <- layer_gru(units = units, reset_after = reset_after, dtype = dtype,
                     return_sequences = TRUE, input_shape = d[2:3])
  go <- array(stats::rnorm(d[1] * d[2] * units), c(d[1], d[2], units))
  layer_gradients(layer, x, go, mask = mask)
}

# The gradients on 1 and 2 threads agree, for both variants and dtypes.
expect_gradients_same_on_1_and_2_threads <- function(x, mask, units, seed) {
  for (reset_after in c(TRUE, FALSE)) {
    for (dtype in c("float32", "float64")) {
      one <- gradients_on(1, x, mask, units, reset_after, dtype, seed)
      two <- gradients_on(2, x, mask, units, reset_after, dtype, seed)
      expect_true(all(one$input_bias != 0) && all(one$kernel != 0) &&
                    all(one$recurrent_kernel != 0))
      tol <- if (dtype == "float32") 1e-5 else 1e-12
      expect_equal(two, one, tolerance = tol, info = paste(reset_after, dtype))
    }
  }
}

test_that("the thread count does not change gradients", {
  # Batch 32 and 48 units: large enough that the training path splits the
  # rows between two threads and adds their bias partial sums.
  set.seed(4)
  x <- array(stats::rnorm(32 * 6 * 5), c(32, 6, 5))
  expect_gradients_same_on_1_and_2_threads(x, random_mask(32, 6), units = 48, seed = 9)
})

test_that("weight gradients over a long sequence agree on 1 and 2 threads", {
  # 32 x 70 = 2240 rows: the weight gradients' products (reduction over all
  # B x T rows) then split the reduction between two threads, each summing
  # its slabs into its own copy, added at the end.
  set.seed(6)
  x <- array(stats::rnorm(32 * 70 * 5), c(32, 70, 5))
  expect_gradients_same_on_1_and_2_threads(x, random_mask(32, 70), units = 24, seed = 10)
})

test_that("gru_threads() gets and sets the thread count", {
  old <- gru_threads()
  on.exit(options(gru.threads = NULL))
  expect_type(old, "integer")
  expect_gte(old, 1L)
  expect_identical(gru_threads(1), old)
  expect_identical(gru_threads(), 1L)
  expect_identical(gru_threads(2L), 1L)
  expect_identical(gru_threads(), min(2L, gru_threads()))
})

# Clears what gru_threads() reads (the option and its environment variables)
# until `frame` exits, then restores it.
local_no_thread_settings <- function(frame = parent.frame()) {
  vars <- c("GRU_NUM_THREADS", "_R_CHECK_LIMIT_CORES_", "OMP_THREAD_LIMIT")
  old_opt <- options(gru.threads = NULL)
  old_env <- Sys.getenv(vars, unset = NA)
  restore <- function() {
    options(old_opt)
    for (v in vars) {
      if (is.na(old_env[[v]])) Sys.unsetenv(v) else do.call(Sys.setenv, as.list(old_env[v]))
    }
  }
  do.call(on.exit, list(as.call(list(restore)), add = TRUE), envir = frame)
  Sys.unsetenv(vars)
}

test_that("gru_threads() reads the option, then GRU_NUM_THREADS, within the limits", {
  local_no_thread_settings()
  Sys.setenv(GRU_NUM_THREADS = "3")
  expect_identical(gru_threads(), 3L)
  options(gru.threads = 5)
  expect_identical(gru_threads(), 5L)
  Sys.setenv(OMP_THREAD_LIMIT = "4")
  expect_identical(gru_threads(), 4L)
  Sys.setenv(`_R_CHECK_LIMIT_CORES_` = "TRUE")
  expect_identical(gru_threads(), 2L)
  Sys.setenv(`_R_CHECK_LIMIT_CORES_` = "false")
  expect_identical(gru_threads(), 4L)
})

test_that("gru_threads() rejects a bad count with a classed error", {
  expect_error(gru_threads(0), class = "gru_error_input")
  expect_error(gru_threads(1.5), class = "gru_error_input")
  expect_error(gru_threads("2"), class = "gru_error_input")
  expect_error(gru_threads(NA), class = "gru_error_input")
  expect_error(gru_threads(c(1, 2)), class = "gru_error_input")
  expect_snapshot(gru_threads(-1), error = TRUE)
})

test_that("a layer call reads the thread setting afresh each time", {
  local_no_thread_settings()
  x <- array(stats::runif(2 * 3 * 4), c(2, 3, 4))
  layer <- layer_gru(units = 3)
  layer(x)
  self <- gru:::layer_self(layer)
  threads <- function() gru:::gru_prepare_call(self, x)$engine$options$threads
  Sys.setenv(GRU_NUM_THREADS = "3")
  expect_identical(threads(), 3L)
  options(gru.threads = 5)
  expect_identical(threads(), 5L)
  gru_threads(1)
  expect_identical(threads(), 1L)
  options(gru.threads = NULL)
  Sys.setenv(GRU_NUM_THREADS = "4")
  expect_identical(threads(), 4L)
  Sys.setenv(OMP_THREAD_LIMIT = "2")
  expect_identical(threads(), 2L)
})

test_that("cpp_getenv() reads what Sys.getenv() reads", {
  vars <- c("GRU_TEST_SET", "GRU_TEST_UNSET", "GRU_TEST_EMPTY")
  on.exit(Sys.unsetenv(vars))
  Sys.setenv(GRU_TEST_SET = "abc 1", GRU_TEST_EMPTY = "")
  Sys.unsetenv("GRU_TEST_UNSET")
  expect_identical(gru:::cpp_getenv(vars), c("abc 1", "", ""))
  expect_identical(gru:::cpp_getenv(vars), Sys.getenv(vars, unset = "", names = FALSE))
  expect_identical(gru:::cpp_getenv(character()), character())
})

test_that("outputs of 1 MiB or more, their pages faulted in ahead, are right", {
  # A sequence output of at least 1 MiB has its pages faulted in by each
  # thread before the engine writes them (populate_pages in buffer.h), in
  # the forward pass and in the training forward pass. Neither may change a
  # value: the forward matches the R reference, the training forward the
  # forward exactly, on 1 and 2 threads.
  set.seed(2)
  x <- array(stats::rnorm(16 * 100 * 5), c(16, 100, 5))
  for (threads in 1:2) {
    for (reset_after in c(TRUE, FALSE)) {
      old <- gru_threads(threads)
      layer <- layer_gru(units = 128, reset_after = reset_after, return_sequences = TRUE)
      y <- layer(x)
      self <- gru:::layer_self(layer)
      engine <- gru:::gru_prepare_call(self, x)$engine
      trained <- gru:::cpp_gru_train_forward(engine, float64 = FALSE)
      gru_threads(old)
      info <- paste(threads, reset_after)
      expect_gte(length(y) * 8, 2^20)
      ref <- gru:::gru_forward_r(x, self$weights, self$config, gru:::memo_activation("tanh"),
                                 gru:::memo_activation("sigmoid"), NULL, NULL,
                                 gru:::no_dropout_masks)
      expect_equal(y, ref$output, tolerance = 1e-5, info = info)
      expect_identical(trained$output, y, info = info)
    }
  }
})

test_that("a forked child runs gru on one thread instead of hanging", {
  skip_on_os("windows")  # no fork()
  skip_if_not_installed("callr")
  # In a fresh R process: gru on 2 threads (so GNU OpenMP's team exists),
  # then parallel::mclapply() children run the forward and training passes.
  # Before, their first threaded region hung; callr's timeout bounds that.
  res <- callr::r(function() {
    library(gru)
    gru_threads(2L)
    set.seed(1)
    x <- array(stats::runif(64 * 50 * 16), c(64, 50, 16))
    layer <- layer_gru(units = 256, use_cudnn = FALSE)
    grads <- function() layer_gradients(layer, x, matrix(1, 64, 256))$kernel
    y <- layer(x)
    g <- grads()
    kids <- parallel::mclapply(1:2, function(i) {
      list(threads = gru_threads(), y = layer(x), g = grads())
    }, mc.cores = 2)
    list(threads = gru_threads(), y = y, g = g, kids = kids)
  }, timeout = 120)
  expect_identical(res$threads, 2L)
  expect_length(res$kids, 2)
  for (kid in res$kids) {
    expect_identical(kid$threads, 1L)
    expect_identical(kid$y, res$y)  # the forward does not depend on threads
    # The weight gradients' reduction order does (float rounding).
    expect_equal(kid$g, res$g, tolerance = 1e-5)
  }
})
