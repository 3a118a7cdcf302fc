# Callbacks with keras3's names and arguments. A callback is a list of
# class gru_callback holding hooks, `function(ctx, i, logs)` for
# on_train_begin/end (i = NULL), on_epoch_begin/end (i = the epoch, from 1)
# and on_batch_begin/end (i = the batch within the epoch, from 1). `ctx` is
# the fit() call's environment of shared facts: `model`, `params` and
# `stop_training` (a hook sets it to TRUE to end training after the epoch).
# A callback's own state lives in its hooks' enclosing environment and is
# reset by on_train_begin, so a callback object can be reused across fits.

hook_names <- c("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
                "on_batch_begin", "on_batch_end")

new_callback <- function(class_name, hooks, config = list()) {
  structure(list(class_name = class_name, config = config, hooks = hooks),
            class = "gru_callback")
}

#' @export
print.gru_callback <- function(x, ...) {
  cat("<callback ", x$class_name, ">\n", sep = "")
  invisible(x)
}

check_callbacks <- function(callbacks, call) {
  if (is.null(callbacks)) return(list())
  if (inherits(callbacks, "gru_callback")) callbacks <- list(callbacks)
  ok <- is.list(callbacks) && all(vapply(callbacks, inherits, logical(1), "gru_callback"))
  if (!ok) {
    abort_gru(
      c("{.arg callbacks} must be a list of callbacks, not {.obj_type_friendly {callbacks}}.",
        "i" = "Create them with {.fn callback_early_stopping}, {.fn callback_lambda}, ..."),
      class = "gru_error_input", call = call
    )
  }
  callbacks
}

# Runs one hook of every callback. An error in a callback stops training
# as a classed error naming the callback, the hook and where training was;
# the model keeps the weights of the last finished batch.
run_callbacks <- function(callbacks, hook, ctx, i, logs) {
  for (k in seq_along(callbacks)) {
    cb <- callbacks[[k]]
    f <- cb$hooks[[hook]]
    if (is.null(f)) next
    withCallingHandlers(
      f(ctx, i, logs),
      error = function(cnd) {
        if (inherits(cnd, "gru_error_callback")) return()
        where <- switch(hook,
          on_epoch_begin = , on_epoch_end = paste0("epoch ", i),
          on_batch_begin = , on_batch_end = paste0("epoch ", ctx$epoch %||% "?", ", batch ", i),
          "training")
        abort_gru(
          c("Callback {k} ({cb$class_name}) failed in {.fn {hook}} at {where}.",
            "i" = "The model keeps the weights of the last finished batch."),
          class = c("gru_error_callback", "gru_error_fit"), parent = cnd,
          call = ctx$call
        )
      }
    )
  }
}

# Whether `f` can be called with `n` positional arguments.
accepts_args <- function(f, n) {
  if (is.primitive(f)) return(TRUE)
  fm <- formals(f)
  if ("..." %in% names(fm)) return(TRUE)
  required <- sum(vapply(fm, function(v) identical(v, quote(expr = )), logical(1)))
  length(fm) >= n && required <= n
}

# "auto" resolves as Keras does: maximise accuracies, minimise the rest.
monitor_mode <- function(mode, monitor, call) {
  check_choice(mode, c("auto", "min", "max"), arg = "mode", call = call)
  if (mode == "auto") mode <- if (grepl("acc", monitor)) "max" else "min"
  mode
}

monitor_value <- function(logs, monitor, who) {
  v <- logs[[monitor]]
  if (is.null(v)) {
    cli::cli_warn(c(
      "{who} monitors {.val {monitor}}, which is not among the logged values ({.val {names(logs)}}).",
      "i" = "Monitor one of them, or add validation data for {.val val_*} values."
    ))
  }
  v
}

