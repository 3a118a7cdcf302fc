#' @include layer-type.R
NULL

#' Randomly zero inputs while training
#'
#' keras3's `layer_dropout()`. In training mode ([fit()][fit.gru_model],
#' [train_on_batch()], [layer_gradients()] or a call with `training = TRUE`)
#' each input element is set to zero with probability `rate` and the others
#' are scaled by `1 / (1 - rate)`, so their expected sum is unchanged; a new
#' mask is drawn on every call. Otherwise ([predict()][predict.gru_model],
#' [evaluate()], a plain call) the layer returns its input unchanged. A mask
#' passes through unchanged, as through [layer_dense()].
#'
#' Between stacked GRU layers this drops whole output vectors of the layer
#' before; a GRU's own `dropout` and `recurrent_dropout` act on its input
#' and its state inside the recurrence (see [layer_gru()]).
#'
#' @inheritParams layer_gru
#' @param rate Fraction of the input elements to drop, a number in `[0, 1)`.
#' @param noise_shape `NULL` (one draw per element) or the shape of the drop
#'   mask, one entry per input axis: `NA` (or `NULL` in a list) takes the
#'   input's size, `1` shares one draw along that axis. `c(NA, 1, NA)` drops
#'   the same features at every timestep of a `(batch, timesteps, features)`
#'   input.
#' @param seed `NULL` or a whole number: seeds the layer's own random stream
#'   (it starts at `set.seed(seed)` and advances with every call), so its
#'   masks are reproducible without touching the session's; with `NULL` the
#'   masks come from the session's stream (`set.seed()`).
#' @param ... `name`, `trainable`, `dtype`, `input_shape`, `batch_size` and
#'   `batch_input_shape`.
#' @returns A dropout layer (class `gru_layer`) when `object` is missing or
#'   `NULL`; its output when `object` is an array; the model when `object`
#'   is a sequential model.
#' @family layers
#' @export
#' @examples
#' x <- array(1, c(2, 3, 4))
#' drop <- layer_dropout(rate = 0.5, seed = 1)
#' identical(drop(x), x)          # not training: unchanged
#' drop(x, training = TRUE)[1, , ] # zeros and 2s
#' # the same features dropped at every timestep
#' layer_dropout(rate = 0.5, noise_shape = c(NA, 1, NA), seed = 1)(x, training = TRUE)[1, , ]
#' model <- keras_model_sequential(input_shape = c(5, 3)) |>
#'   layer_gru(8, return_sequences = TRUE) |>
#'   layer_dropout(0.2) |>
#'   layer_gru(4) |>
#'   layer_dense(1)
layer_dropout <- function(object, rate, noise_shape = NULL, seed = NULL, ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), dropout_dots, "layer_dropout",
                           call = call)
  if (missing(rate)) {
    abort_missing_arg("rate", "layer_dropout", "layer_dropout(rate = 0.2)", object, call)
  }
  rate <- check_rate(rate, call = call)
  noise_shape <- check_noise_shape(noise_shape, call = call)
  seed <- check_seed(seed, call = call)
  config <- c(standard_config("dropout", dots, call),
              list(rate = rate, noise_shape = noise_shape, seed = seed))
  layer <- new_weightless_layer("dropout", config, dots, call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

dropout_dots <- weightless_dots

# NULL, or an integer vector with NA for "the input's size": from a numeric
# vector (NA allowed) or a list of numbers and NULLs (keras3's spelling).
check_noise_shape <- function(x, arg = rlang::caller_arg(x),
                              call = rlang::caller_env()) {
  if (is.null(x)) return(NULL)
  if (is.list(x)) {
    one <- function(v) {
      is.null(v) || (length(v) == 1L && (is.numeric(v) || is.na(v)))
    }
    if (all(vapply(x, one, logical(1)))) {
      x <- vapply(x, function(v) if (is.null(v)) NA_real_ else as.numeric(v),
                  numeric(1))
    }
  }
  if (is.logical(x) && length(x) && all(is.na(x))) x <- as.numeric(x)
  ok <- is.numeric(x) && length(x) >= 1L &&
    all(is.na(x) | (x >= 1 & x == trunc(x) & is.finite(x)))
  if (!ok) {
    abort_gru(
      c("{.arg {arg}} must be `NULL` or one positive whole number or `NA` per input axis, not {.obj_type_friendly {x}}{if (is.numeric(x) && length(x)) paste0(' (', paste(format(x), collapse = ', '), ')')}.",
        "i" = "For example {.code noise_shape = c(NA, 1, NA)} shares one draw across timesteps."),
      class = "gru_error_input", call = call
    )
  }
  as.integer(x)
}

# The drop mask's shape for an input of shape `d`, or a message saying why
# `noise_shape` does not fit it.
dropout_noise_dims <- function(noise_shape, d) {
  if (is.null(noise_shape)) return(d)
  if (length(noise_shape) != length(d)) {
    n <- length(noise_shape)
    return(sprintf("its noise_shape has %d entr%s but the input has %d ax%s",
                   n, if (n == 1L) "y" else "ies",
                   length(d), if (length(d) == 1L) "is" else "es"))
  }
  nd <- ifelse(is.na(noise_shape), d, noise_shape)
  bad <- which(!is.na(d) & nd != 1L & nd != d)
  if (length(bad)) {
    k <- bad[[1L]]
    return(sprintf(paste("its noise_shape is %d on axis %d, where the input",
                         "has %d (use NA or 1 there)"),
                   nd[[k]], k, d[[k]]))
  }
  nd
}

# The multiplier of every input element (0 or 1 / (1 - rate)) for one call:
# one draw per element of the noise shape, repeated along its axes of size 1.
draw_dropout_multiplier <- function(self, d, noise_shape = self$config$noise_shape) {
  cfg <- self$config
  nd <- dropout_noise_dims(noise_shape, d)
  m <- NULL
  with_layer_rng(self, {
    m <- (stats::runif(prod(nd)) >= cfg$rate) / (1 - cfg$rate)
  })
  if (all(nd == d)) return(m)
  m[broadcast_index(nd, d)]
}

dropout_check_inputs <- function(self, inputs, call) {
  d <- dim(inputs)
  if (is.null(d) && (is.numeric(inputs) || is.logical(inputs))) {
    d <- c(1L, length(inputs))
  }
  if (!(is.numeric(inputs) || is.logical(inputs)) || length(d) < 2L) {
    abort_gru(
      c("{.arg inputs} must be a numeric matrix or array, not {.obj_type_friendly {inputs}}."),
      class = "gru_error_input", call = call
    )
  }
  nd <- dropout_noise_dims(self$config$noise_shape, d)
  if (is.character(nd)) {
    abort_gru(
      c("Layer {.val {self$config$name}} cannot take an input of shape {format_shape(d)}: {nd}."),
      class = "gru_error_shape", call = call
    )
  }
  as.integer(d)
}

# One call of the layer: in training mode with rate > 0 it draws a mask and
# applies it; otherwise the input passes through (as doubles). `cache` is
# what the backward pass needs: the multiplier used (NULL for none).
dropout_train_forward <- function(self, inputs, mask = NULL, training = NULL,
                                  initial_state = NULL,
                                  call = rlang::caller_env()) {
  d <- dropout_check_inputs(self, inputs, call)
  m <- if (isTRUE(training) && self$config$rate > 0) {
    draw_dropout_multiplier(self, d)
  }
  output <- if (!is.null(m)) {
    array(as.numeric(inputs) * m, d)
  } else if (is.double(inputs) && !is.null(dim(inputs))) {
    inputs
  } else {
    array(as.numeric(inputs), d)
  }
  list(output = output, states = list(), mask = if (length(d) == 3L) mask,
       cache = list(multiplier = m, dim = d))
}

dropout_forward <- function(self, inputs, mask = NULL, training = NULL,
                            initial_state = NULL, call = rlang::caller_env()) {
  res <- dropout_train_forward(self, inputs, mask = mask, training = training,
                               call = call)
  res$cache <- NULL
  res
}

dropout_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                             call = rlang::caller_env()) {
  list(inputs = if (need_inputs) {
    g <- as.numeric(grad_output)
    array(if (is.null(cache$multiplier)) g else g * cache$multiplier, cache$dim)
  }, weights = list())
}

