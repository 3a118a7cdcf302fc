# predict(parallel = TRUE), predict_chunks() and fit_ensemble() on a future
# plan: two local worker sessions (multisession) for the whole file.
skip_if_not_installed("future")
skip_if_not_installed("parallelly")
skip_on_cran()

old_plan <- future::plan(future::multisession, workers = 2)
withr::defer(future::plan(old_plan), teardown_env())

gru_seq_model <- function() {
  keras_model_sequential(input_shape = c(6, 3)) |>
    layer_gru(5, return_sequences = TRUE) |>
    layer_gru(4) |>
    layer_dense(2)
}

test_that("the workers are separate R processes with one gru thread each", {
  pids <- future::value(lapply(1:2, function(i) future::future(Sys.getpid())))
  expect_false(any(unlist(pids) == Sys.getpid()))
  threads <- future::value(future::future(gru:::worker_threads(NULL)))
  expect_identical(threads, 1L)
  expect_identical(gru:::worker_threads(3L), 3L)
})

test_that("predict(parallel = TRUE) gives a sequential run's numbers, in order", {
  set.seed(11)
  x <- array(runif(101 * 6 * 3, -1, 1), c(101, 6, 3))
  model <- gru_seq_model()
  ref <- predict(model, x, batch_size = 16)
  expect_identical(predict(model, x, batch_size = 16, parallel = TRUE), ref)
  expect_identical(predict(model, x, batch_size = 16, chunks = 5), ref)
  # More chunks than batches: one per batch.
  expect_identical(predict(model, x[1:20, , , drop = FALSE], batch_size = 16, chunks = 9),
                   ref[1:20, , drop = FALSE])
  expect_identical(predict(model, x, batch_size = 7, parallel = TRUE, threads = 1),
                   predict(model, x, batch_size = 7))
  expect_identical(predict(model, x, parallel = FALSE), predict(model, x))
})

test_that("a functional model with two inputs and two outputs predicts the same in parallel", {
  set.seed(12)
  a <- keras_input(shape = c(5, 2), name = "a")
  b <- keras_input(shape = c(5, 3), name = "b")
  h <- layer_concatenate(list(a, b)) |> layer_gru(6)
  model <- keras_model(list(a, b), list(first = layer_dense(h, 2), second = layer_dense(h, 1)))
  x <- list(array(runif(40 * 5 * 2), c(40, 5, 2)), array(runif(40 * 5 * 3), c(40, 5, 3)))
  ref <- predict(model, x, batch_size = 8)
  got <- predict(model, x, batch_size = 8, parallel = TRUE)
  expect_identical(got, ref)
  expect_named(got, c("first", "second"))
})

test_that("stateful models and bad arguments are refused with classed errors", {
  stateful <- keras_model_sequential(input_shape = c(6, 3), input_batch_size = 4) |>
    layer_gru(3, stateful = TRUE)
  x <- array(runif(8 * 6 * 3), c(8, 6, 3))
  expect_error(predict(stateful, x, batch_size = 4, parallel = TRUE),
               class = "gru_error_stateful_parallel")
  expect_error(predict_chunks(stateful, list(x), tempfile()), class = "gru_error_stateful_parallel")
  model <- gru_seq_model()
  expect_error(predict(model, x, parallel = "yes"), class = "gru_error_input")
  expect_error(predict(model, x, chunks = 0), class = "gru_error_input")
  expect_error(predict(model, x, parallel = TRUE, threads = -1), class = "gru_error_input")
  expect_error(predict_chunks(model, 42, tempfile()), class = "gru_error_input")
  expect_error(predict_chunks(model, list(x, "a"), tempfile()), class = "gru_error_input")
  expect_error(predict_chunks(model, list(x), c("a", "b")), class = "gru_error_input")
  expect_error(read_chunks(tempfile()), class = "gru_error_input")
})

test_that("predict_chunks() writes every chunk and a manifest, from lists, files and a generator", {
  set.seed(13)
  x <- array(runif(70 * 6 * 3, -1, 1), c(70, 6, 3))
  model <- gru_seq_model()
  ref <- predict(model, x, batch_size = 8)
  rows <- list(1:25, 26:50, 51:70)
  pieces <- lapply(rows, function(r) x[r, , , drop = FALSE])

  out <- withr::local_tempdir()
  man <- predict_chunks(model, pieces, out, batch_size = 8)
  expect_identical(man$chunk, 1:3)
  expect_identical(man$rows, c(25L, 25L, 20L))
  expect_identical(man$status, rep("done", 3))
  expect_true(all(file.exists(file.path(out, man$output))))
  expect_identical(read_chunks(out), ref)
  expect_identical(readRDS(file.path(out, "chunk-00002.rds")), ref[26:50, , drop = FALSE])
  expect_identical(utils::read.csv(file.path(out, "manifest.csv"))$chunk, 1:3)

  dir <- withr::local_tempdir()
  files <- file.path(dir, sprintf("part-%d.rds", 1:3))
  for (i in 1:3) saveRDS(pieces[[i]], files[[i]])
  out2 <- file.path(dir, "scores")
  man2 <- predict_chunks(model, files, out2, batch_size = 8)
  expect_identical(man2$source, files)
  expect_identical(read_chunks(out2), ref)

  k <- 0L
  gen <- function() {
    k <<- k + 1L
    if (k > 3L) NULL else pieces[[k]]
  }
  out3 <- withr::local_tempdir()
  man3 <- predict_chunks(model, gen, out3, batch_size = 8)
  expect_identical(man3$source, rep("function", 3))
  expect_identical(read_chunks(out3), ref)
})

