#' Get or set the number of CPU threads
#'
#' `gru_threads()` reports how many threads the CPU forward pass of
#' [layer_gru()] may use; `gru_threads(n)` sets it for the rest of the session
#' (through the option `gru.threads`). Results do not depend on the thread
#' count: every output is computed by the same operations in the same order.
#'
#' Small problems run on one thread whatever the setting, because splitting a
#' step of a few thousand multiply-adds costs more than it saves.
#'
#' @param n `NULL` to query, or a positive whole number of threads.
#'
#' @details
#' Without a setting, the count comes from, in order:
#' 1. the option `gru.threads`;
#' 2. the environment variable `GRU_NUM_THREADS`;
#' 3. the number of cores available to this process.
#'
#' It is then capped by `OMP_THREAD_LIMIT` when that is set, and at 2 when
#' `_R_CHECK_LIMIT_CORES_` is set (as `R CMD check --as-cran` does), so
#' examples and tests stay within CRAN's limit.
#'
#' An option or variable that is not a positive whole number is ignored
#' with a warning that names it (the next source is used), and a count
#' above four threads per core (at least 8) is capped there with a warning:
#' more threads only slow gru down, and a system that cannot start them
#' would end the R session. Each warning comes once per value of the
#' setting.
#'
#' In a process forked from the R session (by [parallel::mclapply()],
#' `future`'s multicore plan and other fork-based backends) gru runs on one
#' thread, and `gru_threads()` says 1: GNU OpenMP cannot start threads in a
#' child forked from a process that has used them (the first threaded call
#' there would hang). Parallelise over processes or over gru's threads, not
#' both.
#'
#' Every layer call reads these settings afresh (the resolved count is
#' remembered only for as long as the option and the three environment
#' variables keep their values), so a change takes effect at the next call.
#'
#' @returns `gru_threads()` returns the thread count in effect, an integer.
#'   `gru_threads(n)` returns the previous count, invisibly.
#' @family backend
#' @export
#' @examples
#' gru_threads()
#'
#' old <- gru_threads(1)
#' layer <- layer_gru(units = 4)
#' y <- layer(array(runif(2 * 3 * 5), c(2, 3, 5)))
#' gru_threads(old)
gru_threads <- function(n = NULL) {
  if (is.null(n)) {
    # A forked child runs on one thread: make_spec() (src/rcpp_spec.h) sets
    # that for every pass, so only this report needs to know.
    return(if (cpp_in_forked_child()) 1L else current_threads())
  }
  if (!is_count(n) || n > .Machine$integer.max) {
    shown <- if (is.numeric(n) && length(n) == 1L) paste0(" (", format(n), ")") else ""
    abort_gru(
      c("{.arg n} must be a positive whole number, not {.obj_type_friendly {n}}{shown}.",
        "i" = "For example {.code gru_threads(2)}; {.code gru_threads()} reports the count."),
      class = "gru_error_input"
    )
  }
  n <- as.integer(n)
  old <- current_threads()
  options(gru.threads = n)
  invisible(old)
}

# effective_threads(requested_threads()), recomputed only when the option or
# one of the environment variables it reads has changed: every layer call
# asks, so it reads the option and the three variables (with cpp_getenv(),
# ~0.3 us, where Sys.getenv() costs ~2) and compares them with the values the
# memo was computed from (parsing them each time cost ~10 microseconds).
# options(gru.threads =), gru_threads(n) and Sys.setenv() therefore take
# effect at the next call.
current_threads <- function() {
  opt <- getOption("gru.threads")
  env <- cpp_getenv(thread_env_vars)
  memo <- the$threads_memo
  if (!is.null(memo) && identical(memo$opt, opt) && identical(memo$env, env)) {
    return(memo$n)
  }
  n <- effective_threads(requested_threads())
  the$threads_memo <- list(opt = opt, env = env, n = n)
  n
}

thread_env_vars <- c("GRU_NUM_THREADS", "OMP_THREAD_LIMIT", "_R_CHECK_LIMIT_CORES_")

# The count asked for: option, then environment variable, then the cores.
# An unusable option or variable falls through to the next source, with a
# warning naming it (current_threads() asks only when a setting changed).
requested_threads <- function() {
  opt <- getOption("gru.threads")
  if (!is.null(opt)) {
    n <- thread_setting(opt, "The option {.code gru.threads}")
    if (!is.null(n)) return(n)
  }
  env <- Sys.getenv("GRU_NUM_THREADS", "")
  if (nzchar(env)) {
    n <- thread_setting(suppressWarnings(as.numeric(env)),
                        "The environment variable {.envvar GRU_NUM_THREADS}", shown = env)
    if (!is.null(n)) return(n)
  }
  max(1L, cpp_cpu_cores())
}

# A thread count from a setting, capped at max_threads(); NULL when the
# setting is unusable. Both with a warning naming the setting (`what`).
thread_setting <- function(x, what, shown = x) {
  if (!is_count(x)) {
    shown <- if (is.atomic(shown) && length(shown) == 1L) paste0("\"", format(shown), "\"") else
      cli::format_inline("{.obj_type_friendly {shown}}")
    cli::cli_warn(
      c(paste0(what, " is {shown}, not a positive whole number, so gru ignores it."),
        "i" = "Set it to a thread count, e.g. 2, or unset it."),
      class = "gru_warning_threads", call = NULL
    )
    return(NULL)
  }
  cap <- max_threads()
  if (x > cap) {
    cli::cli_warn(
      c(paste0(what, " asks for {format(x)} threads; gru uses at most {cap} (four per core, at least 8)."),
        "i" = "More threads than that only slow gru down."),
      class = "gru_warning_threads", call = NULL
    )
    return(cap)
  }
  as.integer(x)
}

# The most threads gru runs: more only add overhead, and a system that
# cannot start them would end the session (GNU OpenMP exits then).
max_threads <- function() max(8L, 4L * max(1L, cpp_cpu_cores()))

effective_threads <- function(n) {
  limit <- suppressWarnings(as.numeric(Sys.getenv("OMP_THREAD_LIMIT", "")))
  if (is_count(limit)) {
    n <- min(n, as.integer(limit))
  }
  check_limit <- Sys.getenv("_R_CHECK_LIMIT_CORES_", "")
  if (nzchar(check_limit) && !identical(tolower(check_limit), "false")) {
    n <- min(n, 2L)
  }
  as.integer(n)
}

is_count <- function(x) {
  is.numeric(x) && length(x) == 1L && !is.na(x) && is.finite(x) && x >= 1 &&
    x == trunc(x)
}
