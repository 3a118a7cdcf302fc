# Pooling against Keras' documented arithmetic, written out here as loops:
# window o covers input steps o * s - pad_left + (0:(p - 1)), out_steps is
# floor((steps - p) / s) + 1 ("valid") or ceiling(steps / s) ("same", which
# pads max((out - 1) s + p - steps, 0) steps, the smaller half on the left);
# padded steps never win a max and do not count in an average.

pool_reference <- function(x, pool, strides = pool, padding = "valid", mode = "max") {
  B <- dim(x)[1]; L <- dim(x)[2]; C <- dim(x)[3]
  if (padding == "valid") {
    out <- floor((L - pool) / strides) + 1
    left <- 0
  } else {
    out <- ceiling(L / strides)
    left <- floor(max((out - 1) * strides + pool - L, 0) / 2)
  }
  y <- array(0, c(B, out, C))
  for (b in seq_len(B)) for (o in seq_len(out)) for (c in seq_len(C)) {
    t <- (o - 1) * strides - left + seq_len(pool)
    t <- t[t >= 1 & t <= L]
    v <- x[b, t, c]
    y[b, o, c] <- if (mode == "max") max(v) else mean(v)
  }
  y
}

test_that("hand-checkable pooling for each mode and padding", {
  x <- array(c(1, 5, 2, 8, 3, 4), c(1, 6, 1))
  v <- function(y) as.vector(y)
  expect_identical(v(layer_max_pooling_1d(x)), c(5, 8, 4))
  expect_identical(v(layer_average_pooling_1d(x, 2)), c(3, 5, 3.5))
  expect_identical(v(layer_max_pooling_1d(x, 4, strides = 1)), c(8, 8, 8))
  expect_identical(v(layer_max_pooling_1d(x, 4)), 8)
  # same, pool 4, strides 2: 3 windows, 2 padding steps, 1 on the left:
  # steps {1, 2, 3}, {2, 3, 4, 5}, {4, 5, 6}
  expect_equal(v(layer_average_pooling_1d(x, 4, strides = 2, padding = "same")),
               c(8 / 3, 18 / 4, 15 / 3))
  expect_identical(v(layer_max_pooling_1d(x, 4, strides = 2, padding = "same")), c(5, 8, 8))
  # same, pool 3, strides 1: one padding step each side
  expect_equal(v(layer_average_pooling_1d(x, 3, strides = 1, padding = "same")),
               c(6 / 2, 8 / 3, 15 / 3, 13 / 3, 15 / 3, 7 / 2))
  # same, pool 2, strides 1: the padding step goes on the right
  expect_identical(v(layer_max_pooling_1d(x, 2, strides = 1, padding = "same")),
                   c(5, 5, 8, 8, 4, 4))
  expect_identical(v(layer_max_pooling_1d(x, 2, padding = "VALID")), c(5, 8, 4))
  y <- array(c(1, 2, 3, 4, 5, 6), c(1, 3, 2))   # channels (1, 2, 3) and (4, 5, 6)
  expect_identical(layer_global_average_pooling_1d(y), matrix(c(2, 5), 1))
  expect_identical(layer_global_max_pooling_1d(y), matrix(c(3, 6), 1))
  expect_identical(layer_global_max_pooling_1d(y, keepdims = TRUE), array(c(3, 6), c(1, 1, 2)))
  avg <- layer_global_average_pooling_1d()
  expect_identical(avg(y, mask = matrix(c(TRUE, FALSE, TRUE), 1)), matrix(c(2, 5), 1))
  expect_identical(avg(y, mask = matrix(c(TRUE, TRUE, FALSE), 1)), matrix(c(1.5, 4.5), 1))
  # every step masked: 0 / 0, as Keras computes it
  expect_true(all(is.nan(avg(y, mask = matrix(FALSE, 1, 3)))))
})

