# The layer object model.
#
# A layer is an R closure, `function(inputs, mask = NULL, training = NULL,
# initial_state = NULL)`, of class c("gru_layer_<type>", "gru_layer"). Its
# environment holds one binding, `self`: a plain environment with
#
#   type      "gru", ...: selects the methods in `layer_methods`
#   config    the Keras config (a plain list with Keras' key names)
#   weights   a named list of R arrays in Keras' layout, NULL until built
#   built     TRUE once weights exist
#   input_dim the feature size the layer was built for
#   batch_size the fixed batch size of a stateful layer (NULL until known)
#   state     the carried state of a stateful layer (NULL = zeros)
#   rng       the saved random stream of a seeded layer's dropout
#
# Everything lives in R objects, so saveRDS()/readRDS() round-trips a layer
# (weights and stateful state included) with no external pointers.
# Members are reached with `$` (layer$get_weights(), layer$built, and every
# config entry, e.g. layer$units).

new_layer <- function(type, config) {
  self <- new.env(parent = emptyenv())
  self$type <- type
  self$config <- config
  self$weights <- NULL
  self$built <- FALSE
  self$input_dim <- NULL
  self$batch_size <- NULL
  self$state <- NULL
  self$rng <- NULL
  fn_env <- new.env(parent = topenv())
  fn_env$self <- self
  fn <- function(inputs, mask = NULL, training = NULL, initial_state = NULL) {
    call_layer(self, inputs, mask = mask, training = training,
               initial_state = initial_state, call = environment())
  }
  environment(fn) <- fn_env
  structure(fn, class = c(paste0("gru_layer_", type), "gru_layer"))
}

layer_self <- function(layer) environment(unclass(layer))$self

methods_of <- function(self) layer_methods[[self$type]]

# Runs the layer and formats its result the Keras way: the output alone, or
# list(output, state) with return_state.
call_layer <- function(self, inputs, mask = NULL, training = NULL,
                       initial_state = NULL, call = rlang::caller_env()) {
  res <- methods_of(self)$forward(self, inputs, mask = mask, training = training,
                                  initial_state = initial_state, call = call)
  if (isTRUE(self$config$return_state)) {
    return(c(list(res$output), res$states))
  }
  res$output
}

# What `object` first means in layer_*(): keras3's rules. Missing or NULL:
# return the layer; an array: return the layer applied to it.
compose_layer <- function(object, layer, call = rlang::caller_env()) {
  UseMethod("compose_layer")
}

#' @export
compose_layer.default <- function(object, layer, call = rlang::caller_env()) {
  if (is.null(object)) return(layer)
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
    get_config = function() self$config,
    count_params = function() layer_count_params(self, call = rlang::caller_env()),
    built = self$built,
    states = if (isTRUE(self$config$stateful)) list(layer_current_state(self)),
    losses = layer_losses(self),
    NULL
  )
}

layer_get_weights <- function(self) {
  if (!self$built) return(list())
  self$weights
}

layer_count_params <- function(self, call) {
  if (!self$built) {
    abort_gru(
      c("Layer {.val {self$config$name}} is not built yet, so it has no parameters to count.",
        "i" = "Call it on data, or give {.arg input_shape} when you create it."),
      class = "gru_error_not_built", call = call
    )
  }
  as.integer(sum(vapply(self$weights, length, numeric(1))))
}

layer_losses <- function(self) {
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

# Sets weights after checking their number, shapes and types. An unbuilt
# layer is built from the first weight's shape. On any error the layer keeps
# its old weights.
layer_set_weights <- function(self, weights, call) {
  m <- methods_of(self)
  if (!is.list(weights) || inherits(weights, "gru_layer")) {
    abort_gru(
      c("{.arg weights} must be a list of arrays, not {.obj_type_friendly {weights}}.",
        "i" = "Pass {.code list(kernel, recurrent_kernel, bias)}, as {.code get_weights()} returns."),
      class = "gru_error_weights", call = call
    )
  }
  input_dim <- self$input_dim
  if (!self$built) {
    first <- weights[[1L]]
    if (length(weights) == 0L || !is.numeric(first) || length(dim(first)) != 2L) {
      abort_gru(
        c("Layer {.val {self$config$name}} is not built and its input size cannot be read from {.arg weights}.",
          "i" = "The first weight must be the kernel, a (input_dim, {3 * self$config$units}) matrix."),
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
          "i" = "Weights follow Keras' layout: kernel (input_dim, 3 * units), recurrent_kernel (units, 3 * units), bias {if (isTRUE(self$config$reset_after)) '(2, 3 * units)' else '(3 * units)'}."),
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

layer_current_state <- function(self) {
  if (!is.null(self$state)) return(self$state)
  if (is.null(self$batch_size)) return(NULL)
  matrix(0, self$batch_size, self$config$units)
}

layer_reset_state <- function(self, states, call) {
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

#' @export
print.gru_layer <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

#' @export
format.gru_layer <- function(x, ...) {
  self <- layer_self(x)
  methods_of(self)$format(self)
}

`%||%` <- function(a, b) if (is.null(a)) b else a
