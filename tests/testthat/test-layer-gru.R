sigmoid <- function(x) 1 / (1 + exp(-x))

# One unit, one feature: the equations written out by hand.
hand_weights <- list(
  kernel = matrix(c(0.5, -0.5, 1), 1, 3),
  recurrent_kernel = matrix(c(0.2, 0.3, -0.4), 1, 3),
  bias = rbind(c(0.1, 0, -0.1), c(0, 0.2, 0.1))
)

test_that("a hand-checked case (reset_after = TRUE) matches the equations", {
  layer <- layer_gru(units = 1, return_sequences = TRUE, dtype = "float64")
  layer$set_weights(hand_weights)
  x <- array(c(1, 2), c(1, 2, 1))
  # step 1, h0 = 0
  z1 <- sigmoid(0.5 * 1 + 0.1 + 0.2 * 0 + 0)
  r1 <- sigmoid(-0.5 * 1 + 0 + 0.3 * 0 + 0.2)
  hh1 <- tanh(1 * 1 - 0.1 + r1 * (-0.4 * 0 + 0.1))
  h1 <- z1 * 0 + (1 - z1) * hh1
  # step 2
  z2 <- sigmoid(0.5 * 2 + 0.1 + 0.2 * h1 + 0)
  r2 <- sigmoid(-0.5 * 2 + 0 + 0.3 * h1 + 0.2)
  hh2 <- tanh(1 * 2 - 0.1 + r2 * (-0.4 * h1 + 0.1))
  h2 <- z2 * h1 + (1 - z2) * hh2
  out <- layer(x)
  expect_equal(dim(out), c(1L, 2L, 1L))
  expect_equal(as.numeric(out), c(h1, h2), tolerance = 1e-12)
  # float32 agrees to float32 rounding
  layer32 <- layer_gru(units = 1, return_sequences = TRUE)
  layer32$set_weights(hand_weights)
  expect_equal(as.numeric(layer32(x)), c(h1, h2), tolerance = 1e-6)
})

test_that("a hand-checked case (reset_after = FALSE) matches the equations", {
  layer <- layer_gru(units = 1, reset_after = FALSE, dtype = "float64")
  layer$set_weights(list(hand_weights$kernel, hand_weights$recurrent_kernel,
                         c(0.1, 0, -0.1)))
  x <- array(c(1, 2), c(1, 2, 1))
  h <- 0
  for (xt in c(1, 2)) {
    z <- sigmoid(0.5 * xt + 0.1 + 0.2 * h)
    r <- sigmoid(-0.5 * xt + 0 + 0.3 * h)
    hh <- tanh(1 * xt - 0.1 + (r * h) * -0.4)
    h <- z * h + (1 - z) * hh
  }
  expect_equal(as.numeric(layer(x)), h, tolerance = 1e-12)
})

test_that("the return forms follow keras3 and keep size-1 dimensions", {
  x <- array(runif(1 * 3 * 2), c(1, 3, 2))
  expect_equal(dim(layer_gru(x, 1)), c(1L, 1L))
  expect_equal(dim(layer_gru(x, 4, return_sequences = TRUE)), c(1L, 3L, 4L))
  res <- layer_gru(x, 4, return_state = TRUE)
  expect_type(res, "list")
  expect_length(res, 2L)
  expect_equal(dim(res[[1]]), c(1L, 4L))
  expect_equal(dim(res[[2]]), c(1L, 4L))
  expect_equal(res[[1]], res[[2]])
  res <- layer_gru(x, 4, return_sequences = TRUE, return_state = TRUE)
  expect_equal(dim(res[[1]]), c(1L, 3L, 4L))
  expect_equal(res[[1]][, 3, , drop = FALSE][1, 1, ], res[[2]][1, ])
})

test_that("zeallot destructures list(output, state)", {
  skip_if_not_installed("zeallot")
  `%<-%` <- zeallot::`%<-%`
  layer <- layer_gru(units = 3, return_sequences = TRUE, return_state = TRUE)
  c(out, state) %<-% layer(array(1, c(2, 4, 5)))
  expect_equal(dim(out), c(2L, 4L, 3L))
  expect_equal(dim(state), c(2L, 3L))
})

