# The training interface: compile(), fit(), evaluate(), train_on_batch()
# and gradients(), with keras3's names and arguments. compile() and fit()
# are methods of the generics package's generics (the ones keras3 and
# parsnip use), so gru coexists with them; evaluate() is gru's own generic
# with keras3's signature `evaluate(object, ...)` (generics::evaluate() takes
# `x` first, which would break keras3's `evaluate(model, x = , y = )`).
#
# A compiled model holds `self$compiled = list(optimizer, loss, metrics)`;
# the optimizer carries its state (see R/optimizers.R), so saveRDS() of a
# model in training keeps everything.

#' @importFrom generics compile
#' @export
generics::compile

#' @importFrom generics fit
#' @export
generics::fit

#' Evaluate a model
#'
#' The generic of `evaluate()`, with keras3's signature; see
#' [evaluate.gru_model()] for sequential models.
#'
#' @param object A model.
#' @param ... Passed to methods.
#' @returns See the method.
#' @family training
#' @export
evaluate <- function(object, ...) UseMethod("evaluate")

#' Configure a model for training
#'
#' keras3's `compile()`: sets the optimizer, the loss and the metrics that
#' [fit()][fit.gru_model], [evaluate()][evaluate.gru_model] and
#' [train_on_batch()] use. The model is changed in place (and returned
#' invisibly), as in keras3. Compiling again starts the optimizer afresh.
#'
#' @param object A sequential model ([keras_model_sequential()]).
#' @param optimizer An optimizer name (`"adam"`, `"sgd"`, `"rmsprop"`,
#'   `"adagrad"`) or object ([optimizer_adam()], ...).
#' @param loss A loss name (`"mse"`, `"mae"`, `"huber"`,
#'   `"binary_crossentropy"`, `"categorical_crossentropy"`,
#'   `"sparse_categorical_crossentropy"`, ...) or object (see [losses]).
#'   A model with several outputs takes one loss per output: a list (or
#'   character vector) in the order of the outputs or named by the output
#'   layers; a single loss applies to every output.
#' @param metrics `NULL` or a character vector of metric names: `"mae"`,
#'   `"mse"`, `"accuracy"` (which becomes the binary, categorical or sparse
#'   categorical accuracy that fits the loss, as in Keras) and their long
#'   names. With several outputs they are computed for every output, or
#'   give a list with one entry per output.
#' @param loss_weights `NULL` (all 1) or one number per output: the total
#'   loss is the weighted sum of the outputs' losses.
#' @param ... Unused; must be empty.
#' @returns The model, invisibly.
#' @family training
#' @method compile gru_model
#' @export
#' @examples
#' model <- keras_model_sequential(input_shape = c(5, 1)) |>
#'   layer_gru(4) |>
#'   layer_dense(1)
#' compile(model, optimizer = optimizer_adam(learning_rate = 0.01),
#'         loss = "mse", metrics = "mae")
compile.gru_model <- function(object, optimizer = "adam", loss = NULL,
                              metrics = NULL, loss_weights = NULL, ...) {
  call <- rlang::current_env()
  self <- model_self(object)
  check_layer_dots(list(...), character(), "compile", call = call)
  optimizer <- resolve_optimizer(optimizer, call = call)
  if (is.null(loss)) {
    abort_gru(
      c("{.arg loss} is missing.",
        "i" = "For example {.code compile(model, loss = \"mse\")}."),
      class = "gru_error_input", call = call
    )
  }
  n_out <- length(model_graph(self)$outputs)
  losses <- per_output(self, loss, n_out, "loss", call)
  losses <- lapply(seq_len(n_out), function(j) {
    resolve_loss(losses[[j]], arg = if (n_out == 1L) "loss" else paste0("loss[[", j, "]]"),
                 call = call)
  })
  metric_lists <- if (is_data_list(metrics) && n_out > 1L &&
                      length(metrics) == n_out &&
                      !all(vapply(metrics, inherits, logical(1), "gru_metric"))) {
    per_output(self, metrics, n_out, "metrics", call)
  } else {
    rep(list(metrics), n_out)
  }
  output_metrics <- Map(function(m, l) resolve_metrics(m, l, arg = "metrics", call = call),
                        metric_lists, losses)
  loss_weights <- check_loss_weights(self, loss_weights, n_out, call)
  # A fresh optimizer state for this model.
  optimizer$iterations <- 0L
  optimizer$slots <- list()
  self$compiled <- list(optimizer = optimizer, loss = losses[[1L]],
                        metrics = output_metrics[[1L]], losses = losses,
                        output_metrics = output_metrics,
                        loss_weights = as.list(loss_weights))
  invisible(object)
}

