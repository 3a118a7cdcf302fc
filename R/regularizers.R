# Regularizers and constraints with keras3's names and arguments. Like
# initializers they are small lists holding Keras' class_name and config, so
# they serialize in get_config(). A layer's `$losses` evaluates its
# regularizers on the current weights; `apply_constraints()` projects weights
# (fit() calls it after every update).

#' Weight regularizers
#'
#' Penalties on a layer's weights, with keras3's names: `regularizer_l1()`
#' adds `l1 * sum(abs(w))`, `regularizer_l2()` adds `l2 * sum(w^2)`,
#' `regularizer_l1_l2()` both. A layer's `$losses` returns them for its
#' current weights.
#'
#' @param l1,l2 Non-negative penalty factors.
#' @returns A regularizer object (class `gru_regularizer`).
#' @family regularizers
#' @name regularizers
#' @examples
#' layer <- layer_gru(units = 2, kernel_regularizer = regularizer_l2(0.01))
#' invisible(layer(array(1, c(1, 3, 2))))
#' layer$losses
NULL

new_regularizer <- function(class_name, config) {
  structure(list(class_name = class_name, config = config), class = "gru_regularizer")
}

#' @rdname regularizers
#' @export
regularizer_l1 <- function(l1 = 0.01) {
  check_number(l1, min = 0)
  new_regularizer("L1", list(l1 = l1))
}

#' @rdname regularizers
#' @export
regularizer_l2 <- function(l2 = 0.01) {
  check_number(l2, min = 0)
  new_regularizer("L2", list(l2 = l2))
}

#' @rdname regularizers
#' @export
regularizer_l1_l2 <- function(l1 = 0, l2 = 0) {
  check_number(l1, min = 0)
  check_number(l2, min = 0)
  new_regularizer("L1L2", list(l1 = l1, l2 = l2))
}

#' Weight constraints
#'
#' Projections applied to a weight after each update, with keras3's names
#' and arguments. Norms are taken along `axis` (1 = over rows, i.e. per
#' column, Keras' `axis = 0`).
#'
#' @param max_value,min_value Bounds on the norm.
#' @param rate Interpolation towards the clipped norm (1 = full clipping).
#' @param axis The axis along which norms are computed, as an R (1-based)
#'   index. `get_config()` writes it in Keras' 0-based count and
#'   `from_config()` reads it back, so Keras configs keep their meaning.
#' @returns A constraint object (class `gru_constraint`).
#' @family constraints
#' @name constraints
#' @examples
#' cons <- constraint_maxnorm(1)
#' w <- matrix(c(3, 4, 0.3, 0.4), 2)
#' apply_constraint(cons, w)
NULL

new_constraint <- function(class_name, config) {
  structure(list(class_name = class_name, config = config), class = "gru_constraint")
}

#' @rdname constraints
#' @export
constraint_maxnorm <- function(max_value = 2, axis = 1) {
  check_number(max_value, min = 0)
  new_constraint("MaxNorm", list(max_value = max_value, axis = axis))
}

#' @rdname constraints
#' @export
constraint_nonneg <- function() new_constraint("NonNeg", list())

#' @rdname constraints
#' @export
constraint_unitnorm <- function(axis = 1) new_constraint("UnitNorm", list(axis = axis))

#' @rdname constraints
#' @export
constraint_minmaxnorm <- function(min_value = 0, max_value = 1, rate = 1, axis = 1) {
  check_number(min_value, min = 0)
  check_number(max_value, min = 0)
  check_number(rate, min = 0)
  new_constraint("MinMaxNorm", list(min_value = min_value, max_value = max_value,
                                    rate = rate, axis = axis))
}

regularizer_names <- c(l1 = "L1", l2 = "L2", l1_l2 = "L1L2")
constraint_names <- c(max_norm = "MaxNorm", maxnorm = "MaxNorm", non_neg = "NonNeg",
                      nonneg = "NonNeg", unit_norm = "UnitNorm", unitnorm = "UnitNorm",
                      min_max_norm = "MinMaxNorm", minmaxnorm = "MinMaxNorm")

# NULL, an object, a Keras config list, a name, or an R function.
resolve_regularizer <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  resolve_penalty_like(x, "gru_regularizer", regularizer_names,
                       c(L1 = "regularizer_l1", L2 = "regularizer_l2", L1L2 = "regularizer_l1_l2"),
                       "regularizer", arg, call)
}

resolve_constraint <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  resolve_penalty_like(x, "gru_constraint", constraint_names,
                       c(MaxNorm = "constraint_maxnorm", NonNeg = "constraint_nonneg",
                         UnitNorm = "constraint_unitnorm", MinMaxNorm = "constraint_minmaxnorm"),
                       "constraint", arg, call)
}