test_that("the pipe applies a new layer; a missing object returns the layer", {
  x <- array(runif(2 * 3 * 4), c(2, 3, 4))
  expect_equal(dim(x |> layer_gru(5)), c(2L, 5L))
  layer <- layer_gru(units = 5)
  expect_s3_class(layer, "gru_layer")
  expect_false(layer$built)
  expect_identical(layer_gru(NULL, 5)$units, 5L)
})

test_that("weights are created on first call with Keras' shapes and round-trip", {
  layer <- layer_gru(units = 3)
  expect_equal(layer$get_weights(), list())
  layer(array(0, c(2, 4, 5)))
  w <- layer$get_weights()
  expect_named(w, c("kernel", "recurrent_kernel", "bias"))
  expect_equal(dim(w$kernel), c(5L, 9L))
  expect_equal(dim(w$recurrent_kernel), c(3L, 9L))
  expect_equal(dim(w$bias), c(2L, 9L))
  expect_equal(layer$count_params(), 5L * 9L + 3L * 9L + 18L)
  expect_identical(layer$weights, w)

  w2 <- lapply(w, function(a) array(seq_along(a) / 100, dim(a)))
  layer$set_weights(unname(w2))
  expect_identical(layer$get_weights(), w2)
  # named in any order
  layer$set_weights(rev(w2))
  expect_identical(layer$get_weights(), w2)

  # reset_after = FALSE and no bias
  l2 <- layer_gru(units = 2, reset_after = FALSE, input_shape = c(NA, 3))
  expect_true(l2$built)
  expect_equal(dim(l2$get_weights()$bias), 6L)
  l3 <- layer_gru(units = 2, use_bias = FALSE, input_shape = c(4, 3))
  expect_named(l3$get_weights(), c("kernel", "recurrent_kernel"))
})

test_that("set_weights() builds an unbuilt layer and `weights =` sets them", {
  w <- list(matrix(0.1, 2, 6), matrix(0.2, 2, 6), matrix(0, 2, 6))
  layer <- layer_gru(units = 2)
  layer$set_weights(w)
  expect_true(layer$built)
  layer2 <- layer_gru(units = 2, weights = w)
  expect_equal(layer2$get_weights(), layer$get_weights())
  x <- array(runif(6), c(1, 3, 2))
  expect_equal(layer(x), layer2(x))
})

test_that("initializers draw with R's RNG, so set.seed() reproduces a layer", {
  x <- array(runif(2 * 3 * 4), c(2, 3, 4))
  set.seed(42)
  a <- layer_gru(x, 3)
  set.seed(42)
  b <- layer_gru(x, 3)
  expect_identical(a, b)
  l <- layer_gru(units = 3, input_shape = c(NA, 4))
  rk <- l$get_weights()$recurrent_kernel
  # orthogonal: the (3, 9) recurrent kernel has orthonormal rows
  expect_equal(rk %*% t(rk), diag(3), tolerance = 1e-10)
  k <- l$get_weights()$kernel
  expect_true(all(abs(k) <= sqrt(6 / (4 + 9))))
  expect_true(all(l$get_weights()$bias == 0))
})

test_that("initial_state is a matrix or a list of one, and a fully masked row returns it", {
  layer <- layer_gru(units = 2, return_sequences = TRUE, return_state = TRUE)
  x <- array(runif(2 * 3 * 2), c(2, 3, 2))
  h0 <- matrix(c(0.1, -0.2, 0.3, 0.4), 2, 2)
  a <- layer(x, initial_state = h0)
  b <- layer(x, initial_state = list(h0))
  expect_identical(a, b)
  mask <- rbind(c(TRUE, TRUE, TRUE), c(FALSE, FALSE, FALSE))
  res <- layer(x, mask = mask, initial_state = h0)
  expect_equal(res[[2]][2, ], h0[2, ], tolerance = 1e-7)
  for (t in 1:3) expect_equal(res[[1]][2, t, ], h0[2, ], tolerance = 1e-7)
  expect_equal(res[[1]][1, , ], a[[1]][1, , ])
})

