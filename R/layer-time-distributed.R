#' @include layer-type.R layer-reshaping.R
NULL

#' Apply a layer to every timestep
#'
#' keras3's `layer_time_distributed()`: applies `layer` to each slice
#' `x[, t, ...]` of a `(batch, timesteps, ...)` input independently, with
#' the same weights at every timestep, and stacks the results along the
#' time axis: `layer_time_distributed(layer_dense(units = 4))` maps
#' `(batch, timesteps, features)` to `(batch, timesteps, 4)`, and a GRU
#' inside maps `(batch, outer steps, inner steps, features)` to
#' `(batch, outer steps, units)`. The wrapped layer sees all timesteps at
#' once as a batch of `batch * timesteps` rows (a `(batch, timesteps, ...)`
#' R array already lies in that order), so it runs one call per call of the
#' wrapper.
#'
#' The wrapper holds `layer` itself (not a copy): its weights are the
#' layer's, and training updates them. A mask of shape `(batch, timesteps)`
#' passes through to the next layer, as in Keras; it is not given to the
#' wrapped layer.
#'
#' @section Call arguments:
#' `layer(inputs, mask = NULL, training = NULL)`; `training` is passed to
#' the wrapped layer.
#'
#' @param object What to compose the layer with: missing or `NULL` returns
#'   the layer; an array returns the layer applied to it; a sequential model
#'   returns the model with the layer appended. A layer given here with
#'   `layer` missing is taken as `layer`.
#' @param layer The layer to apply at every timestep: any gru layer with
#'   one input and one output, e.g. [layer_dense()] or [layer_gru()] (not
#'   stateful, no `return_state`).
#' @param ... `name`, `trainable`, `input_shape`, `batch_size` and
#'   `batch_input_shape`.
#' @returns A time-distributed layer (class `gru_layer`) when `object` is
#'   missing or `NULL`; its output when `object` is an array; the model when
#'   `object` is a sequential model.
#' @family layers
#' @export
#' @examples
#' x <- array(runif(2 * 5 * 3), c(2, 5, 3))
#' x |> layer_time_distributed(layer_dense(units = 4)) |> dim()
#'
#' # A GRU summarising each of 6 windows of 10 steps
#' w <- array(runif(2 * 6 * 10 * 3), c(2, 6, 10, 3))
#' w |> layer_time_distributed(layer_gru(units = 8)) |> dim()
#' keras_model_sequential(input_shape = c(6, 10, 3)) |>
#'   layer_time_distributed(layer_gru(units = 8)) |>
#'   layer_gru(4) |>
#'   layer_dense(1)
layer_time_distributed <- function(object, layer, ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), time_distributed_dots,
                           "layer_time_distributed", call = call)
  if (missing(layer) && !missing(object) && inherits(object, "gru_layer")) {
    # layer_time_distributed(layer_dense(...)): the layer given first.
    layer <- object
    object <- NULL
  }
  if (missing(layer)) {
    abort_gru(
      c("{.arg layer} is missing.",
        "i" = "For example {.code layer_time_distributed(layer = layer_dense(units = 4))}."),
      class = "gru_error_input", call = call
    )
  }
  check_distributable_layer(layer, call = call)
  name <- dots$name %||% unique_layer_name("time_distributed")
  check_string(name, arg = "name", call = call)
  trainable <- dots$trainable %||% TRUE
  check_bool(trainable, arg = "trainable", call = call)
  shape <- if (length(setdiff(names(dots), c("name", "trainable")))) {
    check_simple_shape(dots, call = call)
  }
  config <- list(name = name, trainable = trainable,
                 dtype = layer_self(layer)$config$dtype %||% "float32")
  if (!is.null(shape)) config$batch_input_shape <- shape
  td <- new_layer("time_distributed", config)
  self <- layer_self(td)
  self$layer <- layer
  if (!is.null(shape)) {
    out <- time_distributed_output_shape(self, shape)
    if (is.character(out)) {
      abort_gru(
        c("Layer {.val {name}} cannot take input of shape {format_shape(shape)}: {out}.",
          "i" = "Give {.arg input_shape} as {.code c(timesteps, ...)}, the shape of one sample."),
        class = "gru_error_shape", call = call
      )
    }
    time_distributed_build_shape(self, shape)
  }
  if (missing(object)) return(td)
  compose_layer(object, td, call = call)
}

time_distributed_dots <- c("name", "trainable", "input_shape", "batch_size",
                           "batch_input_shape")

