# Optimizers with keras3's names, arguments, defaults and update rules
# (keras 3's optimizers/*.py). An optimizer is a plain list, so a compiled
# model with its optimizer state round-trips through saveRDS():
#
#   class_name  "SGD", "Adam", "RMSprop", "Adagrad"
#   config      learning_rate, the method's hyperparameters, clipnorm,
#               clipvalue, global_clipnorm
#   iterations  the number of updates applied
#   slots       per weight (keyed "<layer name>/<weight name>"), the method's
#               accumulators (momentum, m, v, ...)
#
# optimizer_update() takes the current weights and their gradients and
# returns the new weights and the optimizer with its state advanced; it never
# touches a layer, so the caller can assign all new weights at once.

#' Optimizers
#'
#' keras3's optimizers, with the same names, arguments, defaults and update
#' rules: stochastic gradient descent (with momentum and Nesterov momentum),
#' Adam (and AMSGrad), RMSprop (plain, centered, with momentum) and Adagrad.
#' Pass one to [compile()][compile.gru_model], or a name (`"sgd"`,
#' `"adam"`, `"rmsprop"`, `"adagrad"`) for the defaults.
#'
#' Gradients can be clipped before the update: `clipvalue` clips each
#' element to `[-clipvalue, clipvalue]`, `clipnorm` rescales each weight's
#' gradient to a norm of at most `clipnorm`, `global_clipnorm` rescales all
#' gradients together to a joint norm of at most `global_clipnorm`. At most
#' one of them may be set, as in Keras.
#'
#' The optimizer's state (its step count and accumulators) is kept in the
#' compiled model, in R objects, so `saveRDS()` of a model keeps it and
#' training continues where it stopped.
#'
#' @param learning_rate A positive number.
#' @param momentum A non-negative number: SGD's momentum, or RMSprop's.
#' @param nesterov Whether SGD uses Nesterov momentum.
#' @param beta_1,beta_2 Adam's decay rates of the first and second moment
#'   estimates, in `[0, 1)`.
#' @param epsilon A small positive number for numerical stability.
#' @param amsgrad Whether Adam uses the AMSGrad variant.
#' @param rho RMSprop's decay rate of the squared-gradient average.
#' @param centered Whether RMSprop divides by the gradient's estimated
#'   variance rather than its second moment.
#' @param initial_accumulator_value Adagrad's starting accumulator, a
#'   non-negative number.
#' @param ... `clipnorm`, `clipvalue`, `global_clipnorm` (positive numbers or
#'   `NULL`) and `name`. keras3's other arguments (`weight_decay`,
#'   `use_ema`, ...) are not supported.
#' @returns An optimizer object (class `gru_optimizer`).
#' @family training
#' @name optimizers
#' @examples
#' optimizer_adam()
#' optimizer_sgd(learning_rate = 0.1, momentum = 0.9, nesterov = TRUE)
#' optimizer_rmsprop(clipnorm = 1)
NULL

#' @rdname optimizers
#' @export
optimizer_sgd <- function(learning_rate = 0.01, momentum = 0, nesterov = FALSE, ...) {
  call <- rlang::current_env()
  check_learning_rate(learning_rate, call = call)
  check_number(momentum, min = 0, call = call)
  check_bool(nesterov, call = call)
  new_optimizer("SGD", list(learning_rate = learning_rate, momentum = momentum,
                            nesterov = nesterov), list(...), call = call)
}

#' @rdname optimizers
#' @export
optimizer_adam <- function(learning_rate = 0.001, beta_1 = 0.9, beta_2 = 0.999,
                           epsilon = 1e-07, amsgrad = FALSE, ...) {
  call <- rlang::current_env()
  check_learning_rate(learning_rate, call = call)
  check_unit_rate(beta_1, call = call)
  check_unit_rate(beta_2, call = call)
  check_number(epsilon, min = 0, call = call)
  check_bool(amsgrad, call = call)
  new_optimizer("Adam", list(learning_rate = learning_rate, beta_1 = beta_1,
                             beta_2 = beta_2, epsilon = epsilon,
                             amsgrad = amsgrad), list(...), call = call)
}

