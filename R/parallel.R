# Running gru on a future plan (the future package: multisession, cluster,
# batchtools, ...). gru does not schedule anything itself: it cuts the work
# into tasks, each a plain list (the model serialized to a raw vector, the
# rows or the file it works on, the settings), evaluates them as futures on
# whatever plan the user has set, at most nbrOfWorkers() at a time, and puts
# the results back in order.
#
# - A task runs gru:::run_task() on the worker, after checking that the
#   worker has gru (a worker without it is named in a gru_error_worker).
# - A model travels as serialize(model): everything a gru model holds lives
#   in R objects (the packed kernels live in weak references, which serialize
#   empty), so it needs no external pointer on the worker. A worker keeps the
#   last model it unserialized, keyed by its checksum.
# - The worker's gru threads are `threads`, else parallelly::availableCores()
#   there, which honours the plan's own limits (1 on a multisession worker,
#   as the future framework protects against nested parallelism).
# - Failures are per task: a task that errors, or whose worker dies (a
#   FutureError), is reported with its index; the others still run.

check_future <- function(call) {
  if (requireNamespace("future", quietly = TRUE)) return(invisible(TRUE))
  abort_gru(
    c("Running on a future plan needs the {.pkg future} package, which is not installed.",
      "i" = "Install it with {.code apt-get install r-cran-future} (Debian/Ubuntu) or {.code install.packages(\"future\")}."),
    class = c("gru_error_dependency", "gru_error_input"), call = call
  )
}

# A model as a task carries it: the raw serialization and its checksum.
model_payload <- function(object) {
  raw <- serialize(object, NULL)
  list(raw = raw, key = raw_checksum(raw))
}

raw_checksum <- function(raw) {
  path <- tempfile(fileext = ".bin")
  on.exit(unlink(path))
  writeBin(raw, path)
  unname(tools::md5sum(path))
}

check_parallel_model <- function(self, what, call) {
  if (model_stateful(self)$stateful) {
    abort_gru(
      c("Model {.val {self$config$name}} has stateful layers, so {what} cannot be split between workers.",
        "i" = "A stateful layer carries its state from one batch to the next; run it with {.code parallel = FALSE}."),
      class = c("gru_error_stateful_parallel", "gru_error_input"), call = call
    )
  }
}

check_threads_arg <- function(threads, call) {
  if (is.null(threads)) return(NULL)
  if (!is_count(threads) || threads > 1024) {
    abort_gru(
      c("{.arg threads} must be {.code NULL} or a whole number from 1 to 1024, not {.obj_type_friendly {threads}}.",
        "i" = "It is each worker's gru thread count; {.code NULL} takes the cores the plan gives a worker."),
      class = "gru_error_input", call = call
    )
  }
  as.integer(threads)
}

# ---- on the worker ------------------------------------------------------------

the_worker <- new.env(parent = emptyenv())

worker_model <- function(payload) {
  if (!identical(the_worker$key, payload$key)) {
    the_worker$model <- unserialize(payload$raw)
    the_worker$key <- payload$key
  }
  the_worker$model
}

worker_threads <- function(threads) {
  if (!is.null(threads)) return(threads)
  n <- if (requireNamespace("parallelly", quietly = TRUE)) {
    parallelly::availableCores()
  } else {
    getOption("mc.cores", 1L)
  }
  max(1L, as.integer(n[[1L]]))
}

# What a task does on the worker. Options are put back afterwards (a
# sequential plan runs the task in the user's session).
run_task <- function(task, fun = NULL) {
  old <- options(gru.threads = worker_threads(task$threads))
  on.exit(options(old), add = TRUE)
  switch(
    task$kind,
    predict = {
      model <- worker_model(task$model)
      x <- task$x
      if (!is.null(task$file)) x <- fun(task$file)
      predict_outputs(model_self(model), x, task$batch_size, call = NULL)
    },
    fit = run_fit_task(task, fun)
  )
}