dropout_format <- function(self) {
  cfg <- self$config
  extra <- c(
    if (!is.null(cfg$noise_shape)) {
      ns <- ifelse(is.na(cfg$noise_shape), "NA", cfg$noise_shape)
      paste0("noise_shape (", paste(ns, collapse = ", "), ")")
    },
    if (!is.null(cfg$seed)) paste0("seed ", cfg$seed)
  )
  sprintf("<dropout layer \"%s\"> rate %s%s", cfg$name, format(cfg$rate),
          if (length(extra)) paste0(", ", paste(extra, collapse = ", "))
          else "")
}

register_layer_type(new_layer_type(
  type = "dropout", class_name = "Dropout",
  forward = dropout_forward,
  train_forward = dropout_train_forward,
  backward = dropout_backward,
  format = dropout_format,
  output_shape = function(self, shape) {
    if (length(shape) < 2L) {
      return("it needs input with a batch and a feature axis")
    }
    nd <- dropout_noise_dims(self$config$noise_shape, shape)
    if (is.character(nd)) return(nd)
    shape
  },
  # noise_shape as Keras writes it: one entry per axis, NULL for "the
  # input's size" (JSON null), which from_config() reads back.
  get_config = function(self, cfg) {
    ns <- self$config$noise_shape
    if (!is.null(ns)) {
      cfg$noise_shape <- lapply(ns, function(v) if (is.na(v)) NULL else v)
    }
    cfg
  },
  constructor = layer_dropout, constructor_dots = dropout_dots
))
