# A long forward pass stops at a user interrupt (Ctrl-C / Esc) instead of
# running to its end: the engine's calling thread polls R's interrupt check
# at chunk starts (see set_interrupt_check in src/gru/gru.h).

test_that("an interrupt stops a long CPU forward pass part-way, on 1 and 2 threads", {
  skip_if_not_installed("callr")
  skip_on_os("windows")  # the child is interrupted with SIGINT
  steps <- 20000L
  for (threads in 1:2) {
    # The child builds a layer, says "ready" just before a call that runs
    # for seconds (32 x 20000 steps of 512 units), and reports what the call
    # ended with and the first timestep the engine skipped (-1: none).
    child <- callr::r_bg(function(threads, steps) {
      library(gru)
      gru_threads(threads)
      set.seed(1)
      x <- array(stats::runif(32 * steps * 4), c(32, steps, 4))
      layer <- layer_gru(units = 512, use_cudnn = FALSE)
      invisible(layer(x[, 1:2, , drop = FALSE]))
      cat("ready\n")
      res <- tryCatch({
        layer(x)
        "finished"
      }, interrupt = function(cnd) "interrupted")
      list(res = res, skipped = gru:::cpp_last_interrupted_step(),
           after = dim(layer(x[, 1:3, , drop = FALSE])))
    }, args = list(threads = threads, steps = steps))
    on.exit(child$kill(), add = TRUE)
    waited <- 0
    while (!any(grepl("ready", child$read_output_lines())) && child$is_alive() &&
           waited < 120) {
      Sys.sleep(0.05)
      waited <- waited + 0.05
    }
    expect_true(child$is_alive(), info = paste(child$read_all_error_lines(), collapse = "\n"))
    Sys.sleep(0.5)  # into the engine's call
    child$interrupt()
    waited <- 0
    while (child$is_alive() && waited < 120) {
      Sys.sleep(0.05)
      waited <- waited + 0.05
    }
    res <- child$get_result()
    expect_identical(res$res, "interrupted")
    # Stopped part-way by the engine, not after the call returned.
    expect_gt(res$skipped, 0)
    expect_lt(res$skipped, steps)
    # The layer works after an interrupted call.
    expect_identical(res$after, c(32L, 512L))
  }
})
