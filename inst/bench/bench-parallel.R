# Scoring throughput on a future plan against the worker count: predict()
# of a GRU model on S2-shaped batches (64 sequences of 100 steps, 64
# features, 128 units), sequentially in this session and with
# predict(parallel = TRUE) on plans of 1 and 2 local workers.
#   Rscript inst/bench/bench-parallel.R [--rows=8192] [--rounds=3] [--out=DIR]
# Each round times, in turn: the sequential predict() at 1 gru thread and at
# all cores, then the plan: a cluster of 1, then of 2, local worker sessions
# (multisession's kind of worker; multisession with 1 worker would run in
# this session), each worker on one gru thread as a multisession worker is.
# Rows per second, median over rounds (the sequential runs pooled over both
# plans' rounds); worker start-up is not timed, sending the model and the
# rows to the workers is. Every run's predictions are checked identical to
# the sequential one.
args <- commandArgs(trailingOnly = TRUE)
opt <- function(name, default) {
  hit <- grep(paste0("^--", name, "="), args, value = TRUE)
  if (length(hit)) sub(paste0("^--", name, "="), "", hit[[1]]) else default
}
rows <- as.integer(opt("rows", 8192L))
rounds <- as.integer(opt("rounds", 3L))
out_dir <- opt("out", file.path("inst", "bench", "results"))
suppressPackageStartupMessages({
  library(gru)
  library(future)
})
cat(sprintf("machine: %s, %d cores; R %s; gru %s; future %s; %s\n",
            sub("^model name\\s*:\\s*", "",
                grep("^model name", readLines("/proc/cpuinfo"), value = TRUE)[1]),
            parallelly::availableCores(), getRversion(), packageVersion("gru"),
            packageVersion("future"), format(Sys.time())))
set.seed(1)
x <- array(runif(rows * 100 * 64, -1, 1), c(rows, 100, 64))
model <- keras_model_sequential(input_shape = c(100, 64)) |>
  layer_gru(128) |>
  layer_dense(1)
batch <- 64
ref <- predict(model, x, batch_size = batch)
cores <- parallelly::availableCores()
time_of <- function(f) {
  t0 <- proc.time()[["elapsed"]]
  v <- f()
  list(s = proc.time()[["elapsed"]] - t0, ok = identical(v, ref))
}
sequential_at <- function(threads) {
  function() {
    old <- gru_threads(threads)
    on.exit(gru_threads(old))
    predict(model, x, batch_size = batch)
  }
}
on_plan <- function() predict(model, x, batch_size = batch, parallel = TRUE)
# The same rows in 8 files that the workers read themselves (predict_chunks()),
# against reading and predicting them in turn in this session.
files_dir <- tempfile("bench-parallel")
dir.create(files_dir)
parts <- split(seq_len(rows), cut(seq_len(rows), 8, labels = FALSE))
files <- file.path(files_dir, sprintf("part-%d.rds", seq_along(parts)))
for (i in seq_along(parts)) saveRDS(x[parts[[i]], , , drop = FALSE], files[i], compress = FALSE)
files_sequential <- function() {
  old <- gru_threads(1L)
  on.exit(gru_threads(old))
  do.call(rbind, lapply(files, function(f) predict(model, readRDS(f), batch_size = batch)))
}
files_on_plan <- function() {
  out <- tempfile("scores", tmpdir = files_dir)
  predict_chunks(model, files, out, batch_size = batch)
  read_chunks(out)
}
runs <- list()
# One plan per worker count (setting another plan stops the workers), each
# timed in rounds alternating with the sequential runs.
for (w in 1:2) {
  plan(cluster, workers = rep("localhost", w))
  invisible(predict(model, x[1:batch, , , drop = FALSE], parallel = TRUE))  # workers up
  on <- sprintf("%d worker%s, 1 thread each", w, if (w > 1) "s" else "")
  cases <- list(sequential_at(1L), sequential_at(cores), on_plan, files_sequential,
                files_on_plan)
  names(cases) <- c("in memory: sequential, 1 thread",
                    sprintf("in memory: sequential, %d threads", cores),
                    paste("in memory: predict(parallel = TRUE),", on),
                    "8 files: read and predict in turn, 1 thread",
                    paste("8 files: predict_chunks(),", on))
  for (r in seq_len(rounds)) {
    for (nm in names(cases)) {
      t <- time_of(cases[[nm]])
      runs[[length(runs) + 1L]] <- data.frame(round = r, run = nm, seconds = t$s,
                                              identical = t$ok)
    }
  }
}
runs <- do.call(rbind, runs)
res <- aggregate(seconds ~ run, runs, median)
res$rows_per_s <- rows / res$seconds
res$identical <- tapply(runs$identical, runs$run, all)[res$run]
base <- ifelse(grepl("^in memory", res$run),
               res$rows_per_s[res$run == "in memory: sequential, 1 thread"],
               res$rows_per_s[res$run == "8 files: read and predict in turn, 1 thread"])
res$over_1_thread_in_turn <- res$rows_per_s / base
res <- res[order(match(res$run, unique(runs$run))), ]
cat(sprintf("%d rows of 100 x 64 (S2 batches of %d), GRU 128 units + dense; %d rounds\n",
            rows, batch, rounds))
print(res, row.names = FALSE, digits = 4)
plan(sequential)
unlink(files_dir, recursive = TRUE)
if (dir.exists(out_dir)) {
  utils::write.csv(res, file.path(out_dir, "bench-parallel.csv"), row.names = FALSE)
}
