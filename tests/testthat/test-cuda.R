# The cuDNN path against the fixtures and the CPU path. Runs only where a GPU
# is usable; the backend choice itself is tested without a GPU in
# test-backend.R.

test_that("every cuDNN-eligible conformance case matches on the GPU", {
  skip_if_no_cuda()
  for (path in fixture_paths()) {
    case <- read_case(path)
    args <- case_layer_args(case)
    mask <- nested_to_array(case$mask)
    cfg <- do.call(layer_gru, args)$get_config()
    if (length(gru:::cudnn_ineligibility(cfg, FALSE, if (!is.null(mask)) mask == 1)) > 0L) next
    for (dtype in c("float32", "float64")) {
      args$dtype <- dtype
      args$use_cudnn <- TRUE
      layer <- do.call(layer_gru, args)
      layer$set_weights(case_weights(case))
      expect_lte(run_case(case, layer), case$tolerance, label = paste(case$id, dtype))
    }
  }
})

test_that("GPU and CPU agree on random eligible inputs with right-padded masks", {
  skip_if_no_cuda()
  set.seed(11)
  x <- array(rnorm(5 * 9 * 6), c(5, 9, 6))
  lengths <- c(9, 4, 1, 0, 7)
  mask <- t(vapply(lengths, function(n) seq_len(9) <= n, logical(9)))
  for (gb in c(FALSE, TRUE)) for (rs in c(FALSE, TRUE)) {
    cpu <- layer_gru(units = 7, go_backwards = gb, return_sequences = rs,
                     return_state = TRUE, use_cudnn = FALSE)
    cpu(x)
    gpu <- layer_gru(units = 7, go_backwards = gb, return_sequences = rs,
                     return_state = TRUE, use_cudnn = TRUE, weights = cpu$get_weights())
    h0 <- matrix(rnorm(35), 5, 7)
    a <- cpu(x, mask = mask, initial_state = h0)
    b <- gpu(x, mask = mask, initial_state = h0)
    expect_equal(b[[1]], a[[1]], tolerance = 1e-5)
    expect_equal(b[[2]], a[[2]], tolerance = 1e-5)
  }
})
