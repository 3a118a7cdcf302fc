#' @include layer-type.R
NULL

# Keras' LayerNormalization and BatchNormalization, in float64 R. Both move
# the axes they work on last (aperm(), skipped when they already are) and
# compute on a matrix: LayerNormalization's rows are the positions it
# normalizes independently and its columns the normalized axes (gamma and
# beta in column-major order over those axes); BatchNormalization's columns
# are the channels of its axis and its rows everything else.

#' Layer normalization
#'
#' keras3's `layer_layer_normalization()` (Ba et al., 2016): normalizes each
#' sample over `axis` (by default its features, separately at every
#' timestep) to mean 0 and variance 1, then scales by `gamma` and shifts by
#' `beta`:
#' `(x - mean(x)) / sqrt(var(x) + epsilon) * gamma + beta`, `var` being the
#' mean squared deviation (not R's `var()`, which divides by `n - 1`). With
#' `rms_scaling = TRUE` (deprecated in Keras, as it scales by the variance)
#' the output is `x / sqrt(var(x) + epsilon) * gamma`, with no `beta`. The
#' layer computes the same in training and inference; a mask passes
#' through unchanged.
#'
#' Weights, in `get_weights()` order: `gamma` (with `scale` or
#' `rms_scaling`) and `beta` (with `center` and not `rms_scaling`), each of
#' the shape of the input's `axis` axes. Computed in float64.
#'
#' @inheritParams layer_gru
#' @param axis The axis or axes to normalize over, counted as R counts (1 is
#'   the batch axis) or from the end with negative numbers: `-1`, the
#'   default, is the last axis. Configs hold Keras' 0-based count.
#' @param epsilon A small positive number added to the variance.
#' @param center,scale Whether to add `beta` and multiply by `gamma`.
#' @param rms_scaling Whether to scale by `gamma / sqrt(var + epsilon)`
#'   only, as Keras' deprecated option does (it ignores `center` and
#'   `scale`).
#' @param beta_initializer,gamma_initializer Initializers of `beta` (zeros)
#'   and `gamma` (ones).
#' @param beta_regularizer,gamma_regularizer Regularizers or `NULL`.
#' @param beta_constraint,gamma_constraint Constraints or `NULL`.
#' @param ... `name`, `trainable`, `dtype`, `input_shape`, `batch_size`,
#'   `batch_input_shape`, `input_dim` and `weights`.
#' @returns A layer normalization layer (class `gru_layer`) when `object`
#'   is missing or `NULL`; its output when `object` is an array; the model
#'   when `object` is a sequential model.
#' @family normalization layers
#' @family layers
#' @export
#' @examples
#' x <- array(rnorm(2 * 3 * 4), c(2, 3, 4))
#' y <- layer_layer_normalization(x)
#' round(apply(y, c(1, 2), mean), 6)     # 0 at every sample and timestep
#' model <- keras_model_sequential(input_shape = c(NA, 4)) |>
#'   layer_gru(8, return_sequences = TRUE) |>
#'   layer_layer_normalization() |>
#'   layer_gru(2)
layer_layer_normalization <- function(object, axis = -1, epsilon = 0.001,
                                      center = TRUE, scale = TRUE,
                                      rms_scaling = FALSE,
                                      beta_initializer = "zeros",
                                      gamma_initializer = "ones",
                                      beta_regularizer = NULL,
                                      gamma_regularizer = NULL,
                                      beta_constraint = NULL,
                                      gamma_constraint = NULL, ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), normalization_dots,
                           "layer_layer_normalization", call = call)
  axis <- check_axis(axis, several = TRUE, call = call)
  check_number(epsilon, min = 0, call = call)
  check_bool(center, call = call)
  check_bool(scale, call = call)
  check_bool(rms_scaling, call = call)
  config <- c(
    standard_config("layer_normalization", dots, call),
    list(axis = axis, epsilon = epsilon, center = center, scale = scale,
         rms_scaling = rms_scaling),
    normalization_weight_config(beta_initializer, gamma_initializer,
                                beta_regularizer, gamma_regularizer,
                                beta_constraint, gamma_constraint, call)
  )
  layer <- new_simple_layer("layer_normalization", config, dots, call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

#' Batch normalization
#'
#' keras3's `layer_batch_normalization()` (Ioffe and Szegedy, 2015):
#' normalizes every channel of `axis` (by default the features) with a
#' mean and variance, then scales by `gamma` and shifts by `beta`:
#' `(x - mean) / sqrt(variance + epsilon) * gamma + beta`.
#'
#' In training ([fit()][fit.gru_model], [train_on_batch()], a call with
#' `training = TRUE`) the mean and variance are the batch's, over every axis
#' but `axis` (the variance is the mean squared deviation), and each
#' training step updates the moving statistics as Keras 3 does:
#' `moving_mean <- moving_mean * momentum + mean * (1 - momentum)`, and
#' likewise `moving_variance`. Masked timesteps of a
#' `(batch, timesteps, features)` input do not count in the batch's
#' statistics (Keras divides by the number of kept values plus `1e-7`). In
#' inference ([predict()][predict.gru_model], [evaluate()], a plain call)
#' the layer uses the moving statistics. A layer that is not trainable
#' always uses them and never updates them, as in Keras. A mask passes
#' through unchanged.
#'
#' Weights, in `get_weights()` order: `gamma` (with `scale`), `beta` (with
#' `center`), `moving_mean` and `moving_variance`, each one value per
#' channel. The moving statistics are non-trainable: the optimizer leaves
#' them alone, `count_params()` counts them, [summary()][summary.gru_model]
#' lists them as non-trainable. [gradients()] returns their gradient too
#' (zero in training mode, where they do not enter the output). Computed in
#' float64.
#'
#' @inheritParams layer_layer_normalization
#' @param axis The channel axis, counted as R counts (1 is the batch axis)
#'   or from the end with negative numbers: `-1`, the default, is the last
#'   axis. Configs hold Keras' 0-based count.
#' @param momentum The momentum of the moving statistics.
#' @param moving_mean_initializer,moving_variance_initializer Initializers
#'   of the moving statistics (zeros and ones).
#' @param synchronized Accepted for keras3 (it synchronizes statistics
#'   across devices in TensorFlow's distributed training); gru trains on
#'   one device, where it changes nothing.
#' @returns A batch normalization layer (class `gru_layer`) when `object`
#'   is missing or `NULL`; its output when `object` is an array; the model
#'   when `object` is a sequential model.
#' @family normalization layers
#' @family layers
#' @export
#' @examples
#' set.seed(1)
#' x <- array(rnorm(16 * 5 * 3, mean = 2), c(16, 5, 3))
#' bn <- layer_batch_normalization(momentum = 0.9)
#' y <- bn(x, training = TRUE)            # batch statistics; updates the moving ones
#' round(apply(y, 3, mean), 6)
#' bn$get_weights()$moving_mean           # 0.1 of the way to the batch means
#' model <- keras_model_sequential(input_shape = c(5, 3)) |>
#'   layer_gru(8, return_sequences = TRUE) |>
#'   layer_batch_normalization() |>
#'   layer_gru(1)
#' summary(model)
layer_batch_normalization <- function(object, axis = -1, momentum = 0.99,
                                      epsilon = 0.001, center = TRUE,
                                      scale = TRUE, beta_initializer = "zeros",
                                      gamma_initializer = "ones",
                                      moving_mean_initializer = "zeros",
                                      moving_variance_initializer = "ones",
                                      beta_regularizer = NULL,
                                      gamma_regularizer = NULL,
                                      beta_constraint = NULL,
                                      gamma_constraint = NULL,
                                      synchronized = FALSE, ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), normalization_dots,
                           "layer_batch_normalization", call = call)
  axis <- check_axis(axis, call = call)
  check_number(momentum, call = call)
  check_number(epsilon, min = 0, call = call)
  check_bool(center, call = call)
  check_bool(scale, call = call)
  check_bool(synchronized, call = call)
  config <- c(
    standard_config("batch_normalization", dots, call),
    list(axis = axis, momentum = momentum, epsilon = epsilon, center = center,
         scale = scale),
    normalization_weight_config(beta_initializer, gamma_initializer,
                                beta_regularizer, gamma_regularizer,
                                beta_constraint, gamma_constraint, call),
    list(moving_mean_initializer = resolve_initializer(moving_mean_initializer, call = call),
         moving_variance_initializer = resolve_initializer(moving_variance_initializer, call = call),
         synchronized = synchronized)
  )
  config <- config[c("name", "trainable", "dtype", "axis", "momentum", "epsilon",
                     "center", "scale", "beta_initializer", "gamma_initializer",
                     "moving_mean_initializer", "moving_variance_initializer",
                     "beta_regularizer", "gamma_regularizer", "beta_constraint",
                     "gamma_constraint", "synchronized")]
  layer <- new_simple_layer("batch_normalization", config, dots, call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

normalization_dots <- dense_dots

normalization_weight_config <- function(beta_initializer, gamma_initializer,
                                        beta_regularizer, gamma_regularizer,
                                        beta_constraint, gamma_constraint, call) {
  list(
    beta_initializer = resolve_initializer(beta_initializer, call = call),
    gamma_initializer = resolve_initializer(gamma_initializer, call = call),
    beta_regularizer = resolve_regularizer(beta_regularizer, call = call),
    gamma_regularizer = resolve_regularizer(gamma_regularizer, call = call),
    beta_constraint = resolve_constraint(beta_constraint, call = call),
    gamma_constraint = resolve_constraint(gamma_constraint, call = call)
  )
}

# The positive axes `axis` names in an input of shape `shape`, sorted, or a
# string saying why it does not fit.
normalization_axes <- function(self, shape) {
  rank <- length(shape)
  if (rank < 2L) return("it needs input with a batch and a feature axis")
  axis <- self$config$axis
  k <- resolve_axis(axis, rank)
  if (anyNA(k)) {
    return(sprintf("its axis %s is out of range for an input with %d axes",
                   paste(axis, collapse = ", "), rank))
  }
  if (anyDuplicated(k)) return(sprintf("its axes %s name an axis twice", paste(axis, collapse = ", ")))
  sort(k)
}

normalization_output_shape <- function(self, shape) {
  k <- normalization_axes(self, shape)
  if (is.character(k)) return(k)
  have <- shape[k]
  if (self$built && all(!is.na(have)) && !identical(as.integer(have), as.integer(self$input_dim))) {
    return(sprintf("it was built for size %s on axis %s",
                   paste(self$input_dim, collapse = " x "),
                   paste(self$config$axis, collapse = ", ")))
  }
  shape
}

normalization_build_shape <- function(self, shape) {
  k <- normalization_axes(self, shape)
  if (!self$built && !is.character(k) && !anyNA(shape[k])) {
    normalization_build(self, as.integer(shape[k]))
  }
  invisible(self)
}

# Weights of one value per position of the normalized axes (`input_dim`,
# their sizes); batch normalization adds its moving statistics.
normalization_weight_shapes <- function(self, input_dim) {
  cfg <- self$config
  shape <- as.integer(input_dim)
  ln <- self$type == "layer_normalization"
  rms <- ln && isTRUE(cfg$rms_scaling)
  nms <- c(if (isTRUE(cfg$scale) || rms) "gamma",
             if (isTRUE(cfg$center) && !rms) "beta",
             if (!ln) c("moving_mean", "moving_variance"))
  stats::setNames(rep(list(shape), length(nms)), nms)
}

normalization_build <- function(self, input_dim) {
  cfg <- self$config
  shapes <- normalization_weight_shapes(self, input_dim)
  self$weights <- Map(function(shape, nm) {
    initialize_weight(cfg[[paste0(nm, "_initializer")]], shape)
  }, shapes, names(shapes))
  self$input_dim <- as.integer(input_dim)
  self$built <- TRUE
  invisible(self)
}

# The input as doubles with the sizes of `axis` known, the layer built for
# them; `k` the positive axes.
normalization_prepare <- function(self, inputs, call) {
  if (!(is.numeric(inputs) || is.logical(inputs)) || is.object(inputs) && !is.array(inputs)) {
    abort_gru(
      c("{.arg inputs} must be a numeric matrix or array, not {.obj_type_friendly {inputs}}."),
      class = "gru_error_input", call = call
    )
  }
  check_finite(inputs, arg = "inputs", call = call)
  d <- array_shape(inputs)
  k <- normalization_axes(self, d)
  if (!is.character(k) && !self$built) normalization_build(self, d[k])
  out <- normalization_output_shape(self, d)
  if (is.character(out) || is.character(k)) {
    abort_gru(
      c("Layer {.val {self$config$name}} cannot take {.arg inputs} of shape {format_shape(d)}: {if (is.character(k)) k else out}.",
        "i" = "Check {.arg axis} and the shape of the input."),
      class = "gru_error_shape", call = call
    )
  }
  list(x = array(as.numeric(inputs), d), d = d, k = k)
}

# `x` as a matrix whose columns run over the axes `k` (in their order,
# column-major) and rows over the others; and back.
axes_last_matrix <- function(x, k) {
  d <- dim(x)
  perm <- c(setdiff(seq_along(d), k), k)
  if (!identical(perm, seq_along(d))) x <- aperm(x, perm)
  matrix(x, ncol = prod(d[k]))
}

axes_last_restore <- function(m, d, k) {
  perm <- c(setdiff(seq_along(d), k), k)
  y <- array(m, d[perm])
  if (identical(perm, seq_along(d))) y else aperm(y, order(perm))
}

# A vector with one value per column, repeated down the rows of a matrix
# with `n` rows.
per_column <- function(v, n) rep(as.numeric(v), each = n)

# Layer normalization -----------------------------------------------------

layer_norm_train_forward <- function(self, inputs, mask = NULL, training = NULL,
                                     initial_state = NULL, call = rlang::caller_env()) {
  cfg <- self$config
  p <- normalization_prepare(self, inputs, call)
  x <- axes_last_matrix(p$x, p$k)
  n <- nrow(x)
  w <- self$weights
  xc <- x - rowMeans(x)
  inv <- 1 / sqrt(rowMeans(xc^2) + cfg$epsilon)
  gamma <- if (is.null(w$gamma)) 1 else per_column(w$gamma, n)
  if (isTRUE(cfg$rms_scaling)) {
    y <- x * inv * gamma
  } else {
    y <- xc * inv * gamma
    if (!is.null(w$beta)) y <- y + per_column(w$beta, n)
  }
  list(output = axes_last_restore(y, p$d, p$k), states = list(), mask = mask,
       cache = list(x = x, xc = xc, inv = inv, d = p$d, k = p$k))
}

layer_norm_forward <- function(self, inputs, mask = NULL, training = NULL,
                               initial_state = NULL, call = rlang::caller_env()) {
  res <- layer_norm_train_forward(self, inputs, mask = mask, call = call)
  res$cache <- NULL
  res
}

layer_norm_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                                call = rlang::caller_env()) {
  cfg <- self$config
  w <- self$weights
  g <- axes_last_matrix(array(as.numeric(grad_output), cache$d), cache$k)
  n <- nrow(g)
  m <- ncol(g)
  inv <- cache$inv
  h <- if (is.null(w$gamma)) g else g * per_column(w$gamma, n)
  grads <- list()
  if (isTRUE(cfg$rms_scaling)) {
    # y = x inv gamma, inv = (v + eps)^(-1/2), v = mean((x - mean(x))^2)
    if (!is.null(w$gamma)) grads$gamma <- colSums(g * cache$x * inv)
    dx <- h * inv - rowSums(h * cache$x) * inv^3 * cache$xc / m
  } else {
    xhat <- cache$xc * inv
    if (!is.null(w$gamma)) grads$gamma <- colSums(g * xhat)
    if (!is.null(w$beta)) grads$beta <- colSums(g)
    dx <- inv * (h - rowMeans(h) - xhat * rowMeans(h * xhat))
  }
  grads <- lapply(grads, function(v) array(v, self$input_dim))
  list(inputs = if (need_inputs) axes_last_restore(dx, cache$d, cache$k),
       weights = grads[names(w)])
}

