# Times gru's CPU forward pass on the standard shapes at 1 and 2 threads, side
# by side with onnxruntime and oneDNN (each when installed) and the
# machine's sgemm limit. inst/bench/README.md describes the method.
#
# Usage (from the package root or anywhere, with gru installed):
#   Rscript inst/bench/bench.R [--rounds=5] [--reps=4] [--out=DIR]
#                              [--peers=DIR] [--shapes=S1,S2,S3,S4] [--quick]
#
#   --peers   the shared benchmark folder holding ort_time.js, gru_onnx.py,
#             sgemm-limit.sh and onednn/ (default: $GRU_BENCH_DIR, else
#             ../shared/bench from the current folder or from this script's
#             package root).
#   ORT_MODULE  onnxruntime-node's folder (default
#             $GRU_PEERS_DIR/node_modules/onnxruntime-node, GRU_PEERS_DIR
#             defaulting to ~/.cache/gru-peers); the peer is skipped when it,
#             node or /usr/bin/python3 with onnx is missing.
#   oneDNN    PEERS/onednn/onednn_gru.cpp is built (peers.R) into
#             $GRU_PEERS_DIR/onednn when libdnnl-dev is installed; skipped,
#             with a line saying why, when it is not.
#   --quick   fewer rounds, no scaling sweep.
#
# Each round times, per thread count, gru (`reps` calls in this process),
# onnxruntime (a fresh `node` process, `reps + 1` runs, its median) and
# oneDNN (a fresh driver process, `reps + 1` timed runs after 3 warm-up
# runs), starting with a different side each round, so they alternate under
# the same machine load. Reported times are medians over all rounds (>= 10
# runs each with the defaults); ort_over_gru and onednn_over_gru divide
# those medians (peer ms / gru ms: below 1, the peer is faster), *_paired is
# the median over rounds of each round's peer time over that round's median
# gru time (seconds apart, so it moves less with the machine's slow and fast
# phases). The sgemm limit (OpenBLAS 2048^3, via sgemm-limit.sh) is measured
# before and after the rounds; the better rate counts, and each side's
# GFLOP/s is given as a % of it. Peak memory: a child R process builds the
# layer, resets its peak RSS (/proc/self/clear_refs) and reports the peak of
# one forward pass over its RSS before it (glibc's mmap threshold fixed, so
# freed large blocks leave the RSS).
#
# What each timed region covers: gru, a complete layer call from R (double
# input checked and converted, the double B x T x H output allocated and
# written); onnxruntime, one session.run() from node (float input, output
# tensor allocated); oneDNN, one execute() of the inference primitive on
# float buffers allocated before the loop, weights reordered once before it.
#
# gru's timed calls reuse the layer's packed kernels (kept between calls with
# the same weights, as onnxruntime's session keeps its prepacked weights); a
# separate table times calls that pack them, as the first call after new
# weights does.
#
# Writes bench-results.csv, bench-split.csv, bench-float64.csv,
# bench-packing.csv, bench-memory.csv, bench-scaling.csv and bench-scaling.png
# to --out (default inst/bench/results from the package root, which
# .Rbuildignore leaves out; else the current folder) and prints the tables.

args <- commandArgs(trailingOnly = TRUE)
# peers.R, beside this script (or the installed copy), has the shared helpers.
here <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
script_dir <- if (length(here)) dirname(normalizePath(here[[1]])) else getwd()
peers_r <- file.path(script_dir, "peers.R")
source(if (file.exists(peers_r)) peers_r else system.file("bench", "peers.R", package = "gru"))
opt <- bench_opt
options(width = 150)
quick <- "--quick" %in% args
rounds <- as.integer(opt("rounds", if (quick) 3 else 5))
reps <- as.integer(opt("reps", 4))
out_dir <- opt("out", if (dir.exists("inst/bench")) "inst/bench/results" else ".")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
shape_names <- strsplit(opt("shapes", "S1,S2,S3,S4"), ",")[[1]]

suppressPackageStartupMessages(library(gru))

shapes <- list(
  S1 = c(B = 1, T = 100, I = 32, H = 64),
  S2 = c(B = 64, T = 100, I = 64, H = 128),
  S3 = c(B = 64, T = 200, I = 256, H = 512),
  S4 = c(B = 32, T = 50, I = 1024, H = 1024)
)[shape_names]
gflop <- function(s) 2 * s[["B"]] * s[["T"]] * 3 * s[["H"]] * (s[["I"]] + s[["H"]]) / 1e9

