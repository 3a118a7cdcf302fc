# The layer object model.
#
# A layer is an R closure, `function(inputs, mask = NULL, training = NULL,
# initial_state = NULL)`, of class c("gru_layer_<type>", "gru_layer"). Its
# environment holds one binding, `self`: a plain environment with
#
#   type      "gru", ...: selects the layer type (R/layer-type.R)
#   config    the Keras config (a plain list with Keras' key names)
#   weights   a named list of R arrays in Keras' layout, NULL until built
#   built     TRUE once weights exist
#   input_dim the feature size the layer was built for
#   batch_size the fixed batch size of a stateful layer (NULL until known)
#   state     the carried state of a stateful layer (NULL = zeros)
#   rng       the saved random stream of a seeded layer's dropout
#   format_version  gru_format_version when the object was made (see
#             check_self_format(); readRDS() of an incompatible one errors)
#   self_check  the memo of check_self() (a weak reference)
#
# Types that hold other layers (layer_rnn(), layer_bidirectional(), stacked
# cells) keep them in `self` too and are containers: their sublayers() slot
# lists them, and the generic helpers below go through the type's slots
# (get_weights, set_weights, reset_state, ...) instead of reading
# `self$weights`.
# Cells are the same object with a step closure, `function(inputs, states,
# training)`, and the extra class "gru_cell".
#
# Everything lives in R objects, so saveRDS()/readRDS() round-trips a layer
# (weights and stateful state included) with no external pointers.
# Members are reached with `$` (layer$get_weights(), layer$built, and every
# config entry, e.g. layer$units).

# The on-disk layout of layers and models. Bump it when a saved object of
# the previous layout could no longer be used, and teach
# check_self_format() what to say.
gru_format_version <- 1L

new_layer_self <- function(type, config) {
  self <- new.env(parent = emptyenv())
  self$type <- type
  self$config <- config
  self$weights <- NULL
  self$built <- FALSE
  self$input_dim <- NULL
  self$batch_size <- NULL
  self$state <- NULL
  self$rng <- NULL
  self$format_version <- gru_format_version
  self
}

new_layer <- function(type, config) {
  self <- new_layer_self(type, config)
  fn_env <- new.env(parent = topenv())
  fn_env$self <- self
  # Only `inputs` is positional: an extra array (`layer(x, y)`) would
  # otherwise be taken for a mask, which some layers ignore.
  fn <- function(inputs, ..., mask = NULL, training = NULL, initial_state = NULL) {
    if (missing(inputs) || ...length()) {
      abort_call_arguments(missing(inputs), list(...), "layer",
                           c("mask", "training", "initial_state"), environment())
    }
    if (is_symbolic(inputs)) {
      return(symbolic_call(sys.function(), inputs, initial_state = initial_state,
                           call = environment()))
    }
    call_layer(self, inputs, mask = mask, training = training,
               initial_state = initial_state, call = environment())
  }
  environment(fn) <- fn_env
  structure(fn, class = c(paste0("gru_layer_", type), "gru_layer"))
}

layer_self <- function(layer) environment(unclass(layer))$self

# A cell: `cell(inputs, states = NULL, training = NULL)` runs one step.
new_cell <- function(type, config) {
  self <- new_layer_self(type, config)
  fn_env <- new.env(parent = topenv())
  fn_env$self <- self
  fn <- function(inputs, states = NULL, training = NULL, ...) {
    if (missing(inputs) || ...length()) {
      abort_call_arguments(missing(inputs), list(...), "cell", c("states", "training"),
                           environment())
    }
    call_cell(self, inputs, states = states, training = training,
              call = environment())
  }
  environment(fn) <- fn_env
  structure(fn, class = c(paste0("gru_layer_", type), "gru_cell", "gru_layer"))
}

is_cell <- function(x) inherits(x, "gru_cell")

