# The weight gradients' products read a row-major right operand with short
# rows in place instead of packing it (direct_b() in src/gru/gemm.cpp);
# GRU_DB=0 forces the packing. Both read the same values in the same order,
# so the gradients must be identical, on every path that can take it: the
# per-slab split (one thread, or few rows) and the split reduction (two
# threads, >= 2048 rows), both variants (dU's right operand is the
# workspace's z and r columns, or all three), both dtypes.

grads_with_db <- function(db, x, units, reset_after, dtype, threads) {
  with_env_var("GRU_DB", db, grads_of(x, units, reset_after, dtype, threads))
}

grads_of <- function(x, units, reset_after, dtype, threads) {
  old <- gru_threads(threads)
  on.exit(gru_threads(old))
  set.seed(12)
  d <- dim(x)
  layer <- layer_gru(units = units, reset_after = reset_after, dtype = dtype,
                     return_sequences = TRUE, input_shape = d[2:3])
  go <- array(stats::rnorm(d[1] * d[2] * units), c(d[1], d[2], units))
  layer_gradients(layer, x, go)
}

test_that("reading the workspace in place gives the packed path's gradients exactly", {
  set.seed(13)
  # 32 units: 3H = 96 and 2H = 64 columns, whole vectors in float and
  # double, rows of 384 or 768 bytes (in place); 2240 rows take the split
  # reduction at two threads, 96 rows do not.
  shapes <- list(c(32, 70, 5), c(16, 6, 7))
  for (sh in shapes) {
    x <- array(stats::rnorm(prod(sh)), sh)
    for (reset_after in c(TRUE, FALSE)) {
      for (dtype in c("float32", "float64")) {
        for (threads in c(1L, 2L)) {
          info <- paste(paste(sh, collapse = "x"), reset_after, dtype, threads)
          packed <- grads_with_db("0", x, 32, reset_after, dtype, threads)
          direct <- grads_with_db(NA, x, 32, reset_after, dtype, threads)
          expect_true(all(packed$kernel != 0), info = info)
          expect_identical(direct, packed, info = info)
        }
      }
    }
  }
})
