# gru picks its kernel set (AVX-512, AVX2 + FMA, or generic) at run time, so
# one build must run on any x86-64 CPU. This machine has AVX-512, so the
# narrower sets are run here under valgrind, whose emulated CPU has AVX2 but
# not AVX-512: any AVX-512 instruction executed on the way (not only in the
# kernels: building a kernel table compiled for AVX-512 did it) stops the
# child with SIGILL. Each child loads a saved layer and model, runs a
# forward pass in float32 and float64 and a training step, and must give
# what this process computes with the same kernel set.

run_on_emulated_cpu <- function(isa, script, timeout = 300) {
  out <- tempfile()
  on.exit(unlink(out))
  env <- c(paste0("GRU_ISA=", isa), paste0("R_LIBS=", paste(.libPaths(), collapse = ":")),
           "GRU_NUM_THREADS=1")
  status <- system2(file.path(R.home("bin"), "R"),
                    c("-d", shQuote("valgrind --tool=none -q"), "--no-echo", "--no-restore",
                      "-f", shQuote(script)),
                    stdout = out, stderr = out, env = env, timeout = timeout)
  list(status = status, output = readLines(out, warn = FALSE))
}

test_that("the AVX2 and generic kernel sets run on a CPU without AVX-512", {
  skip_if_not(nzchar(Sys.which("valgrind")), "valgrind is not installed (tools/setup.sh installs it)")
  skip_if_not(identical(Sys.info()[["sysname"]], "Linux"))
  dir <- tempfile("isa")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE))
  set.seed(11)
  x <- array(stats::runif(5 * 6 * 3), c(5, 6, 3))
  y <- matrix(stats::runif(5), 5, 1)
  l32 <- layer_gru(units = 20, return_sequences = TRUE)
  l64 <- layer_gru(units = 20, dtype = "float64", reset_after = FALSE)
  l32(x)
  l64(x)
  model <- keras_model_sequential(input_shape = c(6, 3)) |>
    layer_gru(7) |>
    layer_dense(1)
  compile(model, optimizer = optimizer_sgd(0.1), loss = "mse")
  saveRDS(list(x = x, y = y, l32 = l32, l64 = l64, model = model),
          file.path(dir, "in.rds"))
  writeLines(c(
    "suppressPackageStartupMessages(library(gru))",
    sprintf("d <- readRDS(%s)", deparse(file.path(dir, "in.rds"))),
    "res <- list(kernels = backend_info()$cpu_kernels, y32 = d$l32(d$x), y64 = d$l64(d$x),",
    "            loss = train_on_batch(d$model, d$x, d$y), weights = get_weights(d$model))",
    sprintf("saveRDS(res, %s)", deparse(file.path(dir, "out.rds")))
  ), file.path(dir, "child.R"))

  for (isa in c("avx2", "generic")) {
    unlink(file.path(dir, "out.rds"))
    run <- run_on_emulated_cpu(isa, file.path(dir, "child.R"))
    expect_identical(run$status, 0L, info = paste(c(isa, tail(run$output, 20)), collapse = "\n"))
    if (!file.exists(file.path(dir, "out.rds"))) next
    got <- readRDS(file.path(dir, "out.rds"))
    expect_identical(got$kernels, isa)
    with_env_var("GRU_ISA", isa, {
      # The same kernels here: the same numbers from the engine (the model
      # is trained on a copy, as the child trained the one it read). R sums
      # in long double, which valgrind emulates in double, so the loss and
      # the steps after it may differ in the last bits.
      twin <- readRDS(file.path(dir, "in.rds"))
      expect_identical(got$y32, l32(x), info = isa)
      expect_identical(got$y64, l64(x), info = isa)
      expect_equal(got$loss, train_on_batch(twin$model, x, y), tolerance = 1e-12, info = isa)
      expect_equal(got$weights, get_weights(twin$model), tolerance = 1e-12, info = isa)
    })
  }
})