test_that("masked steps carry the state and repeat or zero the output", {
  set.seed(1)
  x <- array(runif(1 * 4 * 3), c(1, 4, 3))
  mask <- matrix(c(TRUE, FALSE, TRUE, FALSE), 1)
  layer <- layer_gru(units = 2, return_sequences = TRUE)
  out <- layer(x, mask = mask)
  expect_equal(out[1, 2, ], out[1, 1, ])
  expect_equal(out[1, 4, ], out[1, 3, ])
  # a masked step equals dropping that step from the sequence, to float32
  # rounding: the shorter sequence's input projection is a product with other
  # row tiles, whose sums may round differently (a -O1 build differed by 2e-7)
  unmasked <- layer(x[, c(1, 3), , drop = FALSE])
  expect_equal(out[1, 3, ], unmasked[1, 2, ], tolerance = 1e-6)
  # numeric 0/1 masks are the same mask
  expect_identical(layer(x, mask = mask * 1), out)

  zero <- layer_gru(units = 2, return_sequences = TRUE, zero_output_for_mask = TRUE,
                    weights = layer$get_weights())
  outz <- zero(x, mask = mask)
  expect_equal(outz[1, c(2, 4), ], matrix(0, 2, 2))
  expect_equal(outz[1, c(1, 3), ], out[1, c(1, 3), ])
})

test_that("go_backwards returns the sequence in processing order", {
  set.seed(2)
  x <- array(runif(2 * 5 * 3), c(2, 5, 3))
  fwd <- layer_gru(units = 4, return_sequences = TRUE)
  fwd(x)
  bwd <- layer_gru(units = 4, return_sequences = TRUE, go_backwards = TRUE,
                   weights = fwd$get_weights())
  # float32: the input projection tiles rows, so a timestep may land in a
  # different tile when the order flips (1 ulp); float64 is exact here too.
  expect_equal(bwd(x), fwd(x[, 5:1, , drop = FALSE]), tolerance = 1e-6)
  bwd64 <- layer_gru(units = 4, return_sequences = TRUE, go_backwards = TRUE,
                     weights = fwd$get_weights(), dtype = "float64")
  fwd64 <- layer_gru(units = 4, return_sequences = TRUE,
                     weights = fwd$get_weights(), dtype = "float64")
  expect_equal(bwd64(x), fwd64(x[, 5:1, , drop = FALSE]), tolerance = 1e-14)
})

test_that("stateful layers carry the state, reset to zeros, and honour initial_state", {
  set.seed(3)
  x <- array(runif(2 * 6 * 3), c(2, 6, 3))
  ref <- layer_gru(units = 4)
  ref(x)
  st <- layer_gru(units = 4, stateful = TRUE, weights = ref$get_weights())
  st(x[, 1:3, , drop = FALSE])
  expect_equal(dim(st$states[[1]]), c(2L, 4L))
  expect_equal(st(x[, 4:6, , drop = FALSE]), ref(x), tolerance = 1e-6)
  st$reset_state()
  expect_equal(st(x), ref(x))
  st$reset_states()
  expect_equal(st$states[[1]], matrix(0, 2, 4))
  # an explicit initial_state overrides the carried one
  h0 <- matrix(0.5, 2, 4)
  expect_equal(st(x, initial_state = h0), ref(x, initial_state = h0))
  # reset_states(states) sets a given state
  st$reset_states(list(h0))
  expect_equal(st(x), ref(x, initial_state = h0))
})

