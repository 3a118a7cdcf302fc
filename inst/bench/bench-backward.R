# A training step (forward + backward) against the forward pass alone and
# against oneDNN's training step, in float32 on the CPU, at 1 and 2 engine
# threads. inst/bench/README.md describes the method. Run from anywhere with
# the package installed:
#   Rscript inst/bench/bench-backward.R [--rounds=3] [--reps=4]
#                                       [--shapes=S2,S3] [--peers=DIR] [--out=DIR]
# (--peers as in bench.R; --out: where backward.csv goes, default
# inst/bench/results when that folder exists; oneDNN is built from PEERS/onednn when
# libdnnl-dev is installed, and skipped with a line saying why when not.)
# S2 and S3 are the shapes of the forward benchmarks:
#   S2: batch 64, 100 steps, 64 features, 128 units
#   S3: batch 64, 200 steps, 256 features, 512 units
# Columns (median ms over every sample of every round):
#   forward_ms      the engine's forward pass (what a layer call runs,
#                   reusing the layer's packed kernels as a layer call does)
#   train_ms        what fit() runs for a GRU that is the model's first
#                   layer: the training forward pass (keeping the workspace)
#                   and the backward pass, without the input gradient; the
#                   output gradient goes in as fit() passes it (the double
#                   array, not a copy)
#   gradients_ms    the same with the input gradient, as layer_gradients()
#                   and a GRU that follows another layer need it: the work
#                   oneDNN's step does
#   onednn_ms       oneDNN's training step (onednn_gru --mode=train): zero
#                   the weight gradients, reorder the weights to the forward's
#                   and the backward's layouts, forward_training, backward
#                   (input, weight and bias gradients), reorder the weight
#                   gradients back; return_sequences = TRUE rows only (its
#                   output gradient covers every step)
#   ratio_*         median time / median forward time
#   paired_*        the median over samples of each sample's time / that
#                   sample's forward time (the three are timed in turn, so
#                   this moves less with the machine's load)
#   onednn_over_train, onednn_over_gradients   oneDNN ms / gru ms (below 1,
#                   oneDNN is faster); *_paired: the median over rounds of
#                   each round's oneDNN median over that round's gru median
#   *_pct           GFLOP/s as a % of the sgemm limit measured in this run
#                   (sgemm-limit.sh, before and after; the better counts)
# The engine entry points are called directly (internals, via :::) so the
# thread count can be set; it is the `threads` field of the engine's Spec.
# Each round times, per thread count, the three gru functions in turn
# (`reps` samples after one warm-up; S2's calls ten at a time) and one
# oneDNN process (`reps` samples after its own 3 warm-ups, S2's also ten
# calls each), oneDNN first in even rounds.
suppressPackageStartupMessages(library(gru))

args <- commandArgs(trailingOnly = TRUE)
# peers.R, beside this script (or the installed copy), has the shared helpers.
here <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
script_dir <- if (length(here)) dirname(normalizePath(here[[1]])) else getwd()
peers_r <- file.path(script_dir, "peers.R")
source(if (file.exists(peers_r)) peers_r else system.file("bench", "peers.R", package = "gru"))
options(width = 150)
rounds <- as.integer(bench_opt("rounds", 3L))
reps <- as.integer(bench_opt("reps", 4L))

shapes <- list(
  S2 = c(batch = 64, steps = 100, features = 64, units = 128),
  S3 = c(batch = 64, steps = 200, features = 256, units = 512)
)[strsplit(bench_opt("shapes", "S2,S3"), ",")[[1]]]
# GFLOP of the products: the forward's 2 B T 3H (I + H); the backward adds
# dU and the carried state gradient (2 B T 3H H each) and dW (2 B T 3H I),
# and the input gradient another 2 B T 3H I.
gflop_forward <- function(s) 2 * prod(s[1:2]) * 3 * s[[4]] * (s[[3]] + s[[4]]) / 1e9
gflop_step <- function(s, inputs) {
  gflop_forward(s) + 2 * prod(s[1:2]) * 3 * s[[4]] * (s[[3]] * (1 + inputs) + 2 * s[[4]]) / 1e9
}

