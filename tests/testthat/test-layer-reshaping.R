# Keras reshapes in row-major (C) order. The expectations below are written
# with explicit index arithmetic: entry (i_1, ..., i_k) (0-based) of a
# sample of shape (d_1, ..., d_k) is its flat entry
# sum_j i_j * prod(d_{j+1}, ..., d_k).

# 0-based row-major coordinates of flat index p in `dims`.
unravel_row_major <- function(p, dims) {
  out <- integer(length(dims))
  for (j in rev(seq_along(dims))) {
    out[j] <- p %% dims[j]
    p <- p %/% dims[j]
  }
  out
}

# The c(batch, target) array Keras' reshape makes of `x`, element by element.
reshape_by_index <- function(x, target) {
  d <- dim(x)
  rest <- d[-1L]
  out <- array(NA_real_, c(d[1L], target))
  for (b in seq_len(d[1L])) {
    for (p in seq_len(prod(rest)) - 1L) {
      from <- unravel_row_major(p, rest) + 1L
      to <- unravel_row_major(p, target) + 1L
      out[matrix(c(b, to), 1L)] <- x[matrix(c(b, from), 1L)]
    }
  }
  out
}

test_that("flatten orders each sample's entries with the last axis fastest", {
  x <- array(runif(2 * 3 * 4 * 5), c(2, 3, 4, 5))
  y <- layer_flatten()(x)
  expect_identical(dim(y), c(2L, 60L))
  for (b in 1:2) for (i in 1:3) for (j in 1:4) for (k in 1:5) {
    expect_identical(y[b, (i - 1) * 20 + (j - 1) * 5 + k], x[b, i, j, k])
  }
  expect_identical(y, reshape_by_index(x, 60L))
  # the keras example: (10, 64) -> 640
  expect_identical(dim(layer_flatten()(array(0, c(1, 10, 64)))), c(1L, 640L))
  # a (batch, n) matrix is unchanged; integers come out as doubles
  m <- matrix(1:6, 2)
  expect_identical(layer_flatten()(m), matrix(as.numeric(1:6), 2))
  # channels_first: (batch, channels, a, b) is read as (batch, a, b, channels)
  z <- array(runif(2 * 3 * 4 * 2), c(2, 3, 4, 2))
  yc <- layer_flatten(data_format = "channels_first")(z)
  for (b in 1:2) for (ch in 1:3) for (i in 1:4) for (j in 1:2) {
    expect_identical(yc[b, ((i - 1) * 2 + (j - 1)) * 3 + ch], z[b, ch, i, j])
  }
})

test_that("reshape follows Keras' row-major order and infers one -1", {
  x <- matrix(as.numeric(1:24), 2, 12, byrow = TRUE)
  y <- layer_reshape(target_shape = c(3, 4))(x)
  expect_identical(dim(y), c(2L, 3L, 4L))
  # the first row of each sample holds its first four columns
  expect_identical(y[1, 1, ], c(1, 2, 3, 4))
  expect_identical(y[2, 3, ], c(21, 22, 23, 24))
  expect_identical(y, reshape_by_index(x, c(3L, 4L)))
  expect_identical(dim(layer_reshape(target_shape = c(-1, 2, 2))(x)), c(2L, 3L, 2L, 2L))
  z <- array(runif(3 * 4 * 6), c(3, 4, 6))
  for (target in list(c(8L, 3L), c(2L, 3L, 4L), 24L, c(6L, 4L))) {
    expect_identical(layer_reshape(target_shape = target)(z), reshape_by_index(z, target))
  }
  # NA and a keras3-style list mean the same as -1
  expect_identical(layer_reshape(target_shape = c(NA, 3))(z), reshape_by_index(z, c(8L, 3L)))
  expect_identical(layer_reshape(target_shape = list(2L, NULL))(z), reshape_by_index(z, c(2L, 12L)))
  # reshaping back restores the input
  expect_identical(layer_reshape(target_shape = c(4, 6))(layer_flatten()(z)), z)
})

test_that("permute is aperm over the non-batch axes, counted from 1", {
  x <- array(runif(2 * 3 * 4 * 5), c(2, 3, 4, 5))
  for (dims in list(c(1L, 2L, 3L), c(3L, 1L, 2L), c(2L, 3L, 1L), c(3L, 2L, 1L))) {
    expect_identical(layer_permute(dims = dims)(x), aperm(x, c(1L, dims + 1L)))
  }
  # the keras example: (10, 64) -> (64, 10)
  expect_identical(dim(layer_permute(dims = c(2, 1))(array(0, c(1, 10, 64)))), c(1L, 64L, 10L))
  expect_identical(layer_permute(dims = list(2L, 1L))(x[, , , 1]), aperm(x[, , , 1], c(1, 3, 2)))
})