# A layer or cell called without `inputs`, or with arguments it does not
# take (`dots`): extra positional ones or unknown names.
abort_call_arguments <- function(inputs_missing, dots, kind, named, call) {
  usage <- if (kind == "layer") {
    "{.code layer(inputs, mask = NULL, training = NULL, initial_state = NULL)}"
  } else {
    "{.code cell(inputs, states = NULL, training = NULL)}"
  }
  if (inputs_missing) {
    abort_gru(c("{.arg inputs} is missing.", "i" = paste("Call it as", usage, "with an input array.")),
              class = "gru_error_input", call = call)
  }
  nms <- names(dots) %||% rep("", length(dots))
  if (any(nzchar(nms))) {
    unknown <- nms[nzchar(nms)]
    abort_gru(
      c(paste0("Unknown argument{?s} {.arg {unknown}} in a call of a ", kind, "."),
        "i" = paste0("A ", kind, " takes {.arg inputs} and {.arg {named}}: ", usage, ".")),
      class = "gru_error_unknown_argument", call = call
    )
  }
  n_pos <- if (kind == "layer") 1L else 3L
  extra <- dots[[1L]]
  abort_gru(
    c("A {kind} takes {n_pos} positional argument{?s}, but it was given {length(dots) + n_pos}: argument {n_pos + 1L} is {.obj_type_friendly {extra}}.",
      "i" = paste0("Name the others: ", usage, ". Targets go to {.fn fit}, not to a ", kind, " call.")),
    class = "gru_error_input", call = call
  )
}

# ---- The one check of a layer's (or a model's) `self` ----------------------
# Nothing read from a file, or reachable by hand through layer_self(), is
# trusted: before a layer runs (call_layer(), call_cell(),
# layer_train_forward(), layer_gradients(), symbolic calls, print) and before
# a model runs or takes a layer, check_self() makes sure its `self` is one
# gru can use:
#
# * the object format (gru_error_version);
# * a registered type, a config list with a name, `built` TRUE or FALSE;
# * built layers: the weights, named and ordered as the type's
#   weight_shapes() gives them for the config and input size, each a plain
#   double array of exactly that shape (gru_error_weights);
# * stateful layers: the batch size and the carried state (batch, units);
# * containers: every sublayer, each checked in turn; models: every layer.
#
# Anything else is a gru_error_input naming the layer. This keeps an edited
# .rds file, or a `self` edited by hand, from reaching the engine with arrays
# that do not fit its config (the C++ glue checks the lengths again, as the
# last line of defence: src/rcpp_spec.h).
#
# The check of the bindings that change only when the object is edited
# (type, format, config, weights, built, input size, a model's layers) is
# memoised like the engine plan (gru_engine_plan()): it is redone when one
# of them is a new object. Every change binds a new one (set_weights(), an
# optimizer step, a constraint, a rebuild, an edit by hand), and a read
# object starts with an empty memo (saveRDS() writes weak references
# empty). The state and the sublayers are checked at every call.
check_self <- function(self, call = rlang::caller_env()) {
  if (!is.environment(self)) abort_not_an_object(self, call)
  # A memo hit is one pointer comparison per binding, in C++.
  memo <- cpp_self_memo(self, self_check_bindings)
  if (is.null(memo)) memo <- check_self_bindings(self, call)
  if (memo$each_call) check_self_each_call(self, memo, call)
  invisible(self)
}

# The bindings whose check is memoised: those that change only when the
# object is edited.
self_check_bindings <- c("type", "format_version", "config", "weights", "built",
                         "input_dim", "layers", "graph")

# Kept for the callers in R/model-graph.R and R/model-functional.R: the
# format is checked by check_self(), with the rest.
check_format_version <- function(self, call = rlang::caller_env()) {
  check_self(self, call = call)
}

# What is checked at every call, for the objects that have it: a model's
# layers and a container's sublayers (each with its own memo), a stateful
# layer's state, a seeded layer's random stream.
check_self_each_call <- function(self, memo, call) {
  if (memo$has_sublayers) {
    subs <- if (memo$model) self$layers else memo$type$sublayers(self)
    if (!is.list(subs) || length(subs) == 0L && !memo$model) {
      abort_damaged(self, "the layers or cells it wraps are {.obj_type_friendly {subs}}, not a list of gru layers", call = call)
    }
    for (i in seq_along(subs)) {
      sub <- layer_self(subs[[i]])
      if (!is.environment(sub)) {
        abort_damaged(self, "its {if (memo$model) 'layer' else 'sublayer'} {i} is {.obj_type_friendly {subs[[i]]}}, not a gru layer", call = call)
      }
      check_self(sub, call = call)
    }
  }
  if (memo$stateful) {
    # The common case, a state of the fixed batch size, at once; anything
    # else takes the full check, which says what is wrong.
    state <- self$state
    b <- self$batch_size
    fast <- if (is.null(state)) is.null(b) || is.integer(b) else
      is.double(state) && identical(dim(state), c(b, memo$units))
    if (!fast) check_self_state(self, memo$type, call)
  }
  rng <- self$rng
  if (!is.null(rng) && !is.integer(rng)) {
    abort_damaged(self, "its saved random stream ({.field rng}) is {.obj_type_friendly {rng}}, not an integer vector", call = call)
  }
  invisible(self)
}