# ---- where the peers live ---------------------------------------------------
peer_dir <- find_peer_dir()
ort_module <- Sys.getenv(
  "ORT_MODULE", file.path(peer_cache_dir(), "node_modules", "onnxruntime-node")
)
has_ort <- !is.na(peer_dir) && file.exists(file.path(peer_dir, "ort_time.js")) &&
  have_cmd("node") && dir.exists(ort_module) && file.exists("/usr/bin/python3") &&
  system2("/usr/bin/python3", c("-c", shQuote("import onnx, numpy")),
          stdout = FALSE, stderr = FALSE) == 0
onednn_bin <- onednn_driver(peer_dir)
has_onednn <- !is.na(onednn_bin)
has_sgemm <- !is.na(peer_dir) && file.exists(file.path(peer_dir, "sgemm-limit.sh"))
has_time <- file.exists("/usr/bin/time")
cat(sprintf("peers: %s | onnxruntime: %s | oneDNN: %s | sgemm limit: %s | /usr/bin/time: %s\n",
            if (is.na(peer_dir)) "not found" else peer_dir, has_ort, has_onednn, has_sgemm,
            has_time))
if (has_ort) {
  ort_version <- grep('"version"', readLines(file.path(ort_module, "package.json")), value = TRUE)
  cat("onnxruntime-node:", ort_module, sub('.*"version": *"([^"]+)".*', "\\1", ort_version[1]), "\n")
} else {
  cat("onnxruntime skipped: needs node, onnxruntime-node in", ort_module,
      "and /usr/bin/python3 with onnx (sh PEERS/setup-peers.sh installs them)\n")
}
if (has_onednn) {
  cat("oneDNN driver:", onednn_bin, attr(onednn_bin, "about"), "\n")
} else {
  cat("oneDNN skipped:", attr(onednn_bin, "why"), "\n")
}
openblas_core <- openblas_coretype()

# ---- onnxruntime, one process per call ---------------------------------------
ort_models <- list()
ort_model <- function(s) {
  key <- paste(s[["I"]], s[["H"]])
  if (is.null(ort_models[[key]])) {
    f <- tempfile(fileext = ".onnx")
    system2("/usr/bin/python3", c(file.path(peer_dir, "gru_onnx.py"), s[["I"]], s[["H"]], f))
    ort_models[[key]] <<- f
  }
  ort_models[[key]]
}
ort_time <- function(s, threads, n) {
  out <- system2(
    "node",
    c(file.path(peer_dir, "ort_time.js"), ort_model(s), s[["B"]], s[["T"]], s[["I"]], s[["H"]],
      threads, n),
    stdout = TRUE, stderr = FALSE, env = paste0("ORT_MODULE=", ort_module)
  )
  line <- grep("median_ms=", out, value = TRUE)
  if (!length(line)) return(NA_real_)
  as.numeric(sub(".*median_ms=([0-9.]+).*", "\\1", line[[1]]))
}

# ---- gru ---------------------------------------------------------------------
make_case <- function(s, dtype = "float32") {
  set.seed(1)
  layer <- layer_gru(units = s[["H"]], return_sequences = TRUE, dtype = dtype)
  x <- array(stats::runif(s[["B"]] * s[["T"]] * s[["I"]], -1, 1), s[c("B", "T", "I")])
  invisible(layer(x))  # builds the weights
  list(layer = layer, x = x)
}
# `repack`: drop the layer's packed kernels before each timed call, as new
# weights do, so the call packs them again.
time_calls <- function(case, threads, n, repack = FALSE) {
  old <- gru_threads(threads)
  on.exit(gru_threads(old))
  invisible(case$layer(case$x))
  packed <- rlang::wref_value(gru:::layer_self(case$layer)$engine_plan)$plan$packed
  vapply(seq_len(n), function(i) {
    if (repack) gru:::cpp_packed_clear(packed)
    t0 <- proc.time()[["elapsed"]]
    invisible(case$layer(case$x))
    (proc.time()[["elapsed"]] - t0) * 1000
  }, numeric(1))
}
# Sub-millisecond calls: time batches of calls and divide.
time_small <- function(case, threads, n, batch = 200L) {
  old <- gru_threads(threads)
  on.exit(gru_threads(old))
  vapply(seq_len(n), function(i) {
    t0 <- proc.time()[["elapsed"]]
    for (j in seq_len(batch)) case$layer(case$x)
    (proc.time()[["elapsed"]] - t0) * 1000 / batch
  }, numeric(1))
}

