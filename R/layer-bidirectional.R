#' @include layer-type.R
NULL

#' Bidirectional wrapper for recurrent layers
#'
#' keras3's `layer_bidirectional()`: runs a forward copy of `layer` and a
#' backward copy (`go_backwards` flipped, or `backward_layer`), flips the
#' backward outputs back into time order when `return_sequences = TRUE`, and
#' merges the two. A mask applies to both directions. With `return_state`
#' the result is `list(output, forward_state(s)..., backward_state(s)...)`.
#'
#' The copies are made from `layer`'s config (with its weights when it is
#' built) and named `forward_<name>` and `backward_<name>`; weights are the
#' forward layer's followed by the backward layer's.
#'
#' @section Call arguments:
#' `layer(inputs, mask = NULL, training = NULL, initial_state = NULL)`, as
#' [layer_gru()]; `initial_state` is a list of the forward states followed
#' by the backward states.
#'
#' @param object What to compose the layer with: missing or `NULL` returns
#'   the layer; an array returns the layer applied to it; a sequential model
#'   returns the model with the layer appended. A recurrent layer given here
#'   with `layer` missing is taken as `layer`.
#' @param layer A recurrent layer: [layer_gru()] or [layer_rnn()].
#' @param merge_mode How the two directions combine: `"concat"` (along the
#'   last axis), `"sum"`, `"mul"`, `"ave"`, or `NULL` for a list of the two
#'   outputs.
#' @param weights `NULL` or a list of weights, as `get_weights()` returns.
#' @param backward_layer `NULL` or a recurrent layer to use as the backward
#'   direction; its `go_backwards` must differ from `layer`'s and its
#'   `return_sequences`, `return_state` and `stateful` match.
#' @param ... `name`, `trainable`, `input_shape`, `batch_size` and
#'   `batch_input_shape`.
#' @returns A bidirectional layer (class `gru_layer`) when `object` is
#'   missing or `NULL`; the layer's output when `object` is an array; the
#'   model when `object` is a sequential model.
#' @family layers
#' @export
#' @examples
#' x <- array(runif(2 * 5 * 3), c(2, 5, 3))
#' x |> layer_bidirectional(layer_gru(units = 4)) |> dim()
#'
#' bi <- layer_bidirectional(layer_gru(units = 4, return_sequences = TRUE),
#'                           merge_mode = "sum")
#' dim(bi(x))
#' bi
layer_bidirectional <- function(object, layer, merge_mode = "concat",
                                weights = NULL, backward_layer = NULL, ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), bidirectional_dots, "layer_bidirectional",
                           call = call)
  if (missing(layer) && !missing(object) && inherits(object, "gru_layer")) {
    # layer_bidirectional(layer_gru(...)): the layer given first.
    layer <- object
    object <- NULL
  }
  if (missing(layer)) {
    abort_gru(
      c("{.arg layer} is missing.", "i" = "For example {.code layer_bidirectional(layer = layer_gru(units = 8))}."),
      class = "gru_error_input", call = call
    )
  }
  check_recurrent_layer(layer, call = call)
  if (!is.null(merge_mode) &&
      !(is.character(merge_mode) && length(merge_mode) == 1L && merge_mode %in% merge_modes)) {
    abort_gru(
      c("{.arg merge_mode} must be `NULL` or one of {.or {.val {merge_modes}}}, not {.obj_type_friendly {merge_mode}}{if (is.character(merge_mode) && length(merge_mode) == 1L) paste0(' (\"', merge_mode, '\")')}.",
        "i" = "`NULL` returns the two directions' outputs as a list."),
      class = "gru_error_input", call = call
    )
  }
  if (!is.null(backward_layer)) {
    check_recurrent_layer(backward_layer, call = call)
    for (k in c("return_sequences", "return_state", "stateful")) {
      if (!identical(layer_self(layer)$config[[k]], layer_self(backward_layer)$config[[k]])) {
        abort_gru(
          c("{.arg backward_layer} must have the same {.field {k}} as {.arg layer}.",
            "i" = "{.arg layer} has {.code {k} = {layer_self(layer)$config[[k]]}}."),
          class = "gru_error_input", call = call
        )
      }
    }
    if (identical(layer$go_backwards, backward_layer$go_backwards)) {
      abort_gru(
        c("{.arg backward_layer} must have the opposite {.field go_backwards} of {.arg layer}.",
          "i" = "Create it with {.code go_backwards = {!isTRUE(layer$go_backwards)}}."),
        class = "gru_error_input", call = call
      )
    }
  }
  name <- dots$name %||% unique_layer_name(paste0("bidirectional"))
  check_string(name, arg = "name", call = call)
  trainable <- dots$trainable %||% TRUE
  check_bool(trainable, arg = "trainable", call = call)
  shape <- check_build_shape(dots, call = call)
  inner <- layer_self(layer)$config
  config <- list(
    name = name, trainable = trainable, dtype = inner$dtype,
    merge_mode = merge_mode,
    return_sequences = isTRUE(inner$return_sequences),
    return_state = isTRUE(inner$return_state),
    stateful = isTRUE(inner$stateful)
  )
  if (!is.null(shape$batch_input_shape)) {
    config$batch_input_shape <- shape$batch_input_shape
  }
  bi <- new_layer("bidirectional", config)
  self <- layer_self(bi)
  self$layer_config <- nested_config(layer)
  self$forward_layer <- clone_layer(layer, list(name = paste0("forward_", inner$name)))
  if (is.null(backward_layer)) {
    self$backward_layer <- clone_layer(
      layer, list(name = paste0("backward_", inner$name),
                  go_backwards = !isTRUE(inner$go_backwards)),
      weights = FALSE
    )
  } else {
    self$backward_layer_config <- nested_config(backward_layer)
    self$backward_layer <- clone_layer(
      backward_layer, list(name = paste0("backward_", backward_layer$name))
    )
  }
  bis <- config$batch_input_shape
  if (!is.null(bis)) bidirectional_build_shape(self, bis)
  if (!is.null(weights)) layer_set_weights(self, weights, call = call)
  if (missing(object)) return(bi)
  compose_layer(object, bi, call = call)
}