#' @rdname optimizers
#' @export
optimizer_rmsprop <- function(learning_rate = 0.001, rho = 0.9, momentum = 0,
                              epsilon = 1e-07, centered = FALSE, ...) {
  call <- rlang::current_env()
  check_learning_rate(learning_rate, call = call)
  check_unit_rate(rho, call = call)
  check_number(momentum, min = 0, call = call)
  check_number(epsilon, min = 0, call = call)
  check_bool(centered, call = call)
  new_optimizer("RMSprop", list(learning_rate = learning_rate, rho = rho,
                                momentum = momentum, epsilon = epsilon,
                                centered = centered), list(...), call = call)
}

#' @rdname optimizers
#' @export
optimizer_adagrad <- function(learning_rate = 0.001, initial_accumulator_value = 0.1,
                              epsilon = 1e-07, ...) {
  call <- rlang::current_env()
  check_learning_rate(learning_rate, call = call)
  check_number(initial_accumulator_value, min = 0, call = call)
  check_number(epsilon, min = 0, call = call)
  new_optimizer("Adagrad", list(learning_rate = learning_rate,
                                initial_accumulator_value = initial_accumulator_value,
                                epsilon = epsilon), list(...), call = call)
}

optimizer_dots <- c("clipnorm", "clipvalue", "global_clipnorm", "name")

new_optimizer <- function(class_name, config, dots, call) {
  check_layer_dots(dots, optimizer_dots, paste0("optimizer_", tolower(class_name)),
                   call = call)
  clips <- intersect(c("clipnorm", "clipvalue", "global_clipnorm"), names(dots))
  for (nm in clips) {
    if (!is.null(dots[[nm]])) {
      v <- dots[[nm]]
      ok <- is.numeric(v) && length(v) == 1L && !is.na(v) && is.finite(v) && v > 0
      if (!ok) {
        abort_gru(
          c("{.arg {nm}} must be a positive number or `NULL`, not {.obj_type_friendly {v}}."),
          class = "gru_error_input", call = call
        )
      }
    }
  }
  set <- clips[!vapply(dots[clips], is.null, logical(1))]
  if (length(set) > 1L) {
    abort_gru(
      c("Only one of {.arg clipnorm}, {.arg clipvalue} and {.arg global_clipnorm} can be set, not {.arg {set}}.",
        "i" = "Choose one way to clip gradients."),
      class = "gru_error_input", call = call
    )
  }
  config$name <- dots$name %||% tolower(class_name)
  config$clipnorm <- dots$clipnorm
  config$clipvalue <- dots$clipvalue
  config$global_clipnorm <- dots$global_clipnorm
  structure(list(class_name = class_name, config = config, iterations = 0L,
                 slots = list()),
            class = "gru_optimizer")
}

check_learning_rate <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  ok <- is.numeric(x) && length(x) == 1L && !is.na(x) && is.finite(x) && x > 0
  if (!ok) {
    shown <- if (is.numeric(x) && length(x) == 1L) paste0(" (", format(x), ")") else ""
    abort_gru(
      c("{.arg {arg}} must be a positive number, not {.obj_type_friendly {x}}{shown}.",
        "i" = "For example {.code learning_rate = 0.001}."),
      class = "gru_error_input", call = call
    )
  }
  invisible(x)
}

check_unit_rate <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  ok <- is.numeric(x) && length(x) == 1L && !is.na(x) && x >= 0 && x < 1
  if (!ok) {
    abort_gru(
      c("{.arg {arg}} must be a number in [0, 1), not {.obj_type_friendly {x}}."),
      class = "gru_error_input", call = call
    )
  }
  invisible(x)
}

optimizer_names <- c(sgd = "SGD", adam = "Adam", rmsprop = "RMSprop", adagrad = "Adagrad")

# An optimizer argument: a name or an optimizer object.
resolve_optimizer <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (inherits(x, "gru_optimizer")) return(x)
  if (is.character(x) && length(x) == 1L && !is.na(x)) {
    key <- tolower(x)
    if (key %in% names(optimizer_names)) {
      return(switch(key, sgd = optimizer_sgd(), adam = optimizer_adam(),
                    rmsprop = optimizer_rmsprop(), adagrad = optimizer_adagrad()))
    }
    abort_gru(
      c("{.arg {arg}} names an unknown optimizer: {.val {x}}.",
        "i" = "Use one of {.val {names(optimizer_names)}}, or an object such as {.code optimizer_adam()}."),
      class = c("gru_error_unknown_name", "gru_error_input"), call = call
    )
  }
  abort_gru(
    c("{.arg {arg}} must be an optimizer name or object, not {.obj_type_friendly {x}}.",
      "i" = "For example {.code optimizer = \"adam\"} or {.code optimizer_sgd(learning_rate = 0.1)}."),
    class = "gru_error_input", call = call
  )
}

