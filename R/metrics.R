# keras3's metric constructors. A metric object is a list(class_name, name,
# kind, config) of class gru_metric; compile() takes it in `metrics`
# (resolve_metrics() in losses.R), where its `name` becomes the log name,
# as Keras names a metric's logs after the metric object. Called with
# y_true and y_pred, each constructor is instead keras3's metric function
# and returns the per-sample values (the mean over the last axis).

#' Metrics
#'
#' keras3's metric objects, for `metrics = list(...)` in
#' [compile()][compile.gru_model]; their `name` is what [fit()][fit.gru_model]
#' logs (e.g. `"mean_absolute_error"`, or what `name =` says):
#'
#' * `metric_mean_absolute_error()`: `mean(abs(y_pred - y_true))`.
#' * `metric_mean_squared_error()`: `mean((y_pred - y_true)^2)`.
#' * `metric_binary_accuracy()`: how often `y_pred > threshold` matches
#'   `y_true` (0 or 1).
#' * `metric_categorical_accuracy()`: how often the largest prediction is
#'   at the one-hot target's class.
#' * `metric_sparse_categorical_accuracy()`: the same for integer (0-based)
#'   class targets.
#' * `metric_accuracy()`: how often `y_pred` equals `y_true` exactly
#'   (Keras' `Accuracy`, which keras3 for R does not export and R's keras
#'   2 did). The string `"accuracy"` is different: it picks the accuracy
#'   that fits the loss, as in Keras.
#'
#' Called with `y_true` and `y_pred`, each is keras3's metric function
#' instead: the values per sample (per position of everything but the last
#' axis), e.g. `metric_mean_absolute_error(y_true, y_pred)` is
#' `rowMeans(abs(y_pred - y_true))` for matrices. A vector counts as one
#' sample whose last axis is the whole vector, as a 1-D array does in
#' Keras.
#'
#' @param y_true,y_pred Leave both out for a metric object; give both (R
#'   arrays of the same shape, `y_true` without the last axis for the
#'   sparse accuracy) to compute the metric.
#' @param threshold The value above which a prediction counts as 1.
#' @param ... Unused; must be empty.
#' @param name The metric's name in the logs.
#' @param dtype `NULL`, `"float32"` or `"float64"`: accepted for keras3
#'   compatibility; gru computes metrics in double precision.
#' @returns A metric object (class `gru_metric`), or with `y_true` and
#'   `y_pred` the per-sample values (a number for vectors, else an array
#'   shaped like `y_pred` without its last axis).
#' @family metrics
#' @name metrics
#' @examples
#' model <- keras_model_sequential(input_shape = c(5, 2)) |>
#'   layer_gru(4) |>
#'   layer_dense(1)
#' compile(model, loss = "mse",
#'         metrics = list(metric_mean_absolute_error(), metric_mean_squared_error(name = "mse")))
#'
#' y_true <- rbind(c(0, 1), c(0, 0))
#' y_pred <- rbind(c(1, 1), c(1, 0))
#' metric_mean_absolute_error(y_true, y_pred)      # 0.5 0.5
#' metric_sparse_categorical_accuracy(c(2, 1), rbind(c(0.1, 0.6, 0.3), c(0.05, 0.95, 0)))
NULL

#' @rdname metrics
#' @export
metric_mean_absolute_error <- function(y_true, y_pred, ...,
                                       name = "mean_absolute_error", dtype = NULL) {
  m <- new_metric("MeanAbsoluteError", "mean_absolute_error", name, dtype, list(...))
  metric_call(m, rlang::maybe_missing(y_true), rlang::maybe_missing(y_pred))
}

#' @rdname metrics
#' @export
metric_mean_squared_error <- function(y_true, y_pred, ...,
                                      name = "mean_squared_error", dtype = NULL) {
  m <- new_metric("MeanSquaredError", "mean_squared_error", name, dtype, list(...))
  metric_call(m, rlang::maybe_missing(y_true), rlang::maybe_missing(y_pred))
}

#' @rdname metrics
#' @export
metric_binary_accuracy <- function(y_true, y_pred, threshold = 0.5, ...,
                                   name = "binary_accuracy", dtype = NULL) {
  check_number(threshold, call = rlang::current_env())
  m <- new_metric("BinaryAccuracy", "binary_accuracy", name, dtype, list(...),
                  config = list(threshold = threshold))
  metric_call(m, rlang::maybe_missing(y_true), rlang::maybe_missing(y_pred))
}

#' @rdname metrics
#' @export
metric_categorical_accuracy <- function(y_true, y_pred, ...,
                                        name = "categorical_accuracy", dtype = NULL) {
  m <- new_metric("CategoricalAccuracy", "categorical_accuracy", name, dtype, list(...))
  metric_call(m, rlang::maybe_missing(y_true), rlang::maybe_missing(y_pred))
}