test_that("a worker killed mid-run fails its chunk only; the run resumes with that chunk", {
  set.seed(14)
  x <- array(runif(100 * 6 * 3, -1, 1), c(100, 6, 3))
  model <- gru_seq_model()
  ref <- predict(model, x, batch_size = 16)
  dir <- withr::local_tempdir()
  files <- file.path(dir, sprintf("in-%d.rds", 1:5))
  for (i in 1:5) saveRDS(x[(i - 1) * 20 + 1:20, , , drop = FALSE], files[[i]])
  log <- file.path(dir, "read.log")
  kill <- file.path(dir, "kill-on-3")
  file.create(kill)
  # Reads a file on the worker, noting it; the third file kills the worker
  # while `kill` exists.
  reader <- function(f) {
    cat(basename(f), "\n", sep = "", file = log, append = TRUE)
    if (grepl("in-3", f, fixed = TRUE) && file.exists(kill)) tools::pskill(Sys.getpid())
    readRDS(f)
  }
  out <- file.path(dir, "out")
  err <- expect_error(predict_chunks(model, files, out, batch_size = 16, read = reader),
                      class = "gru_error_chunk_failed")
  expect_identical(err$chunks, 3L)
  expect_match(conditionMessage(err), "chunk 3")
  expect_match(err$manifest$error[3], "worker was lost")
  expect_identical(err$manifest$status, c("done", "done", "failed", "done", "done"))
  expect_true(all(file.exists(file.path(out, sprintf("chunk-%05d.rds", c(1, 2, 4, 5))))))
  expect_error(read_chunks(out), class = "gru_error_chunk_failed")

  unlink(c(kill, log))
  man <- predict_chunks(model, files, out, batch_size = 16, read = reader)
  expect_identical(readLines(log), "in-3.rds")  # only the failed chunk ran again
  expect_identical(man$status, rep("done", 5))
  expect_identical(read_chunks(out), ref)
  # Another model's manifest is not resumed from.
  other <- gru_seq_model()
  unlink(log)
  predict_chunks(other, files, out, batch_size = 16, read = reader)
  expect_length(readLines(log), 5L)
  expect_identical(read_chunks(out), predict(other, x, batch_size = 16))
})

test_that("a chunk whose reading fails is reported with its index and message", {
  model <- gru_seq_model()
  dir <- withr::local_tempdir()
  good <- file.path(dir, "good.rds")
  saveRDS(array(runif(4 * 6 * 3), c(4, 6, 3)), good)
  # readRDS()'s warning on the worker comes back with its error.
  err <- suppressWarnings(expect_error(
    predict_chunks(model, c(good, file.path(dir, "missing.rds")), file.path(dir, "out")),
    class = "gru_error_chunk_failed"
  ))
  expect_identical(err$chunks, 2L)
  expect_identical(err$manifest$status, c("done", "failed"))
  expect_match(err$manifest$error[2], "missing.rds|cannot open", perl = TRUE)
})

test_that("a plan whose worker lacks gru gets a gru_error_worker naming it", {
  # A library with what a future worker needs, but not gru; the worker is
  # started with only it and R's base library.
  need <- c("future", "parallelly", "globals", "listenv", "digest")
  deps <- unique(c(need, unlist(tools::package_dependencies(need, db = installed.packages(),
                                                            recursive = TRUE))))
  deps <- setdiff(deps, rownames(installed.packages(lib.loc = .Library)))
  lib <- withr::local_tempdir()
  for (p in deps) file.symlink(find.package(p), file.path(lib, p))
  startup <- bquote(assign(".lib.loc", c(.(lib), .Library), envir = environment(.libPaths)))
  cl <- parallelly::makeClusterPSOCK(1L, rscript_startup = startup, verbose = FALSE)
  withr::defer(parallel::stopCluster(cl))
  inner <- future::plan(future::cluster, workers = cl)
  withr::defer(future::plan(inner))
  model <- gru_seq_model()
  x <- array(runif(4 * 6 * 3), c(4, 6, 3))
  err <- expect_error(predict(model, x, parallel = TRUE), class = "gru_error_worker")
  expect_match(conditionMessage(err), Sys.info()[["nodename"]], fixed = TRUE)
  expect_match(conditionMessage(err), "has no gru")
  expect_s3_class(err, "gru_error")
})