peer_dir <- find_peer_dir()
onednn_bin <- onednn_driver(peer_dir)
has_onednn <- !is.na(onednn_bin)
if (has_onednn) {
  cat("oneDNN driver:", onednn_bin, attr(onednn_bin, "about"), "\n")
} else {
  cat("oneDNN skipped:", attr(onednn_bin, "why"), "\n")
}
cat(bench_header())
cat(sprintf("%d rounds x %d samples per cell\n", rounds, reps))
limit1 <- sgemm_limit(peer_dir)

# Times the functions of `fs` in turn, `reps` times (after one warm-up
# round), so all of them see the same machine load: milliseconds, one row
# per function and one column per sample. Each sample runs a function
# `inner` times (short calls, such as S2's ~10 ms forward pass, are then
# well above the clock's resolution) and is divided by `inner`.
interleaved_times <- function(fs, reps, inner = 1L) {
  once <- function(f) {
    t0 <- proc.time()[["elapsed"]]
    for (i in seq_len(inner)) f()
    (proc.time()[["elapsed"]] - t0) * 1000 / inner
  }
  for (f in fs) once(f)
  times <- vapply(seq_len(reps), function(r) vapply(fs, once, 0), numeric(length(fs)))
  matrix(times, nrow = length(fs))
}

layer_self <- gru:::layer_self
prepare <- gru:::gru_prepare_call

results <- list()
for (nm in names(shapes)) {
  s <- shapes[[nm]]
  inner <- if (nm == "S2") 10L else 1L
  set.seed(1)
  x <- array(stats::runif(prod(s[1:3]), -1, 1), s[1:3])
  for (seq in c(FALSE, TRUE)) {
    layer <- layer_gru(units = s[["units"]], return_sequences = seq,
                       use_cudnn = FALSE)
    out <- layer(x)
    grad_output <- array(stats::rnorm(length(out)), dim(out))
    prep <- prepare(layer_self(layer), x)
    engine <- prep$engine
    fwd <- function() {
      gru:::cpp_gru_forward(engine, float64 = FALSE, gpu = FALSE, packed = prep$plan$packed)
    }
    step <- function(need_inputs) function() {
      res <- gru:::cpp_gru_train_forward(engine, float64 = FALSE)
      gru:::cpp_gru_train_backward(res$cache, grad_output, NULL, need_inputs)
    }
    fs <- list(fwd, step(FALSE), step(TRUE))
    with_onednn <- has_onednn && seq
    # g[[th]]: gru's samples (3 x rounds * reps); o[[th]]: oneDNN's samples;
    # og[[th]]: per round, oneDNN's median over gru's train and gradients
    # medians.
    g <- o <- og <- parts <- list(`1` = NULL, `2` = NULL)
    for (r in seq_len(rounds)) {
      for (threads in 1:2) {
        th <- as.character(threads)
        engine$options$threads <- threads
        onednn_round <- function() {
          ms <- onednn_time(onednn_bin, s, threads, reps, "train", inner)
          parts[[th]] <<- rbind(parts[[th]], attr(ms, "parts"))
          ms
        }
        if (with_onednn && r %% 2L == 0L) om <- onednn_round()
        gm <- interleaved_times(fs, reps, inner)
        if (with_onednn && r %% 2L == 1L) om <- onednn_round()
        g[[th]] <- cbind(g[[th]], gm)
        if (with_onednn) {
          o[[th]] <- c(o[[th]], om)
          og[[th]] <- rbind(og[[th]], stats::median(om) / apply(gm[2:3, , drop = FALSE], 1L, stats::median))
        }
      }
    }
    for (th in c("1", "2")) {
      times <- g[[th]]
      med <- apply(times, 1L, stats::median)
      paired <- function(i) stats::median(times[i, ] / times[1L, ])
      onednn_ms <- if (with_onednn) stats::median(o[[th]]) else NA_real_
      part <- if (with_onednn) apply(parts[[th]], 2L, stats::median) else rep(NA_real_, 4)
      gflops <- function(gf, ms) gf / ms * 1000
      row <- data.frame(
        shape = nm, return_sequences = seq, threads = as.integer(th),
        forward_ms = med[[1]], train_ms = med[[2]], ratio_train = med[[2]] / med[[1]],
        paired_train = paired(2L), gradients_ms = med[[3]],
        ratio_gradients = med[[3]] / med[[1]], paired_gradients = paired(3L),
        onednn_ms = onednn_ms,
        onednn_over_train = onednn_ms / med[[2]],
        onednn_over_train_paired = if (with_onednn) stats::median(og[[th]][, 1]) else NA_real_,
        onednn_over_gradients = onednn_ms / med[[3]],
        onednn_over_gradients_paired = if (with_onednn) stats::median(og[[th]][, 2]) else NA_real_,
        onednn_fwd_training_ms = part[[2]], onednn_backward_ms = part[[3]],
        onednn_reorders_ms = part[[1]] + part[[4]],
        gru_runs = ncol(times), onednn_runs = length(o[[th]]),
        train_gflops = gflops(gflop_step(s, FALSE), med[[2]]),
        gradients_gflops = gflops(gflop_step(s, TRUE), med[[3]]),
        onednn_gflops = gflops(gflop_step(s, TRUE), onednn_ms)
      )
      results[[length(results) + 1L]] <- row
    }
    cat(sprintf("%s return_sequences = %s timed (%s)\n", nm, seq, format(Sys.time(), "%H:%M:%S")))
  }
}
limit2 <- sgemm_limit(peer_dir)
limit <- pmax(limit1, limit2, na.rm = TRUE)
res <- do.call(rbind, results)
res$sgemm_limit_gflops <- limit[as.character(res$threads)]
res$train_pct <- 100 * res$train_gflops / res$sgemm_limit_gflops
res$gradients_pct <- 100 * res$gradients_gflops / res$sgemm_limit_gflops
res$onednn_pct <- 100 * res$onednn_gflops / res$sgemm_limit_gflops

