#' @include layer-type.R layer-dense.R
NULL

#' 1D convolution layer (temporal convolution)
#'
#' keras3's `layer_conv_1d()`: slides `filters` windows of `kernel_size`
#' steps along the time axis of a `(batch, steps, channels)` array and
#' returns `activation(conv1d(inputs, kernel) + bias)`, a
#' `(batch, new_steps, filters)` array. Output step `o` reads the input
#' steps `o * strides + k * dilation_rate - pad` for `k` in
#' `0:(kernel_size - 1)`, where the padding is none (`"valid"`), half the
#' total needed to keep `ceiling(steps / strides)` outputs (`"same"`, the
#' smaller half on the left, as TensorFlow and JAX pad), or
#' `dilation_rate * (kernel_size - 1)` zeros on the left (`"causal"`: output
#' `o` never sees a later step). The product runs in C++ on gru's matrix
#' kernels, in float32 or float64 (`dtype`).
#'
#' As in Keras 3 the layer does not support masking: a mask that reaches it
#' (from [layer_embedding()] with `mask_zero = TRUE` or [layer_masking()])
#' stops here, and the layers after it see none.
#'
#' @section Call arguments:
#' `layer(inputs)`: `inputs` a numeric `(batch, steps, channels)` array.
#' `mask` is accepted and dropped; `training` changes nothing.
#'
#' @inheritParams layer_dense
#' @param filters Positive integer, the number of output channels.
#' @param kernel_size Positive integer (or a list of one), the window length.
#' @param strides Positive integer (or a list of one), the step between
#'   windows. `strides > 1` cannot be combined with `dilation_rate > 1`.
#' @param padding `"valid"` (no padding), `"same"` or `"causal"`
#'   (case-insensitive).
#' @param data_format `NULL` or `"channels_last"` (`(batch, steps,
#'   channels)`); `"channels_first"` is not supported (a
#'   `gru_error_unsupported`).
#' @param dilation_rate Positive integer (or a list of one), the spacing of
#'   the window's taps.
#' @param groups 1: grouped convolutions are not supported.
#' @param kernel_initializer,bias_initializer Initializers for the kernel
#'   `(kernel_size, input_channels, filters)` and the bias `(filters)`.
#' @param ... `name`, `trainable`, `dtype` (`"float32"`, the default, or
#'   `"float64"`), `input_shape` (`c(steps, channels)`, steps may be `NA`),
#'   `batch_size`, `batch_input_shape` and `weights`.
#' @returns A Conv1D layer (class `gru_layer`) when `object` is missing or
#'   `NULL`; its output when `object` is an array; the model when `object`
#'   is a sequential model.
#' @family layers
#' @export
#' @examples
#' x <- array(runif(4 * 10 * 8), c(4, 10, 8))
#' x |> layer_conv_1d(16, 3, activation = "relu") |> dim()   # 4 8 16
#' x |> layer_conv_1d(16, 3, padding = "same") |> dim()      # 4 10 16
#' x |> layer_conv_1d(16, 2, strides = 2) |> dim()           # 4 5 16
#' conv <- layer_conv_1d(filters = 2, kernel_size = 3, padding = "causal",
#'                       dilation_rate = 2, input_shape = c(NA, 8))
#' dim(conv$get_weights()[[1]])                              # 3 8 2
layer_conv_1d <- function(object, filters, kernel_size, strides = 1L,
                          padding = "valid", data_format = NULL,
                          dilation_rate = 1L, groups = 1L, activation = NULL,
                          use_bias = TRUE,
                          kernel_initializer = "glorot_uniform",
                          bias_initializer = "zeros", kernel_regularizer = NULL,
                          bias_regularizer = NULL, activity_regularizer = NULL,
                          kernel_constraint = NULL, bias_constraint = NULL,
                          ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), conv1d_dots, "layer_conv_1d", call = call)
  if (missing(filters)) {
    if (!missing(object)) {
      check_object_not_number(object, "filters", "layer_conv_1d", call = call)
    }
    abort_gru(
      c("{.arg filters} is missing.",
        "i" = "For example {.code layer_conv_1d(filters = 32, kernel_size = 3)}."),
      class = "gru_error_input", call = call
    )
  }
  filters <- check_positive_whole(filters, call = call)
  if (missing(kernel_size)) {
    abort_gru(
      c("{.arg kernel_size} is missing.",
        "i" = "For example {.code layer_conv_1d(filters = {filters}, kernel_size = 3)}."),
      class = "gru_error_input", call = call
    )
  }
  kernel_size <- check_window_size(kernel_size, call = call)
  strides <- check_window_size(strides, call = call)
  dilation_rate <- check_window_size(dilation_rate, call = call)
  padding <- check_padding(padding, c("valid", "same", "causal"), call = call)
  data_format <- check_data_format(data_format, supported = "channels_last",
                                   call = call)
  groups <- check_positive_whole(groups, call = call)
  if (groups != 1L) {
    abort_gru(
      c("{.arg groups} = {groups} (a grouped convolution) is not supported; gru's Conv1D has {.code groups = 1}.",
        "i" = "Split the channels and use one {.fn layer_conv_1d} per group."),
      class = "gru_error_unsupported", call = call
    )
  }
  if (strides > 1L && dilation_rate > 1L) {
    abort_gru(
      c("{.code strides > 1} cannot be combined with {.code dilation_rate > 1}; got {.code strides = {strides}} and {.code dilation_rate = {dilation_rate}}.",
        "i" = "Set one of them to 1, as Keras requires."),
      class = "gru_error_input", call = call
    )
  }
  check_bool(use_bias, call = call)
  config <- c(
    standard_config("conv1d", dots, call),
    list(
      filters = filters,
      kernel_size = list(kernel_size),
      strides = list(strides),
      padding = padding,
      data_format = data_format,
      dilation_rate = list(dilation_rate),
      groups = groups,
      activation = check_dense_activation(activation, call),
      use_bias = use_bias
    ),
    kernel_bias_config(kernel_initializer, bias_initializer, kernel_regularizer,
                       bias_regularizer, activity_regularizer,
                       kernel_constraint, bias_constraint, call)
  )
  layer <- new_simple_layer("conv1d", config, dots, call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

conv1d_dots <- c("name", "trainable", "dtype", "input_shape", "batch_size",
                 "batch_input_shape", "weights")

# Shared argument checks of the 1-D window layers (conv and pooling) ---------

# `layer_x(3)`: the number meant as the first size argument, not `object`.
check_object_not_number <- function(object, arg, fn, call) {
  if (is.numeric(object) && is.null(dim(object)) && length(object) == 1L) {
    abort_gru(
      c("{.arg object} is the number {object}, not an input array or a model.",
        "i" = "Did you mean {.code {arg} = {object}}? Layer constructors take {.arg object} first so they pipe: {.code x |> {fn}({object})}."),
      class = "gru_error_input", call = call
    )
  }
  invisible(object)
}

# A window size, stride or dilation: a positive whole number, or a list or
# vector of one (Keras' 1-tuple, as get_config() writes it).
check_window_size <- function(x, arg = rlang::caller_arg(x),
                              call = rlang::caller_env()) {
  force(arg)
  if (is.list(x) && length(x) == 1L) x <- x[[1L]]
  ok <- is.numeric(x) && length(x) == 1L && !is.na(x) && is.finite(x) &&
    x >= 1 && x == trunc(x)
  if (!ok) {
    shown <- if (is.numeric(x) && length(x) >= 1L) {
      paste0(" (", paste(format(x), collapse = ", "), ")")
    } else {
      ""
    }
    abort_gru(
      c("{.arg {arg}} must be a positive whole number (or a list of one), not {.obj_type_friendly {x}}{shown}.",
        "i" = "For example {.code {arg} = 3}."),
      class = "gru_error_input", call = call
    )
  }
  as.integer(x)
}

check_padding <- function(x, choices, arg = rlang::caller_arg(x),
                          call = rlang::caller_env()) {
  force(arg)
  if (is.character(x) && length(x) == 1L && !is.na(x)) x <- tolower(x)
  check_choice(x, choices, arg = arg, call = call)
  x
}

# NULL means Keras' default, "channels_last".
check_data_format <- function(x,
                              supported = c("channels_last", "channels_first"),
                              arg = rlang::caller_arg(x),
                              call = rlang::caller_env()) {
  force(arg)
  if (is.null(x)) return("channels_last")
  if (is.character(x) && length(x) == 1L && !is.na(x)) x <- tolower(x)
  check_choice(x, c("channels_last", "channels_first"), arg = arg, call = call)
  if (!x %in% supported) {
    abort_gru(
      c("{.arg {arg}} = {.val {x}} is not supported here; this layer takes {.val {supported}} input.",
        "i" = "Transpose the input to (batch, steps, channels), e.g. {.code aperm(x, c(1, 3, 2))}."),
      class = "gru_error_unsupported", call = call
    )
  }
  x
}

# The output steps and left padding of a 1-D window of `span` steps
# (dilation * (size - 1) + 1) moved by `stride` (Keras' conv and pooling
# arithmetic; out_steps is NA for an unknown length and < 1 when "valid"
# leaves no window).
window_geometry <- function(steps, span, stride, padding) {
  if (is.na(steps)) {
    return(list(out_steps = NA_integer_, pad_left = NA_integer_))
  }
  steps <- as.integer(steps)
  out <- if (padding == "valid") (steps - span) %/% stride + 1L else
    (steps - 1L) %/% stride + 1L
  pad_left <- switch(
    padding,
    valid = 0L,
    causal = span - 1L,
    same = max((out - 1L) * stride + span - steps, 0L) %/% 2L
  )
  list(out_steps = as.integer(out), pad_left = as.integer(pad_left))
}

# Conv1D ------------------------------------------------------------------

# kernel_size, strides, dilation_rate as integers, and the window's span.
conv1d_geometry <- function(cfg) {
  k <- as.integer(cfg$kernel_size[[1L]])
  d <- as.integer(cfg$dilation_rate[[1L]])
  list(kernel_size = k, stride = as.integer(cfg$strides[[1L]]), dilation = d,
       span = d * (k - 1L) + 1L)
}

conv1d_weight_shapes <- function(self, input_dim) {
  cfg <- self$config
  k <- conv1d_geometry(cfg)$kernel_size
  shapes <- list(kernel = c(k, input_dim, cfg$filters))
  if (isTRUE(cfg$use_bias)) shapes$bias <- cfg$filters
  lapply(shapes, as.integer)
}

# Why an input of `steps` steps leaves no output step, or NULL.
conv1d_too_short <- function(cfg, steps) {
  g <- conv1d_geometry(cfg)
  out <- window_geometry(steps, g$span, g$stride, cfg$padding)$out_steps
  if (is.na(out) || out >= 1L) return(NULL)
  sprintf(paste("its %d steps are fewer than the %d a window spans",
                "(kernel_size %d, dilation_rate %d) with padding \"valid\""),
          as.integer(steps), g$span, g$kernel_size, g$dilation)
}

conv1d_output_shape <- function(self, shape) {
  cfg <- self$config
  if (length(shape) != 3L) return("it needs 3-D input (batch, steps, channels)")
  if (self$built && !is.na(shape[3L]) && shape[3L] != self$input_dim) {
    return(paste0("it was built for ", self$input_dim, " input channels"))
  }
  why <- conv1d_too_short(cfg, shape[2L])
  if (!is.null(why)) return(why)
  g <- conv1d_geometry(cfg)
  out <- window_geometry(shape[2L], g$span, g$stride, cfg$padding)$out_steps
  c(shape[1L], out, cfg$filters)
}

# The engine's description of one call (src/rcpp_conv.cpp, make_conv1d_spec).
conv1d_engine_spec <- function(cfg, d) {
  g <- conv1d_geometry(cfg)
  w <- window_geometry(d[2L], g$span, g$stride, cfg$padding)
  as.integer(c(d, cfg$filters, g$kernel_size, g$stride, g$dilation, w$pad_left,
               w$out_steps))
}

# The forward pass: list(output, pre, x, spec), `pre` (the values before
# the activation, for backward) only when `keep_pre`. Named activations run
# in the engine, in the layer's precision; softmax (over the filters) and R
# functions run here on the engine's linear output.
conv1d_run <- function(self, inputs, keep_pre, call) {
  cfg <- self$config
  check_sequence_input(inputs, arg = "inputs", call = call)
  d <- dim(inputs)
  if (!self$built) dense_build(self, d[3L])
  if (d[3L] != self$input_dim) {
    abort_gru(
      c("{.arg inputs} has {d[3L]} channel{?s} (its last dimension), but layer {.val {cfg$name}} was built for {self$input_dim}."),
      class = "gru_error_shape", call = call
    )
  }
  why <- conv1d_too_short(cfg, d[2L])
  if (!is.null(why)) {
    abort_gru(
      c("Layer {.val {cfg$name}} cannot take {.arg inputs} of shape {format_shape(d)}: {why}.",
        "i" = "Use longer sequences, a shorter kernel, or {.code padding = \"same\"}."),
      class = "gru_error_shape", call = call
    )
  }
  act <- cfg$activation
  in_r <- is.function(act) || identical(act, "softmax")
  x <- as_double_array(inputs)
  spec <- conv1d_engine_spec(cfg, d)
  res <- with_backend_errors(
    cpp_conv1d_forward(x, spec, self$weights$kernel, self$weights$bias,
                       activation_codes[[if (in_r) "linear" else act]],
                       keep_pre && !in_r, current_threads(),
                       identical(cfg$dtype, "float64")),
    "conv1d forward pass", call = call
  )
  if (in_r) {
    y <- apply_dense_activation(act, matrix(res, ncol = cfg$filters))
    dim(y) <- dim(res)
    return(list(output = y, pre = res, x = x, spec = spec))
  }
  if (!keep_pre) return(list(output = res))
  c(res, list(x = x, spec = spec))
}

conv1d_forward <- function(self, inputs, mask = NULL, training = NULL,
                           initial_state = NULL, call = rlang::caller_env()) {
  list(output = conv1d_run(self, inputs, FALSE, call)$output, states = list(),
       mask = NULL)
}

conv1d_train_forward <- function(self, inputs, mask = NULL, training = NULL,
                                 initial_state = NULL,
                                 call = rlang::caller_env()) {
  check_trainable_activation(self, call)
  run <- conv1d_run(self, inputs, TRUE, call)
  list(output = run$output, states = list(), mask = NULL, cache = run)
}

conv1d_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                            call = rlang::caller_env()) {
  cfg <- self$config
  act <- cfg$activation
  g <- matrix(as.numeric(grad_output), ncol = cfg$filters)
  y <- if (identical(act, "softmax")) matrix(cache$output, ncol = cfg$filters)
  dz <- activation_gradient(act, g, cache$pre, y)
  has_bias <- !is.null(self$weights$bias)
  b <- with_backend_errors(
    cpp_conv1d_backward(cache$x, cache$spec, self$weights$kernel,
                        as_double_array(dz), need_inputs, has_bias,
                        current_threads(),
                        identical(cfg$dtype, "float64")),
    "conv1d backward pass", call = call
  )
  weights <- list(kernel = b$kernel)
  if (has_bias) weights$bias <- b$bias
  list(inputs = b$inputs, weights = weights)
}