# One value per output from `x`: a single value for every output, or a
# list (vector) in output order or named by the output layers.
per_output <- function(self, x, n_out, arg, call) {
  if (inherits(x, c("gru_loss", "gru_metric")) || is.function(x) ||
      (is.character(x) && length(x) == 1L) || n_out == 1L && !is_data_list(x)) {
    return(rep(list(x), n_out))
  }
  if (n_out == 1L && length(x) == 1L) return(list(x[[1L]]))
  x <- as.list(x)
  nms <- model_output_names(self)
  if (!is.null(names(x)) && all(names(x) %in% nms)) {
    out <- vector("list", n_out)
    out[match(names(x), nms)] <- x
    return(out)
  }
  if (length(x) != n_out) {
    abort_gru(
      c("{.arg {arg}} has {length(x)} entr{?y/ies}, but model {.val {self$config$name}} has {n_out} output{?s}: {.val {nms}}.",
        "i" = "Give one per output, in order or named by the output layers."),
      class = "gru_error_input", call = call
    )
  }
  x
}

check_loss_weights <- function(self, w, n_out, call) {
  if (is.null(w)) return(rep(1, n_out))
  if (is_data_list(w) && !is.null(names(w))) {
    w <- per_output(self, w, n_out, "loss_weights", call)
    w <- vapply(w, function(v) if (is.null(v)) 1 else as.numeric(v), numeric(1))
  }
  w <- unlist(w)
  ok <- is.numeric(w) && length(w) == n_out && all(is.finite(w)) && all(w >= 0)
  if (!ok) {
    abort_gru(
      c("{.arg loss_weights} must be {n_out} non-negative number{?s}, one per output, not {.obj_type_friendly {w}}."),
      class = "gru_error_input", call = call
    )
  }
  as.numeric(w)
}