# ---- peak memory -------------------------------------------------------------
peak_rss_mb <- function(s, run) {
  if (!has_time) return(c(peak = NA_real_, extra = NA_real_, packed = NA_real_))
  code <- sprintf(paste(
    "suppressPackageStartupMessages(library(gru)); gru_threads(1);",
    "l <- layer_gru(units = %d, return_sequences = TRUE);",
    "x <- array(runif(%d), c(%d, %d, %d));",
    "invisible(l(x[1, 1, , drop = FALSE])); invisible(l(x[1, 1, , drop = FALSE])); invisible(gc());",
    "st <- function(k) as.numeric(gsub('[^0-9]', '', grep(k, readLines('/proc/self/status'), value = TRUE)));",
    "writeLines('5', '/proc/self/clear_refs'); r0 <- st('^VmRSS');",
    "if (%s) y <- l(x);",
    "cat('gru-extra-kb:', st('^VmHWM') - r0, '\\n');",
    "p <- rlang::wref_value(gru:::layer_self(l)$engine_plan)$plan$packed;",
    "cat('gru-packed-kb:', gru:::cpp_packed_bytes(p) / 1024, '\\n')"),
    s[["H"]], prod(s[c("B", "T", "I")]),
    s[["B"]], s[["T"]], s[["I"]], if (run) "TRUE" else "FALSE")
  f <- tempfile(fileext = ".R")
  writeLines(code, f)
  # The warm-up calls on one step also pack the layer's kernels, which it
  # keeps between calls (see ?layer_gru, "Memory"): `packed` reports them
  # apart from the pass's own peak.
  # The layer's build (orthogonal initializer) peaks higher than the pass,
  # and glibc keeps freed memory resident: with a fixed mmap threshold large
  # blocks are returned when freed, and the peak (VmHWM) is reset before the
  # pass, so the child reports the pass's own peak over its starting RSS.
  err <- system2("/usr/bin/time", c("-v", file.path(R.home("bin"), "Rscript"), f),
                 stdout = TRUE, stderr = TRUE, env = "MALLOC_MMAP_THRESHOLD_=131072")
  kb <- as.numeric(sub(".*: *", "", grep("Maximum resident set size", err, value = TRUE)))
  kb_of <- function(key) {
    v <- as.numeric(sub(".*: *", "", grep(key, err, value = TRUE)))
    if (length(v)) v / 1024 else NA_real_
  }
  c(peak = kb / 1024, extra = kb_of("gru-extra-kb:"), packed = kb_of("gru-packed-kb:"))
}