# `constructors`: the constructors' names by Keras class name.
resolve_penalty_like <- function(x, cls, names_map, constructors, what, arg, call) {
  if (is.null(x) || inherits(x, cls) || is.function(x)) return(x)
  class_name <- NULL
  config <- list()
  if (is.character(x) && length(x) == 1L && !is.na(x)) {
    class_name <- if (x %in% names(names_map)) names_map[[x]] else
      if (x %in% names(constructors)) x
  } else if (is.list(x) && is.character(x$class_name) && length(x$class_name) == 1L) {
    class_name <- if (x$class_name %in% names(constructors)) x$class_name
    config <- x$config
    # A config holds Keras' 0-based axis; the object holds R's 1-based one.
    if (identical(what, "constraint") && is.list(config) && is.numeric(config$axis)) {
      config$axis <- axis_from_keras(config$axis)
    }
  }
  if (is.null(class_name)) {
    abort_gru(
      c("{.arg {arg}} must be `NULL`, a {what} object, a known {what} name or a function, not {.obj_type_friendly {x}}{if (is.character(x) && length(x) == 1L) paste0(' (\"', x, '\")')}.",
        "i" = "Known names: {.val {names(names_map)}}."),
      class = "gru_error_input", call = call
    )
  }
  object_from_config(list(class_name = class_name, config = config),
                     constructors[[class_name]], arg, call)
}

# Keras counts axes from 0 (negative from the end); R from 1.
axis_from_keras <- function(axis) ifelse(axis >= 0, axis + 1, axis)
axis_to_keras <- function(axis) ifelse(axis >= 1, axis - 1, axis)

# The penalty of one regularizer on one weight (`arg` and `layer` name it
# in messages about a user's function, checked by call_user_fn()).
regularization_penalty <- function(reg, w, arg = "regularizer", layer = NULL,
                                   call = NULL) {
  if (is.function(reg)) {
    return(as.numeric(call_user_fn(reg, w, "regularizer", arg, layer = layer, n = 1L,
                                   want_dim = 1L, call = call)))
  }
  cfg <- reg$config
  l1 <- if (is.null(cfg$l1)) 0 else cfg$l1
  l2 <- if (is.null(cfg$l2)) 0 else cfg$l2
  l1 * sum(abs(w)) + l2 * sum(w^2)
}

#' Apply a constraint to a weight
#'
#' Projects a weight array as the constraint prescribes (what training does
#' after each update).
#'
#' @param constraint A constraint object, e.g. [constraint_maxnorm()], or a
#'   function of the weight.
#' @param w A numeric weight array.
#' @returns The projected weight, with `w`'s shape.
#' @family constraints
#' @export
#' @examples
#' apply_constraint(constraint_nonneg(), c(-1, 2))
apply_constraint <- function(constraint, w) {
  constrain_weight(constraint, w, call = rlang::current_env())
}

# apply_constraint() for the constraint of argument `arg` of layer `layer`
# (in messages about a user's function, checked by call_user_fn()).
constrain_weight <- function(constraint, w, arg = "constraint", layer = NULL,
                             call = NULL) {
  if (is.null(constraint)) return(w)
  if (is.function(constraint)) {
    out <- call_user_fn(constraint, w, "constraint", arg, layer = layer, call = call)
    return(array(as.numeric(out), dim = dim(w) %||% length(w)))
  }
  cfg <- constraint$config
  eps <- 1e-7
  col_norms <- function(axis) {
    m <- if (is.null(dim(w))) matrix(w, ncol = 1) else w
    if (axis < 1) axis <- length(dim(m)) + axis + 1
    n <- sqrt(apply(m^2, setdiff(seq_along(dim(m)), axis), sum))
    list(m = m, n = n, margin = setdiff(seq_along(dim(m)), axis))
  }
  scale_by <- function(info, f) {
    out <- sweep(info$m, info$margin, f, `*`)
    if (is.null(dim(w))) as.numeric(out) else out
  }
  switch(
    constraint$class_name,
    NonNeg = w * (w >= 0),
    MaxNorm = {
      info <- col_norms(cfg$axis)
      desired <- pmin(pmax(info$n, 0), cfg$max_value)
      scale_by(info, desired / (eps + info$n))
    },
    UnitNorm = {
      info <- col_norms(cfg$axis)
      scale_by(info, 1 / (eps + info$n))
    },
    MinMaxNorm = {
      info <- col_norms(cfg$axis)
      desired <- cfg$rate * pmin(pmax(info$n, cfg$min_value), cfg$max_value) +
        (1 - cfg$rate) * info$n
      scale_by(info, desired / (eps + info$n))
    }
  )
}

#' @export
print.gru_regularizer <- function(x, ...) {
  cat("<regularizer ", x$class_name, "(",
      paste(names(x$config), unlist(x$config), sep = " = ", collapse = ", "), ")>\n", sep = "")
  invisible(x)
}

#' @export
print.gru_constraint <- function(x, ...) {
  cat("<constraint ", x$class_name, "(",
      paste(names(x$config), unlist(x$config), sep = " = ", collapse = ", "), ")>\n", sep = "")
  invisible(x)
}