test_that("dropout acts only in training, is reproducible with seed, and scales", {
  x <- array(runif(3 * 5 * 4), c(3, 5, 4))
  layer <- layer_gru(units = 3, dropout = 0.5, recurrent_dropout = 0.3, seed = 7)
  base <- layer(x)
  expect_identical(layer(x, training = FALSE), base)
  set.seed(1)
  a <- layer(x, training = TRUE)
  expect_false(isTRUE(all.equal(a, base)))
  same <- layer_gru(units = 3, dropout = 0.5, recurrent_dropout = 0.3, seed = 7,
                    weights = layer$get_weights())
  expect_identical(same(x, training = TRUE), a)
  # the seed gives the layer its own stream: the session's RNG is untouched
  set.seed(99)
  u1 <- runif(1)
  set.seed(99)
  same(x, training = TRUE)
  expect_identical(runif(1), u1)

  # dropout = 0.5 on inputs is x * mask / 0.5: a zero input column gives the
  # same result with or without dropout when recurrent dropout is off
  d <- layer_gru(units = 2, dropout = 0.5, seed = 1)
  z <- array(0, c(2, 3, 2))
  expect_equal(d(z, training = TRUE), d(z))
  # implementation 1 (one mask per gate) also runs and differs from 2
  i1 <- layer_gru(units = 3, dropout = 0.5, seed = 7, implementation = 1,
                  weights = layer$get_weights())
  i2 <- layer_gru(units = 3, dropout = 0.5, seed = 7, implementation = 2,
                  weights = layer$get_weights())
  expect_false(isTRUE(all.equal(i1(x, training = TRUE), i2(x, training = TRUE))))
  expect_equal(i1(x), i2(x))
})

test_that("the R-function activation path agrees with the engine", {
  set.seed(4)
  x <- array(rnorm(2 * 4 * 3), c(2, 4, 3))
  mask <- matrix(c(TRUE, TRUE, FALSE, TRUE, FALSE, TRUE, TRUE, TRUE), 2)
  for (ra in c(TRUE, FALSE)) for (gb in c(TRUE, FALSE)) {
    named <- layer_gru(units = 3, return_sequences = TRUE, reset_after = ra,
                       go_backwards = gb, dtype = "float64")
    named(x)
    custom <- layer_gru(units = 3, return_sequences = TRUE, reset_after = ra,
                        go_backwards = gb, activation = function(v) tanh(v),
                        recurrent_activation = function(v) 1 / (1 + exp(-v)),
                        weights = named$get_weights())
    expect_equal(custom(x, mask = mask), named(x, mask = mask), tolerance = 1e-12)
  }
})

test_that("float64 and float32 agree to float32 rounding", {
  set.seed(5)
  x <- array(rnorm(4 * 7 * 5), c(4, 7, 5))
  a <- layer_gru(units = 6, return_sequences = TRUE)
  b <- layer_gru(units = 6, return_sequences = TRUE, dtype = "float64")
  a(x)
  b$set_weights(a$get_weights())
  expect_equal(a(x), b(x), tolerance = 1e-5)
  expect_false(identical(a(x), b(x)))
})

test_that("unroll and implementation do not change inference numbers", {
  x <- array(runif(2 * 3 * 2), c(2, 3, 2))
  a <- layer_gru(units = 3)
  a(x)
  b <- layer_gru(units = 3, unroll = TRUE, implementation = 1, weights = a$get_weights())
  expect_identical(a(x), b(x))
})

test_that("config, names and printing", {
  layer <- layer_gru(units = 4, name = "encoder", return_sequences = TRUE)
  cfg <- layer$get_config()
  expect_identical(cfg$name, "encoder")
  expect_identical(cfg$units, 4L)
  expect_identical(cfg$activation, "tanh")
  expect_identical(cfg$recurrent_activation, "sigmoid")
  expect_identical(cfg$kernel_initializer$class_name, "GlorotUniform")
  expect_identical(cfg$recurrent_initializer$class_name, "Orthogonal")
  expect_true(cfg$reset_after)
  expect_identical(layer$name, "encoder")
  expect_true(layer$trainable)
  layer$trainable <- FALSE
  expect_false(layer$trainable)
  expect_match(format(layer)[1], "encoder")
  expect_match(paste(format(layer), collapse = "\n"), "not built")
  layer(array(0, c(1, 2, 3)))
  expect_match(paste(format(layer), collapse = "\n"), "built for 3 input features")
  expect_output(print(layer), "4 units")
  # automatic names are unique
  expect_false(identical(layer_gru(units = 1)$name, layer_gru(units = 1)$name))
  expect_null(layer_gru(units = 1)$not_a_member)
})