#' Train a model
#'
#' keras3's `fit()`: trains the model for `epochs` passes over `x` and `y`
#' in batches of `batch_size` rows, with backpropagation through time in
#' C++ for the recurrent layers. Each batch updates the trainable weights
#' with the compiled optimizer, then applies the weights' constraints;
#' regularization penalties are part of the loss; `dropout` and
#' `recurrent_dropout` act (training mode), drawn from the layers' `seed`s
#' or the session's RNG, so `set.seed()` reproduces a run.
#'
#' Stateful models train as in Keras: a stateful layer carries its state
#' from batch to batch (the state is the batch's initial state, not
#' differentiated across batches). They need `shuffle = FALSE` and a number
#' of rows that is a multiple of the fixed batch size; reset states yourself
#' or with a callback, e.g.
#' `callback_lambda(on_epoch_begin = function(epoch, logs) reset_state(model))`.
#'
#' Interrupting (Ctrl-C / Esc) stops training cleanly: each batch's new
#' weights are assigned together, so the model keeps the weights of the
#' last finished batch, and the history so far is returned; stateful
#' layers keep the states that batch left (the unfinished batch's are
#' undone). A non-finite
#' loss stops training with a `gru_error_loss` error naming the epoch and
#' batch, before that batch changes any weight.
#'
#' @param object A compiled sequential model.
#' @param x Input array whose first axis is the batch (`(batch, timesteps,
#'   features)` for a recurrent first layer, `(batch, timesteps)` of
#'   integer indices for an embedding); for a model with several inputs a
#'   list of such arrays (in the order of the inputs, or named by them);
#'   or a dataset from [timeseries_dataset_from_array()], which holds the
#'   targets and its own batch size (its batches are built one at a time).
#' @param y Targets, with the same number of rows as `x` and the shape of
#'   the model output (or, for sparse categorical crossentropy, its shape
#'   without the last axis). A vector is a one-column matrix. For several
#'   outputs a list, one per output (in order, or named by the output
#'   layers); `NULL` when `x` is a dataset.
#' @param batch_size Rows per batch.
#' @param epochs Number of passes over the data.
#' @param verbose `"auto"` (a progress bar in an interactive session, one
#'   line per epoch otherwise), `0` (silent), `1` (progress bar) or `2` (one
#'   line per epoch).
#' @param callbacks `NULL` or a list of callbacks
#'   ([callback_early_stopping()], [callback_reduce_lr_on_plateau()],
#'   [callback_model_checkpoint()], [callback_lambda()]).
#' @param validation_split Fraction in `[0, 1)` of the rows, taken from the
#'   end of `x` and `y` before shuffling (as in Keras), held out to compute
#'   `val_loss` and the validation metrics after each epoch.
#' @param validation_data `NULL`, `list(x_val, y_val)` or a dataset;
#'   overrides `validation_split`.
#' @param shuffle Whether to shuffle the rows before each epoch.
#' @param ... Unused; must be empty.
#' @returns A training history (class `gru_history`), invisibly: `$params`
#'   and `$metrics` (a list of per-epoch values: `loss`, the metrics and
#'   their `val_` versions), with `plot()`, `print()` and
#'   `as.data.frame()` methods.
#' @family training
#' @method fit gru_model
#' @export
#' @examples
#' set.seed(1)
#' x <- array(runif(64 * 6), c(64, 6, 1))
#' y <- apply(x, 1, sum)
#' model <- keras_model_sequential(input_shape = c(6, 1)) |>
#'   layer_gru(8) |>
#'   layer_dense(1)
#' compile(model, optimizer = optimizer_adam(0.02), loss = "mse", metrics = "mae")
#' history <- fit(model, x, y, epochs = 5, batch_size = 16, verbose = 0)
#' history
#' plot(history)
fit.gru_model <- function(object, x = NULL, y = NULL, batch_size = 32, epochs = 1,
                          verbose = "auto", callbacks = NULL,
                          validation_split = 0, validation_data = NULL,
                          shuffle = TRUE, ...) {
  call <- rlang::current_env()
  self <- model_self(object)
  check_layer_dots(list(...), character(), "fit", call = call)
  compiled <- check_compiled(self, "fit", call = call)
  batch_size <- check_positive_whole(batch_size, call = call)
  if (is.numeric(epochs) && length(epochs) == 1L && !is.na(epochs) &&
      epochs > .Machine$integer.max) {
    abort_gru(
      c("{.arg epochs} must be at most {(.Machine$integer.max)}, not {format(epochs)}.",
        "i" = "Stop early with {.fn callback_early_stopping} instead of asking for endless epochs."),
      class = "gru_error_input", call = call
    )
  }
  epochs <- check_positive_whole(epochs, call = call)
  check_bool(shuffle, call = call)
  verbose <- resolve_verbose(verbose, call = call)
  ok <- is.numeric(validation_split) && length(validation_split) == 1L &&
    !is.na(validation_split) && validation_split >= 0 && validation_split < 1
  if (!ok) {
    abort_gru(
      c("{.arg validation_split} must be a number in [0, 1), not {.obj_type_friendly {validation_split}}."),
      class = "gru_error_input", call = call
    )
  }
  is_ds <- is_dataset(x)
  if (is_ds) {
    check_dataset_call(x, y, call)
    if (validation_split > 0) {
      abort_gru(
        c("{.arg validation_split} cannot split a dataset.",
          "i" = "Pass a second dataset as {.arg validation_data}, as in Keras."),
        class = "gru_error_input", call = call
      )
    }
    batch_size <- dataset_batch_size(x)
  } else {
    data <- check_xy(x, y, call = call, self = self)
    x <- data$x
    y <- data$y
  }
  val <- NULL
  if (is_dataset(validation_data)) {
    val <- list(x = validation_data, y = NULL)
  } else if (!is.null(validation_data)) {
    if (!is.list(validation_data) || length(validation_data) < 2L) {
      abort_gru(
        c("{.arg validation_data} must be {.code list(x_val, y_val)}, not {.obj_type_friendly {validation_data}}."),
        class = "gru_error_input", call = call
      )
    }
    val <- check_xy(validation_data[[1L]], validation_data[[2L]],
                    arg_x = "validation_data[[1]]", arg_y = "validation_data[[2]]",
                    call = call, self = self)
  } else if (validation_split > 0) {
    n <- data_rows(x)
    n_train <- as.integer(floor(n * (1 - validation_split)))
    if (n_train < 1L || n_train >= n) {
      abort_gru(
        c("{.arg validation_split} = {validation_split} leaves {n_train} of {n} rows for training and {n - n_train} for validation; both need at least one.",
          "i" = "Use a smaller split or more data."),
        class = "gru_error_fit", call = call
      )
    }
    rows <- seq_len(n_train)
    val <- list(x = slice_data(x, -rows), y = slice_data(y, -rows))
    x <- slice_data(x, rows)
    y <- slice_data(y, rows)
  }
  st <- model_stateful(self)
  if (st$stateful) {
    batch_size <- check_stateful_fit(self, st, batch_size, shuffle && !is_ds, x, val,
                                     call = call)
  }
  callbacks <- check_callbacks(callbacks, call = call)

  n <- data_rows(x)
  steps <- as.integer(ceiling(n / batch_size))
  metric_names <- model_log_names(self, compiled)
  history <- new_history(list(epochs = epochs, steps = steps, batch_size = batch_size,
                              samples = n, verbose = verbose),
                         metric_names, validation = !is.null(val))
  ctx <- new.env(parent = emptyenv())
  ctx$model <- object
  ctx$call <- call
  ctx$stop_training <- FALSE
  ctx$params <- history$params
  run_callbacks(callbacks, "on_train_begin", ctx, NULL, list())

  # The GRU layers' steps borrow one training workspace, which fit() owns
  # (a fresh one costs page faults and zeroing every batch); its memory goes
  # when fit() does.
  workspace <- cpp_train_workspace_new()
  outer_workspace <- set_train_workspace(workspace)
  on.exit({
    set_train_workspace(outer_workspace)
    cpp_train_workspace_free(workspace)
  }, add = TRUE)
  epoch <- 0L
  batch <- 0L
  interrupted <- FALSE
  state_snapshot <- NULL
  progress_env <- environment()
  tryCatch(
      {
        for (epoch in seq_len(epochs)) {
          ctx$epoch <- epoch
          run_callbacks(callbacks, "on_epoch_begin", ctx, epoch, list())
          started <- Sys.time()
          order <- if (is_ds) dataset_order(x, epoch) else if (shuffle) sample.int(n) else seq_len(n)
          sums <- stats::setNames(numeric(length(metric_names)), metric_names)
          seen <- 0
          pb <- progress_start(verbose, epoch, epochs, steps, progress_env)
          for (batch in seq_len(steps)) {
            rows <- order[((batch - 1L) * batch_size + 1L):min(n, batch * batch_size)]
            run_callbacks(callbacks, "on_batch_begin", ctx, batch, list())
            b <- batch_data(self, x, y, rows, call)
            # The carried states before this batch: an interrupt inside the
            # step puts them back, so state and weights stay in step.
            state_snapshot <- if (st$stateful) snapshot_states(self)
            vals <- train_step(self, b$x, b$y, epoch = epoch, batch = batch, call = call)
            state_snapshot <- NULL
            sums <- sums + vals * length(rows)
            seen <- seen + length(rows)
            logs <- as.list(sums / seen)
            run_callbacks(callbacks, "on_batch_end", ctx, batch, logs)
            progress_update(pb, batch, logs, progress_env)
          }
          logs <- as.list(sums / seen)
          if (!is.null(val)) {
            v <- model_evaluate(self, val$x, val$y, batch_size, call = call)
            names(v) <- paste0("val_", names(v))
            logs <- c(logs, as.list(v))
          }
          elapsed <- as.numeric(difftime(Sys.time(), started, units = "secs"))
          progress_done(pb, verbose, epoch, epochs, logs, elapsed, progress_env)
          history <- history_add(history, logs)
          run_callbacks(callbacks, "on_epoch_end", ctx, epoch, logs)
          if (isTRUE(ctx$stop_training)) break
        }
      },
      interrupt = function(cnd) {
        interrupted <<- TRUE
        if (!is.null(state_snapshot)) restore_states(state_snapshot)
      }
  )
  run_callbacks(callbacks, "on_train_end", ctx, NULL, history_last(history))
  if (interrupted) {
    cli::cli_inform(c(
      "!" = "Training interrupted in epoch {epoch}, batch {batch}.",
      "i" = "The model keeps the weights of the last finished batch; the history holds the {history_epochs(history)} finished epoch{?s}."
    ))
  }
  invisible(history)
}