merge_modes <- c("concat", "sum", "mul", "ave")

#' @rdname layer_bidirectional
#' @export
bidirectional <- function(object, layer, merge_mode = "concat", weights = NULL,
                          backward_layer = NULL, ...) {
  call <- rlang::current_env()
  layer_bidirectional(object, layer, merge_mode = merge_mode, weights = weights,
                      backward_layer = backward_layer, ...)
}

bidirectional_dots <- c("name", "trainable", "input_shape", "batch_size",
                        "batch_input_shape")

check_not_cell <- function(layer, arg = rlang::caller_arg(layer),
                           call = rlang::caller_env()) {
  if (is_cell(layer)) {
    abort_gru(
      c("{.arg {arg}} is a cell ({.val {layer$name}}), but a layer is expected here.",
        "i" = "Wrap the cell in a layer first: {.code layer_rnn(cell = ...)}."),
      class = "gru_error_layer_kind", call = call
    )
  }
}

check_recurrent_layer <- function(layer, arg = rlang::caller_arg(layer),
                                  call = rlang::caller_env()) {
  check_not_cell(layer, arg = arg, call = call)
  if (!inherits(layer, "gru_layer") || !methods_of(layer_self(layer))$recurrent) {
    abort_gru(
      c("{.arg {arg}} must be a recurrent layer ({.fn layer_gru} or {.fn layer_rnn}), not {.obj_type_friendly {layer}}."),
      class = "gru_error_input", call = call
    )
  }
  invisible(layer)
}

# A new layer from `layer`'s config with `changes`, with `layer`'s weights
# when it is built and `weights` is TRUE.
clone_layer <- function(layer, changes = list(), weights = TRUE) {
  cfg <- get_config(layer)
  cfg[names(changes)] <- changes
  new <- from_config(cfg)
  if (weights && layer_is_built(layer_self(layer))) {
    layer_set_weights(layer_self(new), layer_get_weights(layer_self(layer)),
                      call = NULL)
  }
  new
}

bidirectional_layers <- function(self) list(self$forward_layer, self$backward_layer)

# With `train = TRUE` both directions run their training pass and the
# result also holds `cache` for bidirectional_backward().
bidirectional_forward <- function(self, inputs, mask = NULL, training = NULL,
                                  initial_state = NULL, call = rlang::caller_env(),
                                  train = FALSE) {
  cfg <- self$config
  fwd <- self$forward_layer
  bwd <- self$backward_layer
  init_f <- init_b <- NULL
  if (!is.null(initial_state)) {
    n_f <- length(layer_states_template(layer_self(fwd)))
    if (!is.list(initial_state) || length(initial_state) != 2L * n_f) {
      abort_gru(
        c("{.arg initial_state} must be a list of {2L * n_f} states: the forward layer's, then the backward layer's.",
          "i" = "Each state is a (batch, units) matrix."),
        class = "gru_error_shape", call = call
      )
    }
    init_f <- initial_state[seq_len(n_f)]
    init_b <- initial_state[n_f + seq_len(n_f)]
  }
  run <- if (train) layer_train_forward else layer_forward
  res_f <- run(fwd, inputs, mask = mask, training = training,
               initial_state = init_f, call = call)
  res_b <- run(bwd, inputs, mask = mask, training = training,
               initial_state = init_b, call = call)
  y <- res_f$output
  y_rev <- res_b$output
  if (isTRUE(cfg$return_sequences)) y_rev <- reverse_time(y_rev)
  output <- switch(
    cfg$merge_mode %||% "none",
    concat = bind_last(y, y_rev),
    sum = y + y_rev,
    mul = y * y_rev,
    ave = (y + y_rev) / 2,
    none = list(y, y_rev)
  )
  list(output = output, states = c(res_f$states, res_b$states),
       mask = if (isTRUE(cfg$return_sequences)) mask,
       multi_output = is.null(cfg$merge_mode),
       cache = if (train) list(forward = res_f$cache, backward = res_b$cache,
                               y = y, y_rev = y_rev))
}