build_small <- function() {
  keras_model_sequential(input_shape = c(5, 2)) |>
    layer_gru(4) |>
    layer_dropout(0.2) |>
    layer_dense(1) |>
    compile(optimizer = optimizer_adam(0.01), loss = "mse")
}

test_that("an ensemble of 4 seeds is the 4 models that 4 sequential fits give", {
  set.seed(15)
  x <- array(runif(48 * 5 * 2), c(48, 5, 2))
  y <- apply(x, 1, sum)
  ens <- fit_ensemble(build_small, x, y, seeds = c(3, 1, 4, 2), epochs = 2, batch_size = 8)
  expect_s3_class(ens, "gru_ensemble")
  expect_identical(ens$members$seed, c(3L, 1L, 4L, 2L))
  old <- gru_threads(1)
  withr::defer(gru_threads(old))
  for (i in 1:4) {
    set.seed(ens$members$seed[i])
    m <- build_small()
    h <- fit(m, x, y, epochs = 2, batch_size = 8, verbose = 0)
    expect_identical(get_weights(ens$models[[i]]), get_weights(m))
    expect_identical(ens$histories[[i]]$metrics$loss, h$metrics$loss)
  }
  # The same on a sequential plan.
  seq_plan <- future::plan(future::sequential)
  withr::defer(future::plan(seq_plan))
  ens2 <- fit_ensemble(build_small, x, y, seeds = c(3, 1, 4, 2), epochs = 2, batch_size = 8)
  expect_identical(lapply(ens2$models, get_weights), lapply(ens$models, get_weights))
  p <- predict(ens, x)
  expect_equal(p, Reduce(`+`, lapply(ens$models, predict, x)) / 4)
})

test_that("fit_ensemble() crosses folds and a grid, validating each fold", {
  set.seed(16)
  x <- array(runif(30 * 5 * 2), c(30, 5, 2))
  y <- apply(x, 1, sum)
  units <- 3
  build <- function(hp) {
    keras_model_sequential(input_shape = c(5, 2)) |>
      layer_gru(hp$units + units - 3) |>
      layer_dense(1) |>
      compile(optimizer = optimizer_sgd(hp$lr), loss = "mse")
  }
  ens <- fit_ensemble(build, x, y, seeds = 7, folds = 3,
                      grid = list(units = c(2, 3), lr = 0.01), epochs = 1, batch_size = 5)
  expect_identical(nrow(ens$members), 6L)
  expect_identical(ens$members$fold, rep(1:3, 2))
  expect_identical(ens$members$units, rep(c(2, 3), each = 3))
  expect_true(all(vapply(ens$histories, function(h) length(h$metrics$val_loss) == 1L,
                         logical(1))))
  expect_identical(get_weights(ens$models[[4]])[[2]] |> dim(), c(3L, 9L))
  # Member 2 (fold 2, units 2) is the sequential fit on the other folds' rows.
  old <- gru_threads(1)
  withr::defer(gru_threads(old))
  set.seed(7)
  m <- build(list(units = 2, lr = 0.01))
  tr <- c(1:10, 21:30)
  fit(m, x[tr, , , drop = FALSE], y[tr], epochs = 1, batch_size = 5, verbose = 0,
      validation_data = list(x[11:20, , , drop = FALSE], y[11:20]))
  expect_identical(get_weights(ens$models[[2]]), get_weights(m))
})

test_that("fit_ensemble() refuses bad arguments and reports a failing member", {
  x <- array(runif(10 * 5 * 2), c(10, 5, 2))
  y <- apply(x, 1, sum)
  expect_error(fit_ensemble(build_small(), x, y), class = "gru_error_input")
  expect_error(fit_ensemble(build_small, x, y, seeds = 1.5), class = "gru_error_input")
  expect_error(fit_ensemble(build_small, x, y, folds = 1), class = "gru_error_input")
  expect_error(fit_ensemble(build_small, x, y, folds = rep(1, 10)), class = "gru_error_input")
  expect_error(fit_ensemble(build_small, x, y, grid = list(seed = 1)), class = "gru_error_input")
  expect_error(fit_ensemble(build_small, x, y, grid = 3), class = "gru_error_input")
  err <- expect_error(fit_ensemble(function() "not a model", x, y, seeds = 1:2),
                      class = "gru_error_chunk_failed")
  expect_identical(err$chunks, 1:2)
  expect_match(conditionMessage(err), "not a gru model")
})