# The checks of the memoised bindings; returns the new memo.
check_self_bindings <- function(self, call) {
  m <- check_self_identity(self, call)
  cfg <- self$config
  if (identical(m$kind, "model")) {
    check_model_self_layers(self, call)
  } else {
    if (!(is.logical(self$built) && length(self$built) == 1L && !is.na(self$built))) {
      abort_damaged(self, "its {.field built} is {.obj_type_friendly {self$built}}, not TRUE or FALSE", call = call)
    }
    if (!m$container && isTRUE(self$built)) check_self_weights(self, m, call)
  }
  # In an environment: new_weakref() copies a list value.
  memo <- new.env(parent = emptyenv())
  memo$key <- mget(self_check_bindings, envir = self, ifnotfound = list(NULL))
  memo$type <- m
  memo$model <- identical(m$kind, "model")
  memo$has_sublayers <- memo$model || m$container
  # A container's state (layer_rnn()'s, one per cell) is a list: always the
  # full check. A layer's is one (batch, units) matrix.
  memo$stateful <- !memo$model && isTRUE(cfg$stateful)
  memo$units <- if (memo$stateful && !m$container && is_count(cfg$units)) {
    as.integer(cfg$units)
  } else {
    -1L
  }
  memo$each_call <- memo$has_sublayers || memo$stateful || !is.null(cfg$seed) ||
    !is.null(self$rng)
  self$self_check <- rlang::new_weakref(self, memo)
  memo
}

# What every use of an object needs, get_config() included: its format, a
# known type (returned) and a config list with a name.
check_self_identity <- function(self, call) {
  if (!is.environment(self)) abort_not_an_object(self, call)
  check_self_format(self, call)
  type <- self$type
  m <- if (is.character(type) && length(type) == 1L && !is.na(type) && nzchar(type)) {
    get0(type, envir = layer_types, inherits = FALSE)
  }
  if (is.null(m)) {
    shown <- if (is.character(type) && length(type) == 1L) paste0(" (\"", type, "\")")
    abort_damaged(self, "its type is {.obj_type_friendly {type}}{shown}, not one of gru's layer types", call = call)
  }
  cfg <- self$config
  if (!is.list(cfg) || is.object(cfg)) {
    abort_damaged(self, "its config is {.obj_type_friendly {cfg}}, not a list", call = call)
  }
  if (!(is.character(cfg$name) && length(cfg$name) == 1L && !is.na(cfg$name))) {
    abort_damaged(self, "its config's {.field name} is {.obj_type_friendly {cfg$name}}, not a string", call = call)
  }
  m
}

# Objects saved by another layout of gru cannot be used; objects saved
# before versioning (NULL) share layout 1.
check_self_format <- function(self, call) {
  v <- self$format_version
  if (is.null(v) || is.numeric(v) && length(v) == 1L && !is.na(v) && v == gru_format_version) {
    return(invisible(self))
  }
  shown <- if (is.atomic(v) && length(v) == 1L) format(v) else
    cli::format_inline("{.obj_type_friendly {v}}")
  abort_gru(
    c("This object was saved by a version of gru with object format {shown}; this version reads format {gru_format_version}.",
      "i" = "Recreate it with {.fn from_config} on its config and {.fn set_weights}, or read it with the gru version that saved it."),
    class = "gru_error_version", call = call
  )
}

