# Every error gru raises goes through abort_gru(), which adds the class
# "gru_error" to a specific class from this vocabulary:
#
#   gru_error_input               an argument has the wrong type or value
#   gru_error_unknown_argument    a name in `...` that layer_gru() does not take
#   gru_error_nonfinite           NA, NaN or Inf in numeric inputs (also _input)
#   gru_error_shape               arrays whose dimensions do not fit
#   gru_error_weights             set_weights() given the wrong weights
#   gru_error_stateful_batch      a stateful layer called with another batch size
#   gru_error_cudnn_unavailable   use_cudnn = TRUE where cuDNN cannot run
#   gru_error_backend             the C++ engine or CUDA/cuDNN failed
#   gru_error_not_built           a question only a built layer can answer
#   gru_error_layer_kind          a cell where a layer is expected, or a
#                                 layer where a cell is expected
#   gru_error_mask                a mask that cannot be applied (with
#                                 gru_error_shape when its shape is wrong)
#   gru_error_config              a config with unknown keys or values
#                                 (from_config(); the cause is the parent)
#   gru_error_version             readRDS() of an object saved in an
#                                 incompatible object format
#   gru_error_fit                 training cannot run as asked: fit() and
#                                 friends before compile(), y whose rows do
#                                 not match x (with _shape), stateful data
#                                 that do not divide into the fixed batch
#                                 size (with _stateful_batch), a layer that
#                                 cannot be trained
#   gru_error_loss                a loss that does not fit the model output
#                                 (with _shape or _input), or a non-finite
#                                 loss during training (with _nonfinite)
#   gru_error_unknown_name        an optimizer, loss, metric or callback
#                                 name gru does not know (with _input)
#   gru_error_unsupported         a keras3 function, argument or value gru
#                                 does not have (the stubs in
#                                 R/unsupported.R, sparse or ragged inputs)
#   gru_error_file                a Keras model file that cannot be read:
#                                 missing, not HDF5 or zip, truncated,
#                                 weights missing or of the wrong shape
#
# One warning class: gru_warning_threads, a junk or huge thread setting
# (option gru.threads, GRU_NUM_THREADS) that gru ignores or caps.
#
# Messages use cli markup, name the argument and the offending value, and end
# with an "i" bullet saying what to do.

abort_gru <- function(message, class, ..., call = rlang::caller_env(),
                      .envir = parent.frame()) {
  cli::cli_abort(
    message,
    class = c(class, "gru_error"),
    ...,
    call = call,
    .envir = .envir
  )
}

# Runs an engine call; a C++ exception becomes a classed gru_error_backend
# whose call is the user's function, not a cpp_* frame. A calling handler
# that raises the new error at once: this wraps every layer call, and
# withCallingHandlers() costs ~1 us where tryCatch() costs ~4 and
# rlang::try_fetch() tens of microseconds.
with_backend_errors <- function(expr, what, call = rlang::caller_env()) {
  withCallingHandlers(
    expr,
    error = function(cnd) {
      abort_gru(
        c("The {what} failed.", "i" = "The session is still usable."),
        class = "gru_error_backend",
        parent = cnd,
        call = call
      )
    }
  )
}
