#' @include config.R
NULL

# The layer-type protocol. Every kind of layer or cell gru has is one
# `new_layer_type()` value, registered under its Keras class name by the
# file that defines it (R/layer-<type>.R holds the type's whole definition:
# constructor, forward, training pass, config). Generic code (R/layer.R,
# the graph executor in R/model-graph.R, training) calls the slots and never
# names a type; a type says what it is through its slots, not its name.
#
# Slots (every method takes the layer's `self` environment first):
#
#   type          internal id: the S3 class "gru_layer_<type>" and the key
#                 saved objects carry in self$type
#   class_name    Keras' class name: the key of from_config() and of
#                 get_config()'s "class_name"
#   kind          "layer", "cell" (a one-step cell run by layer_rnn()), or
#                 "model" (a model class: only from_config)
#   forward(self, inputs, mask, training, initial_state, call)
#                 list(output, states, mask[, multi_output]); a layer with
#                 `n_inputs = "many"` receives a list of arrays and a list
#                 of masks
#   train_forward(self, inputs, mask, training, initial_state, call)
#                 as forward, plus `cache`: what backward needs (default:
#                 the layer cannot be trained, a gru_error_fit), and
#                 optionally `updates`: new values of non-trainable
#                 weights (batch normalization's moving statistics), a
#                 list of list(self = the layer's self, values = named
#                 list) that containers pass on from their sublayers. The
#                 executor does not assign them: a training step (fit(),
#                 train_on_batch()) assigns them with the optimizer's
#                 update, gradients() discards them. (A plain forward call
#                 in training mode updates its state itself, as Keras'
#                 layer(x, training = TRUE) does.)
#   backward(self, cache, grad_output, need_inputs, call, grad_states)
#                 list(inputs = dL/d(inputs) (a list for "many" inputs) or
#                 NULL, weights = gradients in get_weights() order,
#                 initial_state = dL/d(initial states) or NULL);
#                 `grad_states` are the gradients of the state outputs
#                 (NULL: none), for types with `state_gradients = TRUE`
#   step(self, inputs, states, training, call)   cells only
#   output_shape(self, shape)   the output shape (NA = unknown) for an input
#                 shape, or a string saying why that input does not fit
#   format(self)  the lines print() shows
#   weight_shapes(self, input_dim)   named list of weight shapes
#   build(self, input_dim), build_shape(self, shape)   create weights
#   regularized(self), constrained(self)   c(weight = "config key")
#   non_trainable_weights(self)   names of the weights that are state, not
#                 parameters (batch normalization's moving statistics):
#                 the optimizer skips them, count_params() counts them and
#                 summary() reports them as non-trainable (default none);
#                 backward() still returns a gradient (or zeros) for them
#   get_config(self, cfg)   adjusts the serialized config (default: as is)
#   from_config(config, call)   builds the layer from a config; given
#                 `constructor` (and `constructor_dots`), the default passes
#                 the config's keys as the constructor's arguments
#   sublayers(self)   the layers or cells a container holds (default none);
#                 containers (`container = TRUE`) take their weights,
#                 built-ness and set_weights() from them
#   get_weights, set_weights, is_built, current_state, reset_state
#                 overrides of the defaults below
#   n_outputs(self)   how many outputs a call returns (default 1, plus one
#                 per state with return_state)
#   n_inputs      "one" or "many" (merge layers)
#   recurrent     TRUE for layers that run a whole sequence and can be
#                 wrapped by layer_bidirectional()
#   engine_cell   TRUE for a cell the C++ engine runs (the GRU cell)
#   state_gradients   TRUE when backward() takes `grad_states`
#   gradients     the GRU's layer_gradients() method
#   weight_layout_hint(self), kernel_columns(self)   for error messages

layer_type_slots <- c(
  "type", "class_name", "kind", "forward", "train_forward", "backward", "step",
  "output_shape", "format", "weight_shapes", "build", "build_shape",
  "regularized", "constrained", "non_trainable_weights", "get_config", "from_config", "constructor",
  "constructor_dots", "sublayers", "container", "get_weights", "set_weights",
  "is_built", "current_state", "reset_state", "n_outputs", "n_inputs",
  "recurrent", "engine_cell", "state_gradients", "gradients",
  "weight_layout_hint", "kernel_columns"
)

# Every registered type, by internal id; and the ids by Keras class name.
layer_types <- new.env(parent = emptyenv())
layer_type_ids <- new.env(parent = emptyenv())