test_that("pooling matches the loops for every size, stride and padding", {
  set.seed(1)
  x <- array(rnorm(3 * 10 * 4), c(3, 10, 4))
  for (mode in c("max", "average")) {
    make <- if (mode == "max") layer_max_pooling_1d else layer_average_pooling_1d
    for (padding in c("valid", "same")) {
      for (pool in 1:4) {
        for (strides in list(NULL, 1, 2, 3)) {
          info <- paste(mode, padding, pool, format(strides))
          y <- make(x, pool_size = pool, strides = strides, padding = padding)
          ref <- pool_reference(x, pool, strides %||% pool, padding,
                                if (mode == "max") "max" else "mean")
          expect_equal(y, ref, tolerance = 1e-14, info = info)
          cf <- make(aperm(x, c(1, 3, 2)), pool_size = pool, strides = strides,
                     padding = padding, data_format = "channels_first")
          expect_equal(cf, aperm(ref, c(1, 3, 2)), tolerance = 1e-14, info = info)
        }
      }
    }
  }
  mask <- matrix(runif(3 * 10) > 0.3, 3, 10)
  mask[, 1] <- TRUE
  avg <- layer_global_average_pooling_1d(keepdims = TRUE)(x, mask = mask)
  ref <- array(0, c(3, 1, 4))
  for (b in 1:3) for (c in 1:4) ref[b, 1, c] <- mean(x[b, mask[b, ], c])
  expect_equal(avg, ref, tolerance = 1e-14)
  expect_equal(layer_global_max_pooling_1d(x), apply(x, c(1, 3), max))
  expect_equal(layer_global_average_pooling_1d(x), apply(x, c(1, 3), mean))
  xf <- aperm(x, c(1, 3, 2))
  expect_equal(layer_global_average_pooling_1d(xf, data_format = "channels_first"),
               apply(x, c(1, 3), mean))
  expect_equal(layer_global_max_pooling_1d(xf, data_format = "channels_first", keepdims = TRUE),
               array(apply(x, c(1, 3), max), c(3, 4, 1)))
})

test_that("masks: only global average pooling reads them, none passes them on", {
  x <- array(1, c(2, 6, 3))
  mask <- matrix(TRUE, 2, 6)
  for (layer in list(layer_max_pooling_1d(), layer_average_pooling_1d(pool_size = 2),
                     layer_global_max_pooling_1d(), layer_global_average_pooling_1d())) {
    expect_null(layer$compute_mask(x, mask))
  }
  # Through a model: the padded tokens do not count in the mean.
  tokens <- rbind(c(3, 1, 4, 0, 0), c(2, 0, 0, 0, 0))
  model <- keras_model_sequential(input_shape = 5) |>
    layer_embedding(5, 2, mask_zero = TRUE, name = "emb") |>
    layer_global_average_pooling_1d()
  e <- get_weights(model)[[1]]
  expect_equal(predict(model, tokens),
               rbind(colMeans(e[c(3, 1, 4) + 1, ]), e[2 + 1, ]))
  expect_error(layer_global_average_pooling_1d()(x, mask = matrix(TRUE, 2, 5)),
               class = "gru_error_mask")
})

test_that("gradients match central differences (float64)", {
  set.seed(2)
  x <- array(rnorm(2 * 9 * 3), c(2, 9, 3))
  heads <- list(
    function(m) layer_max_pooling_1d(m, 2),
    function(m) layer_max_pooling_1d(m, 3, strides = 2, padding = "same"),
    function(m) layer_average_pooling_1d(m, 3, strides = 1, padding = "same"),
    function(m) layer_average_pooling_1d(m, 2, strides = 3),
    function(m) layer_max_pooling_1d(m, 2, data_format = "channels_first"),
    function(m) layer_global_max_pooling_1d(m),
    function(m) layer_global_average_pooling_1d(m, keepdims = TRUE)
  )
  for (head in heads) {
    # The conv's weight gradients run through the pooling's input gradient.
    model <- keras_model_sequential(input_shape = c(9, 3)) |>
      layer_conv_1d(4, 2, padding = "same", bias_initializer = "random_normal",
                    dtype = "float64") |>
      head()
    out <- model_output_shape(model_self(model))
    y <- array(rnorm(prod(c(2, out[-1]))), c(2, out[-1]))
    expect_model_gradients(model, x, y, "mse")
  }
  # Global average over a mask: the embedding's gradient comes through it.
  tokens <- rbind(c(3, 1, 4, 0), c(2, 2, 0, 0), c(1, 4, 3, 2))
  model <- keras_model_sequential(input_shape = 4) |>
    layer_embedding(5, 3, mask_zero = TRUE) |>
    layer_global_average_pooling_1d() |>
    layer_dense(2, activation = "tanh", dtype = "float64")
  expect_model_gradients(model, tokens, matrix(rnorm(6), 3, 2), "mse")
  # Ties in a global max share the gradient.
  tie <- array(c(1, 3, 3, 0), c(1, 4, 1))
  model <- keras_model_sequential(input_shape = c(4, 1)) |>
    layer_global_max_pooling_1d()
  run <- graph_forward(model_graph(model_self(model)), list(tie), train = TRUE)
  back <- graph_backward(model_graph(model_self(model)), run, list(matrix(1)),
                         need_inputs = TRUE)
  expect_equal(as.vector(back$inputs[[1]]), c(0, 0.5, 0.5, 0))
})

