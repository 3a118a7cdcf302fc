# The sequence output is moved from the engine's chunk buffer into R's
# (batch, timesteps, units) array by a kernel that, in float, transposes 8 x 8
# blocks (rows x units) and widens them to double, with element-by-element
# edges; the projection's packing of R's double input is a kernel too. Two
# checks, with batches and units on and off the 8 x 8 blocks, on 1 and 2
# threads, with each kernel set this CPU can run:
# - the last step's output is the final state, which reaches R through a
#   separate scalar move: the same float values, so identical;
# - every step matches the float64 layer with the same weights (a misplaced
#   or transposed element is off by far more than float rounding).

test_that("sequence outputs reach R in place and exactly, whatever the block edges", {
  isas <- c("avx512", "avx2", "generic")
  shapes <- list(c(b = 3, h = 5), c(b = 8, h = 16), c(b = 13, h = 37), c(b = 21, h = 24),
                 c(b = 64, h = 40))
  n_steps <- 6
  checked <- 0
  for (s in shapes) {
    set.seed(s[["b"]] + s[["h"]])
    x <- array(stats::runif(s[["b"]] * n_steps * 7, -1, 1), c(s[["b"]], n_steps, 7))
    l32 <- layer_gru(units = s[["h"]], return_sequences = TRUE, return_state = TRUE,
                     bias_initializer = "random_normal")
    l32(x)
    l64 <- layer_gru(units = s[["h"]], return_sequences = TRUE, dtype = "float64")
    l64(x)
    set_weights(l64, get_weights(l32))
    ref <- l64(x)
    for (isa in isas) {
      for (threads in 1:2) {
        old <- gru_threads(threads)
        with_env_var("GRU_ISA", isa, {
          res <- l32(x)
          info <- sprintf("b=%d h=%d %s %d threads", s[["b"]], s[["h"]], isa, threads)
          out <- res[[1]]
          expect_identical(dim(out), as.integer(c(s[["b"]], n_steps, s[["h"]])), info = info)
          expect_identical(out[, n_steps, ], res[[2]], info = info)
          expect_equal(out, ref, tolerance = 1e-5, info = info)
          checked <- checked + 1
        })
        gru_threads(old)
      }
    }
  }
  expect_identical(checked, length(shapes) * length(isas) * 2)
})

test_that("output gradients enter the backward exactly, whatever the block edges", {
  # The backward adds R's double output gradient into its float rows with a
  # kernel (the reverse move, 8 x 8 blocks). With a mask and
  # zero_output_for_mask it takes the element-by-element loop instead; a
  # mask that keeps every step changes nothing else, so the gradients with
  # and without it must be identical.
  isas <- c("avx512", "avx2", "generic")
  shapes <- list(c(b = 3, h = 5), c(b = 13, h = 37), c(b = 21, h = 24), c(b = 64, h = 40))
  n_steps <- 5
  checked <- 0
  for (s in shapes) {
    for (seqs in c(TRUE, FALSE)) {
      set.seed(s[["b"]] * s[["h"]])
      x <- array(stats::runif(s[["b"]] * n_steps * 6, -1, 1), c(s[["b"]], n_steps, 6))
      layer <- layer_gru(units = s[["h"]], return_sequences = seqs,
                         zero_output_for_mask = TRUE, use_cudnn = FALSE)
      out <- layer(x)
      g <- array(stats::rnorm(length(out)), dim(out))
      keep_all <- matrix(TRUE, s[["b"]], n_steps)
      for (isa in isas) {
        for (threads in 1:2) {
          old <- gru_threads(threads)
          with_env_var("GRU_ISA", isa, {
            info <- sprintf("b=%d h=%d sequences=%s %s %d threads", s[["b"]], s[["h"]], seqs,
                            isa, threads)
            plain <- layer_gradients(layer, x, g)
            masked <- layer_gradients(layer, x, g, mask = keep_all)
            expect_identical(names(plain), names(masked), info = info)
            for (nm in names(plain)) {
              expect_identical(as.vector(plain[[nm]]), as.vector(masked[[nm]]),
                               info = paste(nm, info))
            }
            checked <- checked + 1
          })
          gru_threads(old)
        }
      }
    }
  }
  expect_identical(checked, length(shapes) * 2 * length(isas) * 2)
})
