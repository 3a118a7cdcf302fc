#' @include layer-type.R layer-dense.R
NULL

#' Max and average pooling over windows of steps
#'
#' keras3's `layer_max_pooling_1d()` and `layer_average_pooling_1d()`: the
#' maximum or the mean of each channel over windows of `pool_size` steps,
#' `strides` apart, mapping `(batch, steps, channels)` to `(batch,
#' new_steps, channels)`. With `padding = "valid"` only whole windows count
#' (`floor((steps - pool_size) / strides) + 1` of them); with `"same"`
#' there are `ceiling(steps / strides)`, and the steps a window hangs over
#' the ends do not count (average pooling divides by the steps inside).
#'
#' As in Keras 3 these layers do not support masking: a mask stops here.
#'
#' @section Call arguments:
#' `layer(inputs)`: `inputs` a numeric 3-D array in `data_format`'s order.
#' `mask` is accepted and dropped; `training` changes nothing.
#'
#' @inheritParams layer_dense
#' @param pool_size Positive integer (or a list of one), the window length.
#' @param strides `NULL` (the default: `pool_size`) or a positive integer,
#'   the step between windows.
#' @param padding `"valid"` or `"same"` (case-insensitive).
#' @param data_format `NULL` or `"channels_last"` for `(batch, steps,
#'   channels)` input, `"channels_first"` for `(batch, channels, steps)`.
#' @param name The layer's name, or `NULL` for an automatic one.
#' @param ... `trainable`, `dtype`, `input_shape`, `batch_size` and
#'   `batch_input_shape`.
#' @returns A pooling layer (class `gru_layer`) when `object` is missing or
#'   `NULL`; its output when `object` is an array; the model when `object`
#'   is a sequential model.
#' @family layers
#' @export
#' @examples
#' x <- array(c(1, 5, 2, 8, 3, 4), c(1, 6, 1))
#' layer_max_pooling_1d(x, pool_size = 2)[1, , 1]           # 5 8 4
#' layer_average_pooling_1d(x, pool_size = 2)[1, , 1]       # 3 5 3.5
#' layer_max_pooling_1d(x, pool_size = 4, strides = 1)[1, , 1]
#' layer_average_pooling_1d(x, 4, strides = 2, padding = "same")[1, , 1]
layer_max_pooling_1d <- function(object, pool_size = 2L, strides = NULL,
                                 padding = "valid", data_format = NULL,
                                 name = NULL, ...) {
  call <- rlang::current_env()
  if (!missing(object)) {
    check_object_not_number(object, "pool_size", "layer_max_pooling_1d",
                            call = call)
  }
  layer <- new_pooling_1d("max_pooling1d", pool_size, strides, padding,
                          data_format, name, list(...), "layer_max_pooling_1d",
                          call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

#' @rdname layer_max_pooling_1d
#' @export
layer_average_pooling_1d <- function(object, pool_size, strides = NULL,
                                     padding = "valid", data_format = NULL,
                                     name = NULL, ...) {
  call <- rlang::current_env()
  if (missing(pool_size)) {
    if (!missing(object)) {
      check_object_not_number(object, "pool_size", "layer_average_pooling_1d",
                              call = call)
    }
    abort_gru(
      c("{.arg pool_size} is missing.",
        "i" = "For example {.code layer_average_pooling_1d(pool_size = 2)}."),
      class = "gru_error_input", call = call
    )
  }
  layer <- new_pooling_1d("average_pooling1d", pool_size, strides, padding,
                          data_format, name, list(...),
                          "layer_average_pooling_1d", call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

pooling_1d_dots <- setdiff(weightless_dots, "name")

# type is "max_pooling1d" or "average_pooling1d" (also the name prefix, as
# Keras names them).
new_pooling_1d <- function(type, pool_size, strides, padding, data_format,
                           name, dots, fn, call) {
  dots <- check_layer_dots(dots, pooling_1d_dots, fn, call = call)
  pool_size <- check_window_size(pool_size, call = call)
  strides <- if (is.null(strides)) pool_size else
    check_window_size(strides, call = call)
  padding <- check_padding(padding, c("valid", "same"), call = call)
  data_format <- check_data_format(data_format, call = call)
  dots$name <- name
  config <- c(
    standard_config(type, dots, call),
    list(pool_size = list(pool_size), padding = padding,
         strides = list(strides), data_format = data_format)
  )
  new_weightless_layer(type, config, dots, call)
}

# The step and channel axes of (batch, ., .) input.
pooling_axes <- function(cfg) {
  if (is_channels_first(cfg)) c(steps = 3L, channels = 2L) else
    c(steps = 2L, channels = 3L)
}

is_channels_first <- function(cfg) identical(cfg$data_format, "channels_first")

# A (batch, steps, channels) view of x: channels_first input transposed.
as_channels_last <- function(cfg, x) {
  if (is_channels_first(cfg)) aperm(x, c(1L, 3L, 2L)) else x
}

pooling_1d_geometry <- function(cfg, steps) {
  p <- as.integer(cfg$pool_size[[1L]])
  s <- as.integer(cfg$strides[[1L]])
  c(list(pool_size = p, stride = s), window_geometry(steps, p, s, cfg$padding))
}

pooling_1d_too_short <- function(cfg, steps) {
  g <- pooling_1d_geometry(cfg, steps)
  if (is.na(g$out_steps) || g$out_steps >= 1L) return(NULL)
  sprintf("its %d steps are fewer than pool_size %d with padding \"valid\"",
          as.integer(steps), g$pool_size)
}

pooling_1d_output_shape <- function(self, shape) {
  cfg <- self$config
  if (length(shape) != 3L) return("it needs 3-D input (batch, steps, channels)")
  ax <- pooling_axes(cfg)
  why <- pooling_1d_too_short(cfg, shape[ax[["steps"]]])
  if (!is.null(why)) return(why)
  steps <- ax[["steps"]]
  shape[steps] <- pooling_1d_geometry(cfg, shape[steps])$out_steps
  shape
}

# The input step window tap j reads for each output step (1-based, NA
# outside the input): one integer vector per tap.
pooling_1d_taps <- function(g, steps) {
  starts <- (seq_len(g$out_steps) - 1L) * g$stride - g$pad_left
  lapply(seq_len(g$pool_size), function(j) {
    t <- starts + j
    t[t < 1L | t > steps] <- NA_integer_
    t
  })
}

# Both pooling modes: for tap j, x[, taps[[j]], ] is the j-th step of every
# window; max keeps the first tap that attains the maximum (where backward
# sends the gradient), average divides by the taps inside the input.
pooling_1d_train_forward <- function(self, inputs, mask = NULL, training = NULL,
                                     initial_state = NULL,
                                     call = rlang::caller_env()) {
  cfg <- self$config
  check_sequence_input(inputs, arg = "inputs", call = call)
  x <- as_channels_last(cfg, inputs)
  d <- dim(x)
  why <- pooling_1d_too_short(cfg, d[2L])
  if (!is.null(why)) {
    abort_gru(
      c("Layer {.val {cfg$name}} cannot take {.arg inputs} of shape {format_shape(dim(inputs))}: {why}.",
        "i" = "Use a smaller {.arg pool_size} or {.code padding = \"same\"}."),
      class = "gru_error_shape", call = call
    )
  }
  g <- pooling_1d_geometry(cfg, d[2L])
  taps <- pooling_1d_taps(g, d[2L])
  is_max <- identical(self$type, "max_pooling1d")
  out <- array(if (is_max) -Inf else 0, c(d[1L], g$out_steps, d[3L]))
  arg <- if (is_max) array(0L, dim(out))
  count <- integer(g$out_steps)
  for (j in seq_along(taps)) {
    inside <- !is.na(taps[[j]])
    count <- count + inside
    v <- x[, taps[[j]][inside], , drop = FALSE]
    if (is_max) {
      cur <- out[, inside, , drop = FALSE]
      better <- v > cur
      cur[better] <- v[better]
      out[, inside, ] <- cur
      a <- arg[, inside, , drop = FALSE]
      a[better] <- j
      arg[, inside, ] <- a
    } else {
      out[, inside, ] <- out[, inside, , drop = FALSE] + v
    }
  }
  if (!is_max) out <- sweep(out, 2L, count, "/")
  list(output = as_channels_last(cfg, out), states = list(), mask = NULL,
       cache = list(dim = d, taps = taps, arg = arg, count = count))
}

pooling_1d_forward <- function(self, inputs, mask = NULL, training = NULL,
                               initial_state = NULL,
                               call = rlang::caller_env()) {
  res <- pooling_1d_train_forward(self, inputs, call = call)
  res$cache <- NULL
  res
}

# Within one tap the windows read distinct steps, so each tap's share adds
# to dx without collisions.
pooling_1d_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                                call = rlang::caller_env()) {
  if (!need_inputs) return(list(inputs = NULL, weights = list()))
  cfg <- self$config
  g <- as_channels_last(cfg, array(as.numeric(grad_output), dim(grad_output)))
  if (is.null(cache$arg)) g <- sweep(g, 2L, cache$count, "/")
  dx <- array(0, cache$dim)
  for (j in seq_along(cache$taps)) {
    inside <- !is.na(cache$taps[[j]])
    t <- cache$taps[[j]][inside]
    share <- g[, inside, , drop = FALSE]
    if (!is.null(cache$arg)) {
      share <- share * (cache$arg[, inside, , drop = FALSE] == j)
    }
    dx[, t, ] <- dx[, t, , drop = FALSE] + share
  }
  list(inputs = as_channels_last(cfg, dx), weights = list())
}

pooling_1d_format <- function(self) {
  cfg <- self$config
  sprintf("<%s layer \"%s\"> pool_size %d, strides %d, padding %s%s",
          self$type, cfg$name, as.integer(cfg$pool_size[[1L]]),
          as.integer(cfg$strides[[1L]]), cfg$padding,
          if (is_channels_first(cfg)) ", channels_first" else "")
}

# The slots MaxPooling1D and AveragePooling1D share (they differ only in
# what forward computes, which reads the type).
pooling_1d_slots <- list(
  forward = pooling_1d_forward,
  train_forward = pooling_1d_train_forward,
  backward = pooling_1d_backward,
  format = pooling_1d_format,
  output_shape = pooling_1d_output_shape,
  constructor_dots = pooling_1d_dots
)

# A type of a family of layers that share every slot but the constructor.
pooling_type <- function(type, class_name, constructor, slots) {
  do.call(new_layer_type, c(list(type = type, class_name = class_name,
                                 constructor = constructor), slots))
}

register_layer_type(pooling_type("max_pooling1d", "MaxPooling1D",
                                 layer_max_pooling_1d, pooling_1d_slots))
register_layer_type(pooling_type("average_pooling1d", "AveragePooling1D",
                                 layer_average_pooling_1d, pooling_1d_slots))

#' Average or maximum over all steps
#'
#' keras3's `layer_global_average_pooling_1d()` and
#' `layer_global_max_pooling_1d()`: the mean or the maximum of each channel
#' over the steps of a `(batch, steps, channels)` array, a `(batch,
#' channels)` matrix (`(batch, 1, channels)` with `keepdims = TRUE`).
#'
#' With a mask (from [layer_embedding()] with `mask_zero = TRUE` or
#' [layer_masking()]), global average pooling averages over the unmasked
#' steps only, as Keras does (a row with every step masked gives `NaN`, as
#' in Keras); global max pooling ignores the mask. Neither passes a mask on.
#' In training, global max pooling shares the gradient equally among steps
#' that tie for the maximum (as TensorFlow's and JAX's max reductions do).
#'
#' @section Call arguments:
#' `layer(inputs, mask = NULL)`: `inputs` a numeric 3-D array in
#' `data_format`'s order; `mask` `NULL` or a `(batch, steps)` logical matrix
#' (read by global average pooling only). `training` changes nothing.
#'
#' @inheritParams layer_max_pooling_1d
#' @param keepdims Whether to keep the step axis (of size 1).
#' @param ... `name`, `trainable`, `dtype`, `input_shape`, `batch_size` and
#'   `batch_input_shape`.
#' @returns A global pooling layer (class `gru_layer`) when `object` is
#'   missing or `NULL`; its output when `object` is an array; the model
#'   when `object` is a sequential model.
#' @family layers
#' @export
#' @examples
#' x <- array(c(1, 2, 3, 4, 5, 6), c(1, 3, 2))      # 3 steps, 2 channels
#' layer_global_average_pooling_1d(x)                # 2 5
#' layer_global_max_pooling_1d(x, keepdims = TRUE) |> dim()
#' # only the first two steps count
#' layer_global_average_pooling_1d()(x, mask = matrix(c(TRUE, TRUE, FALSE), 1))
layer_global_average_pooling_1d <- function(object, data_format = NULL,
                                            keepdims = FALSE, ...) {
  call <- rlang::current_env()
  layer <- new_global_pooling_1d("global_average_pooling1d", data_format,
                                 keepdims, list(...),
                                 "layer_global_average_pooling_1d", call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

#' @rdname layer_global_average_pooling_1d
#' @export
layer_global_max_pooling_1d <- function(object, data_format = NULL,
                                        keepdims = FALSE, ...) {
  call <- rlang::current_env()
  layer <- new_global_pooling_1d("global_max_pooling1d", data_format, keepdims,
                                 list(...), "layer_global_max_pooling_1d", call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

global_pooling_1d_dots <- weightless_dots

new_global_pooling_1d <- function(type, data_format, keepdims, dots, fn, call) {
  dots <- check_layer_dots(dots, global_pooling_1d_dots, fn, call = call)
  data_format <- check_data_format(data_format, call = call)
  check_bool(keepdims, call = call)
  config <- c(standard_config(type, dots, call),
              list(data_format = data_format, keepdims = keepdims))
  new_weightless_layer(type, config, dots, call)
}

global_pooling_1d_output_shape <- function(self, shape) {
  cfg <- self$config
  if (length(shape) != 3L) return("it needs 3-D input (batch, steps, channels)")
  ax <- pooling_axes(cfg)
  if (!isTRUE(cfg$keepdims)) return(shape[c(1L, ax[["channels"]])])
  shape[ax[["steps"]]] <- 1L
  shape
}

# The (batch, steps) weight of every step in the mean: 1 / steps, or the
# mask over its row's count of unmasked steps.
global_average_weights <- function(cfg, mask, d, call) {
  if (is.null(mask)) return(matrix(1 / d[2L], d[1L], d[2L]))
  if (!identical(as.integer(dim(mask)), as.integer(d[1:2]))) {
    abort_gru(
      c("{.arg mask} has shape {format_shape(dim(mask) %||% length(mask))}, but layer {.val {cfg$name}} needs (batch, steps) = {format_shape(d[1:2])}."),
      class = c("gru_error_mask", "gru_error_shape"), call = call
    )
  }
  m <- matrix(as.numeric(mask), d[1L], d[2L])
  m / rowSums(m)
}

# x: (batch, steps, channels); the sum over steps, (batch, channels).
sum_over_steps <- function(x) rowSums(aperm(x, c(1L, 3L, 2L)), dims = 2L)

# A (batch, channels) matrix repeated over the steps: a `d`-shaped array.
spread_over_steps <- function(m, d) {
  idx <- rep(seq_len(d[1L]), d[2L] * d[3L]) +
    d[1L] * rep(seq_len(d[3L]) - 1L, each = d[1L] * d[2L])
  array(as.numeric(m)[idx], d)
}

global_pooling_1d_train_forward <- function(self, inputs, mask = NULL,
                                            training = NULL,
                                            initial_state = NULL,
                                            call = rlang::caller_env()) {
  cfg <- self$config
  check_sequence_input(inputs, arg = "inputs", call = call)
  x <- as_channels_last(cfg, inputs)
  d <- dim(x)
  cache <- list(dim = d)
  if (identical(self$type, "global_average_pooling1d")) {
    w <- global_average_weights(cfg, mask, d, call)
    out <- sum_over_steps(x * as.vector(w))
    cache$weights <- w
  } else {
    out <- apply(x, c(1L, 3L), max)
    # Steps that tie for the maximum share its gradient equally.
    hit <- (x == spread_over_steps(out, d)) * 1
    cache$share <- hit / spread_over_steps(sum_over_steps(hit), d)
  }
  dim(out) <- if (!isTRUE(cfg$keepdims)) {
    c(d[1L], d[3L])
  } else if (is_channels_first(cfg)) {
    c(d[1L], d[3L], 1L)
  } else {
    c(d[1L], 1L, d[3L])
  }
  list(output = out, states = list(), mask = NULL, cache = cache)
}

global_pooling_1d_forward <- function(self, inputs, mask = NULL,
                                      training = NULL, initial_state = NULL,
                                      call = rlang::caller_env()) {
  res <- global_pooling_1d_train_forward(self, inputs, mask = mask, call = call)
  res$cache <- NULL
  res
}

global_pooling_1d_backward <- function(self, cache, grad_output,
                                       need_inputs = TRUE,
                                       call = rlang::caller_env()) {
  if (!need_inputs) return(list(inputs = NULL, weights = list()))
  d <- cache$dim
  g <- spread_over_steps(grad_output, d)
  dx <- if (!is.null(cache$weights)) g * as.vector(cache$weights) else
    g * cache$share
  list(inputs = as_channels_last(self$config, dx), weights = list())
}

global_pooling_1d_format <- function(self) {
  cfg <- self$config
  sprintf("<%s layer \"%s\">%s%s", self$type, cfg$name,
          if (isTRUE(cfg$keepdims)) " keepdims" else "",
          if (is_channels_first(cfg)) " channels_first" else "")
}

# The slots GlobalAveragePooling1D and GlobalMaxPooling1D share.
global_pooling_1d_slots <- list(
  forward = global_pooling_1d_forward,
  train_forward = global_pooling_1d_train_forward,
  backward = global_pooling_1d_backward,
  format = global_pooling_1d_format,
  output_shape = global_pooling_1d_output_shape,
  constructor_dots = global_pooling_1d_dots
)

register_layer_type(pooling_type(
  "global_average_pooling1d", "GlobalAveragePooling1D",
  layer_global_average_pooling_1d, global_pooling_1d_slots
))
register_layer_type(pooling_type(
  "global_max_pooling1d", "GlobalMaxPooling1D", layer_global_max_pooling_1d,
  global_pooling_1d_slots
))