# The future's expression: it needs nothing from the calling session but
# `task`, and says so when the worker cannot load gru.
task_expression <- quote({
  has <- if (!requireNamespace("gru", quietly = TRUE)) {
    NA_character_
  } else if (!exists("run_task", envir = asNamespace("gru"), inherits = FALSE)) {
    paste(utils::packageVersion("gru"), "(an older build)")
  } else {
    as.character(utils::packageVersion("gru"))
  }
  if (!identical(has, task$gru_version)) {
    stop(structure(
      class = c("gru_worker_without_gru", "error", "condition"),
      list(message = "this worker cannot run gru's tasks", call = NULL, has = has,
           host = Sys.info()[["nodename"]], pid = Sys.getpid(), libs = .libPaths())
    ))
  }
  if (identical(task$kind, "fit") && !"package:gru" %in% search()) attachNamespace("gru")
  gru:::run_task(task, fun)
})

# ---- in the calling session ---------------------------------------------------

# A fixed L'Ecuyer-CMRG seed for every future: tasks that need random numbers
# (fit tasks) set their own seed, and none draws from the calling session's
# stream, so a result does not depend on the plan or on the order of tasks.
task_seed <- c(10407L, 1806547166L, -983674937L, 643431772L, 1107565593L, -1424391193L,
               -589706525L)

# `globals` and `packages`: the task's user function `fun` (predict_chunks()'
# `read`, fit_ensemble()'s `build`) and what it needs (user_function()).
launch_task <- function(task, globals = NULL, packages = NULL) {
  task$gru_version <- as.character(utils::packageVersion("gru"))
  g <- c(list(task = task), if (is.null(globals)) list(fun = NULL) else as.list(globals))
  future::future(task_expression, substitute = FALSE, globals = g, packages = packages,
                 seed = task_seed)
}

# Runs tasks 1..n (`get_task(i)` builds task i when a worker is free), at most
# nbrOfWorkers() in flight, and hands each result to `done(i, value)`; a task
# that fails goes to `failed(i, message)`. A worker without gru stops the run
# with a gru_error_worker naming it. `progress` is called after each task.
#
# A worker that dies (a FutureError, or a lost connection) fails its task
# only. Its node may stay in the plan's cluster, dead, so no task is started
# until the running ones are in; then the plan is set again (plan(plan()):
# new workers for multisession and cluster plans) and the run goes on. If
# that happens a third time, the tasks not yet started are failed as not run.
run_tasks <- function(n, get_task, done, failed, progress = function() NULL,
                      globals = NULL, packages = NULL, call = rlang::caller_env()) {
  if (n == 0L) return(invisible())
  width <- plan_workers()
  running <- list()
  next_i <- 1L
  broken <- FALSE
  resets <- 0L
  lost <- function(e) {
    inherits(e, "FutureError") || grepl("connection", conditionMessage(e), fixed = TRUE)
  }
  fail <- function(i, e) {
    if (lost(e)) {
      broken <<- TRUE
      failed(i, paste("its worker was lost:", conditionMessage(e)))
    } else {
      failed(i, conditionMessage(e))
    }
    progress()
  }
  collect <- function(key) {
    f <- running[[key]]
    i <- as.integer(key)
    running[[key]] <<- NULL
    v <- tryCatch(future::value(f), error = function(e) e)
    if (inherits(v, "gru_worker_without_gru")) {
      has <- if (is.na(v$has)) "no gru" else paste("gru", v$has)
      abort_gru(
        c("Worker {.val {v$host}} (process {v$pid}) of the current future plan has {has}; this session runs gru {utils::packageVersion('gru')}.",
          "i" = "Install this gru on that machine, or start its R with a library that has it (its library paths are {.file {v$libs}})."),
        class = c("gru_error_worker", "gru_error_dependency"), call = call
      )
    }
    if (inherits(v, "error")) return(fail(i, v))
    done(i, v)
    progress()
  }
  on.exit(for (f in running) try(future::value(f), silent = TRUE), add = TRUE)
  repeat {
    while (!broken && next_i <= n && length(running) < width) {
      f <- tryCatch(launch_task(get_task(next_i), globals, packages), error = function(e) e)
      if (inherits(f, "error")) {
        fail(next_i, f)
      } else {
        running[[as.character(next_i)]] <- f
      }
      next_i <- next_i + 1L
    }
    if (broken && length(running) == 0L && next_i <= n) {
      if (resets == 2L) {
        for (i in next_i:n) failed(i, "not run: the plan lost workers three times")
        break
      }
      current <- future::plan()
      future::plan(current)
      resets <- resets + 1L
      broken <- FALSE
      next
    }
    if (length(running) == 0L) break
    ready <- names(running)[vapply(running, function(f) {
      tryCatch(future::resolved(f), error = function(e) TRUE)
    }, logical(1))]
    if (length(ready) == 0L) {
      Sys.sleep(0.01)
      next
    }
    for (key in ready) collect(key)
  }
  invisible()
}