#' Evaluate a sequential model
#'
#' keras3's `evaluate()`: the loss (including regularization penalties) and
#' the compiled metrics of the model on `x` and `y`, in inference mode (no
#' dropout), computed in batches and averaged over the rows.
#'
#' @param object A compiled sequential model.
#' @param x,y Inputs and targets, as for [fit()][fit.gru_model].
#' @param batch_size Rows per batch.
#' @param verbose Accepted for keras3 compatibility; nothing is printed.
#' @param ... Unused; must be empty.
#' @returns A named list: `loss` and one entry per metric.
#' @family training
#' @export
#' @examples
#' x <- array(runif(20 * 4), c(20, 4, 1))
#' y <- apply(x, 1, sum)
#' model <- keras_model_sequential(input_shape = c(4, 1)) |>
#'   layer_gru(3) |>
#'   layer_dense(1)
#' compile(model, loss = "mse", metrics = "mae")
#' evaluate(model, x, y)
evaluate.gru_model <- function(object, x = NULL, y = NULL, batch_size = 32,
                               verbose = "auto", ...) {
  call <- rlang::current_env()
  self <- model_self(object)
  check_layer_dots(list(...), character(), "evaluate", call = call)
  check_compiled(self, "evaluate", call = call)
  batch_size <- check_positive_whole(batch_size, call = call)
  resolve_verbose(verbose, call = call)
  if (is_dataset(x)) {
    check_dataset_call(x, y, call)
    return(as.list(model_evaluate(self, x, NULL, dataset_batch_size(x), call = call)))
  }
  data <- check_xy(x, y, call = call, self = self)
  as.list(model_evaluate(self, data$x, data$y, batch_size, call = call))
}

#' Train or test on one batch
#'
#' keras3's `train_on_batch()`: one optimizer update on `x` and `y` taken as
#' a single batch. Returns the batch's loss and metrics, computed during the
#' forward pass (before the update), as Keras does.
#'
#' Between calls, gru keeps the last training step's workspace (the per-step
#' gate values of each GRU layer, 32 bytes per unit, timestep and sequence in
#' float32) for the next step, as loops of `train_on_batch()` repeat one shape;
#' [fit()][fit.gru_model] frees it when it returns.
#'
#' @param object A compiled sequential model.
#' @param x,y One batch of inputs and targets, as for [fit()][fit.gru_model].
#' @param ... Unused; must be empty.
#' @returns A named list: `loss` and one entry per metric.
#' @family training
#' @export
#' @examples
#' x <- array(runif(8 * 4), c(8, 4, 1))
#' model <- keras_model_sequential(input_shape = c(4, 1)) |>
#'   layer_gru(3) |>
#'   layer_dense(1)
#' compile(model, optimizer = "sgd", loss = "mse")
#' train_on_batch(model, x, rowSums(x))
train_on_batch <- function(object, x, y, ...) {
  call <- rlang::current_env()
  check_model(object, call = call)
  self <- model_self(object)
  check_layer_dots(list(...), character(), "train_on_batch", call = call)
  check_compiled(self, "train_on_batch", call = call)
  data <- check_xy(x, y, call = call, self = self)
  if (model_stateful(self)$stateful) {
    check_stateful_fit(self, model_stateful(self), data_rows(data$x), FALSE, data$x, NULL,
                       call = call)
  }
  as.list(train_step(self, data$x, data$y, epoch = NULL, batch = NULL, call = call))
}