# A built layer's weights against its type's weight_shapes() for its config
# and input size.
check_self_weights <- function(self, m, call) {
  shapes <- self_weight_shapes(self, m, 1L, call)
  w <- self$weights
  if (length(shapes) == 0L) {
    if (length(w) > 0L) {
      abort_gru(
        c("Layer {.val {self_label(self)}} has {length(w)} weight{?s}, but a {m$class_name} layer has none.",
          self_damaged_hint()),
        class = "gru_error_weights", call = call
      )
    }
    return(invisible(self))
  }
  input_dim <- self$input_dim
  # One size, or one per normalized axis (layer and batch normalization).
  sizes_ok <- is.numeric(input_dim) && length(input_dim) >= 1L &&
    all(is.finite(input_dim)) && all(input_dim >= 1) &&
    all(input_dim == trunc(input_dim)) && all(input_dim <= .Machine$integer.max)
  if (!sizes_ok) {
    abort_damaged(self, "its input size ({.field input_dim}) is {.obj_type_friendly {input_dim}}, not positive whole numbers", call = call)
  }
  shapes <- self_weight_shapes(self, m, input_dim, call)
  if (!is.list(w) || is.object(w) || !identical(names(w), names(shapes))) {
    have <- if (is.list(w) && !is.null(names(w))) paste0("weights ", paste0("`", names(w), "`", collapse = ", ")) else
      cli::format_inline("{.obj_type_friendly {w}}")
    abort_gru(
      c("Layer {.val {self_label(self)}} holds {have}, but a built {m$class_name} layer holds {.field {names(shapes)}}, in that order.",
        self_damaged_hint()),
      class = "gru_error_weights", call = call
    )
  }
  for (i in seq_along(shapes)) {
    wi <- w[[i]]
    want <- shapes[[i]]
    have <- dim(wi) %||% length(wi)
    if (!is.double(wi) || is.object(wi) || !identical(as.integer(have), want)) {
      what <- if (!is.double(wi) || is.object(wi)) {
        cli::format_inline("is {.obj_type_friendly {wi}}, not a double array")
      } else {
        paste0("has shape ", format_shape(have))
      }
      abort_gru(
        c("Weight {.field {names(shapes)[i]}} of layer {.val {self_label(self)}} {what}, but its config and input size ({input_dim}) need shape {format_shape(want)}.",
          self_damaged_hint()),
        class = "gru_error_weights", call = call
      )
    }
  }
  invisible(self)
}

# The type's weight shapes for this config, which must be positive whole
# numbers (a damaged config may give NA, or fail).
self_weight_shapes <- function(self, m, input_dim, call) {
  shapes <- tryCatch(m$weight_shapes(self, input_dim), error = function(cnd) cnd)
  ok <- is.list(shapes) && all(vapply(shapes, function(s) {
    is.integer(s) && length(s) >= 1L && !anyNA(s) && all(s >= 1L)
  }, logical(1)))
  if (!ok) {
    abort_gru(
      c("Layer {.val {self_label(self)}} has a config that gives no valid weight shapes (its {.field units} is {.obj_type_friendly {self$config$units}}).",
        self_damaged_hint()),
      class = "gru_error_input", parent = if (inherits(shapes, "error")) shapes,
      call = call
    )
  }
  shapes
}

# A stateful layer's batch size and carried state: NULL, or a (batch,
# units) matrix (for a container, a list of one per sublayer).
check_self_state <- function(self, m, call) {
  b <- self$batch_size
  state <- self$state
  if (is.null(state) && is.null(b)) return(invisible(self))
  if (!is.null(b) && !(is.numeric(b) && length(b) == 1L && !is.na(b) && b >= 1 &&
                       b <= .Machine$integer.max && b == trunc(b))) {
    abort_damaged(self, "its batch size is {.obj_type_friendly {b}}, not a positive whole number", call = call)
  }
  if (is.null(state)) return(invisible(self))
  if (!m$container) {
    if (is.double(state) && !is.object(state) &&
        identical(dim(state), c(as.integer(b), as.integer(self$config$units)))) {
      return(invisible(self))
    }
    units <- list(self$config$units)
  } else {
    units <- lapply(m$sublayers(self), function(l) layer_self(l)$config$units)
    ok <- is.list(state) && !is.object(state) && length(state) == length(units)
    if (ok) {
      for (i in seq_along(units)) {
        si <- state[[i]]
        if (!(is.double(si) && !is.object(si) &&
              identical(dim(si), c(as.integer(b), as.integer(units[[i]]))))) {
          ok <- FALSE
        }
      }
    }
    if (ok) return(invisible(self))
  }
  want <- paste(vapply(units, function(u) format_shape(c(b %||% NA, u)), character(1)),
                collapse = ", ")
  have <- if (is.list(state) && !is.object(state)) {
    paste0("a list of ", length(state))
  } else if (is.numeric(state)) {
    format_shape(dim(state) %||% length(state))
  } else {
    cli::format_inline("{.obj_type_friendly {state}}")
  }
  abort_damaged(self, "its carried state is {have}, but its batch size and units need {want}", call = call)
}