# Splits dL/d(merged output) between the directions (the backward
# direction's share flipped back into its processing order when it returns
# sequences) and sums their input gradients.
bidirectional_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                                   call = rlang::caller_env()) {
  cfg <- self$config
  if (is.null(cfg$merge_mode)) {
    abort_gru(
      c("Layer {.val {cfg$name}} with {.code merge_mode = NULL} returns two outputs and cannot be trained in a sequential model.",
        "i" = "Use {.code merge_mode = \"concat\"} (or sum, mul, ave)."),
      class = "gru_error_fit", call = call
    )
  }
  g <- grad_output
  parts <- switch(
    cfg$merge_mode,
    concat = split_last(g, dim(cache$y)[length(dim(cache$y))]),
    sum = list(g, g),
    mul = list(g * cache$y_rev, g * cache$y),
    ave = list(g / 2, g / 2)
  )
  gb <- parts[[2L]]
  if (isTRUE(cfg$return_sequences)) gb <- reverse_time(gb)
  bf <- layer_backward(self$forward_layer, cache$forward, parts[[1L]],
                       need_inputs = need_inputs, call = call)
  bb <- layer_backward(self$backward_layer, cache$backward, gb,
                       need_inputs = need_inputs, call = call)
  list(inputs = if (need_inputs) bf$inputs + bb$inputs,
       weights = c(bf$weights, bb$weights))
}

# The first `n1` entries of the last axis, and the rest.
split_last <- function(g, n1) {
  d <- dim(g)
  n <- length(d)
  m <- matrix(g, ncol = d[n])
  list(array(m[, seq_len(n1), drop = FALSE], c(d[-n], n1)),
       array(m[, -seq_len(n1), drop = FALSE], c(d[-n], d[n] - n1)))
}

bidirectional_output_shape <- function(self, shape) {
  out <- layer_output_shape(self$forward_layer, shape)
  if (is.character(out)) return(out)
  n <- length(out)
  if (identical(self$config$merge_mode, "concat")) out[n] <- 2L * out[n]
  out
}

bidirectional_build_shape <- function(self, shape) {
  for (l in bidirectional_layers(self)) layer_build_shape(l, shape)
}

bidirectional_format <- function(self) {
  cfg <- self$config
  c(sprintf("<bidirectional layer \"%s\"> merge_mode = %s", cfg$name,
            if (is.null(cfg$merge_mode)) "NULL" else paste0('"', cfg$merge_mode, '"')),
    paste0("  ", format(self$forward_layer)),
    paste0("  ", format(self$backward_layer)))
}

bidirectional_from_config <- function(config, call) {
  args <- config_args(config, layer_bidirectional,
                      extra = c(bidirectional_dots, "dtype"),
                      class_name = "Bidirectional", call = call)
  args$dtype <- NULL
  args$layer <- nested_from_config(args$layer, "layer", call = call)
  if (!is.null(args$backward_layer)) {
    args$backward_layer <- nested_from_config(args$backward_layer, "backward_layer", call = call)
  }
  if (!"merge_mode" %in% names(args)) args["merge_mode"] <- list("concat")
  do.call(layer_bidirectional, args)
}

register_layer_type(new_layer_type(
  type = "bidirectional", class_name = "Bidirectional", container = TRUE,
  forward = bidirectional_forward,
  train_forward = function(self, ...) bidirectional_forward(self, ..., train = TRUE),
  backward = bidirectional_backward,
  format = bidirectional_format,
  sublayers = bidirectional_layers,
  n_outputs = function(self) {
    (if (is.null(self$config$merge_mode)) 2L else 1L) +
      if (isTRUE(self$config$return_state)) length(layer_states_template(layer_self(self$forward_layer))) * 2L else 0L
  },
  output_shape = bidirectional_output_shape,
  build_shape = bidirectional_build_shape,
  current_state = function(self) {
    if (!isTRUE(self$config$stateful)) return(NULL)
    c(layer_states(layer_self(self$forward_layer)),
      layer_states(layer_self(self$backward_layer)))
  },
  reset_state = function(self, states, call) {
    subs <- lapply(bidirectional_layers(self), layer_self)
    if (is.null(states)) {
      for (s in subs) layer_reset_state(s, NULL, call = call)
      return(invisible(self))
    }
    half <- length(states) %/% 2L
    layer_reset_state(subs[[1L]], states[seq_len(half)], call = call)
    layer_reset_state(subs[[2L]], states[half + seq_len(half)], call = call)
    invisible(self)
  },
  get_config = function(self, cfg) {
    out <- cfg[c("name", "trainable", "dtype", "merge_mode")]
    if (!is.null(cfg$batch_input_shape)) out$batch_input_shape <- cfg$batch_input_shape
    out$layer <- self$layer_config
    if (!is.null(self$backward_layer_config)) out$backward_layer <- self$backward_layer_config
    out
  },
  from_config = bidirectional_from_config
))
