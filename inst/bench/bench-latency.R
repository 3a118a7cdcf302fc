# S1's latency: a complete layer call from R against the engine alone.
#   Rscript inst/bench/bench-latency.R [rounds] [calls]
# S1: batch 1, 100 steps, 32 features, 64 units, float32, reset_after,
# return_sequences. Each round times `calls` calls of each of: l(x),
# l(x, training = FALSE) and cpp_gru_forward() on the arguments the layer
# prepares (internals, via :::); prints the median and the best round in
# microseconds per call. R side = full call - engine alone. On a shared
# machine run it alternately with the version to compare against.
library(gru)

args <- commandArgs(trailingOnly = TRUE)
rounds <- if (length(args)) as.integer(args[[1L]]) else 20L
calls <- if (length(args) > 1L) as.integer(args[[2L]]) else 2000L

set.seed(1)
x <- array(stats::runif(1 * 100 * 32), c(1, 100, 32))
layer <- layer_gru(units = 64, return_sequences = TRUE)
invisible(layer(x))
prep <- gru:::gru_prepare_call(gru:::layer_self(layer), x)
e <- prep$engine
forward <- gru:::cpp_gru_forward
# With the layer's packed kernels, as the layer call uses them.
engine <- function() forward(e, FALSE, FALSE, packed = prep$plan$packed)
per_call_us <- function(f) {
  t0 <- proc.time()[["elapsed"]]
  for (i in seq_len(calls)) f()
  (proc.time()[["elapsed"]] - t0) / calls * 1e6
}

times <- matrix(NA_real_, rounds, 3, dimnames = list(NULL, c("full", "training_false", "engine")))
for (r in seq_len(rounds)) {
  times[r, ] <- c(per_call_us(function() layer(x)),
                  per_call_us(function() layer(x, training = FALSE)),
                  per_call_us(engine))
}
summary <- rbind(median = apply(times, 2, stats::median), best = apply(times, 2, min))
summary <- cbind(summary, r_side = summary[, "full"] - summary[, "engine"])
cat(sprintf("S1, %d rounds x %d calls, us per call\n", rounds, calls))
print(round(summary, 1))
