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
#             check_format_version(); readRDS() of an incompatible one errors)
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
# check_format_version() what to say.
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
  fn <- function(inputs, mask = NULL, training = NULL, initial_state = NULL) {
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
  fn <- function(inputs, states = NULL, training = NULL) {
    call_cell(self, inputs, states = states, training = training,
              call = environment())
  }
  environment(fn) <- fn_env
  structure(fn, class = c(paste0("gru_layer_", type), "gru_cell", "gru_layer"))
}

is_cell <- function(x) inherits(x, "gru_cell")

# Objects saved by another layout of gru cannot be used; objects saved
# before versioning (NULL) share layout 1.
check_format_version <- function(self, call = rlang::caller_env()) {
  v <- self$format_version
  # Every layer call checks: the current format, an integer, settles it.
  if (is.integer(v) && length(v) == 1L && !is.na(v) && v == gru_format_version) {
    return(invisible(self))
  }
  v <- v %||% 1L
  if (!identical(as.integer(v), gru_format_version)) {
    abort_gru(
      c("This object was saved by a version of gru with object format {v}; this version reads format {gru_format_version}.",
        "i" = "Recreate it with {.fn from_config} on its config and {.fn set_weights}, or read it with the gru version that saved it."),
      class = "gru_error_version", call = call
    )
  }
  invisible(self)
}

# Runs one layer's forward method (the internal form models use): returns
# list(output, states, mask).
layer_forward <- function(layer, inputs, mask = NULL, training = NULL,
                          initial_state = NULL, call = rlang::caller_env()) {
  self <- layer_self(layer)
  check_format_version(self, call = call)
  methods_of(self)$forward(self, inputs, mask = mask, training = training,
                           initial_state = initial_state, call = call)
}

# Runs the layer and formats its result the Keras way: the output alone, or
# list(output, state) with return_state.
call_layer <- function(self, inputs, mask = NULL, training = NULL,
                       initial_state = NULL, call = rlang::caller_env()) {
  check_format_version(self, call = call)
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
  check_format_version(self, call = call)
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
    weights = ,
    trainable_weights = layer_get_weights(self),
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
    states = layer_states(self),
    losses = layer_losses(self),
    constraints = layer_constraints(self),
    apply_constraints = function() {
      layer_apply_constraints(self)
      invisible(layer)
    },
    compute_mask = function(inputs, mask = NULL) {
      if (is_cell(layer)) return(NULL)
      layer_forward(layer, inputs, mask = mask, call = rlang::caller_env())$mask
    },
    NULL
  )
}

layer_get_weights <- function(self) methods_of(self)$get_weights(self)

# The sublayers (cells, wrapped layers) a container type holds.
layer_sublayers <- function(self) methods_of(self)$sublayers(self)

layer_is_built <- function(self) methods_of(self)$is_built(self)

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
      out[[length(out) + 1L]] <- regularization_penalty(reg, self$weights[[nm]])
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
  for (nm in names(cons)) {
    if (!is.null(cons[[nm]])) {
      w <- self$weights[[nm]]
      self$weights[[nm]] <- array(apply_constraint(cons[[nm]], w), dim = dim(w) %||% length(w))
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
# unbuilt layer takes its input size from the kernel's rows, or from
# `input_dim` when its type reads it from another axis (conv1d).
default_set_weights <- function(self, weights, call, input_dim = NULL) {
  m <- methods_of(self)
  input_dim <- if (self$built) self$input_dim else input_dim
  if (!self$built && is.null(input_dim)) {
    first <- weights[[1L]]
    if (length(weights) == 0L || !is.numeric(first) || length(dim(first)) != 2L) {
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
      abort_gru(
        c("Weight {i} ({.field {label}}) must be a numeric array, not {.obj_type_friendly {w}}."),
        class = "gru_error_weights", call = call
      )
    }
    have <- if (is.null(dim(w))) length(w) else dim(w)
    if (!identical(as.integer(have), as.integer(want))) {
      abort_gru(
        c("Weight {i} ({.field {label}}) has shape ({paste(have, collapse = ', ')}), but ({paste(want, collapse = ', ')}) was expected.",
          "i" = "{weight_layout_hint(self)}"),
        class = "gru_error_weights", call = call
      )
    }
    if (anyNA(w) || any(!is.finite(w))) {
      abort_gru(
        c("Weight {i} ({.field {label}}) contains NA, NaN or Inf at {first_nonfinite(w)}."),
        class = "gru_error_weights", call = call
      )
    }
    out[[i]] <- array(as.numeric(w), dim = want)
  }
  self$weights <- out
  self$input_dim <- input_dim
  self$built <- TRUE
  invisible(self)
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
  check_format_version(self)
  methods_of(self)$format(self)
}

# `x` as doubles for the engine, which reads only the values: a double array
# goes as it is, since as.double() would copy it to drop its dims (50 MB per
# call for S4's kernels, 6.5 MB per training step for S2's sequence
# gradient).
as_double_array <- function(x) {
  if (is.double(x)) x else as.double(x)
}