#' Stop training when a monitored value stops improving
#'
#' keras3's `callback_early_stopping()`. After each epoch the monitored
#' value (e.g. `"val_loss"`) counts as an improvement when it beats the best
#' so far by more than `min_delta`; training stops when `patience` epochs
#' in a row brought none. With `restore_best_weights = TRUE` the model ends
#' training with the weights of its best epoch.
#'
#' @param monitor The logged value to watch: `"loss"`, `"val_loss"`, or a
#'   metric name (with `"val_"` for its validation value).
#' @param min_delta The smallest change that counts as an improvement.
#' @param patience Epochs without improvement before stopping.
#' @param verbose `0` (silent) or `1` (say when training stops).
#' @param mode `"auto"`, `"min"` or `"max"`: whether smaller or larger is
#'   better (`"auto"`: larger for accuracies).
#' @param baseline `NULL` or a value the monitored value must beat for the
#'   patience count to reset.
#' @param restore_best_weights Whether to restore the weights of the best
#'   epoch at the end of training.
#' @param start_from_epoch Epochs to wait before watching.
#' @returns A callback (class `gru_callback`) for [fit()][fit.gru_model].
#' @family callbacks
#' @export
#' @examples
#' callback_early_stopping(monitor = "val_loss", patience = 3,
#'                         restore_best_weights = TRUE)
callback_early_stopping <- function(monitor = "val_loss", min_delta = 0, patience = 0,
                                    verbose = 0, mode = "auto", baseline = NULL,
                                    restore_best_weights = FALSE,
                                    start_from_epoch = 0) {
  call <- rlang::current_env()
  check_string(monitor, call = call)
  check_number(min_delta, call = call)
  patience <- check_count(patience, call = call)
  start_from_epoch <- check_count(start_from_epoch, call = call)
  check_number(verbose, call = call)
  mode <- monitor_mode(mode, monitor, call = call)
  if (!is.null(baseline)) check_number(baseline, call = call)
  check_bool(restore_best_weights, call = call)
  delta <- abs(min_delta)
  better <- function(value, reference) {
    if (mode == "min") value + delta < reference else value - delta > reference
  }
  st <- new.env(parent = emptyenv())
  hooks <- list(
    on_train_begin = function(ctx, i, logs) {
      st$wait <- 0L
      st$best <- if (mode == "min") Inf else -Inf
      st$best_weights <- NULL
      st$stopped_epoch <- 0L
    },
    on_epoch_end = function(ctx, epoch, logs) {
      current <- monitor_value(logs, monitor, "callback_early_stopping()")
      if (is.null(current) || epoch <= start_from_epoch) return(invisible())
      if (restore_best_weights && is.null(st$best_weights)) {
        st$best_weights <- get_weights(ctx$model)
      }
      st$wait <- st$wait + 1L
      if (better(current, st$best)) {
        st$best <- current
        if (restore_best_weights) st$best_weights <- get_weights(ctx$model)
        if (is.null(baseline) || better(current, baseline)) st$wait <- 0L
        return(invisible())
      }
      if (st$wait >= patience && epoch > 1L) {
        st$stopped_epoch <- epoch
        ctx$stop_training <- TRUE
        if (verbose > 0) cat(sprintf("Epoch %d: early stopping\n", epoch))
      }
    },
    on_train_end = function(ctx, i, logs) {
      if (restore_best_weights && !is.null(st$best_weights)) {
        set_weights(ctx$model, st$best_weights)
        if (verbose > 0) cat("Restoring the weights of the best epoch.\n")
      }
    }
  )
  new_callback("EarlyStopping", hooks,
               list(monitor = monitor, min_delta = min_delta, patience = patience,
                    mode = mode, baseline = baseline,
                    restore_best_weights = restore_best_weights,
                    start_from_epoch = start_from_epoch))
}