#' Gradients of the loss with respect to a model's weights
#'
#' The gradient of the loss of one batch with respect to every weight of
#' the model, in the order and shapes of [get_weights()][get_weights]: what
#' one training step of [fit()][fit.gru_model] feeds the optimizer, before
#' clipping. The loss is the compiled loss (or `loss`) plus the
#' regularization penalties. Recurrent layers are differentiated by
#' backpropagation through time in C++; dense, dropout, embedding and
#' masking layers in R.
#'
#' Nothing changes: weights stay as they are and the carried state of
#' stateful layers is restored afterwards (it is the initial state of the
#' batch). Use it to check gradients against finite differences or to write
#' your own training loop.
#'
#' @param object A sequential model.
#' @param x,y One batch of inputs and targets, as for [fit()][fit.gru_model].
#' @param loss `NULL` (the compiled loss) or a loss name or object.
#' @param training Whether to run in training mode (dropout on; draws
#'   dropout masks). The default `FALSE` makes the result deterministic.
#' @returns A list of arrays shaped like `get_weights(object)`, with the
#'   loss as attribute `"loss"`.
#' @family training
#' @export
#' @examples
#' set.seed(1)
#' model <- keras_model_sequential(input_shape = c(3, 2)) |>
#'   layer_gru(2, dtype = "float64") |>
#'   layer_dense(1)
#' x <- array(rnorm(4 * 3 * 2), c(4, 3, 2))
#' y <- rnorm(4)
#' g <- gradients(model, x, y, loss = "mse")
#' str(g)
#' attr(g, "loss")
gradients <- function(object, x, y, loss = NULL, training = FALSE) {
  call <- rlang::current_env()
  check_model(object, call = call)
  self <- model_self(object)
  check_bool(training, call = call)
  compiled <- if (is.null(loss)) {
    check_compiled(self, "gradients", call = call)
  } else {
    n_out <- length(model_graph(self)$outputs)
    losses <- lapply(per_output(self, loss, n_out, "loss", call), resolve_loss,
                     arg = "loss", call = call)
    list(losses = losses, loss_weights = as.list(rep(1, n_out)),
         output_metrics = rep(list(list()), n_out))
  }
  data <- check_xy(x, y, call = call, self = self)
  snap <- snapshot_states(self)
  on.exit(restore_states(snap), add = TRUE)
  pass <- model_train_pass(self, data$x, data$y, compiled, training = training,
                           call = call)
  structure(pass$grads, loss = pass$loss)
}

# Helpers -----------------------------------------------------------------

check_model <- function(object, call) {
  if (!inherits(object, "gru_model")) {
    abort_gru(
      c("{.arg object} must be a model made by {.fn keras_model_sequential}, not {.obj_type_friendly {object}}."),
      class = "gru_error_input", call = call
    )
  }
  invisible(object)
}

check_compiled <- function(self, what, call) {
  if (is.null(self$compiled)) {
    abort_gru(
      c("Model {.val {self$config$name}} must be compiled before {.fn {what}}.",
        "i" = "Call {.code compile(model, optimizer = \"adam\", loss = \"mse\")} first."),
      class = "gru_error_fit", call = call
    )
  }
  # Models compiled by gru 0.1.0 hold one loss and one metric list.
  if (is.null(self$compiled$losses)) {
    self$compiled$losses <- list(self$compiled$loss)
    self$compiled$output_metrics <- list(self$compiled$metrics)
    self$compiled$loss_weights <- list(1)
  }
  self$compiled
}

resolve_verbose <- function(verbose, call) {
  if (identical(verbose, "auto")) return(if (rlang::is_interactive()) 1L else 2L)
  ok <- is.numeric(verbose) && length(verbose) == 1L && verbose %in% 0:2
  if (!ok) {
    abort_gru(
      c("{.arg verbose} must be {.val auto}, 0, 1 or 2, not {.obj_type_friendly {verbose}}."),
      class = "gru_error_input", call = call
    )
  }
  as.integer(verbose)
}

