facts <- function(built = TRUE, gpus = 1L) {
  list(cuda_built = built, cuda_runtime_version = 13000L, cudnn_version = 90000L,
       gpu_count = gpus, gpu_names = rep("GPU", gpus))
}
base_cfg <- function(...) {
  cfg <- layer_gru(units = 2)$get_config()
  utils::modifyList(cfg, list(...))
}

test_that("backend_info() reports the build and the GPUs separately", {
  info <- backend_info()
  expect_type(info$cuda_built, "logical")
  expect_type(info$gpu_count, "integer")
  expect_length(info$gpu_names, info$gpu_count)
  expect_true(info$cpu_kernels %in% c("generic", "avx2", "avx512"))
  expect_identical(cuda_is_available(), isTRUE(info$cuda_built) && info$gpu_count > 0L)
  expect_output(print(info), "built with")
  expect_output(print(info), paste("CPU kernels:", info$cpu_kernels))
})

test_that("the default configuration is cuDNN-eligible", {
  expect_length(gru:::cudnn_ineligibility(base_cfg(), FALSE, NULL), 0L)
})

test_that("each Keras eligibility rule is reported", {
  r <- function(..., training = FALSE, mask = NULL) {
    gru:::cudnn_ineligibility(base_cfg(...), training, mask)
  }
  expect_match(r(activation = "relu"), "activation")
  expect_match(r(recurrent_activation = "hard_sigmoid"), "recurrent_activation")
  expect_length(r(dropout = 0.2), 0L)
  expect_match(r(dropout = 0.2, training = TRUE), "dropout")
  expect_match(r(recurrent_dropout = 0.2, training = TRUE), "recurrent_dropout")
  expect_match(r(unroll = TRUE), "unroll")
  expect_match(r(use_bias = FALSE), "use_bias")
  expect_match(r(reset_after = FALSE), "reset_after")
  right <- rbind(c(TRUE, TRUE, FALSE), c(TRUE, FALSE, FALSE), c(FALSE, FALSE, FALSE))
  left <- rbind(c(FALSE, TRUE, TRUE), c(TRUE, TRUE, TRUE))
  hole <- rbind(c(TRUE, FALSE, TRUE))
  expect_length(r(mask = right), 0L)
  expect_match(r(mask = left), "right-padded")
  expect_match(r(mask = hole), "right-padded")
  expect_length(r(activation = "relu", use_bias = FALSE, reset_after = FALSE), 3L)
})

test_that("choose_backend() follows use_cudnn", {
  cb <- gru:::choose_backend
  expect_identical(cb("auto", character(), facts()), "cuda")
  expect_identical(cb(TRUE, character(), facts()), "cuda")
  expect_identical(cb(FALSE, character(), facts()), "cpu")
  expect_identical(cb("auto", "reset_after is FALSE", facts()), "cpu")
  expect_identical(cb("auto", character(), facts(gpus = 0L)), "cpu")
  expect_identical(cb("auto", character(), facts(built = FALSE, gpus = 0L)), "cpu")
  expect_error(cb(TRUE, character(), facts(gpus = 0L)), class = "gru_error_cudnn_unavailable")
  expect_error(cb(TRUE, c("unroll is TRUE", "use_bias is FALSE"), facts(built = FALSE, gpus = 0L)),
               class = "gru_error_cudnn_unavailable")
  expect_snapshot(error = TRUE,
                  cb(TRUE, c("unroll is TRUE", "use_bias is FALSE"),
                     facts(built = FALSE, gpus = 0L)))
  expect_snapshot(error = TRUE, cb(TRUE, character(), facts(gpus = 0L)))
})
