#' @include layer-type.R layer-dense.R
NULL

# Keras' reshaping layers: Flatten, Reshape, Permute and RepeatVector.
#
# Keras reshapes in row-major (C) order: of a (batch, a, b) input, element
# [i, j, k] is entry j * b + k (0-based) of the flattened row. An R array is
# column-major (its first axis varies fastest), so an array is read in
# Keras' order by reversing its non-batch axes first (row_major_rows()), and
# written back from that order by building the reversed array and reversing
# again (from_row_major()). The batch axis is never moved.

# (batch, prod(rest)) matrix whose columns are in Keras' flat order.
row_major_rows <- function(x) {
  d <- dim(x)
  n <- length(d)
  if (n > 2L) x <- aperm(x, c(1L, n:2L))
  matrix(x, d[1L])
}

# The (batch, prod(shape)) matrix `m` of row-major rows as a
# c(batch, shape) array.
from_row_major <- function(m, shape) {
  k <- length(shape)
  a <- array(m, c(nrow(m), rev(shape)))
  if (k > 1L) a <- aperm(a, c(1L, (k + 1L):2L))
  a
}

# `x` (batch, ...) reshaped to (batch, shape) in Keras' row-major order.
reshape_row_major <- function(x, shape) from_row_major(row_major_rows(x), shape)

# The input of a layer that takes any numeric array (batch, ...) as a double
# array (a plain vector is one sample), after checking it fits the layer
# (its output_shape() slot).
layer_input_array <- function(self, inputs, call) {
  d <- dim(inputs)
  if (is.null(d)) d <- c(1L, length(inputs))
  if (!(is.numeric(inputs) || is.logical(inputs)) ||
      is.object(inputs) && !is.array(inputs)) {
    abort_gru(
      c("{.arg inputs} must be a numeric array (batch, ...), not {.obj_type_friendly {inputs}}."),
      class = "gru_error_input", call = call
    )
  }
  out <- methods_of(self)$output_shape(self, as.integer(d))
  if (is.character(out)) {
    abort_gru(
      c("Layer {.val {self$config$name}} cannot take an input of shape {format_shape(d)}: {out}.",
        "i" = "Shapes are (batch, ...); the first axis is the batch."),
      class = "gru_error_shape", call = call
    )
  }
  if (is.double(inputs) && identical(dim(inputs), d)) return(inputs)
  array(as.numeric(inputs), d)
}

# The mask a shape-keeping layer passes on: masks are (batch, timesteps), so
# they only go with outputs that have a time axis.
sequence_mask <- function(mask, d) if (length(d) >= 3L) mask

# The output_shape() slot of a layer that keeps its input's shape.
any_rank_shape <- function(self, shape) {
  if (length(shape) < 2L) return("it needs input with a batch and a feature axis")
  shape
}

# A required argument left out. When `object` is a lone number or a plain
# vector, the user most likely meant it as that argument (layer
# constructors take `object` first so that they pipe).
abort_missing_arg <- function(arg, fn, example, object, call) {
  if (!missing(object) && is.numeric(object) && is.null(dim(object))) {
    shown <- deparse1(object)
    what <- if (length(object) == 1L) "the number" else "the vector"
    abort_gru(
      c("{.arg object} is {what} {shown}, not an input array or a model.",
        "i" = "Did you mean {.code {arg} = {shown}}? Layer constructors take {.arg object} first so they pipe: {.code x |> {fn}({shown})}."),
      class = "gru_error_input", call = call
    )
  }
  abort_gru(
    c("{.arg {arg}} is missing.", "i" = "For example {.code {example}}."),
    class = "gru_error_input", call = call
  )
}

# A shape of whole numbers from a numeric vector or a list of numbers (and,
# with `unknown`, NULLs or NAs), as keras3 accepts one; NULL when it is not.
shape_values <- function(x, unknown = NA_integer_) {
  if (is.list(x)) {
    one <- function(v) is.null(v) || (length(v) == 1L && (is.numeric(v) || is.na(v)))
    ok <- vapply(x, one, logical(1))
    if (!all(ok)) return(NULL)
    x <- vapply(x, function(v) if (is.null(v)) NA_real_ else as.numeric(v), numeric(1))
  }
  if (is.logical(x) && length(x) && all(is.na(x))) x <- as.numeric(x)
  if (!is.numeric(x) || !length(x) || any(is.infinite(x)) ||
      any(!is.na(x) & x != trunc(x))) {
    return(NULL)
  }
  x[is.na(x)] <- unknown
  as.integer(x)
}