test_that("repeat_vector repeats each row along a new time axis", {
  x <- matrix(runif(3 * 4), 3, 4)
  y <- layer_repeat_vector(n = 5)(x)
  expect_identical(dim(y), c(3L, 5L, 4L))
  for (t in 1:5) expect_identical(y[, t, ], x)
  expect_identical(dim(layer_repeat_vector(n = 1)(x)), c(3L, 1L, 4L))
})

test_that("masks stop at the reshaping layers, as in Keras", {
  x <- array(runif(2 * 4 * 3), c(2, 4, 3))
  mask <- matrix(c(TRUE, TRUE, TRUE, FALSE), 2, 4)
  for (layer in list(layer_flatten(), layer_reshape(target_shape = c(3, 4)),
                     layer_permute(dims = c(2, 1)))) {
    expect_null(gru:::layer_forward(layer, x, mask = mask)$mask)
  }
  expect_null(gru:::layer_forward(layer_repeat_vector(n = 2), x[, 1, ], mask = mask)$mask)
})

test_that("gradients through every reshaping layer match finite differences", {
  set.seed(11)
  x <- array(rnorm(3 * 4 * 2), c(3, 4, 2))
  y <- array(rnorm(3 * 3), c(3, 3, 1))
  model <- keras_model_sequential(input_shape = c(4, 2)) |>
    layer_gru(3, dtype = "float64", return_sequences = TRUE) |>  # (3, 4, 3)
    layer_permute(dims = c(2, 1)) |>                            # (3, 3, 4)
    layer_reshape(target_shape = c(2, -1)) |>                   # (3, 2, 6)
    layer_flatten() |>                                          # (3, 12)
    layer_dense(2, dtype = "float64") |>
    layer_repeat_vector(n = 3) |>                               # (3, 3, 2)
    layer_gru(2, dtype = "float64", return_sequences = TRUE) |>
    layer_dense(1, dtype = "float64")
  expect_model_gradients(model, x, y, "mse")
  # channels_first flattening, whose backward moves the channels back
  cf <- keras_model_sequential(input_shape = c(4, 2)) |>
    layer_gru(3, dtype = "float64", return_sequences = TRUE) |>
    layer_reshape(target_shape = c(3, 2, 2)) |>
    layer_flatten(data_format = "channels_first") |>
    layer_dense(1, dtype = "float64")
  expect_model_gradients(cf, x, matrix(rnorm(3), 3), "mse")
  # the input gradient is the output gradient put back in place
  flat <- layer_flatten()
  run <- gru:::layer_train_forward(flat, x)
  g <- matrix(runif(3 * 8), 3, 8)
  expect_identical(gru:::layer_backward(flat, run$cache, g)$inputs,
                   layer_reshape(target_shape = c(4, 2))(g))
})

test_that("summary shows Keras' output shapes and no parameters", {
  model <- keras_model_sequential(input_shape = c(10, 64), name = "shapes") |>
    layer_permute(dims = c(2, 1), name = "p") |>
    layer_reshape(target_shape = c(-1, 32), name = "r") |>
    layer_flatten(name = "f") |>
    layer_repeat_vector(n = 3, name = "rv")
  s <- summary(model)
  expect_identical(s$output_shape, c("(NA, 64, 10)", "(NA, 20, 32)", "(NA, 640)", "(NA, 3, 640)"))
  expect_identical(s$type, c("Permute", "Reshape", "Flatten", "RepeatVector"))
  expect_identical(s$params, rep(0L, 4))
  expect_identical(model$count_params(), 0L)
  # an unknown axis stays unknown where it matters
  free <- keras_model_sequential(input_shape = c(NA, 4)) |>
    layer_reshape(target_shape = c(-1, 2)) |>
    layer_flatten()
  expect_identical(summary(free)$output_shape, c("(NA, NA, 2)", "(NA, NA)"))
  expect_output(print(model$layers[[2]]), "<reshape layer \"r\"> target_shape \\(-1, 32\\)")
})

test_that("configs carry Keras' keys and round-trip", {
  layers <- list(
    layer_flatten(name = "f", dtype = "float64"),
    layer_flatten(data_format = "channels_first", name = "fc"),
    layer_reshape(target_shape = c(2, -1), name = "r"),
    layer_permute(dims = c(2, 1), name = "p"),
    layer_repeat_vector(n = 3, name = "rv")
  )
  keys <- list(c("name", "trainable", "dtype", "data_format"),
               c("name", "trainable", "dtype", "data_format"),
               c("name", "trainable", "dtype", "target_shape"),
               c("name", "trainable", "dtype", "dims"),
               c("name", "trainable", "dtype", "n"))
  classes <- c("Flatten", "Flatten", "Reshape", "Permute", "RepeatVector")
  for (i in seq_along(layers)) {
    cfg <- get_config(layers[[i]])
    expect_identical(names(cfg), keys[[i]])
    expect_identical(attr(cfg, "class_name"), classes[i])
    expect_identical(get_config(from_config(cfg)), cfg)
  }
  expect_identical(get_config(layers[[1]])$data_format, "channels_last")
  expect_identical(get_config(layers[[1]])$dtype, "float64")
  expect_identical(get_config(layers[[3]])$target_shape, list(2L, -1L))
  expect_identical(get_config(layers[[4]])$dims, list(2L, 1L))
  # a model of them predicts the same after from_config() and set_weights()
  x <- array(runif(5 * 4 * 2), c(5, 4, 2))
  model <- keras_model_sequential(input_shape = c(4, 2)) |>
    layer_gru(3, return_sequences = TRUE) |>
    layer_permute(dims = c(2, 1)) |>
    layer_flatten() |>
    layer_repeat_vector(n = 2) |>
    layer_reshape(target_shape = c(4, -1)) |>
    layer_dense(1)
  copy <- from_config(get_config(model))
  set_weights(copy, get_weights(model))
  expect_identical(predict(copy, x), predict(model, x))
})

