# Losses and metrics with keras3's names and formulas.
#
# A loss is a list(class_name, name, config) of class gru_loss. Internally
# every loss works on "positions": the model output reshaped to a P x K
# matrix whose rows are the (batch[, timestep]) positions and whose columns
# are the last axis (column-major arrays make that a free reshape). A loss
# gives one value per position; Keras' "sum_over_batch_size" reduction is
# their mean, over the unmasked positions when the output carries a mask
# (Keras 3 weights the loss by the output mask). loss_compute() returns the
# value and its gradient with respect to the output.

#' Losses
#'
#' keras3's losses, by object or by name in [compile()][compile.gru_model]:
#'
#' * `loss_mean_squared_error()` (`"mse"`, `"mean_squared_error"`):
#'   `mean((y_pred - y_true)^2)` over the last axis.
#' * `loss_mean_absolute_error()` (`"mae"`, `"mean_absolute_error"`).
#' * `loss_huber(delta = 1)` (`"huber"`): quadratic within `delta` of the
#'   target, linear beyond.
#' * `loss_binary_crossentropy(from_logits = FALSE)`
#'   (`"binary_crossentropy"`): targets in `[0, 1]`, predictions
#'   probabilities (clipped to `[1e-7, 1 - 1e-7]` as in Keras) or logits.
#' * `loss_categorical_crossentropy(from_logits = FALSE)`
#'   (`"categorical_crossentropy"`): one-hot (or probability) targets over
#'   the last axis.
#' * `loss_sparse_categorical_crossentropy(from_logits = FALSE)`
#'   (`"sparse_categorical_crossentropy"`): integer class targets in
#'   `0:(classes - 1)`, Keras' 0-based labels, shaped like the output
#'   without its last axis.
#'
#' Each is averaged over the batch (and the timesteps of a sequence output;
#' masked timesteps are left out, as Keras 3 does).
#'
#' @param delta The point where the Huber loss turns from quadratic to
#'   linear, a positive number.
#' @param from_logits Whether the model outputs logits (no final sigmoid or
#'   softmax) rather than probabilities.
#' @param ... `name`; keras3's `reduction` and `label_smoothing` are not
#'   supported.
#' @returns A loss object (class `gru_loss`).
#' @family training
#' @name losses
#' @examples
#' loss_huber(delta = 0.5)
#' model <- keras_model_sequential(input_shape = c(5, 2)) |>
#'   layer_gru(4) |>
#'   layer_dense(3)
#' compile(model, loss = loss_sparse_categorical_crossentropy(from_logits = TRUE))
NULL

#' @rdname losses
#' @export
loss_mean_squared_error <- function(...) {
  new_loss("MeanSquaredError", "mean_squared_error", list(), list(...))
}

#' @rdname losses
#' @export
loss_mean_absolute_error <- function(...) {
  new_loss("MeanAbsoluteError", "mean_absolute_error", list(), list(...))
}

#' @rdname losses
#' @export
loss_huber <- function(delta = 1, ...) {
  call <- rlang::current_env()
  check_number(delta, min = 0, call = call)
  if (delta == 0) {
    abort_gru(c("{.arg delta} must be positive."), class = "gru_error_input", call = call)
  }
  new_loss("Huber", "huber_loss", list(delta = delta), list(...))
}

#' @rdname losses
#' @export
loss_binary_crossentropy <- function(from_logits = FALSE, ...) {
  check_bool(from_logits)
  new_loss("BinaryCrossentropy", "binary_crossentropy",
           list(from_logits = from_logits), list(...))
}

#' @rdname losses
#' @export
loss_categorical_crossentropy <- function(from_logits = FALSE, ...) {
  check_bool(from_logits)
  new_loss("CategoricalCrossentropy", "categorical_crossentropy",
           list(from_logits = from_logits), list(...))
}

#' @rdname losses
#' @export
loss_sparse_categorical_crossentropy <- function(from_logits = FALSE, ...) {
  check_bool(from_logits)
  new_loss("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy",
           list(from_logits = from_logits), list(...))
}

