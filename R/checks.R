# Argument checks. Exported functions call these once, at the entry point;
# internal helpers trust their inputs. Each takes `arg` and `call` so the
# error names the user's argument and function.

check_bool <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!(is.logical(x) && length(x) == 1L && !is.na(x))) {
    abort_gru(
      c("{.arg {arg}} must be `TRUE` or `FALSE`, not {.obj_type_friendly {x}}.",
        "i" = "Pass a single logical value."),
      class = "gru_error_input", call = call
    )
  }
  invisible(x)
}

# A shape given as a list (a Keras JSON's [null, 5, 3]) as a numeric
# vector, NULL entries unknown (NA). A list with anything but NULL or a
# single number in it comes back as it is, for the caller's error.
shape_from_list <- function(x) {
  if (!is.list(x) || is.object(x)) return(x)
  ok <- vapply(x, function(v) {
    is.null(v) || length(v) == 1L && (is.numeric(v) || is.logical(v) && is.na(v))
  }, logical(1))
  if (!all(ok)) return(x)
  vapply(x, function(v) if (is.null(v)) NA_real_ else as.numeric(v), numeric(1))
}

# A shape of known (positive whole, int-sized) and unknown (NA) entries.
is_batch_shape <- function(x) {
  (is.numeric(x) || is.logical(x) && all(is.na(x))) && !is.object(x) &&
    length(x) >= 1L && all(is.na(x) | (x >= 1 & x == trunc(x) & x <= .Machine$integer.max))
}

# A layer call's `training`: NULL, TRUE or FALSE.
check_training <- function(training, call = rlang::caller_env()) {
  if (is.null(training) || is.logical(training) && length(training) == 1L && !is.na(training)) {
    return(invisible(training))
  }
  abort_gru(
    c("{.arg training} must be `NULL`, `TRUE` or `FALSE`, not {.obj_type_friendly {training}}.",
      "i" = "`TRUE` applies dropout; `NULL` and `FALSE` do not."),
    class = "gru_error_input", call = call
  )
}

# A count that R and the engine hold in an int: 1 to 2^31 - 1.
check_positive_whole <- function(x, arg = rlang::caller_arg(x),
                                 call = rlang::caller_env()) {
  ok <- is.numeric(x) && length(x) == 1L && !is.na(x) && is.finite(x) &&
    x >= 1 && x == trunc(x)
  if (ok && x > .Machine$integer.max) {
    max_int <- .Machine$integer.max
    abort_gru(
      c("{.arg {arg}} must be at most {max_int} (2^31 - 1), not {format(x)}.",
        "i" = "gru holds counts in R integers."),
      class = "gru_error_input", call = call
    )
  }
  if (!ok) {
    shown <- if (is.numeric(x) && length(x) == 1L) format(x) else NULL
    abort_gru(
      c("{.arg {arg}} must be a positive whole number, not {.obj_type_friendly {x}}{if (!is.null(shown)) paste0(' (', shown, ')')}.",
        "i" = "For example {.code {arg} = 32}."),
      class = "gru_error_input", call = call
    )
  }
  invisible(as.integer(x))
}

check_rate <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  ok <- is.numeric(x) && length(x) == 1L && !is.na(x) && x >= 0 && x < 1
  if (!ok) {
    shown <- if (is.numeric(x) && length(x) == 1L) format(x) else NULL
    abort_gru(
      c("{.arg {arg}} must be a number in [0, 1), not {.obj_type_friendly {x}}{if (!is.null(shown)) paste0(' (', shown, ')')}.",
        "i" = "It is the fraction of units to drop; use 0 for no dropout."),
      class = "gru_error_input", call = call
    )
  }
  invisible(as.numeric(x))
}

check_string <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!(is.character(x) && length(x) == 1L && !is.na(x) && nzchar(x))) {
    abort_gru(
      c("{.arg {arg}} must be a single string, not {.obj_type_friendly {x}}."),
      class = "gru_error_input", call = call
    )
  }
  invisible(x)
}

check_choice <- function(x, choices, arg = rlang::caller_arg(x),
                         call = rlang::caller_env()) {
  if (!(is.character(x) && length(x) == 1L && x %in% choices)) {
    shown <- if (is.character(x) && length(x) == 1L) x else NULL
    abort_gru(
      c("{.arg {arg}} must be one of {.or {.val {choices}}}, not {.obj_type_friendly {x}}{if (!is.null(shown)) paste0(' (\"', shown, '\")')}."),
      class = "gru_error_input", call = call
    )
  }
  invisible(x)
}

# Where the first non-finite value of an array sits, as "[i, j, k]".
first_nonfinite <- function(x) {
  i <- which(!is.finite(x))[1L]
  d <- dim(x)
  if (is.null(d)) return(paste0("[", i, "]"))
  idx <- arrayInd(i, d)
  paste0("[", paste(idx, collapse = ", "), "]")
}

check_finite <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  # Doubles: one pass in C++ with no allocation (is.finite() allocates a
  # logical copy of the input on every layer call).
  if (is.double(x) && cpp_all_finite(x)) return(invisible(x))
  if (anyNA(x) || any(!is.finite(x))) {
    n <- sum(!is.finite(x))
    where <- first_nonfinite(x)
    value <- format(x[which(!is.finite(x))[1L]])
    abort_gru(
      c("{.arg {arg}} must not contain NA, NaN or Inf: it has {n} such value{?s}, the first ({value}) at {where}.",
        "i" = "Impute or remove missing values; to skip padded timesteps use a {.arg mask}."),
      class = c("gru_error_nonfinite", "gru_error_input"), call = call
    )
  }
  invisible(x)
}