# Inputs and targets: a finite numeric x, targets as an array, and the same
# number of rows in both. For a model with several inputs (outputs) x (y)
# is a list of them, in the model's order or named by its inputs (outputs).
check_xy <- function(x, y, arg_x = "x", arg_y = "y", call, self = NULL) {
  n_in <- if (is.null(self)) 1L else length(model_input_specs(self))
  n_out <- if (is.null(self)) 1L else length(model_graph(self)$outputs)
  xs <- if (n_in > 1L && is_data_list(x)) x else list(x)
  if (n_in > 1L && length(xs) != n_in) {
    abort_gru(
      c("{.arg {arg_x}} must be a list of {n_in} input arrays for model {.val {self$config$name}}, not {.obj_type_friendly {x}}."),
      class = "gru_error_input", call = call
    )
  }
  if (n_in > 1L && !is.null(names(xs))) {
    spec_names <- vapply(model_input_specs(self), function(s) s$name %||% "", character(1))
    if (setequal(names(xs), spec_names)) xs <- xs[spec_names]
  }
  for (i in seq_along(xs)) {
    xi <- xs[[i]]
    label <- if (n_in == 1L) arg_x else paste0(arg_x, "[[", i, "]]")
    if (is.null(xi) || !(is.numeric(xi) || is.logical(xi))) {
      abort_gru(
        c("{.arg {label}} must be a numeric array, not {.obj_type_friendly {xi}}."),
        class = "gru_error_input", call = call
      )
    }
    if (is.null(dim(xi))) xi <- matrix(xi, 1L)
    check_finite(xi, arg = label, call = call)
    xs[[i]] <- xi
  }
  if (is.null(y)) {
    abort_gru(
      c("{.arg {arg_y}} is missing.", "i" = "Pass the targets, one row per row of {.arg {arg_x}}."),
      class = "gru_error_input", call = call
    )
  }
  for (yj in if (n_out > 1L && is_data_list(y)) y else list(y)) {
    if (is.factor(yj) || is.character(yj)) {
      abort_gru(
        c("{.arg {arg_y}} must be numeric, not {.obj_type_friendly {yj}}.",
          "i" = "For class labels use 0-based integers ({.code as.integer(y) - 1L}) with a sparse categorical loss, or {.fn to_categorical}."),
        class = "gru_error_input", call = call
      )
    }
  }
  ys <- if (n_out > 1L) {
    if (!is_data_list(y) || length(y) != n_out) {
      abort_gru(
        c("{.arg {arg_y}} must be a list of {n_out} target arrays for model {.val {self$config$name}}, one per output, not {.obj_type_friendly {y}}."),
        class = "gru_error_input", call = call
      )
    }
    lapply(model_target_list(self, y, n_out), as_target_array)
  } else {
    list(as_target_array(y))
  }
  n <- NROW(xs[[1L]])
  if (n == 0L) {
    abort_gru(
      c("{.arg {arg_x}} has no rows: there is nothing to train on or evaluate.",
        "i" = "Pass at least one sample."),
      class = "gru_error_input", call = call
    )
  }
  for (i in seq_along(xs)) {
    if (NROW(xs[[i]]) != n) {
      abort_gru(
        c("{.arg {arg_x}[[{i}]]} has {NROW(xs[[i]])} row{?s}, but {.arg {arg_x}[[1]]} has {n}: every input needs one row per sample."),
        class = c("gru_error_fit", "gru_error_shape"), call = call
      )
    }
  }
  for (j in seq_along(ys)) {
    yj <- ys[[j]]
    label <- if (n_out == 1L) arg_y else paste0(arg_y, "[[", j, "]]")
    if (NROW(yj) != n) {
      abort_gru(
        c("{.arg {label}} has {NROW(yj)} row{?s}, but {.arg {arg_x}} has {n}: they must match, one target per input row.",
          "i" = "{.arg {arg_x}} has shape {format_shape(dim(xs[[1L]]))}, {.arg {label}} shape {format_shape(dim(yj))}."),
        class = c("gru_error_fit", "gru_error_shape"), call = call
      )
    }
  }
  list(x = if (n_in == 1L) xs[[1L]] else xs, y = if (n_out == 1L) ys[[1L]] else ys)
}

# Rows and row slices of data that is an array, a list of arrays or a
# dataset (whose rows are its windows).
data_rows <- function(x) {
  if (is_dataset(x)) return(dataset_size(x))
  if (is_data_list(x)) NROW(x[[1L]]) else NROW(x)
}

is_dataset <- function(x) inherits(x, "gru_timeseries_dataset")

# The inputs and targets of one batch: rows of arrays, or windows of a
# dataset (built only now, checked like any x and y).
batch_data <- function(self, x, y, rows, call) {
  if (!is_dataset(x)) return(list(x = slice_data(x, rows), y = slice_data(y, rows)))
  d <- dataset_batch(x, rows)
  check_xy(d$x, d$y, call = call, self = self)
}

check_dataset_call <- function(x, y, call) {
  if (!is.null(y)) {
    abort_gru(
      c("{.arg y} must be {.code NULL} when {.arg x} is a dataset: the dataset holds the targets.",
        "i" = "Give the targets to {.fn timeseries_dataset_from_array}."),
      class = "gru_error_input", call = call
    )
  }
  if (is.null(x$targets)) {
    abort_gru(
      c("The dataset in {.arg x} has no targets, so a model cannot be fitted or evaluated on it.",
        "i" = "Create it with {.code timeseries_dataset_from_array(data, targets, ...)}."),
      class = "gru_error_input", call = call
    )
  }
}

