# Backend facts and the backend decision. The decision is a pure function of
# the configuration, `use_cudnn` and the facts, so it is tested without a GPU.

#' What the GRU engine was built with and can use now
#'
#' Two separate facts: whether gru was compiled against CUDA and cuDNN (chosen
#' by `configure` at install time), and which GPUs are usable in this session.
#' `cuda_is_available()` is `TRUE` only when both hold.
#'
#' @returns `backend_info()`: a list with `cuda_built` (logical),
#'   `cuda_runtime_version` and `cudnn_version` (integers, 0 when not built),
#'   `gpu_count`, `gpu_names` and `cpu_kernels`, the instruction set of the
#'   CPU kernels in use (`"avx512"`, `"avx2"` or `"generic"`: the widest the
#'   CPU supports, chosen at run time; the environment variable `GRU_ISA`, set
#'   before gru first runs, caps it). `cuda_is_available()`: a single logical.
#' @family backend
#' @export
#' @examples
#' backend_info()
#' cuda_is_available()
backend_info <- function() {
  facts <- backend_facts()
  structure(facts, class = "gru_backend_info")
}

#' @rdname backend_info
#' @export
cuda_is_available <- function() {
  facts <- backend_facts()
  isTRUE(facts$cuda_built) && facts$gpu_count > 0L
}

# Asked once per session: the first query starts the CUDA runtime, and GPUs
# do not come and go while R runs.
backend_facts <- function() {
  if (!is.null(the$backend_facts)) return(the$backend_facts)
  raw <- cpp_backend_info()
  the$backend_facts <- list(
    cuda_built = raw$cuda_built,
    cuda_runtime_version = raw$cuda_runtime_version,
    cudnn_version = raw$cudnn_version,
    gpu_count = length(raw$devices),
    gpu_names = as.character(raw$devices),
    cpu_kernels = raw$cpu_kernels
  )
  the$backend_facts
}

#' @export
print.gru_backend_info <- function(x, ...) {
  version <- function(v, scale) {
    if (v == 0L) return("-")
    paste(v %/% scale[1], (v %% scale[1]) %/% scale[2], sep = ".")
  }
  cat("gru backend\n")
  if (isTRUE(x$cuda_built)) {
    cat("  built with:  CUDA ", version(x$cuda_runtime_version, c(1000, 10)),
        ", cuDNN ", version(x$cudnn_version, c(10000, 100)), "\n", sep = "")
  } else {
    cat("  built with:  CPU only (no CUDA/cuDNN at install time)\n")
  }
  if (x$gpu_count > 0L) {
    cat("  GPUs usable: ", x$gpu_count, " (", paste(x$gpu_names, collapse = ", "), ")\n", sep = "")
  } else {
    cat("  GPUs usable: none\n")
  }
  cat("  CPU kernels: ", x$cpu_kernels, "\n", sep = "")
  invisible(x)
}

# Why cuDNN cannot run this configuration (Keras' eligibility rules), as a
# character vector; empty when eligible.
cudnn_ineligibility <- function(cfg, training, mask) {
  reasons <- character()
  name <- function(a) if (is.function(a)) "an R function" else paste0('"', a, '"')
  if (!identical(cfg$activation, "tanh")) {
    reasons <- c(reasons, paste0("activation is ", name(cfg$activation), ", not \"tanh\""))
  }
  if (!identical(cfg$recurrent_activation, "sigmoid")) {
    reasons <- c(reasons, paste0("recurrent_activation is ", name(cfg$recurrent_activation),
                                 ", not \"sigmoid\""))
  }
  if (training && cfg$dropout > 0) {
    reasons <- c(reasons, paste0("dropout is ", cfg$dropout, " while training"))
  }
  if (training && cfg$recurrent_dropout > 0) {
    reasons <- c(reasons, paste0("recurrent_dropout is ", cfg$recurrent_dropout,
                                 " while training"))
  }
  if (isTRUE(cfg$unroll)) reasons <- c(reasons, "unroll is TRUE")
  if (!isTRUE(cfg$use_bias)) reasons <- c(reasons, "use_bias is FALSE")
  if (!isTRUE(cfg$reset_after)) reasons <- c(reasons, "reset_after is FALSE")
  if (!is.null(mask) && !mask_is_right_padded(mask)) {
    reasons <- c(reasons, "the mask is not right-padded (each row's kept steps must come first)")
  }
  reasons
}

# TRUE when every row of a logical (batch, timesteps) mask is a run of TRUE
# followed by a run of FALSE.
mask_is_right_padded <- function(mask) {
  if (ncol(mask) < 2L) return(TRUE)
  !any(!mask[, -ncol(mask), drop = FALSE] & mask[, -1L, drop = FALSE])
}

# "cpu" or "cuda". `info` is backend_facts(); `reasons` is
# cudnn_ineligibility(). use_cudnn = TRUE fails listing every reason.
choose_backend <- function(use_cudnn, reasons, info, call = rlang::caller_env()) {
  if (isFALSE(use_cudnn)) return("cpu")
  unavailable <- c(
    if (!isTRUE(info$cuda_built)) "gru was built without CUDA and cuDNN (see configure's GRU_CUDA)",
    if (isTRUE(info$cuda_built) && info$gpu_count == 0L) "no GPU is usable in this session",
    reasons
  )
  if (length(unavailable) == 0L) return("cuda")
  if (isTRUE(use_cudnn)) {
    bullets <- stats::setNames(unavailable, rep("x", length(unavailable)))
    abort_gru(
      c("{.code use_cudnn = TRUE}, but cuDNN cannot run this layer:",
        bullets,
        "i" = "Use {.code use_cudnn = \"auto\"} to fall back to the CPU silently."),
      class = "gru_error_cudnn_unavailable", call = call
    )
  }
  "cpu"
}