# The get_config() slot of a type whose config key `key` holds a shape: an
# integer vector in R, written as Keras writes a tuple (a list, so that JSON
# has an array even for one entry).
tuple_get_config <- function(key) {
  force(key)
  function(self, cfg) {
    cfg[[key]] <- as.list(as.integer(cfg[[key]]))
    cfg
  }
}

# " key (a, b)" for format().
tuple_text <- function(key) {
  force(key)
  function(cfg) paste0(" ", key, " (", paste(cfg[[key]], collapse = ", "), ")")
}

# The training pass's result without its cache: the forward pass of a layer
# whose two passes compute the same thing.
forward_without_cache <- function(train_forward) {
  force(train_forward)
  function(self, inputs, mask = NULL, training = NULL, initial_state = NULL,
           call = rlang::caller_env()) {
    res <- train_forward(self, inputs, mask = mask, training = training,
                         initial_state = initial_state, call = call)
    res$cache <- NULL
    res
  }
}

# The type of a weightless layer (reshaping, activation, noise): its forward
# pass is its training pass without the cache unless `forward` is given, and
# its config keys are its constructor's arguments and `weightless_dots`
# unless it has its own `from_config`.
new_weightless_type <- function(type, class_name, train_forward, ...) {
  slots <- list(...)
  slots$forward <- slots$forward %||% forward_without_cache(train_forward)
  if (is.null(slots$from_config)) slots$constructor_dots <- weightless_dots
  do.call(new_layer_type, c(list(type = type, class_name = class_name,
                                 train_forward = train_forward), slots))
}

# Flatten ---------------------------------------------------------------

#' Flatten each sample to a vector
#'
#' keras3's `layer_flatten()`: reshapes a `(batch, d1, ..., dk)` input to
#' `(batch, d1 * ... * dk)` in Keras' (row-major) order, so the last axis
#' varies fastest: entry `[b, i, j]` of a `(batch, n, m)` input lands in
#' column `(i - 1) * m + j`, as in Keras. A `(batch, n)` input is returned
#' as it is. With `data_format = "channels_first"` the input is taken as
#' `(batch, channels, ...)` and moved to channels-last before flattening.
#' A mask stops here, as in Keras (the time axis is gone).
#'
#' @inheritParams layer_gru
#' @param data_format `NULL` (`"channels_last"`), `"channels_last"` or
#'   `"channels_first"`.
#' @param ... `name`, `trainable`, `dtype`, `input_shape`, `batch_size` and
#'   `batch_input_shape`.
#' @returns A flatten layer (class `gru_layer`) when `object` is missing or
#'   `NULL`; its output when `object` is an array; the model when `object`
#'   is a sequential model.
#' @family reshaping layers
#' @family layers
#' @export
#' @examples
#' x <- array(1:24, c(2, 3, 4))
#' layer_flatten()(x)[1, ]        # x[1, 1, ], then x[1, 2, ], then x[1, 3, ]
#' keras_model_sequential(input_shape = c(5, 3)) |>
#'   layer_gru(4, return_sequences = TRUE) |>
#'   layer_flatten() |>
#'   layer_dense(1)
layer_flatten <- function(object, data_format = NULL, ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), weightless_dots, "layer_flatten", call = call)
  data_format <- data_format %||% "channels_last"
  check_choice(data_format, c("channels_last", "channels_first"), call = call)
  config <- c(standard_config("flatten", dots, call), list(data_format = data_format))
  layer <- new_weightless_layer("flatten", config, dots, call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

# The axis order that moves channels from axis 2 to the end.
channels_last_perm <- function(n) c(1L, seq_len(n)[-(1:2)], 2L)

flatten_output_shape <- function(self, shape) {
  rest <- shape[-1L]
  size <- if (length(rest) == 0L) 1L else if (anyNA(rest)) NA_integer_ else prod(rest)
  c(shape[1L], size)
}

flatten_train_forward <- function(self, inputs, mask = NULL, training = NULL,
                                  initial_state = NULL, call = rlang::caller_env()) {
  x <- layer_input_array(self, inputs, call)
  d <- dim(x)
  n <- length(d)
  if (n > 2L && identical(self$config$data_format, "channels_first")) {
    x <- aperm(x, channels_last_perm(n))
  }
  list(output = row_major_rows(x), states = list(), mask = NULL,
       cache = list(dim = d, moved = dim(x)))
}

flatten_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                             call = rlang::caller_env()) {
  if (!need_inputs) return(list(inputs = NULL, weights = list()))
  moved <- cache$moved
  g <- from_row_major(matrix(as.numeric(grad_output), moved[1L]), moved[-1L])
  n <- length(moved)
  if (n > 2L && identical(self$config$data_format, "channels_first")) {
    g <- aperm(g, order(channels_last_perm(n)))
  }
  list(inputs = array(g, cache$dim), weights = list())
}

