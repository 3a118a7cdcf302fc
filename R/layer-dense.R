#' @include layer-type.R
NULL

#' Densely connected layer on the last axis
#'
#' keras3's `layer_dense()`: `activation(inputs %*% kernel + bias)` applied
#' to the last axis, so it maps a `(batch, features)` matrix to
#' `(batch, units)` and a `(batch, timesteps, features)` array to
#' `(batch, timesteps, units)`: a prediction head after a GRU. A mask passes
#' through unchanged. Computed in float64.
#'
#' @inheritParams layer_gru
#' @param units Positive integer, the output size.
#' @param activation `NULL` (linear), a name from [gru_activations()],
#'   `"softmax"` (over the last axis) or an R function.
#' @param kernel_initializer,bias_initializer Initializers for the kernel
#'   `(input_dim, units)` and the bias `(units)`.
#' @param kernel_regularizer,bias_regularizer Regularizers or `NULL`.
#' @param kernel_constraint,bias_constraint Constraints or `NULL`.
#' @param ... `name`, `trainable`, `dtype`, `input_shape`, `batch_size`,
#'   `batch_input_shape`, `input_dim` and `weights`.
#' @returns A dense layer (class `gru_layer`) when `object` is missing or
#'   `NULL`; its output when `object` is an array; the model when `object`
#'   is a sequential model.
#' @family layers
#' @export
#' @examples
#' x <- array(runif(2 * 5 * 3), c(2, 5, 3))
#' x |> layer_gru(8) |> layer_dense(1) |> dim()
#' x |> layer_dense(2, activation = "softmax") |> dim()
layer_dense <- function(object, units, activation = NULL, use_bias = TRUE,
                        kernel_initializer = "glorot_uniform",
                        bias_initializer = "zeros", kernel_regularizer = NULL,
                        bias_regularizer = NULL, activity_regularizer = NULL,
                        kernel_constraint = NULL, bias_constraint = NULL, ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), dense_dots, "layer_dense", call = call)
  if (missing(units)) {
    if (!missing(object) && is.numeric(object) && is.null(dim(object)) &&
        length(object) == 1L) {
      compose_layer(object, NULL, call = call)
    }
    abort_gru(
      c("{.arg units} is missing.", "i" = "For example {.code layer_dense(units = 1)}."),
      class = "gru_error_input", call = call
    )
  }
  units <- check_positive_whole(units, call = call)
  check_bool(use_bias, call = call)
  config <- c(
    standard_config("dense", dots, call),
    list(units = units, activation = check_dense_activation(activation, call),
         use_bias = use_bias),
    kernel_bias_config(kernel_initializer, bias_initializer, kernel_regularizer,
                       bias_regularizer, activity_regularizer,
                       kernel_constraint, bias_constraint, call)
  )
  layer <- new_simple_layer("dense", config, dots, call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

dense_dots <- c("name", "trainable", "dtype", "input_shape", "batch_size",
                "batch_input_shape", "input_dim", "weights")

# The activation as the config keeps it: a name (a gru_activations() name
# or "softmax", over the last axis) or an R function.
check_dense_activation <- function(activation, call) {
  if (is.function(activation) || identical(activation, "softmax")) {
    return(activation)
  }
  resolve_activation(activation, call = call)$name
}

# The config entries of a layer with a kernel and a bias (dense, conv1d),
# in Keras' order.
kernel_bias_config <- function(kernel_initializer, bias_initializer,
                               kernel_regularizer, bias_regularizer,
                               activity_regularizer, kernel_constraint,
                               bias_constraint, call) {
  list(
    kernel_initializer = resolve_initializer(kernel_initializer, call = call),
    bias_initializer = resolve_initializer(bias_initializer, call = call),
    kernel_regularizer = resolve_regularizer(kernel_regularizer, call = call),
    bias_regularizer = resolve_regularizer(bias_regularizer, call = call),
    activity_regularizer = resolve_regularizer(activity_regularizer,
                                               call = call),
    kernel_constraint = resolve_constraint(kernel_constraint, call = call),
    bias_constraint = resolve_constraint(bias_constraint, call = call)
  )
}

# name, trainable, dtype (and batch_input_shape when given) from `...`.
standard_config <- function(prefix, dots, call) {
  name <- dots$name %||% unique_layer_name(prefix)
  check_string(name, arg = "name", call = call)
  trainable <- dots$trainable %||% TRUE
  check_bool(trainable, arg = "trainable", call = call)
  dtype <- dots$dtype %||% "float32"
  check_choice(dtype, c("float32", "float64"), arg = "dtype", call = call)
  list(name = name, trainable = trainable, dtype = dtype)
}

# A layer of a non-recurrent type, built at once when its input size is
# known, with `weights` set when given.
new_simple_layer <- function(type, config, dots, call) {
  shape <- if (any(c("input_shape", "batch_input_shape", "input_dim", "batch_size") %in% names(dots))) {
    check_simple_shape(dots, call = call)
  }
  if (!is.null(shape)) config$batch_input_shape <- shape
  layer <- new_layer(type, config)
  self <- layer_self(layer)
  if (!is.null(shape)) {
    if (!is.na(shape[1L])) self$batch_size <- shape[1L]
    layer_build_shape(layer, shape)
  }
  if (!is.null(dots$weights)) layer_set_weights(self, dots$weights, call = call)
  layer
}

# A layer without weights (masking, dropout), built at once, and the `...`
# names such layers take.
new_weightless_layer <- function(type, config, dots, call) {
  layer <- new_simple_layer(type, config, dots, call)
  assign("built", TRUE, envir = layer_self(layer))
  layer
}

weightless_dots <- c("name", "trainable", "dtype", "input_shape", "batch_size",
                     "batch_input_shape")

# batch_input_shape of any rank (NA = unknown) from input_shape / batch_size /
# batch_input_shape / input_dim.
check_simple_shape <- function(dots, call) {
  bis <- shape_from_list(dots$batch_input_shape)
  if (is.null(bis) && !is.null(dots$input_shape)) {
    bis <- c(dots$batch_size %||% NA, shape_from_list(dots$input_shape))
  }
  if (is.null(bis) && !is.null(dots$input_dim)) bis <- c(dots$batch_size %||% NA, dots$input_dim)
  if (is.null(bis)) return(NULL)
  if (!(length(bis) >= 2L && is_batch_shape(bis))) {
    abort_gru(
      c("The input shape must be {.code input_shape = c(...)} of positive whole numbers (or {.code NA}); got ({paste(format(bis), collapse = ', ')})."),
      class = "gru_error_shape", call = call
    )
  }
  as.integer(bis)
}

dense_weight_shapes <- function(self, input_dim) {
  u <- self$config$units
  shapes <- list(kernel = c(input_dim, u))
  if (isTRUE(self$config$use_bias)) shapes$bias <- u
  lapply(shapes, as.integer)
}

# Creates the kernel and bias its type's weight_shapes() gives for
# `input_dim` (dense, conv1d) with the kernel_initializer / bias_initializer.
dense_build <- function(self, input_dim, call = NULL) {
  shapes <- methods_of(self)$weight_shapes(self, input_dim)
  self$weights <- build_weights(self, shapes, c(kernel = "kernel_initializer",
                                                bias = "bias_initializer"), call = call)
  self$input_dim <- as.integer(input_dim)
  self$built <- TRUE
  invisible(self)
}

dense_forward <- function(self, inputs, mask = NULL, training = NULL,
                          initial_state = NULL, call = rlang::caller_env()) {
  cfg <- self$config
  d <- dim(inputs)
  if (is.null(d) && is.numeric(inputs)) d <- c(1L, length(inputs))
  if (!(is.numeric(inputs) || is.logical(inputs)) || length(d) < 2L) {
    abort_gru(
      c("{.arg inputs} must be a numeric matrix or array, not {.obj_type_friendly {inputs}}."),
      class = "gru_error_input", call = call
    )
  }
  check_finite(inputs, arg = "inputs", call = call)
  n <- length(d)
  if (!self$built) dense_build(self, d[n], call = call)
  if (d[n] != self$input_dim) {
    abort_gru(
      c("{.arg inputs} has {d[n]} feature{?s} (its last dimension), but layer {.val {cfg$name}} was built for {self$input_dim}."),
      class = "gru_error_shape", call = call
    )
  }
  y <- matrix(as.numeric(inputs), ncol = d[n]) %*% self$weights$kernel
  if (!is.null(self$weights$bias)) y <- y + rep(self$weights$bias, each = nrow(y))
  y <- apply_dense_activation(cfg$activation, y, layer = cfg$name, call = call)
  list(output = array(y, c(d[-n], cfg$units)), states = list(),
       mask = if (n == 3L) mask)
}

# Rows of `y` are positions, columns the last axis. A user's function is
# checked (call_user_fn()) for the layer `layer`.
apply_dense_activation <- function(activation, y, layer = NULL, call = NULL) {
  if (is.function(activation)) {
    return(array(call_user_fn(activation, y, "activation", "activation", layer = layer,
                              call = call), dim(y)))
  }
  if (identical(activation, "softmax")) {
    e <- exp(y - apply(y, 1L, max))
    return(e / rowSums(e))
  }
  if (identical(activation, "linear")) return(y)
  activation_function(resolve_activation(activation))(y)
}

# dL/dz for y = activation(z) (as apply_dense_activation() computes it) from
# g = dL/dy; rows are positions, columns the last axis.
activation_gradient <- function(activation, g, z, y) {
  if (identical(activation, "softmax")) return(y * (g - rowSums(g * y)))
  if (identical(activation, "linear")) return(g)
  g * cpp_activation_derivative(as.numeric(z), resolve_activation(activation)$code)
}

# Only named activations have derivatives.
check_trainable_activation <- function(self, call) {
  if (is.function(self$config$activation)) {
    abort_gru(
      c("Layer {.val {self$config$name}} has an R function as an activation, so it cannot be trained.",
        "i" = "Use a named activation."),
      class = "gru_error_fit", call = call
    )
  }
}

dense_output_shape <- function(self, shape) {
  n <- length(shape)
  if (n < 2L) return("it needs input with a batch and a feature axis")
  if (self$built && !is.na(shape[n]) && shape[n] != self$input_dim) {
    return(paste0("it was built for ", self$input_dim, " input features"))
  }
  c(shape[-n], self$config$units)
}

dense_format <- function(self) {
  cfg <- self$config
  act <- if (is.function(cfg$activation)) "<function>" else cfg$activation
  head <- sprintf("<dense layer \"%s\"> %d units, %s%s", cfg$name, cfg$units,
                  act, if (isTRUE(cfg$use_bias)) "" else ", no bias")
  c(head, if (self$built) sprintf("  built for %d input features: %s params",
                                  self$input_dim, layer_count_params(self, NULL))
    else "  not built (weights are created on the first call)")
}

dense_train_forward <- function(self, inputs, mask = NULL,
                                              training = NULL, initial_state = NULL,
                                              call = rlang::caller_env()) {
  cfg <- self$config
  check_trainable_activation(self, call)
  d <- dim(inputs) %||% c(1L, length(inputs))
  n <- length(d)
  if (!self$built) dense_build(self, d[n], call = call)
  x <- matrix(as.numeric(inputs), ncol = d[n])
  z <- x %*% self$weights$kernel
  if (!is.null(self$weights$bias)) z <- z + rep(self$weights$bias, each = nrow(z))
  y <- apply_dense_activation(cfg$activation, z)
  list(output = array(y, c(d[-n], cfg$units)), states = list(),
       mask = if (n == 3L) mask, cache = list(x = x, z = z, y = y, dim = d))
}

dense_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                                         call = rlang::caller_env()) {
  g <- matrix(as.numeric(grad_output), ncol = self$config$units)
  dz <- activation_gradient(self$config$activation, g, cache$z, cache$y)
  weights <- list(kernel = crossprod(cache$x, dz))
  if (!is.null(self$weights$bias)) weights$bias <- colSums(dz)
  d <- cache$dim
  list(inputs = if (need_inputs) array(tcrossprod(dz, self$weights$kernel), d),
       weights = weights)
}

register_layer_type(new_layer_type(
  type = "dense", class_name = "Dense",
  forward = dense_forward,
  train_forward = dense_train_forward,
  backward = dense_backward,
  weight_shapes = dense_weight_shapes,
  build = dense_build,
  format = dense_format,
  regularized = function(self) c(kernel = "kernel_regularizer", bias = "bias_regularizer"),
  constrained = function(self) c(kernel = "kernel_constraint", bias = "bias_constraint"),
  output_shape = dense_output_shape,
  build_shape = function(self, shape) {
    n <- length(shape)
    if (!self$built && !is.na(shape[n])) dense_build(self, shape[n])
  },
  constructor = layer_dense, constructor_dots = dense_dots
))