# Batch normalization -----------------------------------------------------

# Keras' backend.epsilon(), which its masked moments add to the count.
keras_epsilon <- 1e-7

# Training (batch statistics, and the moving statistics' `updates`) or
# inference (the moving statistics). `weights` are the mask broadcast over
# the features, laid out as `x` (NULL: none).
batch_norm_train_forward <- function(self, inputs, mask = NULL, training = NULL,
                                     initial_state = NULL, call = rlang::caller_env()) {
  cfg <- self$config
  p <- normalization_prepare(self, inputs, call)
  if (!is.null(mask)) {
    if (length(p$d) != 3L) {
      abort_gru(
        c("A {.arg mask} was given, but {.arg inputs} has shape {format_shape(p$d)}, without a time axis.",
          "i" = "Masks belong to (batch, timesteps, features) inputs."),
        class = c("gru_error_mask", "gru_error_shape"), call = call
      )
    }
    mask <- check_mask(mask, p$d[1L], p$d[2L], call = call)
  }
  x <- axes_last_matrix(p$x, p$k)
  n <- nrow(x)
  w <- self$weights
  batch_stats <- isTRUE(training) && !isFALSE(cfg$trainable)
  weights <- NULL
  updates <- NULL
  if (batch_stats) {
    if (is.null(mask)) {
      count <- n
      mean <- colMeans(x)
      xc <- x - per_column(mean, n)
      variance <- colMeans(xc^2)
    } else {
      weights <- axes_last_matrix(array(rep_len(as.numeric(mask), length(p$x)), p$d), p$k)
      count <- colSums(weights) + keras_epsilon
      mean <- colSums(weights * x) / count
      xc <- x - per_column(mean, n)
      variance <- colSums(weights * xc^2) / count
    }
    mom <- cfg$momentum
    updates <- list(list(self = self, values = list(
      moving_mean = array(w$moving_mean * mom + mean * (1 - mom), self$input_dim),
      moving_variance = array(w$moving_variance * mom + variance * (1 - mom), self$input_dim)
    )))
  } else {
    xc <- x - per_column(w$moving_mean, n)
    variance <- as.numeric(w$moving_variance)
    count <- NULL
  }
  inv <- 1 / sqrt(variance + cfg$epsilon)
  y <- xc * per_column(inv * (if (is.null(w$gamma)) 1 else as.numeric(w$gamma)), n)
  if (!is.null(w$beta)) y <- y + per_column(w$beta, n)
  list(output = axes_last_restore(y, p$d, p$k), states = list(), mask = mask,
       updates = updates,
       cache = list(batch_stats = batch_stats, xc = xc, inv = inv,
                    weights = weights, count = count, d = p$d, k = p$k))
}

