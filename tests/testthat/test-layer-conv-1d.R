# Conv1D against Keras' documented arithmetic, written out here as loops:
#   output[b, o, f] = bias[f] + sum_{k, c} x[b, o * s + k * d - pad_left, c] * kernel[k, c, f]
# (zero outside the input), with out_steps = floor((steps - d (K - 1) - 1) / s) + 1
# for "valid" and ceiling(steps / s) for "same" and "causal"; "same" pads
# max((out - 1) s + d (K - 1) + 1 - steps, 0) steps, the smaller half
# (rounded down) on the left, as TensorFlow and JAX do; "causal" pads
# d (K - 1) steps on the left.

conv_reference <- function(x, kernel, bias = NULL, strides = 1, padding = "valid",
                           dilation = 1, activation = identity) {
  B <- dim(x)[1]; L <- dim(x)[2]; C <- dim(x)[3]
  K <- dim(kernel)[1]; F <- dim(kernel)[3]
  span <- dilation * (K - 1) + 1
  if (padding == "valid") {
    out <- floor((L - span) / strides) + 1
    left <- 0
  } else {
    out <- ceiling(L / strides)
    left <- if (padding == "causal") span - 1 else
      floor(max((out - 1) * strides + span - L, 0) / 2)
  }
  y <- array(0, c(B, out, F))
  for (b in seq_len(B)) for (o in seq_len(out)) for (f in seq_len(F)) {
    acc <- if (is.null(bias)) 0 else bias[f]
    for (k in seq_len(K)) {
      t <- (o - 1) * strides + (k - 1) * dilation - left + 1
      if (t >= 1 && t <= L) {
        for (c in seq_len(C)) acc <- acc + x[b, t, c] * kernel[k, c, f]
      }
    }
    y[b, o, f] <- activation(acc)
  }
  y
}

# A one-channel, one-filter layer with the kernel `w` and no bias.
conv_with_kernel <- function(w, ...) {
  layer <- layer_conv_1d(filters = 1, kernel_size = length(w), use_bias = FALSE,
                         dtype = "float64", input_shape = c(NA, 1), ...)
  set_weights(layer, list(array(w, c(length(w), 1, 1))))
  layer
}

test_that("hand-checkable cases: each padding, strides and dilation", {
  x <- array(c(1, 2, 4, 7, 11), c(1, 5, 1))
  out <- function(layer) as.vector(layer(x))
  diff2 <- c(1, 0, -1)   # x[t] - x[t + 2]
  expect_equal(out(conv_with_kernel(diff2)), c(1 - 4, 2 - 7, 4 - 11))
  # same: one zero each side
  expect_equal(out(conv_with_kernel(diff2, padding = "same")),
               c(0 - 2, 1 - 4, 2 - 7, 4 - 11, 7 - 0))
  # causal: two zeros on the left, output t sees steps t - 2 .. t
  expect_equal(out(conv_with_kernel(diff2, padding = "causal")),
               c(0 - 1, 0 - 2, 1 - 4, 2 - 7, 4 - 11))
  expect_equal(out(conv_with_kernel(diff2, strides = 2)), c(1 - 4, 4 - 11))
  expect_equal(out(conv_with_kernel(diff2, dilation_rate = 2)), 1 - 11)
  expect_equal(out(conv_with_kernel(diff2, dilation_rate = 2, padding = "causal")),
               c(-1, -2, -4, -7, 1 - 11))
  # same with strides 2: 3 outputs, 2 padding steps, 1 on the left
  expect_equal(out(conv_with_kernel(diff2, strides = 2, padding = "same")),
               c(0 - 2, 2 - 7, 7 - 0))
  # same with an even kernel: the one padding step goes on the right
  expect_equal(out(conv_with_kernel(c(1, 10), padding = "same")),
               c(1 + 20, 2 + 40, 4 + 70, 7 + 110, 11 + 0))
})