new_layer_type <- function(type, class_name, ...) {
  slots <- list(...)
  unknown <- setdiff(names(slots), layer_type_slots)
  if (length(unknown) || is.null(names(slots)) && length(slots)) {
    stop("Unknown layer-type slot(s): ", paste(unknown, collapse = ", "),
         call. = FALSE)
  }
  t <- list(type = type, class_name = class_name)
  t$kind <- slots$kind %||% "layer"
  stopifnot(is.character(type), length(type) == 1L,
            is.character(class_name), length(class_name) == 1L,
            t$kind %in% c("layer", "cell", "model"))
  need <- switch(t$kind, layer = c("format", "forward", "output_shape"),
                 cell = c("format", "step"), model = "from_config")
  missing_slots <- setdiff(need, names(slots))
  if (length(missing_slots)) {
    stop("Layer type ", class_name, " lacks slot(s): ",
         paste(missing_slots, collapse = ", "), call. = FALSE)
  }
  t$container <- isTRUE(slots$container)
  defaults <- list(
    train_forward = untrainable_forward,
    backward = untrainable_backward,
    weight_shapes = function(self, input_dim) list(),
    build = function(self, input_dim) invisible(self),
    build_shape = function(self, shape) invisible(self),
    regularized = function(self) character(),
    constrained = function(self) character(),
    non_trainable_weights = function(self) character(),
    get_config = function(self, cfg) cfg,
    sublayers = function(self) list(),
    get_weights = default_get_weights,
    # R/layer.R is collated after this file.
    set_weights = function(self, weights, call) default_set_weights(self, weights, call),
    is_built = function(self) isTRUE(self$built),
    current_state = default_current_state,
    reset_state = default_reset_state,
    n_outputs = default_n_outputs,
    n_inputs = "one",
    recurrent = FALSE,
    engine_cell = FALSE,
    state_gradients = FALSE,
    gradients = function(self, ...) {
      abort_gru(
        c("{.fn layer_gradients} takes a GRU layer, not a {methods_of(self)$class_name} layer."),
        class = "gru_error_input", call = list(...)$call
      )
    },
    weight_layout_hint = function(self) {
      "Weights follow Keras' layout, in the order get_weights() returns them."
    },
    kernel_columns = function(self) self$config$units %||% self$config$output_dim
  )
  if (t$container) {
    defaults$get_weights <- container_get_weights
    defaults$set_weights <- container_set_weights
    defaults$is_built <- container_is_built
  }
  if (is.null(slots$from_config)) {
    if (is.null(slots$constructor)) {
      stop("Layer type ", class_name, " needs `from_config` or `constructor`.",
           call. = FALSE)
    }
    slots$from_config <- constructor_builder(slots$constructor,
                                             slots$constructor_dots %||% character(),
                                             class_name)
  }
  for (nm in setdiff(names(slots), c("type", "class_name", "kind", "container"))) {
    t[[nm]] <- slots[[nm]]
  }
  for (nm in setdiff(names(defaults), names(slots))) t[nm] <- list(defaults[[nm]])
  fns <- c("forward", "train_forward", "backward", "step", "output_shape",
           "format", "weight_shapes", "build", "build_shape", "regularized",
           "constrained", "non_trainable_weights", "get_config", "from_config", "sublayers",
           "get_weights", "set_weights", "is_built", "current_state",
           "reset_state", "n_outputs", "gradients",
           "weight_layout_hint", "kernel_columns")
  for (nm in intersect(fns, names(t))) {
    if (!is.null(t[[nm]]) && !is.function(t[[nm]])) {
      stop("Slot `", nm, "` of layer type ", class_name, " must be a function.",
           call. = FALSE)
    }
  }
  structure(t, class = "gru_layer_type")
}

register_layer_type <- function(t) {
  stopifnot(inherits(t, "gru_layer_type"))
  assign(t$type, t, envir = layer_types)
  assign(t$class_name, t$type, envir = layer_type_ids)
  invisible(t)
}

# The type of a layer's `self`.
methods_of <- function(self) layer_types[[self$type]]

# The type registered under a Keras class name, or NULL.
layer_type_by_class <- function(class_name) {
  id <- layer_type_ids[[class_name]]
  if (is.null(id)) NULL else layer_types[[id]]
}

known_class_names <- function() sort(ls(layer_type_ids))

untrainable_forward <- function(self, inputs, mask = NULL, training = NULL,
                                initial_state = NULL, call = rlang::caller_env()) {
  abort_gru(
    c("Layer {.val {self$config$name}} ({methods_of(self)$class_name}) cannot be trained."),
    class = "gru_error_fit", call = call
  )
}

untrainable_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                                 call = rlang::caller_env(), grad_states = NULL) {
  untrainable_forward(self, call = call)
}

default_n_outputs <- function(self) {
  1L + if (isTRUE(self$config$return_state)) length(layer_states_template(self)) else 0L
}

# One entry per state a return_state call returns.
layer_states_template <- function(self) {
  cells <- layer_sublayers(self)
  if (length(cells)) return(cells)
  list(self)
}

default_get_weights <- function(self) {
  if (!self$built) return(list())
  self$weights
}

default_current_state <- function(self) {
  if (isTRUE(self$config$stateful)) list(layer_current_state(self))
}

default_reset_state <- function(self, states, call) {
  if (!isTRUE(self$config$stateful)) return(invisible(self))
  if (is.null(states)) {
    self$state <- NULL
    return(invisible(self))
  }
  if (is.list(states)) states <- states[[1L]]
  b <- self$batch_size %||% NROW(states)
  self$state <- check_state(states, b, self$config$units, arg = "states", call = call)
  self$batch_size <- b
  invisible(self)
}