test_that("Keras JSON configs build the layers", {
  skip_if_not_installed("jsonlite")
  json <- '[
    {"class_name": "Reshape", "config": {"name": "reshape", "trainable": true,
      "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}},
      "target_shape": [3, 4]}},
    {"class_name": "Permute", "config": {"name": "permute", "trainable": true,
      "dtype": "float32", "dims": [2, 1]}},
    {"class_name": "Flatten", "config": {"name": "flatten", "trainable": true,
      "dtype": "float32", "data_format": "channels_last"}},
    {"class_name": "RepeatVector", "config": {"name": "repeat_vector", "trainable": true,
      "dtype": "float32", "n": 2}}]'
  cfgs <- jsonlite::fromJSON(json, simplifyVector = FALSE)
  layers <- lapply(cfgs, from_config)
  x <- matrix(runif(2 * 12), 2, 12)
  y <- layers[[1]](x)
  expect_identical(y, reshape_by_index(x, c(3L, 4L)))
  expect_identical(layers[[2]](y), aperm(y, c(1, 3, 2)))
  expect_identical(layers[[3]](y), x)
  expect_identical(dim(layers[[4]](x)), c(2L, 2L, 12L))
  expect_identical(
    as.character(jsonlite::toJSON(get_config(layer_reshape(target_shape = 12))$target_shape,
                                  auto_unbox = TRUE)),
    "[12]"
  )
})

test_that("bad arguments and shapes give classed errors", {
  expect_error(layer_flatten(data_format = "nhwc"), class = "gru_error_input")
  expect_error(layer_flatten(units = 2), class = "gru_error_unknown_argument")
  expect_error(layer_reshape(), class = "gru_error_input")
  expect_error(layer_reshape(c(3, 4)), class = "gru_error_input")
  expect_error(layer_reshape(target_shape = c(-1, -1)), class = "gru_error_input")
  expect_error(layer_reshape(target_shape = c(0, 3)), class = "gru_error_input")
  expect_error(layer_reshape(target_shape = c(1.5, 3)), class = "gru_error_input")
  expect_error(layer_reshape(target_shape = "a"), class = "gru_error_input")
  expect_error(layer_permute(), class = "gru_error_input")
  expect_error(layer_permute(dims = c(1, 3)), class = "gru_error_input")
  expect_error(layer_permute(dims = c(0, 1)), class = "gru_error_input")
  expect_error(layer_permute(dims = c(1, 1)), class = "gru_error_input")
  expect_error(layer_repeat_vector(), class = "gru_error_input")
  expect_error(layer_repeat_vector(3), class = "gru_error_input")
  expect_error(layer_repeat_vector(n = 0), class = "gru_error_input")
  x <- array(runif(2 * 3 * 4), c(2, 3, 4))
  expect_error(layer_reshape(target_shape = c(5, 2))(x), class = "gru_error_shape")
  expect_error(layer_reshape(target_shape = c(5, -1))(x), class = "gru_error_shape")
  expect_error(layer_permute(dims = c(2, 1, 3))(x), class = "gru_error_shape")
  expect_error(layer_repeat_vector(n = 2)(x), class = "gru_error_shape")
  expect_error(layer_flatten()("a"), class = "gru_error_input")
  expect_error(
    keras_model_sequential(input_shape = c(3, 4)) |> layer_reshape(target_shape = c(5, -1)),
    class = "gru_error_shape"
  )
  expect_error(
    keras_model_sequential(input_shape = c(3, 4)) |> layer_repeat_vector(n = 2),
    class = "gru_error_shape"
  )
  expect_snapshot(error = TRUE, {
    layer_repeat_vector(3)
    layer_reshape(target_shape = c(-1, -1))
    layer_permute(dims = c(1, 3))
    layer_reshape(target_shape = c(5, -1), name = "r")(x)
    layer_reshape(target_shape = c(5, 2), name = "r")(x)
    layer_permute(dims = c(2, 1, 3), name = "p")(x)
    keras_model_sequential(input_shape = c(3, 4), name = "m") |>
      layer_repeat_vector(n = 2, name = "rv")
  })
})