# A call in training mode updates the moving statistics at once, as
# Keras' layer(x, training = TRUE) does.
batch_norm_forward <- function(self, inputs, mask = NULL, training = NULL,
                               initial_state = NULL, call = rlang::caller_env()) {
  res <- batch_norm_train_forward(self, inputs, mask = mask, training = training,
                                  call = call)
  assign_state_updates(res$updates)
  res$cache <- NULL
  res$updates <- NULL
  res
}

# With batch statistics (for each channel c, with weights W = the mask or 1
# and N = their sum, plus 1e-7 with a mask):
#   mean = sum(W x) / N, var = sum(W (x - mean)^2) / N,
#   y = (x - mean) inv gamma + beta, inv = (var + eps)^(-1/2);
# the moving statistics do not enter y. With the moving statistics, y is
# linear in x and the moving statistics get their gradients.
batch_norm_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                                call = rlang::caller_env()) {
  w <- self$weights
  g <- axes_last_matrix(array(as.numeric(grad_output), cache$d), cache$k)
  n <- nrow(g)
  xc <- cache$xc
  inv <- cache$inv
  gamma <- if (is.null(w$gamma)) rep(1, ncol(g)) else as.numeric(w$gamma)
  h <- g * per_column(gamma, n)
  grads <- list(gamma = colSums(g * xc) * inv, beta = colSums(g))
  d_inv <- colSums(h * xc)
  d_var <- -0.5 * d_inv * inv^3
  dx <- NULL
  if (cache$batch_stats) {
    grads$moving_mean <- grads$moving_variance <- rep(0, ncol(g))
    if (need_inputs) {
      W <- cache$weights %||% 1
      N <- cache$count
      d_mean <- -colSums(h) * inv - 2 * d_var * colSums(W * xc) / N
      dx <- h * per_column(inv, n) + W * (per_column(2 * d_var / N, n) * xc +
                                            per_column(d_mean / N, n))
    }
  } else {
    grads$moving_mean <- -colSums(h) * inv
    grads$moving_variance <- d_var
    if (need_inputs) dx <- h * per_column(inv, n)
  }
  grads <- lapply(grads[names(w)], function(v) array(v, self$input_dim))
  list(inputs = if (need_inputs) axes_last_restore(dx, cache$d, cache$k),
       weights = grads)
}