fmt <- function(d) {
  num <- vapply(d, is.numeric, TRUE)
  d[num] <- lapply(d[num], function(v) signif(v, 4))
  d
}
cat(sprintf("\nsgemm limit (OpenBLAS 2048^3, OPENBLAS_CORETYPE=%s, GFLOP/s): 1 thread %.1f, 2 threads %.1f\n",
            openblas_coretype(), limit[["1"]], limit[["2"]]))
cat("\ngru's training step against its forward pass (median ms; ratios to the forward):\n")
print(fmt(res[c("shape", "return_sequences", "threads", "forward_ms", "train_ms", "ratio_train",
                "paired_train", "gradients_ms", "ratio_gradients", "paired_gradients",
                "gru_runs")]), row.names = FALSE)
if (has_onednn) {
  cat("\noneDNN's training step (input gradient included) against gru's, oneDNN ms / gru ms:\n")
  print(fmt(res[res$return_sequences, c("shape", "threads", "train_ms", "gradients_ms",
                                        "onednn_ms", "onednn_over_train",
                                        "onednn_over_train_paired", "onednn_over_gradients",
                                        "onednn_over_gradients_paired", "onednn_runs")]),
        row.names = FALSE)
  cat("\noneDNN's parts (median ms): forward_training, backward, and the weight and gradient reorders:\n")
  print(fmt(res[res$return_sequences, c("shape", "threads", "onednn_fwd_training_ms",
                                        "onednn_backward_ms", "onednn_reorders_ms")]),
        row.names = FALSE)
}
cat("\nGFLOP/s and % of the sgemm limit (train: without the input gradient; gradients",
    "and oneDNN: with it):\n")
print(fmt(res[c("shape", "return_sequences", "threads", "train_gflops", "train_pct",
                "gradients_gflops", "gradients_pct", "onednn_gflops", "onednn_pct")]),
      row.names = FALSE)
out_dir <- bench_opt("out", file.path("inst", "bench", "results"))
if (dir.exists(out_dir)) {
  utils::write.csv(res, file.path(out_dir, "backward.csv"), row.names = FALSE)
  cat("written:", file.path(out_dir, "backward.csv"), "\n")
}