check_distributable_layer <- function(layer, arg = rlang::caller_arg(layer),
                                      call = rlang::caller_env()) {
  check_not_cell(layer, arg = arg, call = call)
  if (!inherits(layer, "gru_layer")) {
    abort_gru(
      c("{.arg {arg}} must be a gru layer, such as {.code layer_dense(units = 4)}, not {.obj_type_friendly {layer}}."),
      class = "gru_error_input", call = call
    )
  }
  s <- layer_self(layer)
  m <- methods_of(s)
  if (m$n_inputs != "one" || m$n_outputs(s) != 1L) {
    abort_gru(
      c("{.arg {arg}} ({.val {layer$name}}) must take one input and return one output.",
        "i" = "Use {.code return_state = FALSE} (and a {.arg merge_mode} for bidirectional layers)."),
      class = "gru_error_input", call = call
    )
  }
  if (isTRUE(s$config$stateful)) {
    abort_gru(
      c("{.arg {arg}} ({.val {layer$name}}) is stateful, but inside {.fn layer_time_distributed} its batch is batch * timesteps rows.",
        "i" = "Use {.code stateful = FALSE}."),
      class = "gru_error_input", call = call
    )
  }
  invisible(layer)
}

# The shape one call of the wrapped layer sees: batch and timesteps merged
# into one axis (NA when either is unknown).
time_distributed_inner_shape <- function(shape) c(shape[1L] * shape[2L], shape[-(1:2)])

time_distributed_output_shape <- function(self, shape) {
  if (length(shape) < 3L) {
    return("it needs input with at least 3 axes (batch, timesteps, ...)")
  }
  inner_shape <- time_distributed_inner_shape(shape)
  inner <- layer_output_shape(self$layer, inner_shape)
  if (is.character(inner)) {
    return(sprintf("its layer \"%s\" cannot take each timestep, of shape %s: %s",
                   self$layer$name, format_shape(shape[-2L]), inner))
  }
  c(shape[1:2], inner[-1L])
}

time_distributed_build_shape <- function(self, shape) {
  if (length(shape) >= 3L) {
    layer_build_shape(self$layer, time_distributed_inner_shape(shape))
  }
}

# A column-major (batch, timesteps, ...) array is, unchanged, the
# (batch * timesteps, ...) array whose row b + batch * (t - 1) is x[b, t, ...]:
# the wrapped layer runs once on it, and its output folds back the same way.
# With `train = TRUE` the wrapped layer runs its training pass and the
# result also holds `cache` (and the wrapped layer's state `updates`).
time_distributed_forward <- function(self, inputs, mask = NULL, training = NULL,
                                     initial_state = NULL, call = rlang::caller_env(),
                                     train = FALSE) {
  if (!is.null(initial_state)) {
    abort_gru(
      c("Layer {.val {self$config$name}} does not take {.arg initial_state}.",
        "i" = "The wrapped layer starts from its own default state at every timestep."),
      class = "gru_error_input", call = call
    )
  }
  x <- layer_input_array(self, inputs, call)
  d <- dim(x)
  mask <- check_mask(mask, d[1L], d[2L], call = call)
  run <- if (train) layer_train_forward else layer_forward
  res <- run(self$layer, array(x, time_distributed_inner_shape(d)), mask = NULL,
             training = training, call = call)
  y <- res$output
  inner_dim <- dim(y) %||% length(y)
  list(output = array(y, c(d[1:2], inner_dim[-1L])), states = list(),
       mask = sequence_mask(mask, c(d[1:2], inner_dim[-1L])),
       cache = if (train) list(inner = res$cache, dim = d, inner_dim = inner_dim),
       updates = res$updates)
}

time_distributed_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                                      call = rlang::caller_env()) {
  g <- array(as.numeric(grad_output), cache$inner_dim)
  b <- layer_backward(self$layer, cache$inner, g, need_inputs = need_inputs, call = call)
  list(inputs = if (need_inputs) array(b$inputs, cache$dim), weights = b$weights)
}

time_distributed_from_config <- function(config, call) {
  args <- config_args(config, layer_time_distributed,
                      extra = c(time_distributed_dots, "dtype"),
                      class_name = "TimeDistributed", call = call)
  args$dtype <- NULL
  args$layer <- from_config(args$layer)
  do.call(layer_time_distributed, args)
}

register_layer_type(new_layer_type(
  type = "time_distributed", class_name = "TimeDistributed", container = TRUE,
  forward = time_distributed_forward,
  train_forward = function(self, ...) time_distributed_forward(self, ..., train = TRUE),
  backward = time_distributed_backward,
  format = function(self) {
    c(sprintf("<time_distributed layer \"%s\">", self$config$name),
      paste0("  ", format(self$layer)))
  },
  sublayers = function(self) list(self$layer),
  output_shape = time_distributed_output_shape,
  build_shape = time_distributed_build_shape,
  get_config = function(self, cfg) {
    out <- cfg[c("name", "trainable", "dtype")]
    if (!is.null(cfg$batch_input_shape)) out$batch_input_shape <- cfg$batch_input_shape
    out$layer <- nested_config(self$layer)
    out
  },
  from_config = time_distributed_from_config
))