new_loss <- function(class_name, name, config, dots, call = rlang::caller_env()) {
  fn <- paste0("loss_", sub("_loss$", "", name))
  check_layer_dots(dots, "name", fn, call = call)
  if (!is.null(dots$name)) {
    check_string(dots$name, arg = "name", call = call)
    name <- dots$name
  }
  structure(list(class_name = class_name, name = name, config = config),
            class = "gru_loss")
}

#' @export
print.gru_loss <- function(x, ...) {
  cfg <- x$config
  cat("<loss ", x$class_name, "(",
      paste(names(cfg), vapply(cfg, format, character(1)), sep = " = ", collapse = ", "),
      ")>\n", sep = "")
  invisible(x)
}

loss_aliases <- c(
  mse = "mean_squared_error", mean_squared_error = "mean_squared_error",
  mae = "mean_absolute_error", mean_absolute_error = "mean_absolute_error",
  huber = "huber", huber_loss = "huber",
  binary_crossentropy = "binary_crossentropy",
  categorical_crossentropy = "categorical_crossentropy",
  sparse_categorical_crossentropy = "sparse_categorical_crossentropy"
)

# A loss argument: a name or a loss object.
resolve_loss <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (inherits(x, "gru_loss")) return(x)
  if (is.character(x) && length(x) == 1L && !is.na(x)) {
    key <- loss_aliases[tolower(x)]
    if (is.na(key)) {
      abort_gru(
        c("{.arg {arg}} names an unknown loss: {.val {x}}.",
          "i" = "Use one of {.val {names(loss_aliases)}}, or an object such as {.code loss_huber()}."),
        class = c("gru_error_unknown_name", "gru_error_input"), call = call
      )
    }
    out <- switch(
      key,
      mean_squared_error = loss_mean_squared_error(),
      mean_absolute_error = loss_mean_absolute_error(),
      huber = loss_huber(),
      binary_crossentropy = loss_binary_crossentropy(),
      categorical_crossentropy = loss_categorical_crossentropy(),
      sparse_categorical_crossentropy = loss_sparse_categorical_crossentropy()
    )
    return(out)
  }
  abort_gru(
    c("{.arg {arg}} must be a loss name or object, not {.obj_type_friendly {x}}.",
      "i" = "For example {.code loss = \"mse\"} or {.code loss = loss_huber(delta = 1)}."),
    class = "gru_error_input", call = call
  )
}

# Targets as an array with a dim (a vector becomes a one-column matrix).
as_target_array <- function(y) {
  if (is.data.frame(y)) y <- as.matrix(y)
  if (is.null(dim(y))) y <- matrix(as.numeric(y), ncol = 1L)
  y
}

# y as a P x K matrix (or, for sparse losses, a length-P vector of classes)
# matching the output `pred`, or an error naming both shapes.
loss_targets <- function(loss, y, pred, call) {
  dp <- dim(pred)
  dy <- dim(y)
  k <- dp[length(dp)]
  p <- length(pred) %/% k
  sparse <- identical(loss$class_name, "SparseCategoricalCrossentropy")
  fits <- if (sparse) {
    identical(as.integer(dy), as.integer(dp[-length(dp)])) ||
      identical(as.integer(dy), as.integer(c(dp[-length(dp)], 1L)))
  } else {
    identical(as.integer(dy), as.integer(dp)) ||
      (k == 1L && identical(as.integer(dy), as.integer(dp[-length(dp)])))
  }
  if (!fits) {
    want <- if (sparse) {
      paste0(format_shape(dp[-length(dp)]), " of class indices")
    } else {
      format_shape(dp)
    }
    abort_gru(
      c("Loss {.val {loss$name}} does not fit the model's output: {.arg y} has shape {format_shape(dy)}, the output has shape {format_shape(dp)}.",
        "i" = "{.arg y} must have shape {want}{if (identical(loss$class_name, 'CategoricalCrossentropy') || sparse) '; use sparse_categorical_crossentropy for integer classes and categorical_crossentropy for one-hot targets' else ''}."),
      class = c("gru_error_loss", "gru_error_shape"), call = call
    )
  }
  if (!is.numeric(y) && !is.logical(y)) {
    abort_gru(
      c("{.arg y} must be numeric, not {.obj_type_friendly {y}}."),
      class = "gru_error_input", call = call
    )
  }
  check_finite(y, arg = "y", call = call)
  if (sparse) {
    cls <- as.numeric(y)
    if (any(cls != trunc(cls) | cls < 0 | cls >= k)) {
      abort_gru(
        c("Loss {.val {loss$name}} needs {.arg y} to hold whole class indices in [0, {k - 1}] (0-based, as in Keras) for an output of {k} class{?es}.",
          "i" = "Subtract 1 from 1-based labels; use {.val categorical_crossentropy} for one-hot targets."),
        class = c("gru_error_loss", "gru_error_input"), call = call
      )
    }
    return(cls)
  }
  matrix(as.numeric(y), p, k)
}