# ---- the main table ----------------------------------------------------------
cat(bench_header())
cat(sprintf("%d rounds x %d gru calls per cell\n", rounds, reps))
limit1 <- sgemm_limit(peer_dir)
# Each round times, per thread count, gru (`reps` calls in this process),
# then onnxruntime and oneDNN (a fresh process each: `reps + 1` passes after
# their own warm-up), starting with a different side every round so that no
# side always follows the same neighbour. Medians are over all rounds: gru's
# and oneDNN's over every timed pass, onnxruntime's over its processes'
# medians (ort_time.js prints only those). Paired: each round's peer time
# over that round's median gru time, taken seconds apart, so a slow phase of
# the machine (they last seconds to minutes here) hits both sides of a ratio.
sides <- c("gru", if (has_ort) "ort", if (has_onednn) "onednn")
results <- list()
for (nm in names(shapes)) {
  s <- shapes[[nm]]
  case <- make_case(s)
  small <- gflop(s) < 0.01
  # runs[[side]][[th]]: every timed pass (ms); by_round: each round's median.
  runs <- by_round <- sapply(sides, function(x) list(`1` = numeric(), `2` = numeric()),
                             simplify = FALSE)
  for (r in seq_len(rounds)) {
    for (th in c("1", "2")) {
      for (side in sides[(seq_along(sides) + r - 2L) %% length(sides) + 1L]) {
        ms <- switch(side,
          gru = if (small) time_small(case, as.integer(th), reps)
                else time_calls(case, as.integer(th), reps),
          ort = ort_time(s, th, reps + 1L),
          onednn = onednn_time(onednn_bin, s, th, reps + 1L, "fwd",
                               if (small) 200L else 1L)
        )
        runs[[side]][[th]] <- c(runs[[side]][[th]], ms)
        by_round[[side]][[th]] <- c(by_round[[side]][[th]], stats::median(ms))
      }
    }
  }
  for (th in c("1", "2")) {
    peer <- function(side, what) {
      if (!side %in% sides) return(if (what == "runs") 0L else NA_real_)
      switch(what,
        ms = stats::median(runs[[side]][[th]]),
        paired = stats::median(by_round[[side]][[th]] / by_round$gru[[th]]),
        runs = if (side == "ort") rounds * (reps + 1L) else length(runs[[side]][[th]])
      )
    }
    results[[length(results) + 1]] <- data.frame(
      shape = nm, B = s[["B"]], T = s[["T"]], I = s[["I"]], H = s[["H"]],
      threads = as.integer(th), gru_ms = stats::median(runs$gru[[th]]),
      gru_min_ms = min(runs$gru[[th]]), gru_runs = length(runs$gru[[th]]),
      ort_ms = peer("ort", "ms"), ort_paired = peer("ort", "paired"),
      ort_runs = peer("ort", "runs"),
      onednn_ms = peer("onednn", "ms"), onednn_paired = peer("onednn", "paired"),
      onednn_runs = peer("onednn", "runs")
    )
  }
  cat(sprintf("%s timed (%s)\n", nm, format(Sys.time(), "%H:%M:%S")))
  rm(case)
  invisible(gc())
}
limit2 <- sgemm_limit(peer_dir)
limit <- pmax(limit1, limit2, na.rm = TRUE)
res <- do.call(rbind, results)
res_gflop <- vapply(res$shape, function(nm) gflop(shapes[[nm]]), 0)
res$gflops <- res_gflop / res$gru_ms * 1000
# Peer ms / gru ms, as the issue states them: below 1, the peer is faster.
res$ort_over_gru <- res$ort_ms / res$gru_ms
res$onednn_over_gru <- res$onednn_ms / res$gru_ms
res$sgemm_limit_gflops <- limit[as.character(res$threads)]
res$pct_of_sgemm <- 100 * res$gflops / res$sgemm_limit_gflops
res$ort_pct_of_sgemm <- 100 * res_gflop / res$ort_ms * 1000 / res$sgemm_limit_gflops
res$onednn_pct_of_sgemm <- 100 * res_gflop / res$onednn_ms * 1000 / res$sgemm_limit_gflops

# Where the large shapes' time goes, 1 and 2 threads, alternating in one
# process: the standard call (`full`, as in the main table); those of its
# calls during which R ran no garbage collection (`no_gc`: gc.time() did not
# move); and the same layer and weights with return_sequences = FALSE
# (`last`: the same recurrence and flops, without R's B x T x H double
# output to allocate, fault in, write and later collect). `gc_ms` is R's
# collection time per full call. The percentages are of the sgemm limit.
time_split <- function(s, threads, n) {
  seq_case <- make_case(s)
  last <- layer_gru(units = s[["H"]], return_sequences = FALSE)
  invisible(last(seq_case$x))
  set_weights(last, get_weights(seq_case$layer))
  old <- gru_threads(threads)
  on.exit(gru_threads(old))
  invisible(seq_case$layer(seq_case$x))
  invisible(last(seq_case$x))
  full <- gcs <- lst <- numeric(n)
  for (i in seq_len(n)) {
    g0 <- gc.time()[[1]]
    t0 <- proc.time()[["elapsed"]]
    y <- seq_case$layer(seq_case$x)
    full[i] <- (proc.time()[["elapsed"]] - t0) * 1000
    gcs[i] <- (gc.time()[[1]] - g0) * 1000
    rm(y)
    t0 <- proc.time()[["elapsed"]]
    invisible(last(seq_case$x))
    lst[i] <- (proc.time()[["elapsed"]] - t0) * 1000
  }
  no_gc <- full[gcs == 0]
  data.frame(shape = NA_character_, threads = threads, full_ms = stats::median(full),
             no_gc_ms = if (length(no_gc)) stats::median(no_gc) else NA_real_,
             no_gc_calls = length(no_gc), calls = n, gc_ms = mean(gcs),
             last_ms = stats::median(lst))
}
split <- list()
for (nm in intersect(c("S3", "S4"), names(shapes))) {
  for (th in 1:2) {
    d <- time_split(shapes[[nm]], th, if (quick) 8L else 20L)
    d$shape <- nm
    split[[length(split) + 1]] <- d
  }
  invisible(gc())
}
split <- do.call(rbind, split)
if (!is.null(split)) {
  gf <- vapply(split$shape, function(nm) gflop(shapes[[nm]]), 0)
  lim <- limit[as.character(split$threads)]
  split$pct_full <- 100 * gf / split$full_ms * 1000 / lim
  split$pct_no_gc <- 100 * gf / split$no_gc_ms * 1000 / lim
  split$pct_last <- 100 * gf / split$last_ms * 1000 / lim
}