# A user function as a task's global `fun`, with the objects and packages it
# uses, found by the future framework's own scan (as any future's globals).
user_function <- function(fun) {
  env <- new.env(parent = environment(fun) %||% globalenv())
  env$fun <- fun
  scan <- future::getGlobalsAndPackages(quote(fun), envir = env, globals = TRUE)
  list(globals = scan$globals, packages = setdiff(scan$packages, "gru"))
}

# How many tasks the current plan runs at once (1 when it says none, or
# an unbounded number, as a scheduler's plan may).
plan_workers <- function() {
  max(1L, suppressWarnings(as.integer(future::nbrOfWorkers())), na.rm = TRUE)
}

# Failures arrive in the order tasks finish, which depends on the plan;
# errors report them by task index.
in_task_order <- function(errors) {
  errors[order(as.integer(names(errors)))]
}

make_progress <- function(n) {
  if (requireNamespace("progressr", quietly = TRUE)) {
    p <- progressr::progressor(steps = n)
    function() p()
  } else {
    function() NULL
  }
}

# predict(parallel = TRUE): whole batches of `batch_size` rows, cut into
# `chunks` runs of consecutive rows (default: one per worker, so the model
# travels once to each), predicted on the plan and bound back in order.
predict_parallel <- function(object, self, x, n, batch_size, chunks, threads, call) {
  check_future(call)
  check_parallel_model(self, "its predictions", call)
  threads <- check_threads_arg(threads, call)
  n_batches <- ceiling(n / batch_size)
  if (is.null(chunks)) chunks <- plan_workers()
  if (!is_count(chunks)) {
    abort_gru(
      c("{.arg chunks} must be {.code NULL} or a positive whole number, not {.obj_type_friendly {chunks}}.",
        "i" = "It is how many pieces the rows are cut into; {.code NULL} makes one per worker."),
      class = "gru_error_input", call = call
    )
  }
  chunks <- min(as.integer(chunks), n_batches)
  first_batch <- floor(seq(0, n_batches, length.out = chunks + 1L))
  row_range <- function(i) {
    from <- first_batch[[i]] * batch_size + 1L
    to <- min(n, first_batch[[i + 1L]] * batch_size)
    from:to
  }
  payload <- model_payload(object)
  pieces <- vector("list", chunks)
  errors <- character()
  run_tasks(
    chunks,
    get_task = function(i) {
      list(kind = "predict", model = payload, x = slice_data(x, row_range(i)),
           batch_size = batch_size, threads = threads)
    },
    done = function(i, v) pieces[[i]] <<- v,
    failed = function(i, msg) errors[[as.character(i)]] <<- msg,
    progress = make_progress(chunks),
    call = call
  )
  if (length(errors)) {
    errors <- in_task_order(errors)
    i <- as.integer(names(errors)[[1L]])
    rows <- range(row_range(i))
    abort_gru(
      c("Chunk {i} of {chunks} (rows {rows[1]} to {rows[2]}) failed: {errors[[1]]}",
        "i" = "{length(errors)} of {chunks} chunk{?s} failed; for results that survive a failed worker, use {.fn predict_chunks}."),
      class = c("gru_error_chunk_failed", "gru_error_backend"), chunks = as.integer(names(errors)),
      call = call
    )
  }
  outs <- lapply(seq_along(pieces[[1L]]), function(j) bind_rows(lapply(pieces, `[[`, j)))
  model_output_value(self, outs)
}

# ---- predict_chunks() ---------------------------------------------------------