# A model's layers: a list of gru layers (not cells) with a usable `self`;
# the nodes of a functional model's graph run these very layers, so that
# checking self$layers at every call covers them.
check_model_self_layers <- function(self, call) {
  layers <- self$layers
  if (!is.list(layers) || is.object(layers)) {
    abort_damaged(self, "its layer list is {.obj_type_friendly {layers}}, not a list of layers", call = call, what = "Model")
  }
  selves <- vector("list", length(layers))
  for (i in seq_along(layers)) {
    l <- layers[[i]]
    if (!inherits(l, "gru_layer") || is_cell(l) || !is.environment(layer_self(l))) {
      abort_damaged(self, "its layer {i} is {.obj_type_friendly {l}}, not a gru layer", call = call, what = "Model")
    }
    selves[[i]] <- layer_self(l)
  }
  graph <- self$graph
  if (is.null(graph)) return(invisible(self))
  nodes <- if (is.list(graph) && !is.object(graph)) graph$nodes
  ok <- is.list(nodes)
  for (node in nodes) {
    l <- if (is.list(node)) node$layer
    s <- if (inherits(l, "gru_layer")) layer_self(l)
    if (!is.environment(s) || !any(vapply(selves, identical, logical(1), s))) {
      ok <- FALSE
      break
    }
  }
  if (!ok) {
    abort_damaged(self, "its graph holds something other than its layers", call = call, what = "Model")
  }
  invisible(self)
}

# The name of the layer a `self` belongs to, for messages.
self_label <- function(self) {
  cfg <- if (is.environment(self)) self$config
  name <- if (is.list(cfg)) cfg$name
  if (is.character(name) && length(name) == 1L && !is.na(name)) name else "<unnamed>"
}

self_damaged_hint <- function() {
  c("i" = "The object was changed after gru made it (by hand, or in the file it was read from). Recreate it with {.code from_config(get_config(x))} and {.fn set_weights}.")
}

abort_damaged <- function(self, problem, call, what = "Layer", parent = NULL,
                          .envir = parent.frame()) {
  problem <- cli::format_inline(problem, .envir = .envir)
  abort_gru(
    c("{what} {.val {self_label(self)}} cannot be used: {problem}.", self_damaged_hint()),
    class = "gru_error_input", parent = parent, call = call
  )
}

abort_not_an_object <- function(self, call) {
  abort_gru(
    c("This is not a usable gru layer or model: its internal state is {.obj_type_friendly {self}}.",
      self_damaged_hint()),
    class = "gru_error_input", call = call
  )
}

# Runs one layer's forward method (the internal form models use): returns
# list(output, states, mask). Its callers, the graph executor (after
# check_self() of the model) and containers (after check_self() of
# themselves), have checked the layer with the whole object.
layer_forward <- function(layer, inputs, mask = NULL, training = NULL,
                          initial_state = NULL, call = rlang::caller_env()) {
  self <- layer_self(layer)
  check_training(training, call = call)
  methods_of(self)$forward(self, inputs, mask = mask, training = training,
                           initial_state = initial_state, call = call)
}

# Runs the layer and formats its result the Keras way: the output alone, or
# list(output, state) with return_state.
call_layer <- function(self, inputs, mask = NULL, training = NULL,
                       initial_state = NULL, call = rlang::caller_env()) {
  check_self(self, call = call)
  check_training(training, call = call)
  res <- methods_of(self)$forward(self, inputs, mask = mask, training = training,
                                  initial_state = initial_state, call = call)
  if (isTRUE(self$config$return_state)) {
    out <- if (isTRUE(res$multi_output)) res$output else list(res$output)
    return(c(out, res$states))
  }
  res$output
}

# A cell's step: list(output, list(new_state, ...)).
call_cell <- function(self, inputs, states = NULL, training = NULL,
                      call = rlang::caller_env()) {
  check_self(self, call = call)
  check_training(training, call = call)
  methods_of(self)$step(self, inputs, states = states, training = training,
                        call = call)
}

# What `object` first means in layer_*(): keras3's rules. Missing or NULL:
# return the layer; an array: return the layer applied to it.
compose_layer <- function(object, layer, call = rlang::caller_env()) {
  UseMethod("compose_layer")
}