# float64 against float32, one thread.
f64 <- list()
for (nm in intersect(c("S2", "S3", "S4"), names(shapes))) {
  s <- shapes[[nm]]
  c32 <- make_case(s, "float32")
  c64 <- make_case(s, "float64")
  t32 <- t64 <- numeric()
  for (r in seq_len(max(2, rounds - 2))) {
    t32 <- c(t32, time_calls(c32, 1L, 2L))
    t64 <- c(t64, time_calls(c64, 1L, 2L))
  }
  f64[[nm]] <- data.frame(shape = nm, f32_ms = stats::median(t32), f64_ms = stats::median(t64))
  rm(c32, c64)
  invisible(gc())
}
f64 <- do.call(rbind, f64)
if (!is.null(f64)) f64$ratio <- f64$f64_ms / f64$f32_ms

# What keeping the packed kernels saves: calls that reuse them (all the timings
# above) against calls right after new weights, which pack them, one thread.
pk <- list()
for (nm in intersect(c("S2", "S3", "S4"), names(shapes))) {
  case <- make_case(shapes[[nm]])
  reuse <- repack <- numeric()
  for (r in seq_len(max(2, rounds - 2))) {
    reuse <- c(reuse, time_calls(case, 1L, 2L))
    repack <- c(repack, time_calls(case, 1L, 2L, repack = TRUE))
  }
  pk[[nm]] <- data.frame(shape = nm, reuse_ms = stats::median(reuse),
                         repack_ms = stats::median(repack))
  rm(case)
  invisible(gc())
}
pk <- do.call(rbind, pk)
if (!is.null(pk)) pk$ratio <- pk$repack_ms / pk$reuse_ms

# Peak memory of one forward pass (1 thread): the pass's own peak over the
# process's RSS before it (base_mb and peak_mb: whole-process peaks, for scale).
mem <- do.call(rbind, lapply(names(shapes), function(nm) {
  s <- shapes[[nm]]
  base <- peak_rss_mb(s, FALSE)[["peak"]]
  run <- peak_rss_mb(s, TRUE)
  peak <- run[["peak"]]
  out_mb <- prod(s[c("B", "T", "H")]) * 8 / 2^20
  xp_mb <- prod(s[c("B", "T")]) * 3 * s[["H"]] * 4 / 2^20
  data.frame(shape = nm, base_mb = base, peak_mb = peak, extra_mb = run[["extra"]],
             packed_mb = run[["packed"]], output_mb = out_mb, xp_buffer_mb = xp_mb,
             weights_mb = 3 * s[["H"]] * (s[["I"]] + s[["H"]]) * 8 / 2^20,
             allowed_mb = out_mb + xp_mb)
}))

fmt <- function(d) {
  num <- vapply(d, is.numeric, TRUE)
  d[num] <- lapply(d[num], function(v) signif(v, 4))
  d
}
cat(sprintf("\nsgemm limit (OpenBLAS 2048^3, OPENBLAS_CORETYPE=%s, GFLOP/s): 1 thread %.1f, 2 threads %.1f\n",
            openblas_core, limit[["1"]], limit[["2"]]))