# Types -------------------------------------------------------------------

normalization_format <- function(self) {
  cfg <- self$config
  head <- if (self$type == "layer_normalization") {
    sprintf("<layer normalization layer \"%s\"> axis %s, epsilon %s%s", cfg$name,
            paste(cfg$axis, collapse = ", "), format(cfg$epsilon),
            if (isTRUE(cfg$rms_scaling)) ", rms_scaling" else "")
  } else {
    sprintf("<batch normalization layer \"%s\"> axis %d, momentum %s, epsilon %s",
            cfg$name, cfg$axis, format(cfg$momentum), format(cfg$epsilon))
  }
  body <- if (self$built) {
    total <- layer_count_params(self, NULL)
    state <- total - layer_count_trainable_params(self)
    sprintf("  built for size %s: %s params%s", paste(self$input_dim, collapse = " x "),
            total, if (state > 0) sprintf(" (%d non-trainable)", state) else "")
  } else {
    "  not built (weights are created on the first call)"
  }
  c(head, body)
}

# The axes as Keras writes them: from 0, a single one as a number.
normalization_get_config <- function(self, cfg) {
  cfg$axis <- as.integer(axis_to_keras(cfg$axis))
  cfg
}

# A config's axis (Keras' count; Keras 2 writes BatchNormalization's as a
# list of one) as the constructor takes it, and Keras 3.14's batch
# renormalization keys, which gru accepts when renormalization is off.
normalization_from_config <- function(constructor, class_name) {
  force(constructor)
  force(class_name)
  function(config, call) {
    if (is.list(config$axis)) config$axis <- unlist(config$axis)
    if (is.numeric(config$axis)) config$axis <- axis_from_keras(config$axis)
    if (identical(class_name, "BatchNormalization")) {
      if (isTRUE(config$renorm)) {
        abort_gru(
          c("{.arg config} sets {.field renorm} to {.val TRUE}: gru has no batch renormalization.",
            "i" = "Only configs with {.code renorm = FALSE} can be read."),
          class = "gru_error_config", call = call
        )
      }
      config[c("renorm", "renorm_clipping", "renorm_momentum")] <- NULL
    }
    args <- config_args(config, constructor, extra = normalization_dots,
                        class_name = class_name, call = call)
    do.call(constructor, args)
  }
}

