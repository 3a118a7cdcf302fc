# fit_ensemble(): k models trained as tasks on the future plan (R/parallel.R).

#' Train several models on a future plan: seeds, folds, a grid
#'
#' Builds and trains one model per member (every combination of `seeds`,
#' `folds` and the rows of `grid`) as tasks on the current
#' [future][future::plan] plan, and returns the trained models with their
#' histories. Each member sets its own seed (in the calling session's
#' [RNGkind()]) before `build` and trains with `threads` gru threads, so the
#' result does not depend on the plan, its worker count or the order the
#' members finish in: a member with seed `s` is the model that
#' `set.seed(s); model <- build(); fit(model, ...)` gives in a session with
#' `gru_threads(threads)`.
#'
#' @param build A function that returns a compiled model (e.g.
#'   `function() keras_model_sequential(...) |> layer_gru(32) |> ... |> compile(...)`).
#'   With `grid`, it is called with one argument: that member's row of `grid`
#'   as a named list. The objects it uses are sent to the workers with it, as
#'   any future's globals.
#' @param x,y The training data, as for [fit()] (arrays or lists of arrays).
#' @param ... Passed to [fit()] (`epochs`, `batch_size`, `callbacks`, ...);
#'   `verbose` defaults to 0.
#' @param seeds The members' seeds (whole numbers).
#' @param folds `NULL` (every member trains on all rows), the number of folds
#'   `k` (at least 2; consecutive blocks of rows), or one fold number per row.
#'   Member with fold `f` trains on the other folds' rows and is validated on
#'   fold `f`'s (`validation_data`).
#' @param grid `NULL`, a data frame of hyperparameters (one member per row and
#'   seed and fold), or a named list of values to cross with [expand.grid()].
#' @param threads Each member's gru thread count, wherever it runs.
#' @returns A `gru_ensemble`: a list with `models`, `histories` and `members`
#'   (a data frame: `seed`, `fold` and the grid's columns, one row per
#'   model). `predict()` on it averages the members' predictions.
#' @family training
#' @export
#' @examplesIf requireNamespace("future", quietly = TRUE)
#' set.seed(1)
#' x <- array(runif(32 * 5), c(32, 5, 1))
#' y <- apply(x, 1, sum)
#' build <- function() {
#'   keras_model_sequential(input_shape = c(5, 1)) |>
#'     layer_gru(4) |>
#'     layer_dense(1) |>
#'     compile(optimizer = "adam", loss = "mse")
#' }
#' ens <- fit_ensemble(build, x, y, seeds = 1:2, epochs = 2, batch_size = 8)
#' ens$members
#' dim(predict(ens, x))
fit_ensemble <- function(build, x, y = NULL, ..., seeds = 1L, folds = NULL, grid = NULL,
                         threads = 1L) {
  call <- rlang::current_env()
  check_future(call)
  if (!is.function(build) || inherits(build, "gru_model")) {
    abort_gru(
      c("{.arg build} must be a function that returns a compiled model, not {.obj_type_friendly {build}}.",
        "i" = "For example {.code build = function() keras_model_sequential(input_shape = c(10, 1)) |> layer_gru(8) |> layer_dense(1) |> compile(loss = \"mse\")}."),
      class = "gru_error_input", call = call
    )
  }
  if (!is.numeric(seeds) || length(seeds) == 0L || anyNA(seeds) ||
      any(seeds != round(seeds)) || any(abs(seeds) > .Machine$integer.max)) {
    abort_gru(
      c("{.arg seeds} must be whole numbers, not {.obj_type_friendly {seeds}}.",
        "i" = "For example {.code seeds = 1:4}."),
      class = "gru_error_input", call = call
    )
  }
  threads <- check_threads_arg(threads, call) %||% 1L
  n <- data_rows(x)
  fold_of <- ensemble_folds(folds, n, call)
  grid <- ensemble_grid(grid, call)
  fold_ids <- if (is.null(fold_of)) NA_integer_ else sort(unique(fold_of))
  grid_rows <- if (is.null(grid)) NA_integer_ else seq_len(nrow(grid))
  members <- expand.grid(seed = as.integer(seeds), fold = fold_ids, grid_row = grid_rows,
                         KEEP.OUT.ATTRS = FALSE)
  fit_args <- list(...)
  if (is.null(fit_args$verbose)) fit_args$verbose <- 0
  # `build` and what it uses travel as the future framework's globals.
  uf <- user_function(build)
  rng <- RNGkind()
  m <- nrow(members)
  models <- histories <- vector("list", m)
  errors <- character()
  run_tasks(
    m,
    get_task = function(i) {
      mem <- members[i, ]
      list(kind = "fit", seed = mem$seed, rng = rng, threads = threads,
           hp = if (is.null(grid)) NULL else as.list(grid[mem$grid_row, , drop = FALSE]),
           x = x, y = y, train = if (is.na(mem$fold)) NULL else which(fold_of != mem$fold),
           fit_args = fit_args)
    },
    done = function(i, v) {
      models[[i]] <<- v$model
      histories[[i]] <<- v$history
    },
    failed = function(i, msg) errors[[as.character(i)]] <<- msg,
    progress = make_progress(m),
    globals = uf$globals, packages = uf$packages,
    call = call
  )
  if (length(errors)) {
    errors <- in_task_order(errors)
    i <- as.integer(names(errors)[[1L]])
    abort_gru(
      c("Member {i} of {m} (seed {members$seed[i]}) failed: {errors[[1]]}",
        "i" = "{length(errors)} of {m} member{?s} failed; fix the cause and run it again."),
      class = c("gru_error_chunk_failed", "gru_error_fit"), chunks = as.integer(names(errors)),
      call = call
    )
  }
  info <- members[, c("seed", "fold"), drop = FALSE]
  if (!is.null(grid)) info <- cbind(info, grid[members$grid_row, , drop = FALSE])
  rownames(info) <- NULL
  structure(list(models = models, histories = histories, members = info),
            class = "gru_ensemble")
}