test_that("shapes, configs and summary follow Keras", {
  model <- keras_model_sequential(input_shape = c(11, 4), name = "pools") |>
    layer_max_pooling_1d(name = "p1") |>
    layer_average_pooling_1d(2, strides = 1, padding = "same", name = "p2") |>
    layer_global_max_pooling_1d(keepdims = TRUE, name = "p3") |>
    layer_global_average_pooling_1d(name = "p4")
  s <- summary(model)
  expect_identical(s$output_shape, c("(NA, 5, 4)", "(NA, 5, 4)", "(NA, 1, 4)", "(NA, 4)"))
  expect_identical(s$type, c("MaxPooling1D", "AveragePooling1D", "GlobalMaxPooling1D",
                             "GlobalAveragePooling1D"))
  expect_identical(s$params, rep(0L, 4))
  mp <- layer_max_pooling_1d(pool_size = 3, name = "mp")
  cfg <- get_config(mp)
  expect_identical(attr(cfg, "class_name"), "MaxPooling1D")
  expect_identical(names(cfg), c("name", "trainable", "dtype", "pool_size", "padding",
                                 "strides", "data_format"))
  expect_identical(cfg$strides, list(3L))
  expect_identical(get_config(from_config(cfg)), cfg)
  ap <- layer_average_pooling_1d(pool_size = 4, strides = 2, padding = "same",
                                 data_format = "channels_first", name = "ap")
  expect_identical(get_config(from_config(get_config(ap))), get_config(ap))
  gp <- layer_global_average_pooling_1d(keepdims = TRUE, name = "gp")
  cfg <- get_config(gp)
  expect_identical(names(cfg), c("name", "trainable", "dtype", "data_format", "keepdims"))
  expect_identical(get_config(from_config(cfg)), cfg)
  keras_cfg <- list(name = "max_pooling1d", trainable = TRUE, dtype = "float32",
                    pool_size = list(2L), padding = "valid", strides = list(1L),
                    data_format = "channels_last")
  kp <- from_config(list(class_name = "MaxPooling1D", config = keras_cfg))
  expect_identical(dim(kp(array(0, c(1, 5, 2)))), c(1L, 4L, 2L))
  gm <- from_config(list(class_name = "GlobalMaxPooling1D",
                         config = list(name = "g", data_format = "channels_last",
                                       keepdims = FALSE)))
  expect_identical(dim(gm(array(0, c(2, 5, 3)))), c(2L, 3L))
  expect_output(print(mp), "<max_pooling1d layer \"mp\"> pool_size 3, strides 3, padding valid")
  expect_output(print(gp), "<global_average_pooling1d layer \"gp\"> keepdims")
  expect_match(layer_output_shape(mp, c(NA, 2, 3)), "fewer than pool_size 3")
  expect_identical(layer_output_shape(mp, c(NA, NA, 3)), c(NA, NA, 3))
})

test_that("bad arguments and shapes raise classed errors", {
  expect_error(layer_average_pooling_1d(), class = "gru_error_input")
  expect_error(layer_average_pooling_1d(3), class = "gru_error_input")
  expect_error(layer_max_pooling_1d(3), class = "gru_error_input")
  expect_error(layer_max_pooling_1d(pool_size = 0), class = "gru_error_input")
  expect_error(layer_max_pooling_1d(strides = 1.5), class = "gru_error_input")
  expect_error(layer_max_pooling_1d(padding = "causal"), class = "gru_error_input")
  expect_error(layer_max_pooling_1d(data_format = "nwc"), class = "gru_error_input")
  expect_error(layer_max_pooling_1d(units = 2), class = "gru_error_unknown_argument")
  expect_error(layer_global_max_pooling_1d(keepdims = NA), class = "gru_error_input")
  expect_error(layer_global_average_pooling_1d(pool_size = 2),
               class = "gru_error_unknown_argument")
  mp <- layer_max_pooling_1d(pool_size = 3, name = "mp")
  expect_error(mp(array(0, c(1, 2, 2))), class = "gru_error_shape")
  expect_error(mp(matrix(0, 2, 2)), class = "gru_error_shape")
  expect_error(layer_global_max_pooling_1d()(matrix(0, 2, 2)), class = "gru_error_shape")
  expect_snapshot(error = TRUE, {
    mp(array(0, c(1, 2, 2)))
    layer_average_pooling_1d(3)
  })
})