slice_data <- function(x, rows) {
  if (is_data_list(x)) lapply(x, slice_rows, rows) else slice_rows(x, rows)
}

check_stateful_fit <- function(self, st, batch_size, shuffle, x, val, call) {
  if (shuffle) {
    abort_gru(
      c("Model {.val {self$config$name}} has stateful layers, which need {.code shuffle = FALSE}.",
        "i" = "A stateful layer carries each row's state into the same row of the next batch, so the rows must stay in order."),
      class = "gru_error_fit", call = call
    )
  }
  fixed <- st$batch_size
  if (!is.null(fixed) && fixed != batch_size) {
    abort_gru(
      c("Model {.val {self$config$name}} has stateful layers with a fixed batch size of {fixed}, but {.arg batch_size} is {batch_size}.",
        "i" = "Use {.code batch_size = {fixed}}."),
      class = c("gru_error_fit", "gru_error_stateful_batch"), call = call
    )
  }
  for (part in list(list(n = data_rows(x), what = "x"),
                    if (!is.null(val)) list(n = data_rows(val$x), what = "the validation data"))) {
    if (is.null(part)) next
    if (part$n %% batch_size != 0L) {
      abort_gru(
        c("{part$what} has {part$n} row{?s}, which do not divide into the fixed batch size of {batch_size} of model {.val {self$config$name}}'s stateful layers.",
          "i" = "Use a number of rows that is a multiple of {batch_size} (drop or pad the last {part$n %% batch_size})."),
        class = c("gru_error_fit", "gru_error_stateful_batch"), call = call
      )
    }
  }
  batch_size
}

# One optimizer step on a batch: the batch's loss and metrics (a named
# numeric vector). A non-finite loss or gradient stops before any weight
# changes.
train_step <- function(self, x, y, epoch, batch, call) {
  compiled <- self$compiled
  pass <- model_train_pass(self, x, y, compiled, training = TRUE, call = call)
  finite <- is.finite(pass$loss) &&
    all(vapply(pass$grads, function(g) all(is.finite(g)), logical(1)))
  if (!finite) {
    where <- if (is.null(epoch)) "this batch" else paste0("epoch ", epoch, ", batch ", batch)
    abort_gru(
      c("The loss is not finite ({format(pass$loss)}) at {where}; training stopped.",
        "i" = "The model keeps the weights of the last finished batch. Try a smaller learning rate, gradient clipping ({.arg clipnorm}) or scaled inputs."),
      class = c("gru_error_loss", "gru_error_nonfinite"), call = call
    )
  }
  vals <- pass$logs
  model_apply_gradients(self, pass$info, pass$grads, pass$updates)
  vals
}

batch_metrics <- function(metrics, loss, targets, output, mask) {
  vapply(metrics, function(m) {
    metric_compute(m, loss, targets, output, mask)
  }, numeric(1))
}

# Loss and metrics over x, y in inference mode, averaged over rows.
model_evaluate <- function(self, x, y, batch_size, call) {
  compiled <- check_compiled(self, "evaluate", call = call)
  n <- data_rows(x)
  names <- model_log_names(self, compiled)
  sums <- stats::setNames(numeric(length(names)), names)
  penalty <- sum(unlist(lapply(self$layers, function(l) layer_losses(layer_self(l)))))
  for (s in seq(1L, n, by = batch_size)) {
    rows <- s:min(n, s + batch_size - 1L)
    b <- batch_data(self, x, y, rows, call)
    res <- model_forward(self, b$x, training = FALSE, call = call)
    outs <- res$output_list
    ys <- model_target_list(self, b$y, length(outs))
    ol <- outputs_loss(compiled, outs, res$output_masks, ys, call = call)
    vals <- output_logs(self, compiled, ol$value + penalty, ol)
    sums <- sums + vals * length(rows)
  }
  sums / n
}

# Progress ----------------------------------------------------------------

format_logs <- function(logs) {
  if (!length(logs)) return("")
  paste(sprintf("%s: %.4g", names(logs), unlist(logs)), collapse = " - ")
}

# One cli progress bar per epoch, each in its own environment (cli keeps
# one current bar per environment) holding the values its format shows.
progress_start <- function(verbose, epoch, epochs, steps, env) {
  if (verbose != 1L || !rlang::is_interactive()) return(NULL)
  pb_env <- new.env(parent = baseenv())
  pb_env$pb_text <- ""
  pb_env$pb_label <- sprintf("Epoch %d/%d", epoch, epochs)
  pb_env$steps <- steps
  pb_env$id <- cli::cli_progress_bar(
    format = "{pb_label} {cli::pb_bar} {cli::pb_current}/{cli::pb_total} - {pb_text}",
    total = steps, clear = FALSE, .auto_close = FALSE, .envir = pb_env
  )
  pb_env
}

# The last batch's update is left to progress_done(): cli ends a bar when it
# reaches its total, and the epoch's line should show the validation values.
progress_update <- function(pb, batch, logs, env) {
  if (is.null(pb) || batch >= pb$steps) return(invisible())
  pb$pb_text <- format_logs(logs)
  cli::cli_progress_update(id = pb$id, set = batch, .envir = pb)
}