#' @export
compose_layer.default <- function(object, layer, call = rlang::caller_env()) {
  if (is.null(object)) return(layer)
  if (is_symbolic(object)) return(symbolic_call(layer, object, call = call))
  if (is_cell(layer)) {
    abort_gru(
      c("A cell cannot be applied to {.arg object}: cells process one timestep.",
        "i" = "Wrap it in a layer: {.code layer_rnn(cell = ...)}."),
      class = "gru_error_layer_kind", call = call
    )
  }
  if (is.numeric(object) && is.null(dim(object)) && length(object) == 1L) {
    abort_gru(
      c("{.arg object} is the number {object}, not an input array or a model.",
        "i" = "Did you mean {.code units = {object}}? Layer constructors take {.arg object} first so they pipe: {.code x |> layer_gru({object})}."),
      class = "gru_error_input", call = call
    )
  }
  call_layer(layer_self(layer), object, call = call)
}

#' @export
`$.gru_layer` <- function(x, name) {
  self <- layer_self(x)
  member <- layer_member(x, self, name)
  if (!is.null(member)) return(member)
  if (name %in% names(self$config)) return(self$config[[name]])
  NULL
}

#' @export
`[[.gru_layer` <- function(x, i, ...) `$.gru_layer`(x, i)

#' @export
`$<-.gru_layer` <- function(x, name, value) {
  self <- layer_self(x)
  switch(
    name,
    trainable = {
      check_bool(value, arg = "trainable")
      self$config$trainable <- value
    },
    name = {
      check_string(value, arg = "name")
      self$config$name <- value
    },
    abort_gru(
      c("{.field {name}} cannot be assigned on a layer.",
        "i" = "Assignable fields: {.field trainable}, {.field name}. Use {.code layer$set_weights()} for weights."),
      class = "gru_error_input", call = NULL
    )
  )
  x
}

#' @export
names.gru_layer <- function(x) {
  c("get_weights", "set_weights", "weights", "reset_state", "reset_states",
    "get_config", "count_params", "built", "states", "losses", "trainable_weights",
    "non_trainable_weights",
    "constraints", "apply_constraints", "compute_mask",
    names(layer_self(x)$config))
}

layer_member <- function(layer, self, name) {
  switch(
    name,
    get_weights = function() layer_get_weights(self),
    set_weights = function(weights) {
      layer_set_weights(self, weights, call = rlang::caller_env())
      invisible(layer)
    },
    weights = layer_get_weights(self),
    trainable_weights = layer_weights_by_trainability(self, TRUE),
    non_trainable_weights = layer_weights_by_trainability(self, FALSE),
    reset_state = ,
    reset_states = function(states = NULL) {
      layer_reset_state(self, states, call = rlang::caller_env())
      invisible(layer)
    },
    get_config = function() get_config(layer),
    count_params = function() layer_count_params(self, call = rlang::caller_env()),
    built = layer_is_built(self),
    cell = self$cell,
    cells = self$cells,
    forward_layer = self$forward_layer,
    backward_layer = self$backward_layer,
    layer = self$layer,
    states = layer_states(self),
    losses = layer_losses(self),
    constraints = layer_constraints(self),
    apply_constraints = function() {
      layer_apply_constraints(self)
      invisible(layer)
    },
    compute_mask = function(inputs, mask = NULL) {
      if (is_cell(layer)) return(NULL)
      check_self(self, call = rlang::caller_env())
      layer_forward(layer, inputs, mask = mask, call = rlang::caller_env())$mask
    },
    NULL
  )
}

layer_get_weights <- function(self) methods_of(self)$get_weights(self)

# The sublayers (cells, wrapped layers) a container type holds.
layer_sublayers <- function(self) methods_of(self)$sublayers(self)

layer_is_built <- function(self) methods_of(self)$is_built(self)

# The weights training updates (trainable = TRUE) or leaves alone (FALSE),
# in get_weights() order: a layer that is not trainable has only the
# latter, as in Keras; within a trainable one, its type's
# non_trainable_weights (batch normalization's moving statistics).
layer_weights_by_trainability <- function(self, trainable) {
  split <- layer_weight_trainability(self)
  w <- layer_get_weights(self)
  if (!length(w)) return(list())
  w[split == trainable]
}

# One logical per weight of get_weights(): whether training updates it.
layer_weight_trainability <- function(self, trainable = TRUE) {
  trainable <- trainable && !isFALSE(self$config$trainable)
  subs <- layer_sublayers(self)
  if (length(subs)) {
    return(unlist(lapply(subs, function(l) layer_weight_trainability(layer_self(l), trainable))))
  }
  if (!layer_is_built(self)) return(logical())
  state <- methods_of(self)$non_trainable_weights(self)
  trainable & !names(layer_get_weights(self)) %in% state
}