# Reshape ---------------------------------------------------------------

#' Reshape each sample to a given shape
#'
#' keras3's `layer_reshape()`: reshapes a `(batch, ...)` input to
#' `(batch, target_shape)` in Keras' (row-major) order, the last axis
#' varying fastest, so that `layer_reshape(c(3, 4))` of a `(batch, 12)`
#' input puts columns 1 to 4 in row 1. One entry of `target_shape` may be
#' `-1` (or `NA`): it is inferred from the input's size. A mask stops here,
#' as in Keras.
#'
#' @inheritParams layer_gru
#' @param target_shape The shape of one sample, without the batch axis: a
#'   vector (or list) of positive whole numbers, at most one of them `-1`
#'   or `NA`.
#' @param ... `name`, `trainable`, `dtype`, `input_shape`, `batch_size` and
#'   `batch_input_shape`.
#' @returns A reshape layer (class `gru_layer`) when `object` is missing or
#'   `NULL`; its output when `object` is an array; the model when `object`
#'   is a sequential model.
#' @family reshaping layers
#' @family layers
#' @export
#' @examples
#' x <- matrix(1:24, 2, 12, byrow = TRUE)
#' layer_reshape(target_shape = c(3, 4))(x)[1, , ]
#' dim(layer_reshape(target_shape = c(-1, 2, 2))(x))
layer_reshape <- function(object, target_shape, ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), weightless_dots, "layer_reshape", call = call)
  if (missing(target_shape)) {
    abort_missing_arg("target_shape", "layer_reshape",
                      "layer_reshape(target_shape = c(3, 4))", object, call)
  }
  target_shape <- check_target_shape(target_shape, call = call)
  config <- c(standard_config("reshape", dots, call), list(target_shape = target_shape))
  layer <- new_weightless_layer("reshape", config, dots, call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

check_target_shape <- function(x, arg = rlang::caller_arg(x),
                               call = rlang::caller_env()) {
  v <- shape_values(x, unknown = -1L)
  if (is.null(v) || any(v < 1L & v != -1L) || sum(v == -1L) > 1L) {
    abort_gru(
      c("{.arg {arg}} must be positive whole numbers with at most one {.code -1} (or {.code NA}), not {.obj_type_friendly {x}}{if (is.numeric(x) && length(x)) paste0(' (', paste(format(x), collapse = ', '), ')')}.",
        "i" = "It is the shape of one sample without the batch axis, e.g. {.code target_shape = c(3, 4)} or {.code c(-1, 4)}."),
      class = "gru_error_input", call = call
    )
  }
  v
}

# The output shape of a sample of shape `rest` reshaped to `target` (its -1
# resolved; NA where unknown), or a string saying why it cannot be.
resolve_target_shape <- function(target, rest) {
  free <- target == -1L
  if (anyNA(rest)) {
    target[free] <- NA_integer_
    return(target)
  }
  size <- prod(rest)
  known <- prod(target[!free])
  shown <- paste0("(", paste(target, collapse = ", "), ")")
  if (!any(free) && size != known) {
    return(sprintf(paste("the total size must be unchanged, but a sample has %s",
                         "values and target_shape %s has %s"),
                   format(size), shown, format(known)))
  }
  if (any(free)) {
    if (size %% known != 0) {
      return(sprintf("a sample's %s values cannot be divided into target_shape %s",
                     format(size), shown))
    }
    target[free] <- as.integer(size %/% known)
  }
  target
}

reshape_output_shape <- function(self, shape) {
  out <- resolve_target_shape(self$config$target_shape, shape[-1L])
  if (is.character(out)) return(out)
  c(shape[1L], out)
}

reshape_train_forward <- function(self, inputs, mask = NULL, training = NULL,
                                  initial_state = NULL, call = rlang::caller_env()) {
  x <- layer_input_array(self, inputs, call)
  d <- dim(x)
  out <- resolve_target_shape(self$config$target_shape, d[-1L])
  list(output = reshape_row_major(x, out), states = list(), mask = NULL,
       cache = list(dim = d))
}

reshape_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                             call = rlang::caller_env()) {
  d <- cache$dim
  list(inputs = if (need_inputs) reshape_row_major(grad_output, d[-1L]),
       weights = list())
}

