# Generics every layer, cell and model answers, and configs: get_config()
# returns a plain list with Keras' key names (initializers, regularizers and
# constraints as list(class_name, config), nested layers as
# list(class_name, config)) with the Keras class name as attribute
# "class_name"; from_config() turns such a list, or the
# list(class_name, config) form a Keras model JSON holds, back into an object.

#' Configs, weights and state of layers and models
#'
#' keras3's generics for any gru layer, cell or model. `get_config()`
#' returns the object's config: a plain list with Keras' key names (so a
#' config read from a Keras model JSON with `jsonlite::fromJSON(...,
#' simplifyVector = FALSE)` can be turned into a gru object), with the Keras
#' class name (`"GRU"`, `"GRUCell"`, `"RNN"`, `"Bidirectional"`,
#' `"Sequential"`, ...) in attribute `"class_name"`. `from_config()` builds a
#' new, unbuilt object from it. `get_weights()` and `set_weights()` read and
#' write weights in Keras' layout and order; `reset_state()` sets the state
#' of stateful layers to zeros (or to `states`).
#'
#' The same operations are members: `layer$get_config()`,
#' `layer$get_weights()`, `layer$set_weights(w)`, `layer$reset_state()`.
#'
#' @param object A layer, cell or model.
#' @param config A config as `get_config()` returns it, or the
#'   `list(class_name = , config = )` form of a Keras model JSON.
#' @param class_name The Keras class name; read from `config` by default.
#' @param weights A list of arrays, in the order `get_weights()` returns.
#' @param states `NULL` (zeros) or the states to set, one per state.
#' @param ... Unused.
#' @returns `get_config()`: a list. `from_config()`: a layer, cell or
#'   model. `get_weights()`: a list of arrays. `set_weights()` and
#'   `reset_state()`: `object`, invisibly.
#' @family configs
#' @name configs
#' @examples
#' layer <- layer_gru(units = 4, name = "encoder")
#' cfg <- get_config(layer)
#' cfg$units
#' attr(cfg, "class_name")
#' copy <- from_config(cfg)
#' identical(get_config(copy), cfg)
#'
#' invisible(layer(array(0, c(1, 2, 3))))
#' w <- get_weights(layer)
#' set_weights(copy, w)
#' identical(get_weights(copy), w)
NULL

#' @rdname configs
#' @export
get_config <- function(object, ...) UseMethod("get_config")

#' @rdname configs
#' @export
from_config <- function(config, class_name = attr(config, "class_name"), ...) {
  call <- rlang::current_env()
  if (is_class_dict(config)) {
    class_name <- config$class_name
    config <- config$config
  }
  if (!is.list(config)) {
    abort_gru(
      c("{.arg config} must be a list, as {.fn get_config} returns, not {.obj_type_friendly {config}}."),
      class = "gru_error_config", call = call
    )
  }
  if (!(is.character(class_name) && length(class_name) == 1L)) {
    abort_gru(
      c("{.arg config} does not say which class it configures.",
        "i" = "Pass {.arg class_name} (e.g. {.val GRU}), or a config from {.fn get_config}, which carries it."),
      class = "gru_error_config", call = call
    )
  }
  type <- layer_type_by_class(class_name)
  if (is.null(type)) {
    abort_gru(
      c("Unknown class {.val {class_name}} in {.arg config}.",
        "i" = "gru builds: {.val {known_class_names()}}."),
      class = "gru_error_config", call = call
    )
  }
  builder <- type$from_config
  attr(config, "class_name") <- NULL
  rlang::try_fetch(
    builder(config, call = call),
    gru_error = function(cnd) {
      if (inherits(cnd, "gru_error_config")) rlang::cnd_signal(cnd)
      abort_gru(
        c("{.arg config} holds a value {.val {class_name}} cannot take."),
        class = "gru_error_config", parent = cnd, call = call
      )
    }
  )
}

#' @rdname configs
#' @export
get_weights <- function(object, ...) UseMethod("get_weights")

#' @rdname configs
#' @export
set_weights <- function(object, weights, ...) UseMethod("set_weights")

