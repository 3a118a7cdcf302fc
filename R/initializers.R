# Weight initializers with keras3's names, arguments and Keras' class names.
# An initializer is a small list of class "gru_initializer" holding Keras'
# `class_name` and `config`, so it serializes in get_config() and rebuilds
# with from_config(). Values are drawn with R's RNG: set.seed() reproduces
# them, and an initializer with a `seed` draws the same values every time
# without disturbing the session's random stream.

new_initializer <- function(class_name, config) {
  structure(list(class_name = class_name, config = config),
            class = "gru_initializer")
}

#' Weight initializers
#'
#' Objects that draw initial weights, with keras3's function names and
#' arguments. Pass one (or its name, e.g. `"glorot_uniform"`) as
#' `kernel_initializer`, `recurrent_initializer` or `bias_initializer`.
#' Draws use R's random number generator, so `set.seed()` reproduces them;
#' with `seed`, an initializer draws the same values every time and leaves the
#' session's random stream alone.
#'
#' @param seed `NULL` or an integer seed.
#' @param gain Multiplicative factor.
#' @param value The constant.
#' @param mean,stddev Mean and standard deviation of the normal draws.
#' @param minval,maxval Bounds of the uniform draws.
#' @param scale,mode,distribution Variance scaling: the variance is
#'   `scale / n`, where `n` is the fan-in, fan-out or their average (`mode`
#'   `"fan_in"`, `"fan_out"`, `"fan_avg"`); `distribution` is
#'   `"truncated_normal"`, `"untruncated_normal"` or `"uniform"`.
#' @returns An initializer object (class `gru_initializer`).
#' @family initializers
#' @name initializers
#' @examples
#' init <- initializer_orthogonal(seed = 1)
#' layer <- layer_gru(units = 4, recurrent_initializer = init)
#' layer(array(0, c(1, 2, 3)))
#' dim(layer$get_weights()$recurrent_kernel)
NULL

#' @rdname initializers
#' @export
initializer_glorot_uniform <- function(seed = NULL) {
  new_initializer("GlorotUniform", list(seed = check_seed(seed)))
}

#' @rdname initializers
#' @export
initializer_glorot_normal <- function(seed = NULL) {
  new_initializer("GlorotNormal", list(seed = check_seed(seed)))
}

#' @rdname initializers
#' @export
initializer_he_normal <- function(seed = NULL) {
  new_initializer("HeNormal", list(seed = check_seed(seed)))
}

#' @rdname initializers
#' @export
initializer_he_uniform <- function(seed = NULL) {
  new_initializer("HeUniform", list(seed = check_seed(seed)))
}

#' @rdname initializers
#' @export
initializer_lecun_normal <- function(seed = NULL) {
  new_initializer("LecunNormal", list(seed = check_seed(seed)))
}

#' @rdname initializers
#' @export
initializer_lecun_uniform <- function(seed = NULL) {
  new_initializer("LecunUniform", list(seed = check_seed(seed)))
}

#' @rdname initializers
#' @export
initializer_orthogonal <- function(gain = 1, seed = NULL) {
  check_number(gain)
  new_initializer("Orthogonal", list(gain = gain, seed = check_seed(seed)))
}

#' @rdname initializers
#' @export
initializer_zeros <- function() new_initializer("Zeros", list())

#' @rdname initializers
#' @export
initializer_ones <- function() new_initializer("Ones", list())

#' @rdname initializers
#' @export
initializer_constant <- function(value = 0) {
  check_number(value)
  new_initializer("Constant", list(value = value))
}

#' @rdname initializers
#' @export
initializer_identity <- function(gain = 1) {
  check_number(gain)
  new_initializer("Identity", list(gain = gain))
}

#' @rdname initializers
#' @export
initializer_random_normal <- function(mean = 0, stddev = 0.05, seed = NULL) {
  check_number(mean)
  check_number(stddev, min = 0)
  new_initializer("RandomNormal",
                  list(mean = mean, stddev = stddev, seed = check_seed(seed)))
}

#' @rdname initializers
#' @export
initializer_random_uniform <- function(minval = -0.05, maxval = 0.05, seed = NULL) {
  check_number(minval)
  check_number(maxval)
  new_initializer("RandomUniform",
                  list(minval = minval, maxval = maxval, seed = check_seed(seed)))
}

#' @rdname initializers
#' @export
initializer_truncated_normal <- function(mean = 0, stddev = 0.05, seed = NULL) {
  check_number(mean)
  check_number(stddev, min = 0)
  new_initializer("TruncatedNormal",
                  list(mean = mean, stddev = stddev, seed = check_seed(seed)))
}

