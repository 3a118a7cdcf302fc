# Forward + backward against the forward pass alone, in float32 on the CPU,
# at 1 and 2 engine threads. Run from anywhere with the package installed:
#   Rscript inst/bench/bench-backward.R [reps]
# S2 and S3 are the shapes of the forward benchmarks:
#   S2: batch 64, 100 steps, 64 features, 128 units
#   S3: batch 64, 200 steps, 256 features, 512 units
# Columns:
#   forward_s       the engine's forward pass (what a layer call runs,
#                   reusing the layer's packed kernels as a layer call does)
#   train_step_s    what fit() runs for a GRU that is the model's first
#                   layer: the training forward pass (keeping the workspace)
#                   and the backward pass, without the input gradient; the
#                   output gradient goes in as fit() passes it (the double
#                   array, not a copy)
#   gradients_s     layer_gradients(): the same, with the input gradient (a
#                   GRU that follows another layer needs it)
#   ratio_train, ratio_gradients   median time / median forward time
#   paired_train, paired_gradients the median over rounds of each round's
#                   time / that round's forward time: the machines this was
#                   written on change speed from minute to minute, and a
#                   round's three timings are seconds apart, so the paired
#                   ratio moves less with the load than the ratio of medians
# The engine entry points are called directly (internals, via :::) so the
# thread count can be set; it is the `threads` field of the engine's Spec.
# The three are timed in turn, round after round (medians of `reps` rounds;
# S2's calls ten at a time), so a change of machine load hits all three.
library(gru)

args <- commandArgs(trailingOnly = TRUE)
reps <- if (length(args)) as.integer(args[[1L]]) else 7L

shapes <- list(
  S2 = c(batch = 64, steps = 100, features = 64, units = 128),
  S3 = c(batch = 64, steps = 200, features = 256, units = 512)
)

# Times the functions of `fs` in turn, `reps` rounds (after one warm-up
# round), so all of them see the same machine load: the elapsed seconds, one
# row per function and one column per round. Each sample runs a function `inner` times (short calls,
# such as S2's ~10 ms forward pass, are then well above the clock's
# resolution) and is divided by `inner`.
interleaved_times <- function(fs, reps, inner = 1L) {
  once <- function(f) {
    t0 <- proc.time()[["elapsed"]]
    for (i in seq_len(inner)) f()
    (proc.time()[["elapsed"]] - t0) / inner
  }
  for (f in fs) once(f)
  times <- vapply(seq_len(reps), function(r) vapply(fs, once, 0), numeric(length(fs)))
  matrix(times, nrow = length(fs))  # one row per function, one column per round
}

layer_self <- gru:::layer_self
prepare <- gru:::gru_prepare_call

results <- list()
for (nm in names(shapes)) {
  s <- shapes[[nm]]
  set.seed(1)
  x <- array(stats::runif(prod(s[1:3]), -1, 1), s[1:3])
  for (seq in c(FALSE, TRUE)) {
    layer <- layer_gru(units = s[["units"]], return_sequences = seq,
                       use_cudnn = FALSE)
    out <- layer(x)
    grad_output <- array(stats::rnorm(length(out)), dim(out))
    prep <- prepare(layer_self(layer), x)
    engine <- prep$engine
    for (threads in 1:2) {
      engine$options$threads <- threads
      fwd <- function() {
        do.call(gru:::cpp_gru_forward, c(engine, list(float64 = FALSE, gpu = FALSE,
                                                      packed = prep$plan$packed)))
      }
      step <- function(need_inputs) function() {
        res <- do.call(gru:::cpp_gru_train_forward, c(engine, list(float64 = FALSE)))
        gru:::cpp_gru_train_backward(res$cache, grad_output, NULL, need_inputs)
      }
      inner <- if (nm == "S2") 10L else 1L
      times <- interleaved_times(list(fwd, step(FALSE), step(TRUE)), reps, inner)
      med <- apply(times, 1L, stats::median)
      fwd <- med[[1]]
      train <- med[[2]]
      both <- med[[3]]
      paired <- function(i) round(stats::median(times[i, ] / times[1L, ]), 2)
      row <- data.frame(shape = nm, return_sequences = seq, threads = threads,
                        forward_s = fwd, train_step_s = train,
                        ratio_train = round(train / fwd, 2), paired_train = paired(2L),
                        gradients_s = both, ratio_gradients = round(both / fwd, 2),
                        paired_gradients = paired(3L))
      print(row, row.names = FALSE)
      results[[length(results) + 1L]] <- row
    }
  }
}
cat("\n")
print(do.call(rbind, results), row.names = FALSE)
out_dir <- file.path("inst", "bench", "results")
if (dir.exists(out_dir)) {
  utils::write.csv(do.call(rbind, results), file.path(out_dir, "backward.csv"), row.names = FALSE)
  cat("written:", file.path(out_dir, "backward.csv"), "\n")
}