# The parameters training updates (summary()'s "Trainable params").
layer_count_trainable_params <- function(self) {
  sizes <- vapply(layer_get_weights(self), length, numeric(1))
  as.integer(sum(sizes[layer_weight_trainability(self)]))
}

layer_count_params <- function(self, call) {
  if (!layer_is_built(self)) {
    abort_gru(
      c("Layer {.val {self$config$name}} is not built yet, so it has no parameters to count.",
        "i" = "Call it on data, or give {.arg input_shape} when you create it."),
      class = "gru_error_not_built", call = call
    )
  }
  as.integer(sum(vapply(layer_get_weights(self), length, numeric(1))))
}

layer_losses <- function(self) {
  subs <- layer_sublayers(self)
  if (length(subs)) {
    return(do.call(c, c(list(list()), lapply(subs, function(l) layer_losses(layer_self(l))))))
  }
  if (!self$built) return(list())
  regs <- methods_of(self)$regularized(self)
  out <- list()
  for (nm in names(regs)) {
    reg <- self$config[[regs[[nm]]]]
    if (!is.null(reg) && !is.null(self$weights[[nm]])) {
      out[[length(out) + 1L]] <- regularization_penalty(reg, self$weights[[nm]],
                                                        arg = regs[[nm]],
                                                        layer = self$config$name)
    }
  }
  out
}

# The constraint of each weight (named like the weights; NULL entries for
# unconstrained ones), and their application: what training does after each
# update.
layer_constraints <- function(self) {
  subs <- layer_sublayers(self)
  if (length(subs)) {
    return(do.call(c, c(list(list()), lapply(subs, function(l) layer_constraints(layer_self(l))))))
  }
  keys <- methods_of(self)$constrained(self)
  keys <- keys[names(keys) %in% names(self$weights)]
  out <- lapply(keys, function(k) self$config[[k]])
  names(out) <- names(keys)
  out
}

layer_apply_constraints <- function(self) {
  subs <- layer_sublayers(self)
  if (length(subs)) {
    for (l in subs) layer_apply_constraints(layer_self(l))
    return(invisible(self))
  }
  if (!self$built) return(invisible(self))
  cons <- layer_constraints(self)
  keys <- methods_of(self)$constrained(self)
  for (nm in names(cons)) {
    if (!is.null(cons[[nm]])) {
      w <- self$weights[[nm]]
      self$weights[[nm]] <- array(constrain_weight(cons[[nm]], w, arg = keys[[nm]],
                                                   layer = self$config$name),
                                  dim = dim(w) %||% length(w))
    }
  }
  invisible(self)
}

# Sets weights after checking their number, shapes and types. An unbuilt
# layer is built from the first weight's shape. On any error the layer keeps
# its old weights.
layer_set_weights <- function(self, weights, call) {
  if (!is.list(weights) || inherits(weights, "gru_layer")) {
    abort_gru(
      c("{.arg weights} must be a list of arrays, not {.obj_type_friendly {weights}}.",
        "i" = "Pass {.code list(kernel, recurrent_kernel, bias)}, as {.code get_weights()} returns."),
      class = "gru_error_weights", call = call
    )
  }
  methods_of(self)$set_weights(self, weights, call = call)
}