#' Reduce the learning rate when a monitored value stops improving
#'
#' keras3's `callback_reduce_lr_on_plateau()`: when the monitored value has
#' not improved by more than `min_delta` for `patience` epochs, the
#' optimizer's learning rate is multiplied by `factor` (not below `min_lr`),
#' then `cooldown` epochs pass before counting again.
#'
#' @inheritParams callback_early_stopping
#' @param factor The factor, in `(0, 1)`, the learning rate is multiplied by.
#' @param cooldown Epochs to wait after a reduction before counting again.
#' @param min_lr The lower bound of the learning rate.
#' @returns A callback (class `gru_callback`) for [fit()][fit.gru_model].
#' @family callbacks
#' @export
#' @examples
#' callback_reduce_lr_on_plateau(monitor = "loss", factor = 0.5, patience = 2)
callback_reduce_lr_on_plateau <- function(monitor = "val_loss", factor = 0.1,
                                          patience = 10, verbose = 0, mode = "auto",
                                          min_delta = 1e-04, cooldown = 0, min_lr = 0) {
  call <- rlang::current_env()
  check_string(monitor, call = call)
  ok <- is.numeric(factor) && length(factor) == 1L && !is.na(factor) &&
    factor > 0 && factor < 1
  if (!ok) {
    abort_gru(
      c("{.arg factor} must be a number in (0, 1), not {.obj_type_friendly {factor}}.",
        "i" = "The learning rate is multiplied by it."),
      class = "gru_error_input", call = call
    )
  }
  patience <- check_count(patience, call = call)
  cooldown <- check_count(cooldown, call = call)
  check_number(verbose, call = call)
  check_number(min_delta, min = 0, call = call)
  check_number(min_lr, min = 0, call = call)
  mode <- monitor_mode(mode, monitor, call = call)
  better <- function(value, reference) {
    if (mode == "min") value < reference - min_delta else value > reference + min_delta
  }
  st <- new.env(parent = emptyenv())
  hooks <- list(
    on_train_begin = function(ctx, i, logs) {
      st$wait <- 0L
      st$cooldown <- 0L
      st$best <- if (mode == "min") Inf else -Inf
    },
    on_epoch_end = function(ctx, epoch, logs) {
      current <- monitor_value(logs, monitor, "callback_reduce_lr_on_plateau()")
      if (is.null(current)) return(invisible())
      in_cooldown <- st$cooldown > 0L
      if (in_cooldown) {
        st$cooldown <- st$cooldown - 1L
        st$wait <- 0L
      }
      if (better(current, st$best)) {
        st$best <- current
        st$wait <- 0L
      } else if (!in_cooldown) {
        st$wait <- st$wait + 1L
        if (st$wait >= patience) {
          self <- model_self(ctx$model)
          old <- self$compiled$optimizer$config$learning_rate
          if (old > min_lr) {
            new <- max(old * factor, min_lr)
            self$compiled$optimizer$config$learning_rate <- new
            if (verbose > 0) {
              cat(sprintf("Epoch %d: reducing the learning rate to %g.\n", epoch, new))
            }
            st$cooldown <- cooldown
            st$wait <- 0L
          }
        }
      }
    }
  )
  new_callback("ReduceLROnPlateau", hooks,
               list(monitor = monitor, factor = factor, patience = patience,
                    mode = mode, min_delta = min_delta, cooldown = cooldown,
                    min_lr = min_lr))
}

