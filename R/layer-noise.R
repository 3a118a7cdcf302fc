#' @include layer-type.R layer-dense.R layer-dropout.R layer-reshaping.R
NULL

# Noise layers that act in training mode only: SpatialDropout1D,
# GaussianNoise and GaussianDropout. Each draws, on every training call, a
# multiplier (dropout) or an addend (noise) of the input's shape on the
# layer's random stream (with_layer_rng(): `seed` makes it reproducible);
# otherwise the input passes through. Their backward pass is dropout's:
# the gradient times the multiplier drawn (an addend leaves it unchanged).

#' Drop whole channels of a sequence while training
#'
#' keras3's `layer_spatial_dropout_1d()`: as [layer_dropout()], but each
#' draw drops a whole channel (feature) of a `(batch, timesteps, channels)`
#' input at every timestep, as a noise shape of `(batch, 1, channels)`
#' does; kept channels are scaled by `1 / (1 - rate)`. Only in training
#' mode; otherwise the input passes through. A mask passes through.
#'
#' @inheritParams layer_dropout
#' @param rate Fraction of the channels to drop, a number in `[0, 1)`.
#' @param name `NULL` or the layer's name.
#' @param dtype `NULL` (`"float32"`), `"float32"` or `"float64"`.
#' @returns A spatial dropout layer (class `gru_layer`) when `object` is
#'   missing or `NULL`; its output when `object` is an array; the model when
#'   `object` is a sequential model.
#' @family regularization layers
#' @family layers
#' @export
#' @examples
#' x <- array(1, c(2, 4, 3))
#' drop <- layer_spatial_dropout_1d(rate = 0.5, seed = 1)
#' drop(x, training = TRUE)[1, , ]   # each column all 0 or all 2
layer_spatial_dropout_1d <- function(object, rate, seed = NULL, name = NULL,
                                     dtype = NULL) {
  call <- rlang::current_env()
  if (missing(rate)) {
    abort_missing_arg("rate", "layer_spatial_dropout_1d",
                      "layer_spatial_dropout_1d(rate = 0.2)", object, call)
  }
  rate <- check_rate(rate, call = call)
  seed <- check_seed(seed, call = call)
  dots <- list(name = name, dtype = dtype)
  dots <- dots[!vapply(dots, is.null, logical(1))]
  config <- c(standard_config("spatial_dropout1d", dots, call),
              list(rate = rate, seed = seed))
  layer <- new_weightless_layer("spatial_dropout_1d", config, dots, call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

#' Add Gaussian noise while training
#'
#' keras3's `layer_gaussian_noise()`: in training mode adds zero-centred
#' normal noise of standard deviation `stddev` to every input element (a
#' new draw on every call), a regularizer for real-valued inputs;
#' otherwise the input passes through. A mask passes through.
#'
#' @inheritParams layer_dropout
#' @param stddev Standard deviation of the noise, a number in `[0, 1]` (as
#'   Keras 3 requires).
#' @returns A Gaussian noise layer (class `gru_layer`) when `object` is
#'   missing or `NULL`; its output when `object` is an array; the model when
#'   `object` is a sequential model.
#' @family regularization layers
#' @family layers
#' @export
#' @examples
#' x <- array(0, c(2, 3, 4))
#' noise <- layer_gaussian_noise(stddev = 0.1, seed = 1)
#' identical(noise(x), x)                  # not training: unchanged
#' sd(noise(x, training = TRUE))           # about 0.1
layer_gaussian_noise <- function(object, stddev, seed = NULL, ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), weightless_dots, "layer_gaussian_noise",
                           call = call)
  if (missing(stddev)) {
    abort_missing_arg("stddev", "layer_gaussian_noise",
                      "layer_gaussian_noise(stddev = 0.1)", object, call)
  }
  if (!(is.numeric(stddev) && length(stddev) == 1L && !is.na(stddev) &&
        stddev >= 0 && stddev <= 1)) {
    shown <- if (is.numeric(stddev) && length(stddev) == 1L) format(stddev)
    abort_gru(
      c("{.arg stddev} must be a number between 0 and 1, not {.obj_type_friendly {stddev}}{if (!is.null(shown)) paste0(' (', shown, ')')}.",
        "i" = "It is the standard deviation of the noise; Keras 3 accepts values from 0 to 1."),
      class = "gru_error_input", call = call
    )
  }
  seed <- check_seed(seed, call = call)
  config <- c(standard_config("gaussian_noise", dots, call),
              list(stddev = as.numeric(stddev), seed = seed))
  layer <- new_weightless_layer("gaussian_noise", config, dots, call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

#' Multiply by Gaussian noise centred on 1 while training
#'
#' keras3's `layer_gaussian_dropout()`: in training mode multiplies every
#' input element by a normal draw of mean 1 and standard deviation
#' `sqrt(rate / (1 - rate))` (a new draw on every call); otherwise the
#' input passes through. A mask passes through.
#'
#' @inheritParams layer_dropout
#' @param rate Drop probability as in [layer_dropout()], a number in
#'   `[0, 1)` (Keras also takes 1, whose noise has infinite spread).
#' @returns A Gaussian dropout layer (class `gru_layer`) when `object` is
#'   missing or `NULL`; its output when `object` is an array; the model when
#'   `object` is a sequential model.
#' @family regularization layers
#' @family layers
#' @export
#' @examples
#' x <- array(1, c(2, 3, 4))
#' layer_gaussian_dropout(rate = 0.2, seed = 1)(x, training = TRUE)[1, , ]
layer_gaussian_dropout <- function(object, rate, seed = NULL, ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), weightless_dots, "layer_gaussian_dropout",
                           call = call)
  if (missing(rate)) {
    abort_missing_arg("rate", "layer_gaussian_dropout",
                      "layer_gaussian_dropout(rate = 0.2)", object, call)
  }
  rate <- check_rate(rate, call = call)
  seed <- check_seed(seed, call = call)
  config <- c(standard_config("gaussian_dropout", dots, call),
              list(rate = rate, seed = seed))
  layer <- new_weightless_layer("gaussian_dropout", config, dots, call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

# The training pass of a noise layer: `draw(self, d)` gives the multiplier
# (or, `additive`, the addend) for an input of shape `d`, or NULL for none.
noise_train_forward <- function(draw, additive = FALSE) {
  force(draw)
  force(additive)
  function(self, inputs, mask = NULL, training = NULL, initial_state = NULL,
           call = rlang::caller_env()) {
    x <- layer_input_array(self, inputs, call)
    d <- dim(x)
    noise <- if (isTRUE(training)) draw(self, d)
    output <- if (is.null(noise)) x else array(if (additive) x + noise else x * noise, d)
    list(output = output, states = list(), mask = sequence_mask(mask, d),
         cache = list(multiplier = if (!additive) noise, dim = d))
  }
}

# `n` normal draws on the layer's random stream.
layer_rnorm <- function(self, n, mean, sd) {
  out <- NULL
  with_layer_rng(self, {
    out <- stats::rnorm(n, mean, sd)
  })
  out
}

spatial_dropout_train_forward <- noise_train_forward(function(self, d) {
  # Keras' noise shape (batch, 1, channels)
  if (self$config$rate > 0) draw_dropout_multiplier(self, d, c(NA, 1L, NA))
})

gaussian_noise_train_forward <- noise_train_forward(function(self, d) {
  sd <- self$config$stddev
  if (sd > 0) layer_rnorm(self, prod(d), 0, sd)
}, additive = TRUE)

gaussian_dropout_train_forward <- noise_train_forward(function(self, d) {
  rate <- self$config$rate
  if (rate > 0) layer_rnorm(self, prod(d), 1, sqrt(rate / (1 - rate)))
})

# "<type layer "name"> key value, seed s".
noise_format <- function(key) {
  force(key)
  function(self) {
    cfg <- self$config
    sprintf("<%s layer \"%s\"> %s %s%s", self$type, cfg$name, key,
            format(cfg[[key]]), if (is.null(cfg$seed)) "" else paste0(", seed ", cfg$seed))
  }
}

# Keras 3 writes only these keys; a Keras 2 config also has trainable and
# noise_shape (always null for this class).
spatial_dropout_from_config <- function(config, call) {
  if (!is.null(config$noise_shape)) {
    abort_gru(
      c("{.arg config} sets {.field noise_shape}, which SpatialDropout1D fixes to (batch, 1, channels)."),
      class = "gru_error_config", call = call
    )
  }
  trainable <- config$trainable
  config$noise_shape <- config$trainable <- NULL
  args <- config_args(config, layer_spatial_dropout_1d,
                      class_name = "SpatialDropout1D", call = call)
  layer <- do.call(layer_spatial_dropout_1d, args)
  if (isFALSE(trainable)) layer$trainable <- FALSE
  layer
}

register_layer_type(new_weightless_type(
  "spatial_dropout_1d", "SpatialDropout1D", spatial_dropout_train_forward,
  backward = dropout_backward,
  format = noise_format("rate"),
  output_shape = function(self, shape) {
    if (length(shape) != 3L) return("it needs 3-D input (batch, timesteps, channels)")
    shape
  },
  get_config = function(self, cfg) cfg[c("name", "dtype", "rate", "seed")],
  from_config = spatial_dropout_from_config
))

register_layer_type(new_weightless_type(
  "gaussian_noise", "GaussianNoise", gaussian_noise_train_forward,
  backward = dropout_backward,
  format = noise_format("stddev"),
  output_shape = any_rank_shape,
  constructor = layer_gaussian_noise
))

register_layer_type(new_weightless_type(
  "gaussian_dropout", "GaussianDropout", gaussian_dropout_train_forward,
  backward = dropout_backward,
  format = noise_format("rate"),
  output_shape = any_rank_shape,
  constructor = layer_gaussian_dropout
))