#' @rdname initializers
#' @export
initializer_variance_scaling <- function(scale = 1, mode = "fan_in",
                                         distribution = "truncated_normal",
                                         seed = NULL) {
  check_number(scale, min = 0)
  check_choice(mode, c("fan_in", "fan_out", "fan_avg"))
  check_choice(distribution, c("truncated_normal", "untruncated_normal", "uniform"))
  new_initializer("VarianceScaling",
                  list(scale = scale, mode = mode, distribution = distribution,
                       seed = check_seed(seed)))
}

# snake_case name -> constructor, for initializers given by name.
initializer_constructors <- list(
  glorot_uniform = initializer_glorot_uniform,
  glorot_normal = initializer_glorot_normal,
  he_normal = initializer_he_normal,
  he_uniform = initializer_he_uniform,
  lecun_normal = initializer_lecun_normal,
  lecun_uniform = initializer_lecun_uniform,
  orthogonal = initializer_orthogonal,
  zeros = initializer_zeros,
  ones = initializer_ones,
  constant = initializer_constant,
  identity = initializer_identity,
  random_normal = initializer_random_normal,
  random_uniform = initializer_random_uniform,
  truncated_normal = initializer_truncated_normal,
  variance_scaling = initializer_variance_scaling,
  # keras 2's short names
  uniform = initializer_random_uniform,
  normal = initializer_random_normal
)

# Keras class name -> snake_case name.
initializer_class_names <- c(
  GlorotUniform = "glorot_uniform", GlorotNormal = "glorot_normal",
  HeNormal = "he_normal", HeUniform = "he_uniform",
  LecunNormal = "lecun_normal", LecunUniform = "lecun_uniform",
  Orthogonal = "orthogonal", Zeros = "zeros", Ones = "ones",
  Constant = "constant", Identity = "identity", RandomNormal = "random_normal",
  RandomUniform = "random_uniform", TruncatedNormal = "truncated_normal",
  VarianceScaling = "variance_scaling"
)

# A seed for set.seed(): NULL or a whole number in R's integer range.
check_seed <- function(seed, arg = rlang::caller_arg(seed), call = rlang::caller_env()) {
  if (is.null(seed)) return(NULL)
  if (!(is.numeric(seed) && length(seed) == 1L && !is.na(seed) && is.finite(seed) &&
        seed == trunc(seed) && abs(seed) <= .Machine$integer.max)) {
    shown <- if (is.numeric(seed) && length(seed) == 1L) paste0(" (", format(seed), ")") else ""
    abort_gru(
      c("{.arg {arg}} must be `NULL` or a whole number, not {.obj_type_friendly {seed}}{shown}.",
        "i" = "Seeds are R integers: from -(2^31 - 1) to 2^31 - 1."),
      class = "gru_error_input", call = call
    )
  }
  as.integer(seed)
}

check_number <- function(x, min = -Inf, arg = rlang::caller_arg(x),
                         call = rlang::caller_env()) {
  if (!(is.numeric(x) && length(x) == 1L && is.finite(x) && x >= min)) {
    abort_gru(
      c("{.arg {arg}} must be a finite number{if (min > -Inf) paste0(' >= ', min)}, not {.obj_type_friendly {x}}."),
      class = "gru_error_input", call = call
    )
  }
  invisible(x)
}

# Resolves NULL-free initializer arguments: a name, an initializer object, or
# an R function(shape) returning an array of that shape.
resolve_initializer <- function(x, arg = rlang::caller_arg(x),
                                call = rlang::caller_env()) {
  if (inherits(x, "gru_initializer") || is.function(x)) return(x)
  if (is.list(x) && !is.null(x$class_name)) {
    return(initializer_from_config(x, arg = arg, call = call))
  }
  if (is.character(x) && length(x) == 1L && !is.na(x)) {
    key <- if (x %in% names(initializer_class_names)) initializer_class_names[[x]] else x
    if (key %in% names(initializer_constructors)) {
      return(initializer_constructors[[key]]())
    }
  }
  abort_gru(
    c("{.arg {arg}} must name a known initializer, not {.obj_type_friendly {x}}{if (is.character(x) && length(x) == 1L) paste0(' (\"', x, '\")')}.",
      "i" = "Known names: {.val {names(initializer_constructors)}}; or pass an {.fn initializer_glorot_uniform}-style object or a function of {.arg shape}."),
    class = "gru_error_input", call = call
  )
}

