# Inference and training run one step body (src/gru/forward.cpp) under two
# policies: the training one also records what the backward needs. So the
# training forward's output and state are identical to inference's, bit for
# bit, under every option, in float32 and float64, on 1 and 2 threads.

test_that("the training forward returns exactly the inference forward's numbers", {
  set.seed(11)
  b <- 6L
  n_steps <- 9L
  x <- array(stats::runif(b * n_steps * 4, -1, 1), c(b, n_steps, 4))
  mask <- matrix(stats::runif(b * n_steps) > 0.3, b, n_steps)
  h0 <- matrix(stats::runif(b * 19, -1, 1), b, 19)
  grid <- expand.grid(reset_after = c(TRUE, FALSE), go_backwards = c(FALSE, TRUE),
                      return_sequences = c(TRUE, FALSE), masked = c(FALSE, TRUE),
                      act = c("default", "other"), dropout = c(0, 0.3),
                      implementation = 1:2, stringsAsFactors = FALSE)
  # Every option appears on both sides; a quarter of the grid keeps it short.
  grid <- grid[seq(1L, nrow(grid), by = 4L) + (seq_len(nrow(grid) / 4L) - 1L) %% 4L, ]
  compared <- 0L
  for (i in seq_len(nrow(grid))) {
    g <- grid[i, ]
    layer <- layer_gru(
      units = 19, reset_after = g$reset_after, go_backwards = g$go_backwards,
      return_sequences = g$return_sequences,
      activation = if (g$act == "default") "tanh" else "relu",
      recurrent_activation = if (g$act == "default") "sigmoid" else "hard_sigmoid",
      dropout = g$dropout, recurrent_dropout = g$dropout,
      implementation = g$implementation, use_bias = TRUE, use_cudnn = FALSE
    )
    layer(x)
    # Non-zero biases, so the recurrent bias's place in the step counts.
    w <- get_weights(layer)
    w[[3]][] <- stats::runif(length(w[[3]]), -0.5, 0.5)
    set_weights(layer, w)
    prep <- gru:::gru_prepare_call(gru:::layer_self(layer), x, training = TRUE,
                                   mask = if (g$masked) mask, initial_state = h0)
    engine <- prep$engine
    for (float64 in c(FALSE, TRUE)) {
      for (threads in 1:2) {
        engine$options$threads <- threads
        inf <- gru:::cpp_gru_forward(engine, float64, FALSE, packed = NULL)
        # Records staged or written in place (GRU_STAGE) by turns.
        stage <- c("0", "1")[(i + threads) %% 2L + 1L]
        tr <- with_env_var("GRU_STAGE", stage, gru:::cpp_gru_train_forward(engine, float64))
        info <- paste(c(names(g), "float64", "threads"),
                      c(vapply(g, as.character, ""), float64, threads), sep = "=",
                      collapse = " ")
        # As vectors (waldo cannot print the rows of a 3-d array's diff).
        expect_identical(dim(tr$output), dim(inf$output), info = info)
        expect_identical(as.vector(tr$output), as.vector(inf$output), info = info)
        expect_identical(tr$state, inf$state, info = info)
        compared <- compared + 1L
      }
    }
  }
  expect_identical(compared, nrow(grid) * 4L)
})

test_that("staged and in-place records give the backward the same workspace", {
  # The gradients read every record; staging (GRU_STAGE = "1") or writing
  # in place ("0") must give identical ones, on 1 and 2 threads, for a
  # width that is not a multiple of any vector (tails) and both reset_after.
  set.seed(12)
  x <- array(stats::runif(5 * 6 * 3, -1, 1), c(5, 6, 3))
  for (reset_after in c(TRUE, FALSE)) {
    layer <- layer_gru(units = 37, reset_after = reset_after, return_sequences = TRUE,
                       use_cudnn = FALSE)
    out <- layer(x)
    g <- array(stats::rnorm(length(out)), dim(out))
    for (threads in 1:2) {
      old <- gru_threads(threads)
      grads <- lapply(c("0", "1"), function(v) with_env_var("GRU_STAGE", v, layer_gradients(layer, x, g)))
      gru_threads(old)
      expect_identical(names(grads[[1]]), names(grads[[2]]))
      for (nm in names(grads[[1]])) {
        expect_identical(as.vector(grads[[1]][[nm]]), as.vector(grads[[2]][[nm]]),
                         info = paste(nm, reset_after, threads))
      }
    }
  }
})