#' Save the model during training
#'
#' keras3's `callback_model_checkpoint()`. A `filepath` ending in `.keras`
#' is written with [save_model()] and one ending in `.weights.h5` with
#' [save_model_weights()], as Keras writes them; any other with [saveRDS()]: the
#' whole model (weights, optimizer state and stateful state included), or
#' its [get_weights()] list with `save_weights_only = TRUE`. `filepath` may
#' hold Keras' placeholders, filled in after each epoch: `{epoch}` (or with
#' a format, `{epoch:02d}`) and any logged value, e.g. `{val_loss:.4f}`.
#'
#' @inheritParams callback_early_stopping
#' @param filepath Where to save; a `.rds` file name, with placeholders.
#' @param save_best_only Save only when the monitored value is the best so
#'   far (overwriting the same file unless `filepath` has placeholders).
#' @param save_weights_only Save `get_weights(model)` instead of the model.
#' @param save_freq `"epoch"` (the only frequency supported).
#' @param initial_value_threshold `NULL` or the value the monitored value
#'   must beat for the first save with `save_best_only`.
#' @returns A callback (class `gru_callback`) for [fit()][fit.gru_model].
#' @family callbacks
#' @export
#' @examples
#' path <- file.path(tempdir(), "model-{epoch:02d}.rds")
#' cb <- callback_model_checkpoint(path, monitor = "loss", save_best_only = TRUE)
#' x <- array(runif(16 * 3), c(16, 3, 1))
#' model <- keras_model_sequential(input_shape = c(3, 1)) |>
#'   layer_gru(2) |>
#'   layer_dense(1)
#' compile(model, loss = "mse")
#' fit(model, x, rowSums(x), epochs = 2, callbacks = list(cb), verbose = 0)
#' list.files(tempdir(), pattern = "^model-")
callback_model_checkpoint <- function(filepath, monitor = "val_loss", verbose = 0,
                                      save_best_only = FALSE, save_weights_only = FALSE,
                                      mode = "auto", save_freq = "epoch",
                                      initial_value_threshold = NULL) {
  call <- rlang::current_env()
  check_string(filepath, call = call)
  check_string(monitor, call = call)
  check_number(verbose, call = call)
  check_bool(save_best_only, call = call)
  check_bool(save_weights_only, call = call)
  check_choice(save_freq, "epoch", call = call)
  if (!is.null(initial_value_threshold)) check_number(initial_value_threshold, call = call)
  mode <- monitor_mode(mode, monitor, call = call)
  better <- function(value, reference) {
    if (mode == "min") value < reference else value > reference
  }
  st <- new.env(parent = emptyenv())
  hooks <- list(
    on_train_begin = function(ctx, i, logs) {
      st$best <- initial_value_threshold %||% if (mode == "min") Inf else -Inf
    },
    on_epoch_end = function(ctx, epoch, logs) {
      if (save_best_only) {
        current <- monitor_value(logs, monitor, "callback_model_checkpoint()")
        if (is.null(current) || !better(current, st$best)) return(invisible())
        st$best <- current
      }
      path <- fill_filepath(filepath, epoch, logs)
      if (grepl("\\.weights\\.h5$", path)) {
        save_model_weights(ctx$model, path, overwrite = TRUE)
      } else if (grepl("\\.keras$", path) && !save_weights_only) {
        save_model(ctx$model, path, overwrite = TRUE)
      } else {
        saveRDS(if (save_weights_only) get_weights(ctx$model) else ctx$model, path)
      }
      if (verbose > 0) cat(sprintf("Epoch %d: saved to %s\n", epoch, path))
    }
  )
  new_callback("ModelCheckpoint", hooks,
               list(filepath = filepath, monitor = monitor,
                    save_best_only = save_best_only,
                    save_weights_only = save_weights_only, mode = mode))
}

# Keras' filepath placeholders: {name} or {name:fmt} with a Python format
# spec such as 02d or .4f, filled from the epoch and the logs.
fill_filepath <- function(path, epoch, logs) {
  values <- c(list(epoch = epoch), logs)
  m <- gregexpr("\\{[A-Za-z_][A-Za-z0-9_]*(:[^}]*)?\\}", path)[[1L]]
  if (m[1L] == -1L) return(path)
  pieces <- regmatches(path, list(m))[[1L]]
  repl <- vapply(pieces, function(p) {
    inner <- substr(p, 2L, nchar(p) - 1L)
    parts <- strsplit(inner, ":", fixed = TRUE)[[1L]]
    v <- values[[parts[1L]]]
    if (is.null(v)) return(p)
    if (length(parts) > 1L) sprintf(paste0("%", parts[2L]), v) else format(v)
  }, character(1))
  regmatches(path, list(m)) <- list(repl)
  path
}

