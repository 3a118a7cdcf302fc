# The recurrence prefetches the next panel of the recurrent kernel into L2
# while it computes the current one, but only when the panels do not fit in
# L2 (large layers). The environment variable GRU_PF (read on every call)
# forces it on ("1") or off ("0") so that these small layers take both paths:
# prefetching reads memory only, so the results must be identical.

prefetch_case <- function(b, t, f, h, reset_after, dtype, go_backwards, masked,
                          recurrent_dropout = 0, implementation = 2L, threads = 1L) {
  set.seed(11)
  x <- array(stats::rnorm(b * t * f), c(b, t, f))
  mask <- NULL
  if (masked) {
    mask <- matrix(stats::runif(b * t) > 0.3, b, t)
    mask[, 1] <- TRUE
  }
  # A fresh layer per run: a seeded layer's dropout draws move on with each
  # call, so both runs must start from the same layer.
  make_layer <- function() {
    set.seed(12)
    layer <- layer_gru(
      units = h, reset_after = reset_after, dtype = dtype, go_backwards = go_backwards,
      return_sequences = TRUE, recurrent_dropout = recurrent_dropout,
      implementation = implementation, input_shape = c(t, f), seed = 5
    )
    w <- lapply(layer$get_weights(), function(w) w + stats::rnorm(length(w), sd = 0.1))
    layer$set_weights(w)
    layer
  }
  go <- array(stats::rnorm(b * t * h), c(b, t, h))
  training <- recurrent_dropout > 0
  run <- function() {
    old <- gru_threads(threads)
    on.exit(gru_threads(old))
    layer <- make_layer()
    set.seed(99)
    list(
      output = layer(x, mask = mask, training = training),
      grads = layer_gradients(layer, x, go, mask = mask, training = training)
    )
  }
  list(off = with_env_var("GRU_PF", "0", run()), on = with_env_var("GRU_PF", "1", run()))
}

test_that("prefetching the recurrent kernel does not change outputs or gradients", {
  # 20 rows: two full row tiles and a partial one (8-row tiles with
  # AVX-512, 4 with AVX2); 160 units: two reduction slices, the second
  # partial; 40 units: one slice, a partial unit block.
  grid <- expand.grid(
    h = c(160, 40), reset_after = c(TRUE, FALSE), dtype = c("float32", "float64"),
    go_backwards = c(FALSE, TRUE), masked = c(FALSE, TRUE), stringsAsFactors = FALSE
  )
  for (i in seq_len(nrow(grid))) {
    g <- grid[i, ]
    res <- prefetch_case(20, 4, 9, g$h, g$reset_after, g$dtype, g$go_backwards, g$masked)
    info <- paste(names(g), g, collapse = " ")
    expect_identical(res$on$output, res$off$output, info = info)
    expect_identical(res$on$grads, res$off$grads, info = info)
    expect_true(all(is.finite(unlist(res$on$grads))), info = info)
  }
})

test_that("prefetching agrees with recurrent dropout and on two threads", {
  for (implementation in 1:2) {
    for (threads in 1:2) {
      res <- prefetch_case(36, 3, 7, 96, reset_after = TRUE, dtype = "float32",
                           go_backwards = FALSE, masked = TRUE, recurrent_dropout = 0.3,
                           implementation = implementation, threads = threads)
      info <- paste("implementation", implementation, "threads", threads)
      expect_identical(res$on$output, res$off$output, info = info)
      expect_identical(res$on$grads, res$off$grads, info = info)
    }
  }
})

test_that("prefetching changes nothing with the AVX2 and generic kernels either", {
  skip_if_not_installed("callr")
  # GRU_ISA is read once per process: each capped set runs in a fresh R
  # session (4-row tiles with AVX2, so 20 rows make five of them).
  run <- function() {
    out <- list(isa = gru::backend_info()$cpu_kernels)
    for (ra in c(TRUE, FALSE)) {
      both <- lapply(c("0", "1"), function(pf) {
        Sys.setenv(GRU_PF = pf)
        set.seed(12)
        layer <- gru::layer_gru(units = 160, reset_after = ra, return_sequences = TRUE,
                                input_shape = c(4, 9))
        x <- array(stats::rnorm(20 * 4 * 9), c(20, 4, 9))
        go <- array(stats::rnorm(20 * 4 * 160), c(20, 4, 160))
        list(output = layer(x), grads = gru::layer_gradients(layer, x, go))
      })
      out[[paste0("reset_after_", ra)]] <- both
    }
    out
  }
  for (isa in c("generic", "avx2")) {
    res <- callr::r(run, env = c(callr::rcmd_safe_env(), GRU_ISA = isa),
                    libpath = .libPaths())
    # A cap, not a choice: a CPU without AVX2 stays generic.
    expect_true(res$isa %in% c("generic", isa), info = isa)
    for (ra in c("reset_after_TRUE", "reset_after_FALSE")) {
      expect_identical(res[[ra]][[2]], res[[ra]][[1]], info = paste(isa, ra))
      expect_true(all(res[[ra]][[1]]$grads$recurrent_kernel != 0), info = paste(isa, ra))
    }
  }
})