# Permute ---------------------------------------------------------------

#' Permute the axes of each sample
#'
#' keras3's `layer_permute()`: reorders the non-batch axes of its input.
#' `dims` counts them from 1 (the batch axis is not counted and never
#' moves), so `layer_permute(c(2, 1))` turns `(batch, timesteps, features)`
#' into `(batch, features, timesteps)`: output axis `k + 1` is input axis
#' `dims[k] + 1`, as `aperm(x, c(1, dims + 1))`. A mask stops here, as in
#' Keras.
#'
#' @inheritParams layer_gru
#' @param dims A permutation of `1:k` for inputs with `k` non-batch axes
#'   (a vector or a list).
#' @param ... `name`, `trainable`, `dtype`, `input_shape`, `batch_size` and
#'   `batch_input_shape`.
#' @returns A permute layer (class `gru_layer`) when `object` is missing or
#'   `NULL`; its output when `object` is an array; the model when `object`
#'   is a sequential model.
#' @family reshaping layers
#' @family layers
#' @export
#' @examples
#' x <- array(runif(2 * 5 * 3), c(2, 5, 3))
#' dim(layer_permute(dims = c(2, 1))(x))
layer_permute <- function(object, dims, ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), weightless_dots, "layer_permute", call = call)
  if (missing(dims)) {
    abort_missing_arg("dims", "layer_permute", "layer_permute(dims = c(2, 1))",
                      object, call)
  }
  v <- shape_values(dims, unknown = 0L)
  if (is.null(v) || !identical(sort(v), seq_along(v))) {
    abort_gru(
      c("{.arg dims} must be a permutation of {.code 1:k}, not {.obj_type_friendly {dims}}{if (is.numeric(dims) && length(dims)) paste0(' (', paste(format(dims), collapse = ', '), ')')}.",
        "i" = "The set of indices in {.arg dims} must be consecutive and start from 1 (the batch axis is not counted), e.g. {.code dims = c(2, 1)}."),
      class = "gru_error_input", call = call
    )
  }
  config <- c(standard_config("permute", dots, call), list(dims = v))
  layer <- new_weightless_layer("permute", config, dots, call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

permute_output_shape <- function(self, shape) {
  dims <- self$config$dims
  if (length(shape) != length(dims) + 1L) {
    return(sprintf("its dims (%s) need input with %d axes (batch and %d more)",
                   paste(dims, collapse = ", "), length(dims) + 1L, length(dims)))
  }
  shape[c(1L, dims + 1L)]
}

permute_train_forward <- function(self, inputs, mask = NULL, training = NULL,
                                  initial_state = NULL, call = rlang::caller_env()) {
  x <- layer_input_array(self, inputs, call)
  list(output = aperm(x, c(1L, self$config$dims + 1L)), states = list(),
       mask = NULL, cache = list())
}

permute_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                             call = rlang::caller_env()) {
  perm <- c(1L, self$config$dims + 1L)
  list(inputs = if (need_inputs) aperm(grad_output, order(perm)), weights = list())
}