progress_done <- function(pb, verbose, epoch, epochs, logs, elapsed, env) {
  if (!is.null(pb)) {
    pb$pb_text <- format_logs(logs)
    cli::cli_progress_update(id = pb$id, set = pb$steps, force = TRUE, .envir = pb)
    return(invisible())
  }
  if (verbose == 0L) return(invisible())
  cat(sprintf("Epoch %d/%d - %.2fs - %s\n", epoch, epochs, elapsed, format_logs(logs)))
  invisible()
}

# History -----------------------------------------------------------------

new_history <- function(params, metric_names, validation) {
  names <- c(metric_names, if (validation) paste0("val_", metric_names))
  metrics <- stats::setNames(rep(list(numeric()), length(names)), names)
  structure(list(params = params, metrics = metrics), class = "gru_history")
}

history_add <- function(history, logs) {
  for (nm in union(names(history$metrics), names(logs))) {
    history$metrics[[nm]] <- c(history$metrics[[nm]], logs[[nm]] %||% NA_real_)
  }
  history
}

history_epochs <- function(history) length(history$metrics[[1L]])

history_last <- function(history) {
  k <- history_epochs(history)
  if (k == 0L) return(list())
  lapply(history$metrics, function(v) v[k])
}

#' Training history
#'
#' What [fit()][fit.gru_model] returns: `print()` shows the last epoch's
#' values, `as.data.frame()` gives one row per epoch and metric (keras3's
#' columns `epoch`, `value`, `metric`, `data`), and `plot()` draws each
#' metric against the epoch, training and validation together, with base
#' graphics.
#'
#' @param x A history (class `gru_history`).
#' @param y Unused.
#' @param metrics `NULL` (all) or the names of the metrics to plot, without
#'   the `val_` prefix.
#' @param row.names,optional,... Unused, for the generics' signatures.
#' @returns `as.data.frame()`: a data frame. `plot()` and `print()`: `x`,
#'   invisibly.
#' @family training
#' @name history
#' @examples
#' x <- array(runif(32 * 4), c(32, 4, 1))
#' model <- keras_model_sequential(input_shape = c(4, 1)) |>
#'   layer_gru(3) |>
#'   layer_dense(1)
#' compile(model, loss = "mse")
#' h <- fit(model, x, rowSums(x), epochs = 3, validation_split = 0.25, verbose = 0)
#' as.data.frame(h)
#' plot(h)
NULL

#' @rdname history
#' @export
as.data.frame.gru_history <- function(x, row.names = NULL, optional = FALSE, ...) {
  rows <- lapply(names(x$metrics), function(nm) {
    v <- x$metrics[[nm]]
    val <- startsWith(nm, "val_")
    data.frame(epoch = seq_along(v), value = v,
               metric = if (val) substring(nm, 5L) else nm,
               data = if (val) "validation" else "training",
               stringsAsFactors = FALSE)
  })
  df <- do.call(rbind, rows)
  if (is.null(df)) {
    df <- data.frame(epoch = integer(), value = numeric(), metric = character(),
                     data = character())
  }
  df$metric <- factor(df$metric, levels = unique(df$metric))
  df$data <- factor(df$data, levels = c("training", "validation"))
  df
}

#' @rdname history
#' @export
print.gru_history <- function(x, ...) {
  k <- history_epochs(x)
  cat(sprintf("Training history: %d epoch%s of %d, %d samples, batch size %d\n",
              k, if (k == 1L) "" else "s", x$params$epochs, x$params$samples,
              x$params$batch_size))
  if (k > 0L) cat("Final epoch:", format_logs(history_last(x)), "\n")
  invisible(x)
}

#' @rdname history
#' @export
plot.gru_history <- function(x, y, metrics = NULL, ...) {
  all <- names(x$metrics)
  base <- unique(sub("^val_", "", all))
  if (!is.null(metrics)) base <- intersect(base, metrics)
  k <- history_epochs(x)
  if (k == 0L || !length(base)) return(invisible(x))
  old <- graphics::par(mfrow = c(length(base), 1L), mar = c(3.5, 4, 1, 1),
                       mgp = c(2.2, 0.7, 0))
  on.exit(graphics::par(old))
  for (nm in base) {
    tr <- x$metrics[[nm]]
    va <- x$metrics[[paste0("val_", nm)]]
    ylim <- range(c(tr, va), na.rm = TRUE, finite = TRUE)
    graphics::plot(seq_len(k), tr, type = "o", pch = 16, cex = 0.6,
                   col = "#1b6ca8", ylim = ylim, xlab = "epoch", ylab = nm)
    if (!is.null(va)) {
      graphics::lines(seq_len(k), va, type = "o", pch = 17, cex = 0.6, col = "#d95f02")
      graphics::legend("topright", c("training", "validation"),
                       col = c("#1b6ca8", "#d95f02"), pch = c(16, 17), lty = 1,
                       bty = "n", cex = 0.8)
    }
  }
  invisible(x)
}