initializer_from_config <- function(x, arg, call) {
  key <- if (length(x$class_name) == 1L) initializer_class_names[x$class_name] else NA
  if (is.na(key)) {
    abort_gru(
      c("{.arg {arg}} has an unknown initializer class {.val {x$class_name}}.",
        "i" = "Known classes: {.val {names(initializer_class_names)}}."),
      class = "gru_error_input", call = call
    )
  }
  object_from_config(x, paste0("initializer_", key), arg, call)
}

# An initializer, regularizer or constraint object from its Keras config
# list(class_name, config) by calling its constructor `fn` (a name, so
# that an error names the constructor): the config's keys must be the
# constructor's arguments.
object_from_config <- function(x, fn, arg, call) {
  config <- if (is.null(x$config)) list() else x$config
  nms <- names(config)
  known <- names(formals(get(fn, envir = topenv())))
  if (!is.list(config) || length(config) && (is.null(nms) || !all(nzchar(nms)))) {
    abort_gru(
      c("{.arg {arg}} has a config for class {.val {x$class_name}} that is {.obj_type_friendly {config}}, not a named list.",
        "i" = "Its keys are {.field {known}}."),
      class = "gru_error_input", call = call
    )
  }
  unknown <- setdiff(nms, known)
  if (length(unknown)) {
    abort_gru(
      c("{.arg {arg}} has {length(unknown)} unknown key{?s} {.field {unknown}} in its config for class {.val {x$class_name}}.",
        "i" = "Known keys: {.field {known}}."),
      class = "gru_error_input", call = call
    )
  }
  do.call(fn, config, envir = topenv())
}

# Keras' fan computation for a 1-D or 2-D weight.
compute_fans <- function(shape) {
  if (length(shape) == 1L) return(c(shape, shape))
  receptive <- if (length(shape) > 2L) prod(shape[-(length(shape) - 0:1)]) else 1
  c(shape[length(shape) - 1L] * receptive, shape[length(shape)] * receptive)
}

# Evaluates `expr` on a private random stream that starts at `start` (a seed
# for set.seed(), or a saved .Random.seed), leaving the session's stream as it
# was. Returns list(value, state), where `state` is the stream after `expr`.
with_private_rng <- function(start, expr) {
  had <- exists(".Random.seed", envir = globalenv(), inherits = FALSE)
  if (had) old <- get(".Random.seed", envir = globalenv(), inherits = FALSE)
  on.exit(
    if (had) assign(".Random.seed", old, envir = globalenv())
    else rm(".Random.seed", envir = globalenv())
  )
  if (length(start) == 1L) set.seed(start) else
    assign(".Random.seed", start, envir = globalenv())
  value <- expr
  list(value = value, state = get(".Random.seed", envir = globalenv(), inherits = FALSE))
}

# Evaluates `expr` with R's RNG seeded by `seed` (same draws every time),
# restoring the session's stream afterwards; with seed = NULL it simply
# evaluates `expr`.
with_seed <- function(seed, expr) {
  if (is.null(seed)) return(expr)
  with_private_rng(seed, expr)$value
}

truncated_normal_draws <- function(n, mean, sd) {
  # Keras truncates at two standard deviations (redraws outside them).
  out <- stats::rnorm(n)
  bad <- abs(out) > 2
  while (any(bad)) {
    out[bad] <- stats::rnorm(sum(bad))
    bad <- abs(out) > 2
  }
  mean + sd * out
}

# Draws an array of `shape` from initializer `init`, the value of argument
# `arg` (of layer `layer`, for messages). A user's function is checked
# (call_user_fn()).
initialize_weight <- function(init, shape, arg = "initializer", layer = NULL,
                              call = NULL) {
  if (is.function(init)) {
    v <- call_user_fn(init, shape, "initializer", arg, layer = layer,
                      n = prod(shape), want_dim = shape, call = call)
    return(array(as.numeric(v), dim = shape))
  }
  cfg <- init$config
  n <- prod(shape)
  values <- with_seed(cfg$seed, switch(
    init$class_name,
    Zeros = rep(0, n),
    Ones = rep(1, n),
    Constant = rep(cfg$value, n),
    RandomNormal = stats::rnorm(n, cfg$mean, cfg$stddev),
    RandomUniform = stats::runif(n, cfg$minval, cfg$maxval),
    TruncatedNormal = truncated_normal_draws(n, cfg$mean, cfg$stddev),
    Identity = {
      if (length(shape) != 2L) {
        abort_gru("The identity initializer needs a 2-D weight, not shape ({paste(shape, collapse = ', ')}).",
                  class = "gru_error_input", call = NULL)
      }
      m <- matrix(0, shape[1], shape[2])
      diag(m) <- cfg$gain
      m
    },
    Orthogonal = orthogonal_draws(shape, cfg$gain),
    variance_scaling_draws(init, shape)
  ))
  array(as.numeric(values), dim = shape)
}

