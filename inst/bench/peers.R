# Helpers that bench.R and bench-backward.R share: their command-line
# options, where the peers live, the sgemm limit, and the oneDNN driver
# (built here from the shared bench folder, run one process per call).
# Sourced by those scripts; `args` and `script_dir` are theirs.

bench_opt <- function(name, default) {
  hit <- grep(paste0("^--", name, "="), args, value = TRUE)
  if (length(hit)) sub(paste0("^--", name, "="), "", hit[[1]]) else default
}

have_cmd <- function(cmd) nzchar(Sys.which(cmd))

# The shared benchmark folder (ort_time.js, gru_onnx.py, sgemm-limit.sh,
# onednn/): --peers, else $GRU_BENCH_DIR, else ../shared/bench from the
# current folder or from the package root above this script.
find_peer_dir <- function() {
  candidates <- c(
    bench_opt("peers", ""),
    Sys.getenv("GRU_BENCH_DIR", ""),
    file.path(getwd(), "..", "shared", "bench"),
    file.path(script_dir, "..", "..", "..", "shared", "bench")
  )
  candidates <- candidates[nzchar(candidates) & dir.exists(candidates)]
  if (length(candidates)) normalizePath(candidates[[1]]) else NA_character_
}

# Where the peers' own installs and builds go (setup-peers.sh uses the same).
peer_cache_dir <- function() {
  Sys.getenv("GRU_PEERS_DIR", file.path(Sys.getenv("HOME"), ".cache", "gru-peers"))
}

# One line naming what was measured where: the machine, its load, gru's
# version and library, the time.
bench_header <- function() {
  cpu <- grep("^model name", readLines("/proc/cpuinfo", warn = FALSE), value = TRUE)[1]
  load <- strsplit(readLines("/proc/loadavg", warn = FALSE), " ")[[1]][1:3]
  sprintf("machine: %s, %d cores, load average %s; R %s; gru %s from %s; kernels: %s; %s\n",
          sub("^model name\\s*:\\s*", "", cpu), gru:::cpp_cpu_cores(),
          paste(load, collapse = " "), getRversion(), utils::packageVersion("gru"),
          dirname(find.package("gru")), Sys.getenv("GRU_ISA", "best available"),
          format(Sys.time()))
}

# ---- the sgemm limit ----------------------------------------------------------
# OpenBLAS 0.3.21 does not recognise every virtualised Xeon and may fall back
# to its SSE3 "Prescott" kernels, which would make a meaningless limit; unless
# OPENBLAS_CORETYPE is set already, name the kernel family the CPU supports.
openblas_coretype <- function() {
  core <- Sys.getenv("OPENBLAS_CORETYPE", "")
  if (nzchar(core)) return(core)
  f <- grep("^flags", readLines("/proc/cpuinfo", warn = FALSE), value = TRUE)
  flags <- if (length(f)) strsplit(f[[1]], "[[:space:]]+")[[1]] else character()
  if ("avx512f" %in% flags) "SkylakeX" else if ("avx2" %in% flags) "Haswell" else ""
}

# GFLOP/s of OpenBLAS's 2048^3 sgemm at 1 and 2 threads (sgemm-limit.sh).
sgemm_limit <- function(peer_dir) {
  res <- c(`1` = NA_real_, `2` = NA_real_)
  if (is.na(peer_dir) || !file.exists(file.path(peer_dir, "sgemm-limit.sh"))) return(res)
  core <- openblas_coretype()
  env <- if (nzchar(core)) paste0("OPENBLAS_CORETYPE=", core) else character()
  out <- system2("sh", file.path(peer_dir, "sgemm-limit.sh"), stdout = TRUE, stderr = FALSE,
                 env = env)
  th <- NA
  for (line in out) {
    if (grepl("^threads=", line)) th <- sub("threads=", "", line)
    if (grepl("2048x2048x2048", line)) {
      res[[th]] <- as.numeric(sub(".* ([0-9.]+) GFLOP/s.*", "\\1", line))
    }
  }
  res
}

