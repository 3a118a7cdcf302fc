# A long CPU pass stops at a user interrupt (Ctrl-C / Esc) instead of
# running to its end: the engine's calling thread polls R's interrupt check
# (see set_interrupt_check in src/gru/gru.h and src/gru/interrupt.h).

# A child R process that builds a GRU layer of `units` on inputs of `dims`,
# prints "ready" just before a long call (the layer on the inputs, or
# layer_gradients() when `what` is "gradients"), and returns what the call
# ended with, where the engine stopped (-1: not interrupted) and the
# dimensions of a small call's result made after it.
long_call_child <- function(threads, dims, units, what) {
  callr::r_bg(function(threads, dims, units, what) {
    library(gru)
    gru_threads(threads)
    set.seed(1)
    x <- array(stats::runif(prod(dims)), dims)
    layer <- layer_gru(units = units, use_cudnn = FALSE)
    invisible(layer(x[, 1:2, , drop = FALSE]))
    g <- matrix(1, dims[[1]], units)
    run <- function(x) if (what == "forward") layer(x) else layer_gradients(layer, x, g)
    cat("ready\n")
    res <- tryCatch({
      run(x)
      "finished"
    }, interrupt = function(cnd) "interrupted")
    small <- run(x[, 1:3, , drop = FALSE])
    list(res = res, skipped = gru:::cpp_last_interrupted_step(),
         after = dim(if (what == "forward") small else small$kernel))
  }, args = list(threads = threads, dims = dims, units = units, what = what))
}

# Waits (up to 2 minutes) for the child's "ready" line, sends it SIGINT
# `after` seconds later, waits for it to end and returns its result.
interrupt_when_ready <- function(child, after) {
  wait_while <- function(cond) {
    waited <- 0
    while (cond() && waited < 120) {
      Sys.sleep(0.05)
      waited <- waited + 0.05
    }
  }
  wait_while(function() !any(grepl("ready", child$read_output_lines())) && child$is_alive())
  expect_true(child$is_alive(), info = paste(child$read_all_error_lines(), collapse = "\n"))
  Sys.sleep(after)
  child$interrupt()
  wait_while(function() child$is_alive())
  child$get_result()
}

test_that("an interrupt stops a long CPU pass part-way, on 1 and 2 threads", {
  skip_if_not_installed("callr")
  skip_on_os("windows")  # the child is interrupted with SIGINT
  # A forward pass of 32 x 20000 steps of 512 units (seconds of work),
  # interrupted 0.5 s in; layer_gradients() on 16 x 400 steps of 1024 units
  # (about a second on this project's machine, a 210 MB workspace), 0.25 s.
  cases <- list(
    list(what = "forward", dims = c(32L, 20000L, 4L), units = 512L, after = 0.5,
         small = c(32L, 512L)),
    list(what = "gradients", dims = c(16L, 400L, 4L), units = 1024L, after = 0.25,
         small = c(4L, 3072L))
  )
  for (case in cases) {
    for (threads in 1:2) {
      child <- long_call_child(threads, case$dims, case$units, case$what)
      on.exit(child$kill(), add = TRUE)
      res <- interrupt_when_ready(child, after = case$after)
      info <- paste(case$what, threads, "thread(s)")
      expect_identical(res$res, "interrupted", info = info)
      # Stopped part-way by the engine (forward: the first step it skipped;
      # training: the steps its pass had done), not after the call
      # returned; the layer works afterwards.
      expect_gt(res$skipped, 0)
      expect_lt(res$skipped, case$dims[[2]])
      expect_identical(res$after, case$small, info = info)
    }
  }
})