#' @rdname metrics
#' @export
metric_sparse_categorical_accuracy <- function(y_true, y_pred, ...,
                                               name = "sparse_categorical_accuracy",
                                               dtype = NULL) {
  m <- new_metric("SparseCategoricalAccuracy", "sparse_categorical_accuracy", name,
                  dtype, list(...))
  metric_call(m, rlang::maybe_missing(y_true), rlang::maybe_missing(y_pred))
}

#' @rdname metrics
#' @export
metric_accuracy <- function(y_true, y_pred, ..., name = "accuracy", dtype = NULL) {
  m <- new_metric("Accuracy", "accuracy", name, dtype, list(...))
  metric_call(m, rlang::maybe_missing(y_true), rlang::maybe_missing(y_pred))
}

# Checks a constructor's name, dtype and `...` (errors name the
# constructor, the caller) and builds the object.
new_metric <- function(class_name, kind, name, dtype, dots, config = list(),
                       call = rlang::caller_env()) {
  fn <- paste0("metric_", kind)
  check_layer_dots(dots, character(), fn, call = call)
  check_string(name, call = call)
  if (!is.null(dtype)) check_choice(dtype, c("float32", "float64", "float16"), call = call)
  structure(list(class_name = class_name, name = name, kind = kind,
                 config = c(list(name = name, dtype = dtype), config)),
            class = "gru_metric")
}

#' @export
print.gru_metric <- function(x, ...) {
  extra <- x$config[setdiff(names(x$config), c("name", "dtype"))]
  args <- paste0(", ", names(extra), " = ", vapply(extra, format, character(1)),
                 collapse = "")
  cat("<metric ", x$class_name, "(name = \"", x$name, "\"",
      if (length(extra)) args, ")>\n", sep = "")
  invisible(x)
}

# A constructor's result: the metric object when y_true and y_pred are
# both missing, else keras3's metric function, the per-sample values.
metric_call <- function(metric, y_true, y_pred, call = rlang::caller_env()) {
  if (rlang::is_missing(y_true) && rlang::is_missing(y_pred)) return(metric)
  if (rlang::is_missing(y_true) || rlang::is_missing(y_pred)) {
    abort_gru(
      c("{.arg y_true} and {.arg y_pred} go together: give both to compute the metric, or neither for a metric object.",
        "i" = "For {.fn compile}, write {.code metric_{metric$kind}()}."),
      class = "gru_error_input", call = call
    )
  }
  for (arg in c("y_true", "y_pred")) {
    v <- if (arg == "y_true") y_true else y_pred
    if (!(is.numeric(v) || is.logical(v)) || length(v) == 0L) {
      abort_gru(
        c("{.arg {arg}} must be a non-empty numeric vector or array, not {.obj_type_friendly {v}}."),
        class = "gru_error_input", call = call
      )
    }
  }
  dp <- dim(y_pred) %||% length(y_pred)
  dt <- dim(y_true) %||% length(y_true)
  outer <- dp[-length(dp)]
  sparse <- metric$kind == "sparse_categorical_accuracy"
  fits <- if (sparse) {
    identical(as.integer(dt), as.integer(outer)) ||
      identical(as.integer(dt), as.integer(c(outer, 1L))) ||
      length(outer) == 0L && length(y_true) == 1L
  } else {
    identical(as.integer(dt), as.integer(dp))
  }
  if (!fits) {
    want <- if (sparse) format_shape(outer) else format_shape(dp)
    abort_gru(
      c("{.arg y_true} has shape {format_shape(dt)}, which does not fit {.arg y_pred}'s {format_shape(dp)}.",
        "i" = "{.fn metric_{metric$kind}} needs {.arg y_true} of shape {want}."),
      class = c("gru_error_shape", "gru_error_input"), call = call
    )
  }
  k <- dp[length(dp)]
  z <- matrix(as.numeric(y_pred), ncol = k)
  y <- if (sparse) as.numeric(y_true) else matrix(as.numeric(y_true), ncol = k)
  per <- metric_rows(metric$kind, y, z, metric$config)
  if (length(outer) <= 1L) per else array(per, outer)
}

# Per-row values of a metric kind for targets `y` (a P x K matrix, or a
# length-P class vector for the sparse accuracy) and predictions `z` (P x
# K): Keras' metric functions, each a mean over the last axis.
metric_rows <- function(kind, y, z, config = list()) {
  switch(
    kind,
    mean_absolute_error = rowMeans(abs(z - y)),
    mean_squared_error = rowMeans((z - y)^2),
    binary_accuracy = rowMeans((z > (config$threshold %||% 0.5)) == y),
    categorical_accuracy = as.numeric(max.col(z, "first") == max.col(y, "first")),
    sparse_categorical_accuracy = as.numeric(max.col(z, "first") - 1L == y),
    accuracy = rowMeans(z == y)
  )
}

# A metric object's entry for compile(): list(name, kind, metric);
# metric_compute() (losses.R) reads the object's threshold.
metric_entry <- function(m, arg, call) {
  list(name = m$name, kind = m$kind, metric = m)
}