# Draws a layer's weights of `shapes` (a named list, as the type's
# weight_shapes() gives) with the initializers in its config under `keys`
# (c(weight = "config key")), and returns them. Weights are R doubles; one
# of more than 2^31 - 1 values (the limit of one array in the engine), or
# one R cannot allocate, is a gru_error_input saying how much memory the
# layer's weights need, before or instead of R's allocation failure.
build_weights <- function(self, shapes, keys, call = NULL) {
  sizes <- vapply(shapes, function(s) prod(as.numeric(s)), numeric(1))
  if (any(sizes > .Machine$integer.max)) abort_weight_memory(self, shapes, sizes, call)
  name <- self$config$name
  withCallingHandlers(
    Map(function(shape, nm) {
      initialize_weight(self$config[[keys[[nm]]]], shape, arg = keys[[nm]],
                        layer = name, call = call)
    }, shapes, names(shapes)),
    error = function(cnd) {
      if (!inherits(cnd, "gru_error")) abort_weight_memory(self, shapes, sizes, call, cnd)
    }
  )
}

abort_weight_memory <- function(self, shapes, sizes, call, parent = NULL) {
  big <- names(shapes)[which.max(sizes)]
  too_big <- max(sizes) > .Machine$integer.max
  abort_gru(
    c("Layer {.val {self$config$name}} cannot create its weights: they need {format_bytes(8 * sum(sizes))} of memory{if (too_big) paste0(', and ', big, ' has shape ', format_shape(shapes[[big]]), ', more values than gru allows in one weight (2^31 - 1)') else ''}.",
      "i" = "Use fewer {.arg units} (or a smaller input); check that {.arg units} is what you meant."),
    class = "gru_error_input", parent = parent, call = call
  )
}

# "1.2 GB": bytes in decimal units.
format_bytes <- function(bytes) {
  units <- c("bytes", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
  i <- if (bytes < 1000) 1L else min(length(units), floor(log10(bytes) / 3) + 1L)
  if (i == 1L) return(paste(bytes, "bytes"))
  paste(format(signif(bytes / 1000^(i - 1L), 3)), units[i])
}

orthogonal_draws <- function(shape, gain) {
  rows <- prod(shape[-length(shape)])
  cols <- shape[length(shape)]
  a <- matrix(stats::rnorm(max(rows, cols) * min(rows, cols)),
              max(rows, cols), min(rows, cols))
  dec <- qr(a)
  q <- qr.Q(dec)
  q <- sweep(q, 2, sign(diag(qr.R(dec))), `*`)
  if (rows < cols) q <- t(q)
  gain * q
}

variance_scaling_draws <- function(init, shape) {
  cfg <- switch(
    init$class_name,
    GlorotUniform = list(scale = 1, mode = "fan_avg", distribution = "uniform"),
    GlorotNormal = list(scale = 1, mode = "fan_avg", distribution = "truncated_normal"),
    HeNormal = list(scale = 2, mode = "fan_in", distribution = "truncated_normal"),
    HeUniform = list(scale = 2, mode = "fan_in", distribution = "uniform"),
    LecunNormal = list(scale = 1, mode = "fan_in", distribution = "truncated_normal"),
    LecunUniform = list(scale = 1, mode = "fan_in", distribution = "uniform"),
    VarianceScaling = init$config
  )
  fans <- compute_fans(shape)
  fan <- switch(cfg$mode, fan_in = fans[1], fan_out = fans[2], fan_avg = mean(fans))
  scale <- cfg$scale / max(1, fan)
  n <- prod(shape)
  switch(
    cfg$distribution,
    uniform = {
      limit <- sqrt(3 * scale)
      stats::runif(n, -limit, limit)
    },
    truncated_normal = truncated_normal_draws(n, 0, sqrt(scale) / 0.87962566103423978),
    untruncated_normal = stats::rnorm(n, 0, sqrt(scale))
  )
}

#' @export
print.gru_initializer <- function(x, ...) {
  args <- vapply(names(x$config), function(k) {
    v <- x$config[[k]]
    paste0(k, " = ", if (is.null(v)) "NULL" else format(v))
  }, character(1))
  cat("<initializer ", x$class_name, "(", paste(args, collapse = ", "), ")>\n", sep = "")
  invisible(x)
}