#' Predict data that does not fit in memory, chunk by chunk
#'
#' Runs [predict()] over a sequence of chunks (files, a list of arrays, or a
#' function that yields them) on the current [future][future::plan] plan,
#' writing each chunk's predictions to `output_dir` as soon as it is done,
#' with a manifest. Nothing is lost when a chunk fails: it is reported with
#' its index, the others are kept, and running the same call again redoes only
#' the chunks that are not done (`resume = TRUE`).
#'
#' Each finished chunk `i` is written to `chunk-<i>.rds` (five digits) in
#' `output_dir`, by the calling session (the workers need no shared disk
#' except to read the files they are given), and `manifest.csv` there lists
#' every chunk: `chunk`, `source` (the file, or `"list"`/`"function"`), `rows`,
#' `status` (`"done"` or `"failed"`), `output` and `error`. The manifest is
#' rewritten after every chunk, so an interrupted run keeps the chunks it
#' finished. [read_chunks()] binds the results back in chunk order.
#'
#' @param object A model ([keras_model_sequential()] or [keras_model()])
#'   without stateful layers.
#' @param chunks The data, one chunk at a time: a character vector of files
#'   (each read on the worker with `read`), a list of arrays (or of lists of
#'   arrays, for a model with several inputs), or a function of no arguments
#'   that returns the next chunk each time it is called and `NULL` after the
#'   last (called in the calling session; on a resumed run, chunks already
#'   done are drawn and skipped).
#' @param output_dir The folder for the results and the manifest (created if
#'   needed).
#' @param batch_size Rows per batch within a chunk.
#' @param read The function that reads a file of `chunks` on the worker; default
#'   [readRDS()].
#' @param resume `TRUE` keeps the chunks that the manifest in `output_dir`
#'   records as done for this model; `FALSE` starts again.
#' @param threads Each worker's gru thread count, as in [predict()].
#' @returns The manifest (a data frame), invisibly. When chunks failed, a
#'   `gru_error_chunk_failed` error after all the others have run, naming
#'   them; its `manifest` field holds the manifest.
#' @family models
#' @export
#' @examplesIf requireNamespace("future", quietly = TRUE)
#' model <- keras_model_sequential(input_shape = c(4, 2)) |> layer_gru(3)
#' pieces <- lapply(1:3, function(i) array(runif(10 * 4 * 2), c(10, 4, 2)))
#' out <- file.path(tempdir(), "scores")
#' predict_chunks(model, pieces, out)
#' dim(read_chunks(out))
predict_chunks <- function(object, chunks, output_dir, batch_size = 32, read = readRDS,
                           resume = TRUE, threads = NULL) {
  call <- rlang::current_env()
  check_model(object, call = call)
  self <- model_self(object)
  check_future(call)
  check_parallel_model(self, "its chunks", call)
  batch_size <- check_positive_whole(batch_size, call = call)
  threads <- check_threads_arg(threads, call)
  check_chunk_source(chunks, read, call)
  if (!is.character(output_dir) || length(output_dir) != 1L || is.na(output_dir) ||
      !nzchar(output_dir)) {
    abort_gru(
      c("{.arg output_dir} must be one folder name, not {.obj_type_friendly {output_dir}}.",
        "i" = "For example {.code output_dir = \"scores\"}."),
      class = "gru_error_input", call = call
    )
  }
  if (!isTRUE(resume) && !isFALSE(resume)) {
    abort_gru(
      c("{.arg resume} must be {.code TRUE} or {.code FALSE}, not {.obj_type_friendly {resume}}."),
      class = "gru_error_input", call = call
    )
  }
  dir.create(output_dir, showWarnings = FALSE, recursive = TRUE)
  if (!dir.exists(output_dir)) {
    abort_gru(
      c("Can't create the folder {.file {output_dir}}.", "i" = "Check the path and its permissions."),
      class = "gru_error_input", call = call
    )
  }
  payload <- model_payload(object)
  manifest_path <- file.path(output_dir, "manifest.csv")
  old <- if (resume) read_manifest(manifest_path, payload$key) else NULL

  is_fun <- is.function(chunks)
  n <- if (is_fun) NA_integer_ else length(chunks)
  source_name <- function(i) {
    if (is.character(chunks)) chunks[[i]] else if (is_fun) "function" else "list"
  }
  rows_of <- function(ch) if (is.null(ch)) NA_integer_ else as.integer(data_rows(ch))
  man <- data.frame(chunk = integer(), source = character(), rows = integer(),
                    status = character(), output = character(), error = character(),
                    model = character(), stringsAsFactors = FALSE)
  set_row <- function(i, rows, status, error = "") {
    out <- if (status == "done") chunk_file(i) else ""
    row <- data.frame(chunk = i, source = source_name(i), rows = rows, status = status,
                      output = out, error = error, model = payload$key,
                      stringsAsFactors = FALSE)
    man <<- rbind(man[man$chunk != i, , drop = FALSE], row)
    man <<- man[order(man$chunk), , drop = FALSE]
    rownames(man) <<- NULL
    write_manifest(man, manifest_path)
  }
  is_done <- function(i) {
    if (is.null(old)) return(FALSE)
    hit <- old[old$chunk == i & old$status == "done", , drop = FALSE]
    nrow(hit) == 1L && identical(hit$source, source_name(i)) &&
      file.exists(file.path(output_dir, hit$output))
  }

  # The chunks to run: for a generator, drawn now (its chunks are in memory
  # only while they wait for a worker, at most one per worker ahead).
  todo <- integer()
  pending <- list()
  if (!is_fun) {
    for (i in seq_len(n)) {
      if (is_done(i)) {
        hit <- old[old$chunk == i, , drop = FALSE]
        set_row(i, hit$rows, "done")
      } else {
        todo <- c(todo, i)
      }
    }
  }
  get_chunk <- function(i) {
    if (is.character(chunks)) return(NULL)
    if (!is_fun) return(chunks[[i]])
    ch <- pending[[as.character(i)]]
    pending[[as.character(i)]] <<- NULL
    ch
  }
  # A generator is drawn until it returns NULL; done chunks are skipped.
  gen_i <- 0L
  draw <- function() {
    repeat {
      ch <- chunks()
      if (is.null(ch)) return(NA_integer_)
      gen_i <<- gen_i + 1L
      check_chunk_value(ch, gen_i, call)
      if (is_done(gen_i)) {
        set_row(gen_i, rows_of(ch), "done")
        next
      }
      pending[[as.character(gen_i)]] <<- ch
      return(gen_i)
    }
  }
  failures <- character()
  task_for <- function(i) {
    ch <- get_chunk(i)
    list(kind = "predict", model = payload, x = ch,
         file = if (is.character(chunks)) chunks[[i]] else NULL,
         batch_size = batch_size, threads = threads)
  }
  done <- function(i, v) {
    value <- model_output_value(self, v)
    tmp <- file.path(output_dir, paste0(".", chunk_file(i), ".part"))
    saveRDS(value, tmp)
    file.rename(tmp, file.path(output_dir, chunk_file(i)))
    set_row(i, nrow_output(v), "done")
  }
  failed <- function(i, msg) {
    failures[[as.character(i)]] <<- msg
    set_row(i, NA_integer_, "failed", msg)
  }
  if (is_fun) {
    progress <- function() NULL  # the count is not known ahead
    run_generated(draw, task_for, done, failed, progress, call)
  } else {
    progress <- make_progress(length(todo))
    uf <- if (is.character(chunks)) user_function(read) else NULL
    run_tasks(length(todo), function(k) task_for(todo[[k]]),
              function(k, v) done(todo[[k]], v), function(k, msg) failed(todo[[k]], msg),
              progress, globals = uf$globals, packages = uf$packages, call = call)
  }
  write_manifest(man, manifest_path)  # also when no chunk came (an empty generator)
  if (length(failures)) {
    failures <- in_task_order(failures)
    idx <- as.integer(names(failures))
    abort_gru(
      c("{length(idx)} chunk{?s} of {nrow(man)} failed: chunk {idx[1]}: {failures[[1]]}",
        "i" = "The {sum(man$status == 'done')} finished chunk{?s} are kept in {.file {output_dir}}; run the same call again to redo only the failed ones."),
      class = c("gru_error_chunk_failed", "gru_error_backend"), chunks = idx, manifest = man,
      call = call
    )
  }
  invisible(man)
}