#' Callbacks from functions
#'
#' keras3's `callback_lambda()`: a callback made of R functions, called at
#' the start and end of training, of each epoch and of each batch. Epoch and
#' batch numbers start at 1 (R's convention); `logs` is a named list of the
#' current values (`loss`, the metrics and, at the end of an epoch, their
#' `val_` versions). The functions see the model through their environment,
#' e.g. `callback_lambda(on_epoch_begin = function(epoch, logs)
#' reset_state(model))` for stateful training.
#'
#' @param on_epoch_begin,on_epoch_end `NULL` or `function(epoch, logs)`.
#' @param on_batch_begin,on_batch_end `NULL` or `function(batch, logs)`.
#' @param on_train_begin,on_train_end `NULL` or `function(logs)`.
#' @returns A callback (class `gru_callback`) for [fit()][fit.gru_model].
#' @family callbacks
#' @export
#' @examples
#' losses <- numeric()
#' cb <- callback_lambda(on_epoch_end = function(epoch, logs) {
#'   losses[epoch] <<- logs$loss
#' })
#' x <- array(runif(16 * 3), c(16, 3, 1))
#' model <- keras_model_sequential(input_shape = c(3, 1)) |>
#'   layer_gru(2) |>
#'   layer_dense(1)
#' compile(model, loss = "mse")
#' fit(model, x, rowSums(x), epochs = 3, callbacks = list(cb), verbose = 0)
#' losses
callback_lambda <- function(on_epoch_begin = NULL, on_epoch_end = NULL,
                            on_batch_begin = NULL, on_batch_end = NULL,
                            on_train_begin = NULL, on_train_end = NULL) {
  call <- rlang::current_env()
  fns <- list(on_epoch_begin = on_epoch_begin, on_epoch_end = on_epoch_end,
              on_batch_begin = on_batch_begin, on_batch_end = on_batch_end,
              on_train_begin = on_train_begin, on_train_end = on_train_end)
  for (nm in names(fns)) {
    if (!is.null(fns[[nm]]) && !is.function(fns[[nm]])) {
      abort_gru(
        c("{.arg {nm}} must be a function or `NULL`, not {.obj_type_friendly {fns[[nm]]}}."),
        class = "gru_error_input", call = call
      )
    }
  }
  for (nm in names(fns)) {
    n <- if (nm %in% c("on_train_begin", "on_train_end")) 1L else 2L
    f <- fns[[nm]]
    if (!is.null(f) && !accepts_args(f, n)) {
      want <- if (n == 1L) "(logs)" else if (grepl("epoch", nm)) "(epoch, logs)" else "(batch, logs)"
      abort_gru(
        c("{.arg {nm}} must take {n} argument{?s}, {.code function{want}}, but it takes {length(formals(f))}.",
          "i" = "Keras calls it as {.code {nm}{want}}; add {.code ...} to ignore what you do not need."),
        class = "gru_error_input", call = call
      )
    }
  }
  wrap <- function(f, with_index) {
    if (is.null(f)) return(NULL)
    force(f)
    if (with_index) function(ctx, i, logs) f(i, logs) else function(ctx, i, logs) f(logs)
  }
  hooks <- list(
    on_epoch_begin = wrap(on_epoch_begin, TRUE),
    on_epoch_end = wrap(on_epoch_end, TRUE),
    on_batch_begin = wrap(on_batch_begin, TRUE),
    on_batch_end = wrap(on_batch_end, TRUE),
    on_train_begin = wrap(on_train_begin, FALSE),
    on_train_end = wrap(on_train_end, FALSE)
  )
  new_callback("LambdaCallback", hooks[!vapply(hooks, is.null, logical(1))])
}

check_count <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  ok <- is.numeric(x) && length(x) == 1L && !is.na(x) && is.finite(x) && x >= 0 &&
    x == trunc(x)
  if (!ok) {
    abort_gru(
      c("{.arg {arg}} must be a non-negative whole number, not {.obj_type_friendly {x}}."),
      class = "gru_error_input", call = call
    )
  }
  as.integer(x)
}