cat("\nMedian ms per forward pass (float32, reset_after, return_sequences):\n")
print(fmt(res[c("shape", "threads", "gru_ms", "ort_ms", "ort_over_gru", "ort_paired",
                "onednn_ms", "onednn_over_gru", "onednn_paired")]), row.names = FALSE)
cat("\nGFLOP/s and % of the sgemm limit (same run), and the timed passes per cell:\n")
print(fmt(res[c("shape", "threads", "gflops", "pct_of_sgemm", "ort_pct_of_sgemm",
                "onednn_pct_of_sgemm", "gru_runs", "ort_runs", "onednn_runs")]),
      row.names = FALSE)
if (!is.null(split)) {
  cat("\nWhere S3's and S4's time goes (median ms; % of the sgemm limit): full = the call above,",
      "no_gc = its calls without an R garbage collection, last = return_sequences = FALSE",
      "(no B x T x H double output), gc_ms = R's collection time per full call:\n")
  print(fmt(split), row.names = FALSE)
}
if (!is.null(f64)) {
  cat("\nfloat64 vs float32 (1 thread, median ms):\n")
  print(fmt(f64), row.names = FALSE)
}
if (!is.null(pk)) {
  cat("\nReusing the layer's packed kernels vs packing them (new weights), 1 thread, median ms:\n")
  print(fmt(pk), row.names = FALSE)
}
cat("\nPeak memory (MB; extra = the peak of one forward pass over the RSS before it;",
    "packed = the layer's packed kernels, kept between calls, not in extra;",
    "allowed = output + one B*T*3H float buffer; weights are inputs, shown for scale):\n")
print(fmt(mem), row.names = FALSE)
utils::write.csv(res, file.path(out_dir, "bench-results.csv"), row.names = FALSE)
utils::write.csv(mem, file.path(out_dir, "bench-memory.csv"), row.names = FALSE)
if (!is.null(f64)) utils::write.csv(f64, file.path(out_dir, "bench-float64.csv"), row.names = FALSE)
if (!is.null(pk)) utils::write.csv(pk, file.path(out_dir, "bench-packing.csv"), row.names = FALSE)
if (!is.null(split)) utils::write.csv(split, file.path(out_dir, "bench-split.csv"), row.names = FALSE)

# ---- time against T and B (1 thread, S2's layer) ------------------------------
if (!quick) {
  base <- c(B = 64, T = 100, I = 64, H = 128)
  sweep <- rbind(
    data.frame(vary = "T", B = 64, T = c(25, 50, 100, 200, 400)),
    data.frame(vary = "B", B = c(8, 16, 32, 64, 128), T = 100)
  )
  sweep$ms <- NA_real_
  for (i in seq_len(nrow(sweep))) {
    s <- base
    s[["B"]] <- sweep$B[i]
    s[["T"]] <- sweep$T[i]
    case <- make_case(s)
    sweep$ms[i] <- stats::median(time_calls(case, 1L, 7L))
  }
  sweep$us_per_row_step <- 1000 * sweep$ms / (sweep$B * sweep$T)
  cat("\nScaling (1 thread, I = 64, H = 128): time per (batch row x timestep) should stay flat\n")
  print(fmt(sweep), row.names = FALSE)
  utils::write.csv(sweep, file.path(out_dir, "bench-scaling.csv"), row.names = FALSE)
  grDevices::png(file.path(out_dir, "bench-scaling.png"), width = 900, height = 420)
  graphics::par(mfrow = c(1, 2))
  for (v in c("T", "B")) {
    d <- sweep[sweep$vary == v, ]
    graphics::plot(d[[v]], d$ms, type = "b", pch = 19, xlab = v, ylab = "ms (median)",
                   main = sprintf("gru forward, 1 thread: time vs %s", v),
                   xlim = c(0, max(d[[v]])), ylim = c(0, max(d$ms) * 1.1))
    fit <- stats::lm(ms ~ 0 + x, data.frame(ms = d$ms, x = d[[v]]))
    graphics::abline(fit, lty = 2, col = "grey40")
    graphics::legend("topleft", c("measured", "proportional fit"), lty = c(1, 2),
                     pch = c(19, NA), col = c("black", "grey40"), bty = "n")
  }
  grDevices::dev.off()
}
cat("\nwrote", normalizePath(out_dir), "\n")
