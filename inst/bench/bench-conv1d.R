# layer_conv_1d() against the matrix product it amounts to, in float32 on
# the CPU, at 1 and 2 threads (gru_threads()). Run from anywhere with the
# package installed:
#   Rscript inst/bench/bench-conv1d.R [rounds]
# The shape: batch 64, 100 steps, 64 channels, 128 filters, kernel_size 3,
# padding "valid" (98 output steps), so the convolution is the product of
# its im2col matrix, (64 * 98 = 6272) x (3 * 64 = 192), with the kernel as
# a 192 x 128 matrix; the baseline is the brief's (6400 x 192) x (192 x 128)
# sgemm (6400 = 64 * 100 rows: 2% more work than the convolution's own).
#
# The sgemm is gru's own (gru::detail::gemm, the packed product the
# training pass uses, through the internal entry point cpp_gemm_bench()),
# timed in C++ on float copies made before its clock starts, its output
# in a buffer it reuses: the bare product. The convolution is timed two ways:
#   conv_engine  the engine's conv1d_forward (cpp_conv1d_bench()): R's
#                double input converted as it is gathered, the output
#                written as doubles into a buffer it reuses; the same
#                conditions as the sgemm, so conv_engine / sgemm is the
#                cost of the convolution over its product
#   conv_layer   a complete layer call from R, conv(x): argument checks and
#                a fresh R array for the output (its pages are new memory,
#                which the kernel faults in and zeroes on every call)
# Columns: median milliseconds over the rounds, GFLOP/s (2 M N K of the
# convolution's own product, the sgemm's for the sgemm), and
#   ratio     median time / median sgemm time at the same thread count
#   paired    the median over rounds of each round's time / that round's
#             sgemm time (the three are timed in turn within a round, so
#             this moves less with the machine's load than `ratio`)
#   best_ms, best_ratio   the fastest round and its ratio to the fastest
#             sgemm round: on a machine other processes share, the rounds
#             they did not slow down
# Before timing, the layer's output is checked against the im2col product
# computed with R's %*% (double, reference BLAS: also timed once, for
# context) to float32 rounding.
library(gru)

args <- commandArgs(trailingOnly = TRUE)
rounds <- if (length(args)) as.integer(args[[1L]]) else 15L
reps <- 5L  # calls per sample; a sample is their median

B <- 64L; L <- 100L; C <- 64L; F <- 128L; K <- 3L
Lout <- L - K + 1L

set.seed(1)
x <- array(stats::rnorm(B * L * C), c(B, L, C))
conv <- layer_conv_1d(filters = F, kernel_size = K, input_shape = c(L, C),
                      bias_initializer = "random_normal", name = "bench_conv")
w <- get_weights(conv)

# im2col: row b + B * o, column k + K * c holds x[b, o + k, c]; the kernel
# (K, C, F) read as a (K * C) x F matrix has the matching rows.
cols <- matrix(0, B * Lout, K * C)
for (c in seq_len(C)) for (k in seq_len(K)) {
  cols[, k + K * (c - 1L)] <- as.vector(x[, k:(k + Lout - 1L), c])
}
kmat <- matrix(w[[1L]], K * C, F)
t_r <- system.time(ref <- cols %*% kmat)[["elapsed"]]
ref <- array(ref + rep(w[[2L]], each = B * Lout), c(B, Lout, F))
got <- conv(x)
err <- max(abs(got - ref)) / max(abs(ref))
cat(sprintf("conv(x) against R's im2col %%*%%: max relative error %.2g (float32)\n", err))
stopifnot(err < 1e-5)

a <- matrix(stats::rnorm(6400L * 192L), 6400L, 192L)
bm <- matrix(stats::rnorm(192L * 128L), 192L, 128L)
g <- gru:::cpp_gemm_bench(a, bm, 1L, 1L, FALSE)
ab <- a %*% bm
stopifnot(max(abs(g$product - ab)) / max(abs(ab)) < 1e-5)

spec <- as.integer(c(B, L, C, F, K, 1L, 1L, 0L, Lout))
conv_flop <- 2 * B * Lout * K * C * F
gemm_flop <- 2 * 6400 * 192 * 128

time_layer <- function() {
  t <- numeric(reps)
  for (i in seq_len(reps)) {
    t0 <- Sys.time()
    conv(x)
    t[i] <- as.numeric(Sys.time() - t0, units = "secs")
  }
  stats::median(t)
}

rows <- list()
for (threads in 1:2) {
  old <- gru_threads(threads)
  n <- gru_threads()
  samples <- matrix(NA_real_, 3L, rounds,
                    dimnames = list(c("sgemm", "conv_engine", "conv_layer"), NULL))
  for (r in 0:rounds) {  # round 0 warms up
    s <- c(
      stats::median(gru:::cpp_gemm_bench(a, bm, reps, n, FALSE)$seconds),
      stats::median(gru:::cpp_conv1d_bench(x, spec, w[[1L]], w[[2L]], reps, n, FALSE)),
      time_layer()
    )
    if (r > 0L) samples[, r] <- s
  }
  gru_threads(old)
  med <- apply(samples, 1L, stats::median)
  best <- apply(samples, 1L, min)
  paired <- apply(samples, 1L, function(t) stats::median(t / samples["sgemm", ]))
  rows[[threads]] <- data.frame(
    threads = n, what = rownames(samples), ms = round(1e3 * med, 3),
    gflops = round(c(gemm_flop, conv_flop, conv_flop) / med / 1e9, 1),
    ratio = round(med / med[["sgemm"]], 3), paired = round(paired, 3),
    best_ms = round(1e3 * best, 3), best_ratio = round(best / best[["sgemm"]], 3),
    row.names = NULL
  )
}
res <- do.call(rbind, rows)
cat(sprintf("\nconv1d %d x %d x %d -> %d filters, kernel %d; sgemm (6400 x 192) x (192 x 128);",
            B, L, C, F, K),
    sprintf("%d rounds of %d calls, kernels: %s\n", rounds, reps,
            backend_info()$cpu_kernels), sep = "\n")
print(res, row.names = FALSE)
cat(sprintf("\nR's %%*%% on the im2col matrix (double, %s): %.1f ms, once\n",
            basename(sessionInfo()$BLAS), 1e3 * t_r))
eng <- res[res$what == "conv_engine", ]
cat(sprintf("target conv_engine <= 1.5 x sgemm: paired %s, best %s at %d thread(s)\n",
            format(eng$paired), format(eng$best_ratio), eng$threads), sep = "")

out_dir <- file.path("inst", "bench", "results")
if (dir.exists(out_dir)) {
  utils::write.csv(res, file.path(out_dir, "bench-conv1d.csv"), row.names = FALSE)
}