# run_tasks() for a generator: draw() gives the next chunk's index (NA at
# the end) when a worker is free.
run_generated <- function(draw, get_task, done, failed, progress, call) {
  exhausted <- FALSE
  next_index <- function() {
    if (exhausted) return(NA_integer_)
    i <- draw()
    if (is.na(i)) exhausted <<- TRUE
    i
  }
  # One chunk per worker drawn, run, then the next round: the generator's
  # chunks wait in memory only for the round they are in.
  width <- plan_workers()
  repeat {
    batch <- integer()
    while (length(batch) < width) {
      i <- next_index()
      if (is.na(i)) break
      batch <- c(batch, i)
    }
    if (length(batch) == 0L) break
    run_tasks(length(batch), function(j) get_task(batch[[j]]),
              function(j, v) done(batch[[j]], v), function(j, msg) failed(batch[[j]], msg),
              progress, call = call)
    if (exhausted) break
  }
  invisible()
}

chunk_file <- function(i) sprintf("chunk-%05d.rds", i)

nrow_output <- function(outs) as.integer(NROW(outs[[1L]]))

write_manifest <- function(man, path) {
  tmp <- paste0(path, ".part")
  utils::write.csv(man, tmp, row.names = FALSE)
  file.rename(tmp, path)
}

# The manifest of an earlier run of the same model, or NULL (none, or
# another model's: its chunks are not this model's predictions).
read_manifest <- function(path, key) {
  if (!file.exists(path)) return(NULL)
  man <- tryCatch(utils::read.csv(path, stringsAsFactors = FALSE, colClasses = "character"),
                  error = function(e) NULL)
  if (is.null(man) || !all(c("chunk", "source", "status", "output", "model") %in% names(man))) {
    return(NULL)
  }
  man$chunk <- as.integer(man$chunk)
  man$rows <- as.integer(man$rows)
  man[man$model == key, , drop = FALSE]
}