test_that("conv1d matches the loops for every padding, stride and dilation", {
  set.seed(1)
  x <- array(rnorm(3 * 11 * 4), c(3, 11, 4))
  cases <- expand.grid(padding = c("valid", "same", "causal"), strides = 1:3,
                       dilation = 1:3, kernel = c(1, 2, 3), stringsAsFactors = FALSE)
  cases <- cases[cases$strides == 1 | cases$dilation == 1, ]
  for (i in seq_len(nrow(cases))) {
    cs <- cases[i, ]
    layer <- layer_conv_1d(filters = 5, kernel_size = cs$kernel, strides = cs$strides,
                           padding = cs$padding, dilation_rate = cs$dilation,
                           bias_initializer = "random_normal", dtype = "float64")
    y <- layer(x)
    w <- get_weights(layer)
    info <- paste(unlist(cs), collapse = " ")
    expect_equal(y, conv_reference(x, w$kernel, w$bias, cs$strides, cs$padding, cs$dilation),
                 tolerance = 1e-12, info = info)
  }
})

test_that("activations, no bias, float32 against float64, threads", {
  set.seed(2)
  x <- array(rnorm(2 * 9 * 3), c(2, 9, 3))
  l64 <- layer_conv_1d(filters = 4, kernel_size = 3, padding = "same",
                       activation = "tanh", dtype = "float64")
  y64 <- l64(x)
  w <- get_weights(l64)
  expect_equal(y64, conv_reference(x, w$kernel, w$bias, padding = "same",
                                   activation = tanh), tolerance = 1e-12)
  l32 <- layer_conv_1d(filters = 4, kernel_size = 3, padding = "same",
                       activation = "tanh", weights = w)
  expect_identical(get_config(l32)$dtype, "float32")
  y32 <- l32(x)
  expect_false(identical(y32, y64))
  expect_equal(y32, y64, tolerance = 1e-6)
  relu <- layer_conv_1d(filters = 4, kernel_size = 2, activation = "relu",
                        use_bias = FALSE, dtype = "float64")
  y <- relu(x)
  expect_equal(y, conv_reference(x, get_weights(relu)$kernel, NULL,
                                 activation = function(v) max(v, 0)))
  expect_length(get_weights(relu), 1L)
  soft <- layer_conv_1d(filters = 4, kernel_size = 2, activation = "softmax",
                        dtype = "float64")
  expect_equal(apply(soft(x), c(1, 2), sum), matrix(1, 2, 8))
  custom <- layer_conv_1d(filters = 4, kernel_size = 2, activation = function(v) 2 * v,
                          use_bias = FALSE, dtype = "float64",
                          weights = get_weights(relu))
  expect_equal(custom(x), 2 * conv_reference(x, get_weights(relu)$kernel))
  # Threads split the output positions; each is computed the same way.
  big <- array(rnorm(64 * 40 * 16), c(64, 40, 16))
  wide <- layer_conv_1d(filters = 32, kernel_size = 3, padding = "causal")
  old <- gru_threads(1)
  one <- wide(big)
  gru_threads(2)
  two <- wide(big)
  gru_threads(old)
  expect_identical(one, two)
})

test_that("shapes, parameter counts and summary follow Keras' formulas", {
  model <- keras_model_sequential(input_shape = c(20, 6), name = "convs") |>
    layer_conv_1d(8, 3, name = "c1") |>
    layer_conv_1d(4, 5, strides = 2, padding = "same", use_bias = FALSE, name = "c2") |>
    layer_conv_1d(2, 2, dilation_rate = 3, padding = "causal", name = "c3")
  s <- summary(model)
  expect_identical(s$output_shape, c("(NA, 18, 8)", "(NA, 9, 4)", "(NA, 9, 2)"))
  # kernel_size * input_channels * filters (+ filters with a bias)
  expect_identical(s$params, as.integer(c(3 * 6 * 8 + 8, 5 * 8 * 4, 2 * 4 * 2 + 2)))
  expect_identical(dim(predict(model, array(0, c(2, 20, 6)))), c(2L, 9L, 2L))
  free <- keras_model_sequential(input_shape = c(NA, 6)) |> layer_conv_1d(8, 3)
  expect_identical(summary(free)$output_shape, "(NA, NA, 8)")
  layer <- layer_conv_1d(filters = 8, kernel_size = 3)
  expect_identical(layer_output_shape(layer, c(NA, 10, 6)), c(NA, 8, 8))
  expect_match(layer_output_shape(layer, c(NA, 2, 6)), "fewer than the 3")
  expect_match(layer_output_shape(layer, c(NA, 6)), "3-D input")
  expect_false(layer$built)
  expect_error(layer$count_params(), class = "gru_error_not_built")
  layer(array(0, c(1, 4, 6)))
  expect_identical(layer$count_params(), 152L)
  expect_identical(lapply(get_weights(layer), dim), list(kernel = c(3L, 6L, 8L), bias = 8L))
})