ensemble_folds <- function(folds, n, call) {
  if (is.null(folds)) return(NULL)
  bad <- function() {
    abort_gru(
      c("{.arg folds} must be {.code NULL}, a number of folds from 2 to the {n} rows, or one fold number per row, not {.obj_type_friendly {folds}}.",
        "i" = "For example {.code folds = 5}."),
      class = "gru_error_input", call = call
    )
  }
  if (!is.numeric(folds) || anyNA(folds) || any(folds != round(folds))) bad()
  if (length(folds) == 1L) {
    if (folds < 2 || folds > n) bad()
    return(as.integer(ceiling(seq_len(n) * folds / n)))
  }
  if (length(folds) != n || length(unique(folds)) < 2L) bad()
  as.integer(folds)
}

ensemble_grid <- function(grid, call) {
  if (is.null(grid)) return(NULL)
  if (is.list(grid) && !is.data.frame(grid) && !is.null(names(grid)) && all(nzchar(names(grid)))) {
    grid <- expand.grid(grid, KEEP.OUT.ATTRS = FALSE, stringsAsFactors = FALSE)
  }
  if (!is.data.frame(grid) || nrow(grid) == 0L || ncol(grid) == 0L) {
    abort_gru(
      c("{.arg grid} must be a data frame of hyperparameters or a named list of values, not {.obj_type_friendly {grid}}.",
        "i" = "For example {.code grid = list(units = c(16, 32), lr = c(0.01, 0.001))}."),
      class = "gru_error_input", call = call
    )
  }
  if (any(c("seed", "fold") %in% names(grid))) {
    abort_gru(
      c("{.arg grid} cannot have columns named {.val seed} or {.val fold}.",
        "i" = "Give seeds in {.arg seeds} and folds in {.arg folds}."),
      class = "gru_error_input", call = call
    )
  }
  grid
}

# One member, on the worker: seed, build, fit.
run_fit_task <- function(task, build) {
  force(build)
  RNGkind(task$rng[[1L]], task$rng[[2L]], task$rng[[3L]])
  set.seed(task$seed)
  model <- if (is.null(task$hp)) build() else build(task$hp)
  if (!inherits(model, "gru_model")) {
    stop("`build` returned ", class(model)[[1L]], ", not a gru model", call. = FALSE)
  }
  x <- task$x
  y <- task$y
  args <- task$fit_args
  if (!is.null(task$train)) {
    val <- setdiff(seq_len(data_rows(x)), task$train)
    args$validation_data <- list(slice_any(x, val), slice_any(y, val))
    x <- slice_any(x, task$train)
    y <- slice_any(y, task$train)
  }
  history <- do.call(fit, c(list(model, x, y), args))
  list(model = model, history = history)
}

# Rows of an array, a vector (targets) or a list of them.
slice_any <- function(v, rows) {
  if (is_data_list(v)) return(lapply(v, slice_any, rows))
  if (is.null(dim(v))) v[rows] else slice_rows(v, rows)
}

#' @export
predict.gru_ensemble <- function(object, x, ...) {
  preds <- lapply(object$models, function(m) predict(m, x, ...))
  if (is.list(preds[[1L]])) {
    out <- lapply(seq_along(preds[[1L]]), function(j) {
      Reduce(`+`, lapply(preds, `[[`, j)) / length(preds)
    })
    names(out) <- names(preds[[1L]])
    return(out)
  }
  Reduce(`+`, preds) / length(preds)
}

#' @export
print.gru_ensemble <- function(x, ...) {
  cat("<gru_ensemble> ", length(x$models), " models\n", sep = "")
  last_loss <- vapply(x$histories, function(h) {
    l <- h$metrics$loss
    if (length(l)) l[[length(l)]] else NA_real_
  }, numeric(1))
  print(cbind(x$members, final_loss = last_loss), row.names = FALSE)
  invisible(x)
}