check_chunk_source <- function(chunks, read, call) {
  ok <- (is.character(chunks) && length(chunks) > 0L && !anyNA(chunks)) ||
    (is.list(chunks) && !is.data.frame(chunks) && length(chunks) > 0L) || is.function(chunks)
  if (!ok) {
    abort_gru(
      c("{.arg chunks} must be file names, a list of arrays or a function that yields them, not {.obj_type_friendly {chunks}}.",
        "i" = "For example {.code chunks = list.files(\"data\", full.names = TRUE)}."),
      class = "gru_error_input", call = call
    )
  }
  if (is.character(chunks) && !is.function(read)) {
    abort_gru(
      c("{.arg read} must be a function that reads one file of {.arg chunks}, not {.obj_type_friendly {read}}.",
        "i" = "The default is {.fn readRDS}."),
      class = "gru_error_input", call = call
    )
  }
  if (is.list(chunks)) for (i in seq_along(chunks)) check_chunk_value(chunks[[i]], i, call)
}

check_chunk_value <- function(ch, i, call) {
  ok <- is.numeric(ch) || (is_data_list(ch) && length(ch) > 0L &&
                             all(vapply(ch, is.numeric, logical(1))))
  if (!ok) {
    abort_gru(
      c("Chunk {i} of {.arg chunks} must be a numeric array or a list of them, not {.obj_type_friendly {ch}}.",
        "i" = "A generator returns {.code NULL} after its last chunk."),
      class = "gru_error_input", call = call
    )
  }
}

#' Read back the predictions that predict_chunks() wrote
#'
#' @param output_dir The folder given to [predict_chunks()].
#' @returns The predictions of every chunk bound in chunk order (a list of
#'   them for a model with several outputs). A chunk that is not done is an
#'   error (`gru_error_chunk_failed`).
#' @family models
#' @export
read_chunks <- function(output_dir) {
  call <- rlang::current_env()
  path <- file.path(output_dir, "manifest.csv")
  man <- if (file.exists(path)) utils::read.csv(path, stringsAsFactors = FALSE) else NULL
  if (is.null(man) || nrow(man) == 0L) {
    abort_gru(
      c("{.file {output_dir}} has no manifest of {.fn predict_chunks}.",
        "i" = "Give the {.arg output_dir} that {.fn predict_chunks} wrote to."),
      class = "gru_error_input", call = call
    )
  }
  man <- man[order(man$chunk), , drop = FALSE]
  bad <- man$chunk[man$status != "done"]
  if (length(bad)) {
    abort_gru(
      c("Not every chunk in {.file {output_dir}} is done: chunk {paste(bad, collapse = ', ')} {if (length(bad) == 1L) 'is' else 'are'} not.",
        "i" = "Run {.fn predict_chunks} again with the same arguments to finish the run."),
      class = c("gru_error_chunk_failed", "gru_error_input"), chunks = bad, call = call
    )
  }
  values <- lapply(man$output, function(f) readRDS(file.path(output_dir, f)))
  if (is.list(values[[1L]]) && !is.data.frame(values[[1L]])) {
    out <- lapply(seq_along(values[[1L]]), function(j) bind_rows(lapply(values, `[[`, j)))
    names(out) <- names(values[[1L]])
    return(out)
  }
  bind_rows(values)
}