# RepeatVector ----------------------------------------------------------

#' Repeat each sample `n` times along a new time axis
#'
#' keras3's `layer_repeat_vector()`: turns a `(batch, features)` matrix into
#' a `(batch, n, features)` array whose every timestep is the input row,
#' e.g. to feed an encoder's last output to a decoder GRU at every step.
#'
#' @inheritParams layer_gru
#' @param n Positive whole number, the number of repetitions.
#' @param ... `name`, `trainable`, `dtype`, `input_shape`, `batch_size` and
#'   `batch_input_shape`.
#' @returns A repeat-vector layer (class `gru_layer`) when `object` is
#'   missing or `NULL`; its output when `object` is an array; the model when
#'   `object` is a sequential model.
#' @family reshaping layers
#' @family layers
#' @export
#' @examples
#' x <- matrix(1:6, 2, 3)
#' layer_repeat_vector(n = 4)(x)[1, , ]
#' keras_model_sequential(input_shape = c(10, 3)) |>
#'   layer_gru(8) |>
#'   layer_repeat_vector(5) |>
#'   layer_gru(8, return_sequences = TRUE)
layer_repeat_vector <- function(object, n, ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), weightless_dots, "layer_repeat_vector", call = call)
  if (missing(n)) {
    abort_missing_arg("n", "layer_repeat_vector", "layer_repeat_vector(n = 3)",
                      object, call)
  }
  n <- check_positive_whole(n, call = call)
  config <- c(standard_config("repeat_vector", dots, call), list(n = n))
  layer <- new_weightless_layer("repeat_vector", config, dots, call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

repeat_vector_output_shape <- function(self, shape) {
  if (length(shape) != 2L) return("it needs 2-D input (batch, features)")
  c(shape[1L], self$config$n, shape[2L])
}

repeat_vector_train_forward <- function(self, inputs, mask = NULL, training = NULL,
                                        initial_state = NULL,
                                        call = rlang::caller_env()) {
  x <- layer_input_array(self, inputs, call)
  d <- dim(x)
  n <- self$config$n
  # Column-major (batch, n, features): each input column repeated n times.
  y <- x[, rep(seq_len(d[2L]), each = n), drop = FALSE]
  list(output = array(y, c(d[1L], n, d[2L])), states = list(), mask = NULL,
       cache = list())
}

repeat_vector_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                                   call = rlang::caller_env()) {
  list(inputs = if (need_inputs) rowSums(aperm(grad_output, c(1L, 3L, 2L)), dims = 2L),
       weights = list())
}

# One line: the layer's class, name and what sets it apart.
reshaping_format <- function(what) {
  force(what)
  function(self) {
    sprintf("<%s layer \"%s\">%s", self$type, self$config$name,
            what(self$config))
  }
}

register_layer_type(new_weightless_type(
  "flatten", "Flatten", flatten_train_forward,
  backward = flatten_backward,
  format = reshaping_format(function(cfg) {
    if (identical(cfg$data_format, "channels_first")) " channels_first" else ""
  }),
  output_shape = flatten_output_shape,
  constructor = layer_flatten
))

register_layer_type(new_weightless_type(
  "reshape", "Reshape", reshape_train_forward,
  backward = reshape_backward,
  format = reshaping_format(tuple_text("target_shape")),
  output_shape = reshape_output_shape,
  get_config = tuple_get_config("target_shape"),
  constructor = layer_reshape
))

register_layer_type(new_weightless_type(
  "permute", "Permute", permute_train_forward,
  backward = permute_backward,
  format = reshaping_format(tuple_text("dims")),
  output_shape = permute_output_shape,
  get_config = tuple_get_config("dims"),
  constructor = layer_permute
))

register_layer_type(new_weightless_type(
  "repeat_vector", "RepeatVector", repeat_vector_train_forward,
  backward = repeat_vector_backward,
  format = reshaping_format(function(cfg) paste0(" n = ", cfg$n)),
  output_shape = repeat_vector_output_shape,
  constructor = layer_repeat_vector
))