# Per-position values of a loss and their gradients: list(value (P), grad
# (P x K)), for targets `y` from loss_targets() and the P x K output `z`.
loss_positions <- function(loss, y, z) {
  k <- ncol(z)
  eps <- 1e-7
  cfg <- loss$config
  switch(
    loss$class_name,
    MeanSquaredError = {
      e <- z - y
      list(value = rowMeans(e * e), grad = 2 * e / k)
    },
    MeanAbsoluteError = {
      e <- z - y
      list(value = rowMeans(abs(e)), grad = sign(e) / k)
    },
    Huber = {
      e <- z - y
      a <- abs(e)
      quad <- a <= cfg$delta
      v <- ifelse(quad, 0.5 * e * e, cfg$delta * a - 0.5 * cfg$delta^2)
      g <- ifelse(quad, e, cfg$delta * sign(e))
      list(value = rowMeans(matrix(v, nrow(z))), grad = matrix(g, nrow(z)) / k)
    },
    BinaryCrossentropy = {
      if (cfg$from_logits) {
        v <- pmax(z, 0) - z * y + log1p(exp(-abs(z)))
        g <- (1 / (1 + exp(-z)) - y)
      } else {
        p <- pmin(pmax(z, eps), 1 - eps)
        v <- -(y * log(p) + (1 - y) * log(1 - p))
        g <- (-(y / p) + (1 - y) / (1 - p)) * (z > eps & z < 1 - eps)
      }
      list(value = rowMeans(matrix(v, nrow(z))), grad = matrix(g, nrow(z)) / k)
    },
    CategoricalCrossentropy = ,
    SparseCategoricalCrossentropy = {
      if (is.null(dim(y))) {
        onehot <- matrix(0, nrow(z), k)
        onehot[cbind(seq_len(nrow(z)), y + 1L)] <- 1
        y <- onehot
      }
      if (cfg$from_logits) {
        zm <- z - apply(z, 1L, max)
        lse <- log(rowSums(exp(zm)))
        logp <- zm - lse
        sm <- exp(logp)
        list(value = -rowSums(y * logp), grad = sm * rowSums(y) - y)
      } else {
        s <- rowSums(z)
        p <- z / s
        inside <- p > eps & p < 1 - eps
        pc <- pmin(pmax(p, eps), 1 - eps)
        gp <- -(y / pc) * inside
        list(value = -rowSums(y * log(pc)), grad = (gp - rowSums(gp * p)) / s)
      }
    }
  )
}

# The loss of output `pred` for targets `y` (already checked and shaped by
# loss_targets()) and its gradient with respect to `pred` (pred's shape),
# averaged over the positions the output mask keeps.
loss_compute <- function(loss, y, pred, mask = NULL) {
  dp <- dim(pred)
  k <- dp[length(dp)]
  z <- matrix(as.numeric(pred), ncol = k)
  res <- loss_positions(loss, y, z)
  w <- position_weights(mask, nrow(z))
  value <- sum(res$value * w)
  grad <- res$grad * w
  list(value = value, grad = array(grad, dp))
}

# Weights of the positions in the mean: 1 / P, or 1 / (kept positions) on
# the kept ones when the output carries a mask (b, t) for P = b * t rows.
position_weights <- function(mask, p) {
  if (is.null(mask) || length(mask) != p) return(rep(1 / p, p))
  keep <- as.numeric(as.vector(mask))
  n <- sum(keep)
  if (n == 0) return(rep(0, p))
  keep / n
}

# Metrics ----------------------------------------------------------------

