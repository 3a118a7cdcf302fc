# GPU tests run where a GPU is usable and skip cleanly elsewhere (CI has none).
skip_if_no_cuda <- function() {
  testthat::skip_if_not(cuda_is_available(), "no CUDA GPU usable (see backend_info())")
}