# An unbuilt layer reads its input channels from the kernel's middle axis.
conv1d_set_weights <- function(self, weights, call) {
  first <- if (length(weights)) weights[[1L]]
  if (!self$built && !(is.numeric(first) && length(dim(first)) == 3L)) {
    abort_gru(
      c("Layer {.val {self$config$name}} is not built and its input channels cannot be read from {.arg weights}.",
        "i" = "The first weight must be the kernel, a (kernel_size, input_channels, {self$config$filters}) array."),
      class = "gru_error_weights", call = call
    )
  }
  default_set_weights(self, weights, call,
                      input_dim = if (!self$built) dim(first)[2L])
}

conv1d_format <- function(self) {
  cfg <- self$config
  g <- conv1d_geometry(cfg)
  act <- if (is.function(cfg$activation)) "<function>" else cfg$activation
  head <- sprintf(
    paste("<conv1d layer \"%s\"> %d filters, kernel_size %d, strides %d,",
          "dilation_rate %d, padding %s, %s%s"),
    cfg$name, cfg$filters, g$kernel_size, g$stride, g$dilation, cfg$padding,
    act, if (isTRUE(cfg$use_bias)) "" else ", no bias"
  )
  built <- if (self$built) {
    sprintf("  built for %d input channels: %s params", self$input_dim,
            layer_count_params(self, NULL))
  } else {
    "  not built (weights are created on the first call)"
  }
  c(head, built)
}

register_layer_type(new_layer_type(
  type = "conv1d", class_name = "Conv1D",
  forward = conv1d_forward,
  train_forward = conv1d_train_forward,
  backward = conv1d_backward,
  weight_shapes = conv1d_weight_shapes,
  build = dense_build,
  build_shape = function(self, shape) {
    if (!self$built && length(shape) == 3L && !is.na(shape[3L])) {
      dense_build(self, shape[3L])
    }
  },
  set_weights = conv1d_set_weights,
  format = conv1d_format,
  regularized = function(self) {
    c(kernel = "kernel_regularizer", bias = "bias_regularizer")
  },
  constrained = function(self) {
    c(kernel = "kernel_constraint", bias = "bias_constraint")
  },
  output_shape = conv1d_output_shape,
  weight_layout_hint = function(self) {
    paste("Conv1D weights are the kernel (kernel_size, input_channels,",
          "filters) and the bias (filters), as in Keras.")
  },
  kernel_columns = function(self) self$config$filters,
  constructor = layer_conv_1d, constructor_dots = conv1d_dots
))