metric_aliases <- c(
  mae = "mean_absolute_error", mean_absolute_error = "mean_absolute_error",
  mse = "mean_squared_error", mean_squared_error = "mean_squared_error",
  accuracy = "accuracy", acc = "accuracy", binary_accuracy = "binary_accuracy",
  categorical_accuracy = "categorical_accuracy",
  sparse_categorical_accuracy = "sparse_categorical_accuracy"
)

# Metrics as a named list of list(name, kind); names are Keras' log names:
# what the user wrote for a string, the object's `name` for a metric object
# (metric_*()). "accuracy" becomes the accuracy that fits the loss, as in
# Keras. A metric object's entry also carries the object as `metric`.
resolve_metrics <- function(metrics, loss, arg = rlang::caller_arg(metrics),
                            call = rlang::caller_env()) {
  if (is.null(metrics)) return(list())
  force(arg)
  if (is.character(metrics) || inherits(metrics, "gru_metric")) metrics <- list(metrics)
  items <- if (is.list(metrics)) {
    unlist(lapply(metrics, function(m) if (is.character(m)) as.list(m) else list(m)),
           recursive = FALSE)
  }
  ok <- is.list(metrics) && all(vapply(items, function(m) {
    inherits(m, "gru_metric") || is.character(m) && length(m) == 1L && !is.na(m)
  }, logical(1)))
  if (!ok) {
    abort_gru(
      c("{.arg {arg}} must be a character vector of metric names or a list of names and metric objects, not {.obj_type_friendly {metrics}}.",
        "i" = "For example {.code metrics = c(\"mae\")} or {.code metrics = list(metric_mean_absolute_error())}."),
      class = "gru_error_input", call = call
    )
  }
  out <- list()
  for (m in items) {
    if (inherits(m, "gru_metric")) {
      entry <- metric_entry(m, arg = arg, call = call)
    } else {
      kind <- metric_aliases[tolower(m)]
      if (is.na(kind)) {
        abort_gru(
          c("{.arg {arg}} names an unknown metric: {.val {m}}.",
            "i" = "Use one of {.val {names(metric_aliases)}}."),
          class = c("gru_error_unknown_name", "gru_error_input"), call = call
        )
      }
      if (kind == "accuracy") {
        kind <- switch(
          loss$class_name %||% "",
          BinaryCrossentropy = "binary_accuracy",
          CategoricalCrossentropy = "categorical_accuracy",
          SparseCategoricalCrossentropy = "sparse_categorical_accuracy",
          "auto_accuracy"
        )
      }
      entry <- list(name = m, kind = unname(kind))
    }
    if (!is.null(out[[entry$name]])) {
      abort_gru(
        c("{.arg {arg}} has two metrics named {.val {entry$name}}.",
          "i" = "Give one of them another {.arg name}, e.g. {.code metric_mean_absolute_error(name = \"mae_2\")}."),
        class = "gru_error_input", call = call
      )
    }
    out[[entry$name]] <- entry
  }
  out
}

# A metric's mean over the kept positions, for targets shaped by
# loss_targets() (a class vector for sparse losses).
metric_compute <- function(metric, loss, y, pred, mask = NULL) {
  dp <- dim(pred)
  k <- dp[length(dp)]
  z <- matrix(as.numeric(pred), ncol = k)
  w <- position_weights(mask, nrow(z))
  if (is.null(dim(y)) && !metric$kind %in% c("sparse_categorical_accuracy", "auto_accuracy")) {
    onehot <- matrix(0, nrow(z), k)
    onehot[cbind(seq_len(nrow(z)), y + 1L)] <- 1
    y <- onehot
  }
  logits <- isTRUE(loss$config$from_logits)
  kind <- metric$kind
  if (kind == "auto_accuracy") {
    kind <- if (is.null(dim(y))) "sparse_categorical_accuracy" else
      if (k == 1L) "binary_accuracy" else "categorical_accuracy"
  }
  per <- if (kind == "binary_accuracy") {
    threshold <- metric$metric$config$threshold %||% if (logits) 0 else 0.5
    rowMeans((z > threshold) == (y > 0.5))
  } else {
    metric_rows(kind, y, z)
  }
  sum(per * w)
}