# ---- oneDNN ------------------------------------------------------------------
# Builds peer_dir/onednn/onednn_gru.cpp with its build.sh into the peer cache
# (rebuilt when the source is newer than the binary) and checks that it runs.
# Returns the binary's path, or NA with attribute "why" saying what is
# missing. It never installs anything: build.sh would apt-get libdnnl-dev, so
# the header is checked first and its absence is reported instead.
onednn_driver <- function(peer_dir) {
  skip <- function(why) structure(NA_character_, why = why)
  src_dir <- if (is.na(peer_dir)) NA_character_ else file.path(peer_dir, "onednn")
  if (is.na(src_dir) || !file.exists(file.path(src_dir, "onednn_gru.cpp"))) {
    return(skip("no onednn/onednn_gru.cpp in the peers folder"))
  }
  if (!file.exists("/usr/include/oneapi/dnnl/dnnl.hpp")) {
    return(skip(paste("oneDNN is not installed (no /usr/include/oneapi/dnnl/dnnl.hpp;",
                      "apt-get install libdnnl-dev, or sh", file.path(src_dir, "build.sh"), "DIR)")))
  }
  if (!have_cmd("g++")) return(skip("no g++ to build the driver"))
  out_dir <- file.path(peer_cache_dir(), "onednn")
  if (!dir.create(out_dir, showWarnings = FALSE, recursive = TRUE) && !dir.exists(out_dir)) {
    out_dir <- tempfile("onednn-")
    dir.create(out_dir)
  }
  bin <- file.path(out_dir, "onednn_gru")
  src <- file.path(src_dir, "onednn_gru.cpp")
  if (!file.exists(bin) || file.mtime(bin) < file.mtime(src)) {
    log <- suppressWarnings(system2("sh", c(file.path(src_dir, "build.sh"), shQuote(out_dir)),
                                    stdout = TRUE, stderr = TRUE))
    if (!file.exists(bin) || !is.null(attr(log, "status"))) {
      return(skip(paste("the driver did not build:", paste(utils::tail(log, 3), collapse = " | "))))
    }
  }
  probe <- suppressWarnings(system2(bin, c(1, 2, 4, 4, 1, 1), stdout = TRUE, stderr = TRUE))
  line <- grep("median_ms=", probe, value = TRUE)
  if (!length(line)) {
    return(skip(paste("the driver does not run:", paste(probe, collapse = " | "))))
  }
  structure(bin, about = sprintf("(oneDNN %s, implementation %s)",
                                 strsplit(line[[1]], " ")[[1]][[2]], onednn_field(line[[1]], "impl")))
}

# The value of one key=value field of a driver line.
onednn_field <- function(line, key) {
  hit <- regmatches(line, regexpr(paste0(key, "=[^ ]+"), line))
  if (length(hit)) sub(paste0("^", key, "="), "", hit) else NA_character_
}

# One driver process: `n` samples after its 3 warm-up samples, each of
# `inner` calls. Returns every sample in ms (the median is computed by the
# caller over all of a cell's processes), with the line's other timings as
# attributes (train mode: the parts' medians).
onednn_time <- function(bin, s, threads, n, mode = "fwd", inner = 1L) {
  out <- suppressWarnings(system2(
    bin,
    c(s[[1]], s[[2]], s[[3]], s[[4]], threads, n, paste0("--mode=", mode),
      paste0("--inner=", inner)),
    stdout = TRUE, stderr = FALSE
  ))
  line <- grep("median_ms=", out, value = TRUE)
  if (!length(line)) return(NA_real_)
  line <- line[[1]]
  ms <- as.numeric(strsplit(onednn_field(line, "all_ms"), ",")[[1]])
  parts <- c("prep_ms", "fwd_training_ms", "backward_ms", "grad_reorder_ms")
  attr(ms, "parts") <- vapply(parts, function(k) as.numeric(onednn_field(line, k)), 0)
  attr(ms, "line") <- line
  ms
}
