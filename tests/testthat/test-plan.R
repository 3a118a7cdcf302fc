# The CPU forward pass's work split (src/gru/plan.cpp), a pure function of
# the call's shape, the kernel set (AVX-512 float: 16 units per block, 14
# rows per tile), the element size, the L2 size and the run options, tested
# through cpp_forward_plan() without running a pass. The thread-count tests
# (test-threads.R) show that no plan changes results.
plan_of <- function(b, t, f, h, threads = 1L, l2 = 2^21, elem = 4L, cache = FALSE,
                    width = 16L, tile_rows = 14L) {
  opts <- list(activation = 0L, recurrent_activation = 1L, reset_after = TRUE,
               go_backwards = FALSE, return_sequences = FALSE,
               zero_output_for_mask = FALSE, dropout_gates = 0L,
               recurrent_dropout_gates = 0L, threads = as.integer(threads))
  gru:::cpp_forward_plan(as.integer(c(b, t, f, h)), opts, as.integer(width),
                         as.integer(tile_rows), as.integer(elem), l2, cache)
}

test_that("a small step runs on one thread whatever the threads asked", {
  p <- plan_of(1, 100, 32, 64, threads = 2)   # S1: 1 x 64 x 192 a step
  expect_identical(p$threads, 1L)
  expect_false(p$sync)
  expect_false(p$two_ended)
})

test_that("a batch with rows to spare is split by rows, without barriers", {
  p <- plan_of(64, 100, 64, 128, threads = 2)  # S2: U 196 KB, fits any L2
  expect_identical(p$threads, 2L)
  expect_true(p$by_rows)
  expect_false(p$sync)
})

test_that("a U whose halves fit L2 is split by units, the two threads from both ends", {
  # S3: U 3 MB in float, 1.5 MB a thread, L2 2 MB
  p <- plan_of(64, 200, 256, 512, threads = 2)
  expect_identical(p$threads, 2L)
  expect_false(p$by_rows)
  expect_true(p$sync)
  expect_true(p$two_ended)
  # with a 4 MB L2 the whole of U fits: rows again
  expect_true(plan_of(64, 200, 256, 512, threads = 2, l2 = 2^22)$by_rows)
  # GRU_DYN=0: fixed halves
  expect_false(with_env_var("GRU_DYN", "0", plan_of(64, 200, 256, 512, threads = 2))$two_ended)
})

test_that("threads never exceed the row tiles or unit blocks there are", {
  p <- plan_of(28, 10, 8, 64, threads = 8)  # a small U: split by its 2 row tiles
  expect_true(p$by_rows)
  expect_identical(p$threads, 2L)
  expect_identical(plan_of(28, 10, 8, 1024, threads = 8)$threads, 8L)  # by 64 unit blocks
  expect_lte(plan_of(2, 10, 8, 32, threads = 8)$threads, 2L)  # 2 unit blocks
})

test_that("the prefetch of U follows what a thread walks against L2, unless forced", {
  expect_false(plan_of(64, 100, 64, 128)$prefetch_u)           # 196 KB
  expect_true(plan_of(32, 50, 1024, 1024)$prefetch_u)          # S4: 12.6 MB
  expect_true(with_env_var("GRU_PF", "1", plan_of(64, 100, 64, 128))$prefetch_u)
  expect_false(with_env_var("GRU_PF", "0", plan_of(32, 50, 1024, 1024))$prefetch_u)
})

test_that("a training forward stages its records from 256 units, unless forced", {
  expect_false(plan_of(64, 100, 64, 128)$stage_records)        # S2
  expect_true(plan_of(64, 100, 64, 256)$stage_records)
  expect_true(plan_of(64, 200, 256, 512)$stage_records)        # S3
  expect_true(with_env_var("GRU_STAGE", "1", plan_of(64, 100, 64, 128))$stage_records)
  expect_false(with_env_var("GRU_STAGE", "0", plan_of(64, 200, 256, 512))$stage_records)
})

test_that("chunks hold about 1024 projection rows, at least one step, at most the sequence", {
  expect_identical(plan_of(64, 100, 64, 128)$chunk_steps, 16L)  # ceiling(1024 / 64)
  expect_identical(plan_of(1, 100, 32, 64)$chunk_steps, 100L)   # the whole sequence
  expect_identical(plan_of(4096, 3, 8, 16)$chunk_steps, 1L)
  for (b in c(1, 7, 64, 300)) {
    p <- plan_of(b, 50, 16, 64)
    expect_gte(p$chunk_steps, 1L)
    expect_lte(p$chunk_steps, 50L)
  }
})

test_that("the input kernel is packed whole when it fits the memory budget or a layer keeps it", {
  expect_true(plan_of(64, 100, 64, 128)$pack_kernel)
  # one step of a huge input: the projection budget is B x T rows
  expect_false(plan_of(1, 1, 4096, 1024, elem = 8L)$pack_kernel)
  expect_true(plan_of(1, 1, 4096, 1024, elem = 8L, cache = TRUE)$pack_kernel)
})
