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
  if (...length()) {
    n <- ...length()
    abort_gru(
      c("{.fn from_config} takes {.arg config} and {.arg class_name}; it was given {n} more argument{?s}.",
        "i" = "Pass the config as {.fn get_config} returns it."),
      class = "gru_error_input", call = call
    )
  }
  build_from_config(config, class_name, path = character(), call = call)
}

# Builds the object a config describes. `path` is where the config sits in
# the config the user gave (character() at the top, e.g. c("layers[[2]]")
# for a sequential model's second layer): every failure is a
# gru_error_config whose message names the key path, with the cause as
# parent, and which carries the path (`config_path`) so that an enclosing
# config's build can put its own in front.
build_from_config <- function(config, class_name, path, call) {
  if (is_class_dict(config)) {
    class_name <- config$class_name
    config <- config$config
    inner <- c(path, "config")
  } else {
    inner <- path
  }
  if (!is.list(config) || is.object(config) && !identical(class(config), "list")) {
    abort_config(path, "must be a list, as {.fn get_config} returns, not {.obj_type_friendly {config}}",
                 call = call)
  }
  if (!(is.character(class_name) && length(class_name) == 1L && !is.na(class_name) &&
        nzchar(class_name))) {
    abort_config(path, "does not say which class it configures",
                 hint = "Pass {.arg class_name} (e.g. {.val GRU}), or a config from {.fn get_config}, which carries it.",
                 call = call)
  }
  type <- layer_type_by_class(class_name)
  if (is.null(type)) {
    abort_config(path, "names an unknown class {.val {class_name}}",
                 hint = "gru builds: {.val {known_class_names()}}.", call = call)
  }
  attr(config, "class_name") <- NULL
  rlang::try_fetch(
    type$from_config(config, call = call),
    error = function(cnd) {
      if (!is.null(cnd$config_path)) {
        # A nested config's failure, its path relative to this config.
        abort_config(c(inner, cnd$config_path), cnd$config_problem,
                     class_name = cnd$config_class, hint = cnd$config_hint,
                     parent = cnd$parent, call = call, formatted = TRUE)
      }
      if (inherits(cnd, "gru_error_config")) {
        if (length(path) == 0L) rlang::cnd_signal(cnd)
        abort_config(path, "cannot be built", class_name = class_name, parent = cnd,
                     call = call)
      }
      abort_config(path, "holds a value the class cannot take", class_name = class_name,
                   parent = cnd, call = call)
    }
  )
}

# A layer's config nested at key `path` of its container's config (a
# builder's `config$cell`, `config$layers[[i]]`, ...): list(class_name,
# config), or a config carrying its class name.
nested_from_config <- function(x, path, call) {
  if (!(is_class_dict(x) || is.list(x) && is.character(attr(x, "class_name")))) {
    abort_config(path, "is {.obj_type_friendly {x}}, not a layer config",
                 hint = "A nested layer is {.code list(class_name = , config = )}, as {.fn get_config} writes it.",
                 call = call)
  }
  build_from_config(x, attr(x, "class_name"), path = path, call = call)
}

# A gru_error_config about the config at key `path` ("config$layers[[2]]"
# in the message): `problem` says what is wrong with it (cli markup, or
# text already formatted when `formatted`).
abort_config <- function(path, problem, class_name = NULL, hint = NULL, parent = NULL,
                         call = NULL, formatted = FALSE, .envir = parent.frame()) {
  if (!formatted) {
    problem <- cli::format_inline(problem, .envir = .envir)
    if (!is.null(hint)) hint <- cli::format_inline(hint, .envir = .envir)
  }
  where <- paste(c("config", path), collapse = "$")
  of <- if (is.null(class_name)) "" else cli::format_inline(" (class {.val {class_name}})")
  abort_gru(
    c("{.arg {where}}{of} {problem}.", "i" = if (!is.null(hint)) "{hint}"),
    class = "gru_error_config", parent = parent, call = call,
    config_path = if (length(path)) path, config_problem = problem,
    config_class = class_name, config_hint = hint
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
  # Not the whole check_self(): the config of a layer whose weights are
  # damaged is how to recreate it.
  m <- check_self_identity(self, call = rlang::current_env())
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
  fn <- NULL
  function(config, call) {
    args <- config_args(config, constructor, extra = extra, class_name = class_name,
                        call = call)
    # Called by name, so that an error names the constructor.
    if (is.null(fn)) fn <<- exported_name_of(constructor) %||% constructor
    do.call(fn, args, envir = topenv())
  }
}

# The name gru exports `f` under, or NULL.
exported_name_of <- function(f) {
  ns <- topenv()
  for (nm in getNamespaceExports(ns)) {
    if (identical(get0(nm, envir = ns, inherits = FALSE), f)) return(nm)
  }
  NULL
}
