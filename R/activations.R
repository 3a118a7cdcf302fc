# Keras activation names and the engine's codes for them (src/gru/gru.h holds
# the same table; append, never renumber). Aliases map to the same code.
activation_codes <- c(
  tanh = 0L,
  sigmoid = 1L,
  hard_sigmoid = 2L,
  hard_sigmoid_keras2 = 3L,
  relu = 4L,
  linear = 5L,
  elu = 6L,
  selu = 7L,
  softplus = 8L,
  softsign = 9L,
  silu = 10L,
  swish = 10L,
  gelu = 11L,
  exponential = 12L,
  relu6 = 13L,
  hard_silu = 14L,
  hard_swish = 14L,
  mish = 15L,
  log_sigmoid = 16L
)

#' Activation functions by Keras name
#'
#' The names `layer_gru()` accepts for `activation` and
#' `recurrent_activation`. `NULL` means `"linear"`. `"hard_sigmoid"` is Keras
#' 3's `relu6(x + 3) / 6`; `"hard_sigmoid_keras2"` is the Keras 2 (and
#' TensorFlow.js) formula `clip(0.2 * x + 0.5, 0, 1)`, for models trained with
#' Keras 2. `"gelu"` is the exact (erf) form, Keras' default. An R function
#' of one argument is accepted too: it is applied elementwise and runs on a
#' slower path that computes in float64 in R.
#'
#' @returns A character vector of the supported names.
#' @family activations
#' @export
#' @examples
#' gru_activations()
gru_activations <- function() {
  names(activation_codes)
}

# Resolves an activation argument to list(name, code, fn): code is the
# engine's code, or NA for an R function (fn then holds it).
resolve_activation <- function(x, arg = rlang::caller_arg(x),
                               call = rlang::caller_env()) {
  if (is.null(x)) x <- "linear"
  if (is.function(x)) {
    return(list(name = "custom", code = NA_integer_, fn = x))
  }
  if (!(is.character(x) && length(x) == 1L && !is.na(x))) {
    abort_gru(
      c("{.arg {arg}} must be an activation name, `NULL` or a function, not {.obj_type_friendly {x}}.",
        "i" = "Supported names: {.val {gru_activations()}}."),
      class = "gru_error_input", call = call
    )
  }
  key <- tolower(x)
  if (!key %in% names(activation_codes)) {
    abort_gru(
      c("{.arg {arg}} names an unknown activation: {.val {x}}.",
        "i" = "Supported names: {.val {gru_activations()}}, or pass an R function."),
      class = "gru_error_input", call = call
    )
  }
  list(name = key, code = activation_codes[[key]], fn = NULL)
}

# resolve_activation() for the layer call's hot path: a name's resolution is
# memoised (it is a pure function of the string; errors are not cached).
memo_activation <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  named <- is.character(x) && length(x) == 1L && !is.na(x) && nzchar(x)
  if (named) {
    memo <- the$activation_memo
    if (is.null(memo)) memo <- the$activation_memo <- new.env(parent = emptyenv())
    hit <- get0(x, envir = memo, inherits = FALSE)
    if (!is.null(hit)) return(hit)
  }
  res <- resolve_activation(x, arg = arg, call = call)
  if (named) assign(x, res, envir = memo)
  res
}

# The activation of a layer's argument `arg` as an R function: a user's
# function checked at every call (call_user_fn()), a name on the engine.
layer_activation_function <- function(act, arg, layer, call) {
  if (is.null(act$fn)) return(activation_function(act))
  fn <- act$fn
  function(x) call_user_fn(fn, x, "activation", arg, layer = layer, call = call)
}

# The activation as an R function (used by the R path for custom activations
# when the other activation is a named one).
activation_function <- function(act) {
  if (!is.null(act$fn)) return(act$fn)
  code <- act$code
  function(x) {
    y <- cpp_activate(as.numeric(x), code, TRUE)
    dim(y) <- dim(x)
    y
  }
}