#' @rdname configs
#' @export
reset_state <- function(object, states = NULL, ...) UseMethod("reset_state")

#' @export
get_config.gru_layer <- function(object, ...) {
  self <- layer_self(object)
  m <- methods_of(self)
  cfg <- serialize_config(self$config)
  if (!is.null(m$get_config)) cfg <- m$get_config(self, cfg)
  structure(cfg, class_name = m$class_name)
}

#' @export
get_weights.gru_layer <- function(object, ...) layer_get_weights(layer_self(object))

#' @export
set_weights.gru_layer <- function(object, weights, ...) {
  layer_set_weights(layer_self(object), weights, call = rlang::current_env())
  invisible(object)
}

#' @export
reset_state.gru_layer <- function(object, states = NULL, ...) {
  layer_reset_state(layer_self(object), states, call = rlang::current_env())
  invisible(object)
}

# Initializer, regularizer and constraint objects become plain
# list(class_name, config) (a constraint's axis in Keras' 0-based count);
# everything else is kept.
serialize_config <- function(config) {
  lapply(config, function(v) {
    if (inherits(v, c("gru_initializer", "gru_regularizer", "gru_constraint"))) {
      cfg <- v$config
      if (inherits(v, "gru_constraint") && !is.null(cfg$axis)) {
        cfg$axis <- axis_to_keras(cfg$axis)
      }
      list(class_name = v$class_name, config = cfg)
    } else {
      v
    }
  })
}

# Keras' list(class_name, config) form (keras 3 adds module and friends).
is_class_dict <- function(x) {
  is.list(x) && is.character(x$class_name) && is.list(x$config) &&
    all(names(x) %in% c("class_name", "config", "module", "registered_name",
                        "build_config", "compile_config", "keras_version",
                        "shared_object_id",
                        "backend"))
}

# A nested layer's config in the list(class_name, config) form.
nested_config <- function(layer) {
  cfg <- get_config(layer)
  class_name <- attr(cfg, "class_name")
  attr(cfg, "class_name") <- NULL
  list(class_name = class_name, config = cfg)
}

# Keras-written keys gru understands but does not keep, with the values it
# accepts.
tolerated_keys <- list(time_major = FALSE, ragged = FALSE, sparse = FALSE)

# Turns a config into arguments of `constructor`: checks every key is one
# the constructor takes (or a tolerated Keras key with a usable value),
# normalises Keras' dtype policies and batch_shape.
config_args <- function(config, constructor, extra = character(), class_name,
                        call) {
  if (is.list(config$dtype) && !is.null(config$dtype$config$name)) {
    config$dtype <- config$dtype$config$name
  }
  if (!is.null(config$batch_shape)) {
    config$batch_input_shape <- config$batch_shape
    config$batch_shape <- NULL
  }
  for (k in intersect(names(config), names(tolerated_keys))) {
    if (!identical(config[[k]], tolerated_keys[[k]])) {
      abort_gru(
        c("{.arg config} sets {.field {k}} to {.val {format(config[[k]])}}, which gru does not support.",
          "i" = "gru accepts {.field {k}} = {.val {format(tolerated_keys[[k]])}}."),
        class = "gru_error_config", call = call
      )
    }
    config[[k]] <- NULL
  }
  known <- c(setdiff(names(formals(constructor)), c("object", "...")), extra)
  unknown <- setdiff(names(config), known)
  if (length(unknown)) {
    abort_gru(
      c("{.arg config} for class {.val {class_name}} has {length(unknown)} unknown key{?s}: {.field {unknown}}.",
        "i" = "Known keys: {.field {known}}."),
      class = "gru_error_config", call = call
    )
  }
  config
}

# The builder of a layer class whose config keys are its constructor's
# arguments (and the `...` names in `extra`).
constructor_builder <- function(constructor, extra, class_name) {
  force(constructor)
  force(extra)
  force(class_name)
  function(config, call) {
    args <- config_args(config, constructor, extra = extra, class_name = class_name,
                        call = call)
    do.call(constructor, args)
  }
}