test_that("get_config() and from_config() round-trip with Keras' keys", {
  layer <- layer_conv_1d(filters = 3, kernel_size = 4, strides = 2, padding = "SAME",
                         activation = "relu", kernel_regularizer = regularizer_l2(0.1),
                         name = "conv_cfg", dtype = "float64")
  cfg <- get_config(layer)
  expect_identical(attr(cfg, "class_name"), "Conv1D")
  expect_identical(names(cfg), c(
    "name", "trainable", "dtype", "filters", "kernel_size", "strides", "padding",
    "data_format", "dilation_rate", "groups", "activation", "use_bias",
    "kernel_initializer", "bias_initializer", "kernel_regularizer",
    "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint"
  ))
  expect_identical(cfg$kernel_size, list(4L))
  expect_identical(cfg$strides, list(2L))
  expect_identical(cfg$padding, "same")
  expect_identical(cfg$data_format, "channels_last")
  copy <- from_config(cfg)
  expect_identical(get_config(copy), cfg)
  # A config as a Keras JSON holds it (read with simplifyVector = FALSE).
  keras_cfg <- list(
    name = "conv1d", trainable = TRUE,
    dtype = list(module = "keras", class_name = "DTypePolicy",
                 config = list(name = "float32")),
    filters = 2L, kernel_size = list(3L), strides = list(1L), padding = "causal",
    data_format = "channels_last", dilation_rate = list(2L), groups = 1L,
    activation = "tanh", use_bias = FALSE,
    kernel_initializer = list(class_name = "GlorotUniform", config = list(seed = NULL)),
    bias_initializer = list(class_name = "Zeros", config = list()),
    kernel_regularizer = NULL, bias_regularizer = NULL, activity_regularizer = NULL,
    kernel_constraint = NULL, bias_constraint = NULL
  )
  k <- from_config(list(class_name = "Conv1D", config = keras_cfg))
  expect_identical(k$padding, "causal")
  expect_identical(k$dilation_rate, list(2L))
  expect_identical(dim(k(array(0, c(1, 5, 3)))), c(1L, 5L, 2L))
  expect_output(print(k), "<conv1d layer \"conv1d\"> 2 filters, kernel_size 3")
  # Weights round-trip, and an unbuilt layer is built from the kernel.
  w <- list(array(rnorm(3 * 4 * 2), c(3, 4, 2)), rnorm(2))
  fresh <- layer_conv_1d(filters = 2, kernel_size = 3)
  set_weights(fresh, w)
  expect_true(fresh$built)
  expect_identical(lapply(unname(get_weights(fresh)), as.vector), lapply(w, as.vector))
})

test_that("masks stop at conv1d, as in Keras 3", {
  tokens <- rbind(c(3, 1, 4, 0, 0), c(2, 2, 0, 0, 0))
  model <- keras_model_sequential(input_shape = 5) |>
    layer_embedding(5, 3, mask_zero = TRUE) |>
    layer_conv_1d(2, 2)
  run <- model_forward(model_self(model), tokens)
  expect_false(is.null(run$masks[[1]]))
  expect_null(run$masks[[2]])
  conv <- layer_conv_1d(filters = 2, kernel_size = 2)
  expect_null(conv$compute_mask(array(1, c(2, 5, 3)), matrix(TRUE, 2, 5)))
})

test_that("gradients match central differences (float64)", {
  set.seed(3)
  x <- array(rnorm(2 * 9 * 3), c(2, 9, 3))
  stacks <- list(
    list(list(padding = "valid"), list(padding = "same")),
    list(list(strides = 2, padding = "same"), list(strides = 3)),
    list(list(dilation_rate = 2, padding = "causal"), list(dilation_rate = 3, padding = "causal")),
    list(list(strides = 2, activation = "tanh"), list(padding = "same", activation = "softmax"))
  )
  for (st in stacks) {
    model <- keras_model_sequential(input_shape = c(9, 3))
    for (args in st) {
      model <- do.call(layer_conv_1d, c(list(model, filters = 3, kernel_size = 3,
                                             bias_initializer = "random_normal",
                                             dtype = "float64"), args))
    }
    out <- model_output_shape(model_self(model))
    y <- array(rnorm(prod(c(2, out[-1]))), c(2, out[-1]))
    expect_model_gradients(model, x, y, "mse")
  }
  # Into a dense head, without a bias.
  model <- keras_model_sequential(input_shape = c(9, 3)) |>
    layer_conv_1d(2, 4, strides = 2, use_bias = FALSE, dtype = "float64") |>
    layer_dense(1, dtype = "float64")
  expect_model_gradients(model, x, array(rnorm(2 * 3), c(2, 3, 1)), "mse")
})

