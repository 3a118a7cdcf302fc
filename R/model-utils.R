#' Find a layer of a model
#'
#' keras3's `get_layer()`: the layer of `object` with the given name, or at
#' the given (1-based) index; negative indices count from the end.
#'
#' @param object A model.
#' @param name `NULL` or a layer name.
#' @param index `NULL` or a whole number: the layer's position in
#'   `model$layers`.
#' @returns A layer (it shares its weights with the model).
#' @family models
#' @export
#' @examples
#' model <- keras_model_sequential(input_shape = c(5, 2)) |>
#'   layer_gru(4, name = "encoder") |>
#'   layer_dense(1)
#' get_layer(model, "encoder")
#' get_layer(model, index = -1)
get_layer <- function(object, name = NULL, index = NULL) {
  call <- rlang::current_env()
  check_model(object, call = call)
  layers <- model_self(object)$layers
  if (is.null(name) == is.null(index)) {
    abort_gru(
      c("Give exactly one of {.arg name} and {.arg index}.",
        "i" = "For example {.code get_layer(model, \"gru\")} or {.code get_layer(model, index = 1)}."),
      class = "gru_error_input", call = call
    )
  }
  if (!is.null(name)) {
    check_string(name, call = call)
    nms <- vapply(layers, function(l) l$name, character(1))
    i <- match(name, nms)
    if (is.na(i)) {
      abort_gru(
        c("Model {.val {model_self(object)$config$name}} has no layer named {.val {name}}.",
          "i" = "Its layers: {.val {nms}}."),
        class = "gru_error_input", call = call
      )
    }
    return(layers[[i]])
  }
  ok <- is.numeric(index) && length(index) == 1L && !is.na(index) &&
    index == trunc(index) && index != 0 && abs(index) <= length(layers)
  if (!ok) {
    abort_gru(
      c("{.arg index} must be a whole number between 1 and {length(layers)} (or negative, from the end), not {.obj_type_friendly {index}}{if (is.numeric(index) && length(index) == 1L) paste0(' (', index, ')')}."),
      class = "gru_error_input", call = call
    )
  }
  if (index < 0) index <- length(layers) + 1L + index
  layers[[index]]
}

#' Freeze and unfreeze weights
#'
#' keras3's `freeze_weights()` and `unfreeze_weights()`. Without `from`,
#' `to` or `which` they set the whole model's `trainable`. Otherwise the
#' model is made trainable and only the chosen layers are frozen
#' (unfrozen): those from `from` to `to` (names or 1-based indices,
#' inclusive; default the first and the last), or those for which the
#' function `which(layer)` returns `TRUE`. Frozen weights are not updated by
#' [fit()][fit.gru_model]. Compile again afterwards, as in Keras.
#'
#' @param object A model (or a layer, for the whole-object form).
#' @param from,to `NULL`, a layer name or a 1-based index.
#' @param which `NULL` or a function of a layer returning `TRUE` or `FALSE`.
#' @returns `object`, invisibly (changed in place).
#' @family models
#' @export
#' @examples
#' model <- keras_model_sequential(input_shape = c(5, 2)) |>
#'   layer_gru(4) |>
#'   layer_dense(1)
#' freeze_weights(model, to = 1)
#' summary(model)
#' unfreeze_weights(model)
freeze_weights <- function(object, from = NULL, to = NULL, which = NULL) {
  set_trainable(object, FALSE, from, to, which, call = rlang::current_env())
}

#' @rdname freeze_weights
#' @export
unfreeze_weights <- function(object, from = NULL, to = NULL, which = NULL) {
  set_trainable(object, TRUE, from, to, which, call = rlang::current_env())
}

set_trainable <- function(object, value, from, to, which, call) {
  if (inherits(object, "gru_layer")) {
    s <- layer_self(object)
    s$config$trainable <- value
    return(invisible(object))
  }
  check_model(object, call = call)
  self <- model_self(object)
  layers <- self$layers
  if (is.null(from) && is.null(to) && is.null(which)) {
    self$config$trainable <- value
    for (l in layers) {
      s <- layer_self(l)
      s$config$trainable <- value
    }
    return(invisible(object))
  }
  self$config$trainable <- TRUE
  position <- function(x, arg) {
    if (is.character(x)) return(match(get_layer(object, name = x)$name,
                                      vapply(layers, function(l) l$name, character(1))))
    l <- get_layer(object, index = x)
    base::which(vapply(layers, function(m) identical(layer_self(m), layer_self(l)), logical(1)))
  }
  chosen <- if (!is.null(which)) {
    if (!is.function(which)) {
      abort_gru(c("{.arg which} must be a function of a layer, not {.obj_type_friendly {which}}."),
                class = "gru_error_input", call = call)
    }
    vapply(layers, function(l) isTRUE(which(l)), logical(1))
  } else {
    i <- if (is.null(from)) 1L else position(from)
    j <- if (is.null(to)) length(layers) else position(to)
    seq_along(layers) %in% seq(i, j)
  }
  for (k in base::which(chosen)) {
    s <- layer_self(layers[[k]])
    s$config$trainable <- value
  }
  invisible(object)
}

#' Clone a model
#'
#' keras3's `clone_model()`: a new model with the same architecture (the
#' same layers, configs and names) and newly initialized weights, as in
#' Keras; copy the weights with `set_weights(clone, get_weights(model))`.
#'
#' @param model A model.
#' @param input_tensors,clone_function,call_function Not supported; must
#'   be `NULL`.
#' @param recursive Accepted for keras3 compatibility.
#' @returns A new, uncompiled model.
#' @family models
#' @export
#' @examples
#' model <- keras_model_sequential(input_shape = c(5, 2)) |> layer_gru(3)
#' copy <- clone_model(model)
#' set_weights(copy, get_weights(model))
clone_model <- function(model, input_tensors = NULL, clone_function = NULL,
                        call_function = NULL, recursive = FALSE) {
  call <- rlang::current_env()
  check_model(model, call = call)
  for (arg in c("input_tensors", "clone_function", "call_function")) {
    if (!is.null(get(arg))) {
      abort_gru(
        c("{.arg {arg}} of {.fn clone_model} is not supported by gru.",
          "i" = "Clone the model, then change its layers with {.fn get_layer}."),
        class = c("gru_error_unsupported", "gru_error_input"), call = call
      )
    }
  }
  from_config(get_config(model))
}
