# Paired regression bench: the same calls on two installed versions of gru,
# alternating between them process by process, so that a change of the R
# object model can be checked against the version before it.
#
# Usage: Rscript inst/bench/bench-regression.R OLD_LIB NEW_LIB [rounds] [threads]
#   OLD_LIB, NEW_LIB  library folders, each holding an installed gru
#                     (e.g. R CMD INSTALL -l /tmp/lib-old on a checkout of
#                     the older commit)
#
# Each round runs one process per version (old first in odd rounds, new
# first in even ones). A process times, for each shape, `reps` layer calls
# (float32, reset_after, return_sequences = TRUE: the standard bench.R
# call) and `reps` train_on_batch() steps of a GRU + dense model (what
# fit() runs per batch), after a warm-up, and prints the median of each.
# The report gives, per row, the median over rounds of new / old and the
# median of each round's paired ratio; above 1 means the new version is
# slower.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 2L) stop("usage: bench-regression.R OLD_LIB NEW_LIB [rounds] [threads]")
libs <- c(old = args[[1L]], new = args[[2L]])
rounds <- if (length(args) >= 3L) as.integer(args[[3L]]) else 3L
threads <- if (length(args) >= 4L) as.integer(args[[4L]]) else 1L

worker <- '
args <- commandArgs(trailingOnly = TRUE)
library(gru, lib.loc = args[[1L]])
gru_threads(as.integer(args[[2L]]))
shapes <- list(S1 = c(1, 100, 32, 64), S2 = c(64, 100, 64, 128),
               S3 = c(64, 200, 256, 512), S4 = c(32, 50, 1024, 1024))
reps <- c(S1 = 200, S2 = 30, S3 = 8, S4 = 8)
time_calls <- function(f, n) {
  f(); f()
  t <- numeric(n)
  for (i in seq_len(n)) {
    s <- as.numeric(Sys.time())   # microsecond resolution on Linux
    f()
    t[i] <- as.numeric(Sys.time()) - s
  }
  median(t) * 1000
}
out <- list()
for (nm in names(shapes)) {
  d <- shapes[[nm]]
  set.seed(1)
  x <- array(runif(prod(d[1:3])), d[1:3])
  layer <- layer_gru(units = d[4], return_sequences = TRUE)
  out[[paste0(nm, "_forward")]] <- time_calls(function() layer(x), reps[[nm]])
}
for (nm in c("S2", "S3")) {
  d <- shapes[[nm]]
  set.seed(1)
  x <- array(runif(prod(d[1:3])), d[1:3])
  y <- matrix(runif(d[1]), d[1])
  model <- keras_model_sequential(input_shape = d[2:3]) |> layer_gru(d[4]) |> layer_dense(1)
  compile(model, optimizer = "sgd", loss = "mse")
  out[[paste0(nm, "_train_step")]] <- time_calls(function() train_on_batch(model, x, y),
                                                 max(4, reps[[nm]] %/% 3))
}
cat(paste0("RESULT ", names(out), " ", unlist(out), "\n"), sep = "")
'
script <- tempfile(fileext = ".R")
writeLines(worker, script)
rscript <- file.path(R.home("bin"), "Rscript")

run_one <- function(lib) {
  lines <- system2(rscript, c(script, lib, threads), stdout = TRUE)
  res <- grep("^RESULT ", lines, value = TRUE)
  parts <- strsplit(sub("^RESULT ", "", res), " ")
  stats::setNames(as.numeric(vapply(parts, `[`, "", 2L)), vapply(parts, `[`, "", 1L))
}

results <- list(old = list(), new = list())
for (r in seq_len(rounds)) {
  order <- if (r %% 2L == 1L) c("old", "new") else c("new", "old")
  for (v in order) results[[v]][[r]] <- run_one(libs[[v]])
  cat(sprintf("round %d of %d done\n", r, rounds))
}
old <- do.call(rbind, results$old)
new <- do.call(rbind, results$new)
report <- data.frame(
  row = colnames(old),
  old_ms = apply(old, 2, stats::median),
  new_ms = apply(new, 2, stats::median),
  ratio_of_medians = apply(new, 2, stats::median) / apply(old, 2, stats::median),
  paired_ratio = apply(new / old, 2, stats::median),
  row.names = NULL
)
cat(sprintf("gru regression bench, %s, %d rounds, %d thread(s), %d cores\n",
            format(Sys.time()), rounds, threads, parallel::detectCores()))
print(report, digits = 4, row.names = FALSE)