# set_weights() on an unbuilt layer reads the normalized axes' sizes from
# the first weight.
normalization_set_weights <- function(self, weights, call) {
  first <- if (is.list(weights) && length(weights)) weights[[1L]]
  input_dim <- if (!self$built && is.numeric(first)) dim(first) %||% length(first)
  default_set_weights(self, weights, call, input_dim = input_dim)
}

# The slots the two types share.
normalization_layer_type <- function(type, class_name, ...) {
  new_layer_type(
    type = type, class_name = class_name, ...,
    weight_shapes = normalization_weight_shapes,
    build = normalization_build,
    build_shape = normalization_build_shape,
    set_weights = normalization_set_weights,
    output_shape = normalization_output_shape,
    format = normalization_format,
    regularized = function(self) c(gamma = "gamma_regularizer", beta = "beta_regularizer"),
    constrained = function(self) c(gamma = "gamma_constraint", beta = "beta_constraint"),
    get_config = normalization_get_config
  )
}

register_layer_type(normalization_layer_type(
  type = "layer_normalization", class_name = "LayerNormalization",
  forward = layer_norm_forward,
  train_forward = layer_norm_train_forward,
  backward = layer_norm_backward,
  from_config = normalization_from_config(layer_layer_normalization, "LayerNormalization"),
  weight_layout_hint = function(self) {
    "LayerNormalization's weights are gamma and beta, each of the shape of the normalized axes."
  }
))

register_layer_type(normalization_layer_type(
  type = "batch_normalization", class_name = "BatchNormalization",
  forward = batch_norm_forward,
  train_forward = batch_norm_train_forward,
  backward = batch_norm_backward,
  non_trainable_weights = function(self) c("moving_mean", "moving_variance"),
  from_config = normalization_from_config(layer_batch_normalization, "BatchNormalization"),
  weight_layout_hint = function(self) {
    "BatchNormalization's weights are gamma, beta, moving_mean and moving_variance, one value per channel."
  }
))