# A numeric array of rank 3 (batch, timesteps, features). Every layer call
# checks its input, so the common case, a plain double array of three
# nonzero dimensions with finite values, is settled by the first test (a
# plain double vector is numeric, and is an array when it has a dim); any
# other input takes the checks below, which say what is wrong.
check_sequence_input <- function(x, arg = rlang::caller_arg(x),
                                 call = rlang::caller_env()) {
  if (is.double(x) && !is.object(x) && length(d <- dim(x)) == 3L &&
      all(d > 0L) && cpp_all_finite(x)) {
    return(invisible(x))
  }
  if (!(is.numeric(x) || is.logical(x)) || is.object(x) && !is.array(x)) {
    abort_gru(
      c("{.arg {arg}} must be a numeric array of shape (batch, timesteps, features), not {.obj_type_friendly {x}}.",
        "i" = "Convert it with {.code array(x, dim = c(batch, timesteps, features))}."),
      class = "gru_error_input", call = call
    )
  }
  d <- dim(x)
  if (length(d) != 3L) {
    shape <- if (is.null(d)) paste0("a vector of length ", length(x)) else
      paste0("an array of shape (", paste(d, collapse = ", "), ")")
    abort_gru(
      c("{.arg {arg}} must be a 3-D array (batch, timesteps, features), not {shape}.",
        "i" = "A single sequence of shape (timesteps, features) becomes {.code array(x, dim = c(1, dim(x)))}."),
      class = "gru_error_shape", call = call
    )
  }
  if (any(d == 0L)) {
    abort_gru(
      c("{.arg {arg}} has a zero-length dimension: shape ({paste(d, collapse = ', ')}).",
        "i" = "Every one of batch, timesteps and features must be at least 1."),
      class = "gru_error_shape", call = call
    )
  }
  check_finite(x, arg = arg, call = call)
  invisible(x)
}

# An axis as R counts it, from 1 (the batch axis) or from the end with
# negative numbers: a non-zero whole number, or with `several` one or more
# (a list of numbers, as a config may hold, too).
check_axis <- function(x, several = FALSE, arg = rlang::caller_arg(x),
                       call = rlang::caller_env()) {
  if (several && is.list(x) && all(vapply(x, is.numeric, logical(1)))) x <- unlist(x)
  ok <- is.numeric(x) && (length(x) == 1L || several && length(x) > 1L) &&
    all(is.finite(x)) && all(x == trunc(x)) && all(x != 0)
  if (!ok) {
    shown <- if (is.numeric(x) && length(x) >= 1L) paste0(" (", paste(format(x), collapse = ", "), ")")
    abort_gru(
      c("{.arg {arg}} must be {if (several) 'one or more non-zero whole numbers' else 'a non-zero whole number'}, not {.obj_type_friendly {x}}{shown}.",
        "i" = "Axes count from 1 (the batch axis), or from the end with negative numbers: {.code -1} is the last axis."),
      class = "gru_error_input", call = call
    )
  }
  as.integer(x)
}

# Calls a function the user gave for an argument (an activation,
# initializer, regularizer or constraint) and checks what it returns. An
# error it raises becomes a gru_error_input naming the argument and the
# layer, with the original as parent; a value that is not a finite numeric
# array of `n` values (with `want_dim` when it has a dim; one number for a
# regularizer) is an error too, so a wrong length is never recycled and NULL
# never becomes NAs.
call_user_fn <- function(fn, x, kind, arg, layer = NULL, n = length(x),
                         want_dim = dim(x), call = NULL) {
  whose <- if (is.null(layer)) "" else cli::format_inline(" of layer {.val {layer}}")
  y <- withCallingHandlers(
    fn(x),
    error = function(cnd) {
      abort_gru(
        c("The {.arg {arg}} function{whose} failed.", "i" = user_fn_hint[[kind]]),
        class = "gru_error_input", parent = cnd, call = call
      )
    }
  )
  ok_dim <- is.null(dim(y)) || identical(as.integer(dim(y)), as.integer(want_dim %||% n))
  if (!is.numeric(y) || is.object(y) || length(y) != n || !ok_dim) {
    have <- if (is.numeric(y)) {
      paste0("an array of shape ", format_shape(dim(y) %||% length(y)))
    } else {
      cli::format_inline("{.obj_type_friendly {y}}")
    }
    want <- if (n == 1L && kind == "regularizer") "one number" else
      paste0("an array of shape ", format_shape(want_dim %||% n))
    abort_gru(
      c("The {.arg {arg}} function{whose} returned {have}, but it must return {want}.",
        "i" = user_fn_hint[[kind]]),
      class = "gru_error_input", call = call
    )
  }
  if (!(is.double(y) && cpp_all_finite(y)) && (anyNA(y) || any(!is.finite(y)))) {
    abort_gru(
      c("The {.arg {arg}} function{whose} returned NA, NaN or Inf (at {first_nonfinite(y)}).",
        "i" = user_fn_hint[[kind]]),
      class = c("gru_error_nonfinite", "gru_error_input"), call = call
    )
  }
  y
}

user_fn_hint <- list(
  activation = "An activation takes a numeric array and returns one of the same shape, elementwise.",
  initializer = "An initializer function takes the weight's shape and returns a numeric array of that shape.",
  regularizer = "A regularizer function takes a weight and returns its penalty, one finite number.",
  constraint = "A constraint function takes a weight and returns the projected weight, of the same shape."
)