test_that("every named activation runs, with Keras' formulas", {
  x <- seq(-4, 4, by = 0.5)
  softplus <- function(v) log1p(exp(v))
  ref <- list(
    tanh = tanh(x), sigmoid = 1 / (1 + exp(-x)),
    hard_sigmoid = pmin(pmax(x + 3, 0), 6) / 6,
    hard_sigmoid_keras2 = pmin(pmax(0.2 * x + 0.5, 0), 1),
    relu = pmax(x, 0), linear = x, elu = ifelse(x > 0, x, exp(x) - 1),
    selu = 1.0507009873554805 * ifelse(x > 0, x, 1.6732632423543772 * (exp(x) - 1)),
    softplus = softplus(x), softsign = x / (1 + abs(x)), silu = x / (1 + exp(-x)),
    swish = x / (1 + exp(-x)), gelu = 0.5 * x * (1 + 2 * pnorm(x) - 1),
    exponential = exp(x), relu6 = pmin(pmax(x, 0), 6),
    hard_silu = x * pmin(pmax(x + 3, 0), 6) / 6,
    hard_swish = x * pmin(pmax(x + 3, 0), 6) / 6,
    mish = x * tanh(softplus(x)), log_sigmoid = -softplus(-x)
  )
  expect_setequal(names(ref), gru_activations())
  for (nm in names(ref)) {
    code <- gru:::resolve_activation(nm)$code
    expect_equal(gru:::cpp_activate(x, code, TRUE), ref[[nm]], tolerance = 1e-12,
                 label = nm)
    expect_equal(gru:::cpp_activate(x, code, FALSE), ref[[nm]], tolerance = 1e-6,
                 label = paste(nm, "float32"))
  }
  xx <- array(runif(12), c(2, 3, 2))
  for (nm in gru_activations()) {
    expect_equal(dim(layer_gru(xx, 2, activation = nm, recurrent_activation = nm)), c(2L, 2L))
  }
  expect_equal(dim(layer_gru(xx, 2, activation = NULL)), c(2L, 2L))
})

test_that("the per-layer engine memo follows weights and config, and is not saved", {
  set.seed(21)
  x <- array(stats::rnorm(2 * 4 * 3), c(2, 4, 3))
  layer <- layer_gru(units = 2, return_sequences = TRUE)
  y1 <- layer(x)
  self <- gru:::layer_self(layer)
  plan <- rlang::wref_value(self$engine_plan)$plan
  expect_true(rlang::is_reference(plan$weights, self$weights))
  layer(x, training = FALSE)
  expect_true(rlang::is_reference(rlang::wref_value(self$engine_plan)$plan, plan))

  # New weights (set_weights(), or an in-place edit as an optimizer makes)
  # reach the engine at the next call.
  fresh <- function(weights) {
    l <- layer_gru(units = 2, return_sequences = TRUE, weights = weights)
    l(x)
  }
  w <- layer$get_weights()
  w$bias[2, ] <- w$bias[2, ] + 0.5
  layer$set_weights(w)
  y2 <- layer(x)
  expect_false(isTRUE(all.equal(y2, y1)))
  expect_equal(y2, fresh(w))
  self$weights$kernel[1, 1] <- self$weights$kernel[1, 1] + 1
  expect_equal(layer(x), fresh(layer$get_weights()))
  expect_true(rlang::is_reference(rlang::wref_value(self$engine_plan)$plan$weights,
                                  self$weights))

  # A config change rebuilds it too (only name and trainable are assignable).
  layer$name <- "renamed"
  expect_equal(layer(x), fresh(layer$get_weights()))
  expect_identical(rlang::wref_value(self$engine_plan)$plan$config$name, "renamed")

  # saveRDS() writes it empty, so weights are not stored twice, and a read
  # layer rebuilds it.
  size <- function(l) length(serialize(l, NULL))
  unused <- layer_gru(units = 2, return_sequences = TRUE, weights = layer$get_weights())
  expect_lt(size(layer), size(unused) + 100)
  path <- tempfile(fileext = ".rds")
  on.exit(unlink(path))
  saveRDS(layer, path)
  back <- readRDS(path)
  expect_null(rlang::wref_value(gru:::layer_self(back)$engine_plan))
  expect_equal(back(x), layer(x))
})