# Gradient clipping, as Keras' base optimizer does before the update.
clip_gradients <- function(cfg, grads) {
  if (!is.null(cfg$clipvalue)) {
    v <- cfg$clipvalue
    grads <- lapply(grads, function(g) pmin(pmax(g, -v), v))
  }
  if (!is.null(cfg$clipnorm)) {
    grads <- lapply(grads, function(g) {
      n <- sqrt(sum(g^2))
      if (n > cfg$clipnorm) g * (cfg$clipnorm / n) else g
    })
  }
  if (!is.null(cfg$global_clipnorm)) {
    n <- sqrt(sum(vapply(grads, function(g) sum(g^2), numeric(1))))
    if (n > cfg$global_clipnorm) {
      grads <- lapply(grads, function(g) g * (cfg$global_clipnorm / n))
    }
  }
  grads
}

# One update. `keys` name the weights (their optimizer slots), `weights` and
# `grads` are lists of arrays in the same order. Returns
# list(optimizer, weights).
optimizer_update <- function(opt, keys, weights, grads) {
  cfg <- opt$config
  grads <- clip_gradients(cfg, grads)
  step <- opt$iterations + 1L
  lr <- cfg$learning_rate
  slots <- opt$slots
  out <- vector("list", length(weights))
  for (i in seq_along(weights)) {
    w <- weights[[i]]
    g <- grads[[i]]
    s <- slots[[keys[i]]]
    if (!is.null(s) && !identical(length(s[[1L]]), length(w))) s <- NULL
    switch(
      opt$class_name,
      SGD = {
        if (cfg$momentum != 0) {
          m <- (s$momentum %||% (0 * w)) * cfg$momentum - lr * g
          w <- if (cfg$nesterov) w + cfg$momentum * m - lr * g else w + m
          s <- list(momentum = m)
        } else {
          w <- w - lr * g
        }
      },
      Adam = {
        m <- s$m %||% (0 * w)
        v <- s$v %||% (0 * w)
        alpha <- lr * sqrt(1 - cfg$beta_2^step) / (1 - cfg$beta_1^step)
        m <- m + (g - m) * (1 - cfg$beta_1)
        v <- v + (g * g - v) * (1 - cfg$beta_2)
        s <- list(m = m, v = v)
        if (cfg$amsgrad) {
          v <- pmax(s$v_hat %||% (0 * w), v)
          s$v_hat <- v
        }
        w <- w - m * alpha / (sqrt(v) + cfg$epsilon)
      },
      RMSprop = {
        prev <- s %||% list()
        vel <- cfg$rho * (prev$velocity %||% (0 * w)) + (1 - cfg$rho) * g * g
        s <- list(velocity = vel)
        denom <- vel
        if (cfg$centered) {
          avg <- cfg$rho * (prev$average_gradient %||% (0 * w)) + (1 - cfg$rho) * g
          s$average_gradient <- avg
          denom <- vel - avg * avg
        }
        inc <- lr * g / sqrt(denom + cfg$epsilon)
        if (cfg$momentum > 0) {
          mom <- cfg$momentum * (prev$momentum %||% (0 * w)) + inc
          s$momentum <- mom
          w <- w - mom
        } else {
          w <- w - inc
        }
      },
      Adagrad = {
        acc <- (s$accumulator %||% (0 * w + cfg$initial_accumulator_value)) + g * g
        s <- list(accumulator = acc)
        w <- w - lr * g / sqrt(acc + cfg$epsilon)
      }
    )
    if (!is.null(s)) slots[[keys[i]]] <- s
    out[[i]] <- w
  }
  opt$slots <- slots
  opt$iterations <- step
  list(optimizer = opt, weights = out)
}

#' @export
print.gru_optimizer <- function(x, ...) {
  cfg <- x$config
  shown <- cfg[setdiff(names(cfg), "name")]
  shown <- shown[!vapply(shown, is.null, logical(1))]
  cat("<optimizer ", x$class_name, "(",
      paste(names(shown), vapply(shown, format, character(1)), sep = " = ",
            collapse = ", "),
      ")>", if (x$iterations > 0) paste0(" after ", x$iterations, " updates"), "\n",
      sep = "")
  invisible(x)
}