test_that("float32 training gradients agree with float64", {
  set.seed(4)
  x <- array(rnorm(2 * 7 * 3), c(2, 7, 3))
  y <- array(rnorm(2 * 7 * 2), c(2, 7, 2))
  grads <- function(dtype) {
    set.seed(5)
    model <- keras_model_sequential(input_shape = c(7, 3)) |>
      layer_conv_1d(4, 3, padding = "causal", activation = "tanh", dtype = dtype) |>
      layer_conv_1d(2, 2, padding = "same", dtype = dtype)
    gradients(model, x, y, loss = "mse")
  }
  g32 <- grads("float32")
  g64 <- grads("float64")
  for (i in seq_along(g64)) expect_equal(g32[[i]], g64[[i]], tolerance = 1e-5)
  # Large enough for two threads (the products split their reduction).
  big <- array(rnorm(64 * 60 * 16), c(64, 60, 16))
  model <- keras_model_sequential(input_shape = c(60, 16)) |>
    layer_conv_1d(32, 3, padding = "same") |>
    layer_conv_1d(2, 3)
  target <- array(rnorm(64 * 58 * 2), c(64, 58, 2))
  old <- gru_threads(1)
  one <- gradients(model, big, target, loss = "mse")
  gru_threads(2)
  two <- gradients(model, big, target, loss = "mse")
  gru_threads(old)
  for (i in seq_along(one)) expect_equal(two[[i]], one[[i]], tolerance = 1e-5)
})

test_that("bad arguments and shapes raise classed errors", {
  expect_error(layer_conv_1d(filters = 2, kernel_size = 3, data_format = "channels_first"),
               class = "gru_error_unsupported")
  expect_error(layer_conv_1d(filters = 2, kernel_size = 3, groups = 2),
               class = "gru_error_unsupported")
  expect_error(layer_conv_1d(filters = 2, kernel_size = 3, strides = 2, dilation_rate = 2),
               class = "gru_error_input")
  expect_error(layer_conv_1d(filters = 2, kernel_size = 3, padding = "full"),
               class = "gru_error_input")
  expect_error(layer_conv_1d(filters = 2, kernel_size = 0), class = "gru_error_input")
  expect_error(layer_conv_1d(filters = 2, kernel_size = c(2, 3)), class = "gru_error_input")
  expect_error(layer_conv_1d(filters = 0, kernel_size = 2), class = "gru_error_input")
  expect_error(layer_conv_1d(filters = 2), class = "gru_error_input")
  expect_error(layer_conv_1d(kernel_size = 2), class = "gru_error_input")
  expect_error(layer_conv_1d(8), class = "gru_error_input")
  expect_error(layer_conv_1d(filters = 2, kernel_size = 2, data_format = "nhwc"),
               class = "gru_error_input")
  expect_error(layer_conv_1d(filters = 2, kernel_size = 2, units = 3),
               class = "gru_error_unknown_argument")
  layer <- layer_conv_1d(filters = 2, kernel_size = 3, name = "short")
  expect_error(layer(array(0, c(1, 2, 4))), class = "gru_error_shape")
  expect_error(layer(matrix(0, 2, 4)), class = "gru_error_shape")
  layer(array(0, c(1, 5, 4)))
  expect_error(layer(array(0, c(1, 5, 3))), class = "gru_error_shape")
  expect_error(set_weights(layer, list(array(0, c(3, 3, 2)), 0)), class = "gru_error_weights")
  expect_error(set_weights(layer_conv_1d(filters = 2, kernel_size = 3), list(matrix(0, 3, 2))),
               class = "gru_error_weights")
  expect_snapshot(error = TRUE, {
    layer(array(0, c(1, 2, 4)))
    layer_conv_1d(filters = 2, kernel_size = 3, data_format = "channels_first")
  })
})