# set_weights() of a layer that owns its weights (not a container). An
# unbuilt layer reads its input size from the kernel (the first weight),
# unless its type's set_weights slot passes `input_dim`.
default_set_weights <- function(self, weights, call, input_dim = NULL) {
  m <- methods_of(self)
  given <- !is.null(input_dim)
  input_dim <- input_dim %||% self$input_dim
  if (!self$built && !given) {
    first <- if (length(weights)) weights[[1L]]
    if (!is.numeric(first) || length(dim(first)) != 2L) {
      abort_gru(
        c("Layer {.val {self$config$name}} is not built and its input size cannot be read from {.arg weights}.",
          "i" = "The first weight must be the kernel, a (input_dim, {ncol_of_kernel(self)}) matrix."),
        class = "gru_error_weights", call = call
      )
    }
    input_dim <- nrow(first)
  }
  shapes <- m$weight_shapes(self, input_dim)
  if (length(weights) != length(shapes)) {
    abort_gru(
      c("{.arg weights} has {length(weights)} element{?s}, but layer {.val {self$config$name}} expects {length(shapes)}: {.field {names(shapes)}}.",
        "i" = "Pass them in the order {.code get_weights()} returns."),
      class = "gru_error_weights", call = call
    )
  }
  nms <- names(weights)
  if (!is.null(nms) && all(nzchar(nms)) && setequal(nms, names(shapes))) {
    weights <- weights[names(shapes)]
  }
  out <- vector("list", length(shapes))
  names(out) <- names(shapes)
  for (i in seq_along(shapes)) {
    w <- weights[[i]]
    want <- shapes[[i]]
    label <- names(shapes)[i]
    if (!is.numeric(w) || is.object(w) && !is.array(w)) {
      abort_weight(self, i, label, "must be a numeric array, not {.obj_type_friendly {w}}",
                   call = call)
    }
    have <- if (is.null(dim(w))) length(w) else dim(w)
    if (!identical(as.integer(have), as.integer(want))) {
      abort_weight(self, i, label, "has shape {format_shape(have)}, but {format_shape(want)} was expected",
                   hint = weight_layout_hint(self), call = call)
    }
    if (anyNA(w) || any(!is.finite(w))) {
      abort_weight(self, i, label, "contains NA, NaN or Inf at {first_nonfinite(w)}", call = call)
    }
    out[[i]] <- array(as.numeric(w), dim = want)
  }
  self$weights <- out
  self$input_dim <- input_dim
  self$built <- TRUE
  invisible(self)
}

# A weight that set_weights() cannot take: weight `i` (`label`) of the
# layer. The condition carries where it is (weight_index, at the level that
# raised it; weight_leaf_index, weight_name and weight_layer, the layer that
# owns it) and what is wrong (weight_problem, weight_hint), so that a
# container or a model re-raises it with its own index
# (reraise_weight_error()).
abort_weight <- function(self, i, label, problem, hint = NULL, call,
                         .envir = parent.frame()) {
  problem <- cli::format_inline(problem, .envir = .envir)
  signal_weight_error(
    "Weight {i} ({.field {label}}) of layer {.val {layer}} {problem}.",
    list(index = i, leaf_index = i, name = label, layer = self$config$name,
         problem = problem, hint = hint), call
  )
}

# A weight error of a sublayer (or a model's layer) whose weights start after
# `offset` of the container's, re-raised by the container (`owner`, e.g.
# 'layer "bi"' or 'model "m"') with its own index; any other error as it is.
reraise_weight_error <- function(cnd, offset, owner, call) {
  if (is.null(cnd$weight_index)) rlang::cnd_signal(cnd)
  signal_weight_error(
    "Weight {i} of {owner} is weight {leaf_index} ({.field {label}}) of layer {.val {layer}}: it {problem}.",
    list(index = as.integer(offset + cnd$weight_index), leaf_index = cnd$weight_leaf_index,
         name = cnd$weight_name, layer = cnd$weight_layer, problem = cnd$weight_problem,
         hint = cnd$weight_hint),
    call, owner = owner
  )
}

signal_weight_error <- function(message, w, call, owner = NULL) {
  i <- w$index
  leaf_index <- w$leaf_index
  label <- w$name
  layer <- w$layer
  problem <- w$problem
  hint <- w$hint
  abort_gru(
    c(message, "i" = if (!is.null(hint)) "{hint}"),
    class = "gru_error_weights", call = call,
    weight_index = i, weight_leaf_index = leaf_index, weight_name = label,
    weight_layer = layer, weight_problem = problem, weight_hint = hint
  )
}

weight_layout_hint <- function(self) methods_of(self)$weight_layout_hint(self)

ncol_of_kernel <- function(self) methods_of(self)$kernel_columns(self)

layer_states <- function(self) methods_of(self)$current_state(self)

layer_current_state <- function(self) {
  if (!is.null(self$state)) return(self$state)
  if (is.null(self$batch_size)) return(NULL)
  matrix(0, self$batch_size, self$config$units)
}

layer_reset_state <- function(self, states, call) {
  methods_of(self)$reset_state(self, states, call = call)
}

#' @export
print.gru_layer <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

#' @export
format.gru_layer <- function(x, ...) {
  self <- layer_self(x)
  check_self(self)
  methods_of(self)$format(self)
}

# `x` as doubles for the engine, which reads only the values: a double array
# goes as it is, since as.double() would copy it to drop its dims (50 MB per
# call for S4's kernels, 6.5 MB per training step for S2's sequence
# gradient).
as_double_array <- function(x) {
  if (is.double(x)) x else as.double(x)
}

