# Forward + backward (layer_gradients()) against the forward pass alone, in
# float32 on the CPU. Run from anywhere with the package installed:
#   Rscript inst/bench/bench-backward.R [reps]
# S2 and S3 are the shapes of the forward benchmarks:
#   S2: batch 64, 100 steps, 64 features, 128 units
#   S3: batch 64, 200 steps, 256 features, 512 units
library(gru)

args <- commandArgs(trailingOnly = TRUE)
reps <- if (length(args)) as.integer(args[[1L]]) else 5L

shapes <- list(
  S2 = c(batch = 64, steps = 100, features = 64, units = 128),
  S3 = c(batch = 64, steps = 200, features = 256, units = 512)
)

median_time <- function(f, reps) {
  f()  # warm up
  stats::median(vapply(seq_len(reps), function(i) system.time(f())[["elapsed"]], 0))
}

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
    fwd <- median_time(function() layer(x), reps)
    both <- median_time(function() layer_gradients(layer, x, grad_output), reps)
    row <- data.frame(shape = nm, return_sequences = seq, forward_s = fwd,
                      forward_backward_s = both, ratio = round(both / fwd, 2))
    print(row, row.names = FALSE)
    results[[length(results) + 1L]] <- row
  }
}
cat("\n")
print(do.call(rbind, results), row.names = FALSE)
