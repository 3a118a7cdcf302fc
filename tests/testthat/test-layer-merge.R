# Merge layers against Keras' documented semantics written out here: the
# elementwise formulas with size-1 broadcasting, concatenation along an
# axis, Keras 3's mask rules (keras/src/layers/merging/*.py since 3.4),
# gradients against finite differences through functional models, configs
# and training.

arr <- function(...) array(rnorm(prod(c(...))), c(...))

test_that("elementwise merges compute Keras' formulas on arrays", {
  set.seed(1)
  a <- arr(2, 3, 4)
  b <- arr(2, 3, 4)
  c3 <- arr(2, 3, 4)
  expect_equal(layer_add(list(a, b, c3)), a + b + c3)
  expect_equal(layer_add(a, b), a + b)
  expect_equal(layer_subtract(list(a, b)), a - b)
  expect_equal(layer_multiply(a, b, c3), a * b * c3)
  expect_equal(layer_average(list(a, b, c3)), (a + b + c3) / 3)
  expect_equal(layer_maximum(list(a, b, c3)), pmax(a, b, c3))
  expect_equal(layer_minimum(list(a, b, c3)), pmin(a, b, c3))
  # a single input is a list of one
  expect_equal(layer_add(a), a)
  # the layer itself, called on a list
  add <- layer_add(name = "plus")
  expect_s3_class(add, "gru_layer")
  expect_equal(add(list(a, b)), a + b)
  expect_identical(add$count_params(), 0L)
})

test_that("elementwise merges broadcast size-1 axes and lower-rank inputs", {
  set.seed(2)
  a <- arr(2, 3, 4)
  v <- arr(2, 4)            # (batch, features): every timestep
  s <- arr(2, 1, 4)         # one timestep: every timestep
  f <- arr(2, 3, 1)         # one feature: every feature
  by_step <- function(x, m) {
    out <- x
    for (t in seq_len(dim(x)[2])) out[, t, ] <- m
    out
  }
  expect_equal(layer_add(a, v), a + by_step(a, v))
  expect_equal(layer_multiply(a, s), a * by_step(a, s[, 1, ]))
  expect_equal(layer_maximum(a, f), pmax(a, array(f, dim(a))))
  expect_equal(layer_subtract(list(v, a)), by_step(a, v) - a)
  expect_error(layer_add(a, arr(2, 3, 5)), class = "gru_error_shape")
  expect_error(layer_add(a, arr(3, 3, 4)), class = "gru_error_shape")
})

test_that("concatenate joins along R's axis and returns the layer without inputs", {
  set.seed(3)
  a <- arr(2, 3, 4)
  b <- arr(2, 5, 4)
  c2 <- arr(2, 3, 1)
  y <- layer_concatenate(list(a, b), axis = 2)
  expect_equal(dim(y), c(2L, 8L, 4L))
  expect_equal(y[, 1:3, ], a)
  expect_equal(y[, 4:8, ], b)
  y <- layer_concatenate(a, c2)
  expect_equal(dim(y), c(2L, 3L, 5L))
  expect_equal(y[, , 1:4], a)
  expect_equal(y[, , 5], c2[, , 1])
  y <- layer_concatenate(list(a, a), axis = 1)
  expect_equal(y[3:4, , ], a)
  m1 <- matrix(1:6, 2)
  expect_equal(layer_concatenate(list(m1, m1 * 10)), cbind(m1, m1 * 10))
  expect_equal(layer_concatenate(list(a, b), axis = -2), layer_concatenate(list(a, b), axis = 2))
  layer <- layer_concatenate(axis = 2, name = "join")
  expect_s3_class(layer, "gru_layer")
  expect_output(print(layer), "<concatenate layer \"join\"> concatenates along axis 2")
  expect_error(layer_concatenate(list(a, b)), class = "gru_error_shape")
  expect_error(layer_concatenate(list(a, m1)), class = "gru_error_shape")
  expect_error(layer_concatenate(list(a, a), axis = 4), class = "gru_error_shape")
})

test_that("masks of elementwise merges: the OR when every input has one", {
  set.seed(4)
  a <- arr(2, 4, 3)
  b <- arr(2, 4, 3)
  m1 <- matrix(c(TRUE, TRUE, TRUE, FALSE, FALSE, TRUE, TRUE, FALSE), 2)
  m2 <- matrix(c(TRUE, FALSE, TRUE, TRUE, FALSE, TRUE, FALSE, FALSE), 2)
  for (layer in list(layer_add(), layer_subtract(), layer_average(),
                     layer_multiply(), layer_maximum(), layer_minimum())) {
    expect_identical(layer$compute_mask(list(a, b), list(m1, m2)), m1 | m2)
    expect_null(layer$compute_mask(list(a, b), list(m1, NULL)))
    expect_null(layer$compute_mask(list(a, b), NULL))
  }
  # Add and friends ignore masks in their values
  expect_equal(layer_add()(list(a, b), mask = list(m1, m2)), a + b)
})

test_that("maximum, minimum and multiply use the masks in their values as Keras does", {
  set.seed(5)
  a <- arr(2, 4, 3)
  b <- arr(2, 4, 3)
  m1 <- matrix(c(TRUE, TRUE, TRUE, FALSE, FALSE, TRUE, TRUE, FALSE), 2)
  m2 <- matrix(c(TRUE, FALSE, TRUE, TRUE, FALSE, TRUE, FALSE, FALSE), 2)
  full <- function(m) array(m, c(2, 4, 3))
  # Keras' _apply_merge_op_and_or_mask for two inputs: a masked-out value of
  # the second takes the first's, a masked-out value of the first takes the
  # (replaced) second's, then the operation.
  expected <- function(op, m2_given = TRUE, m1_given = TRUE) {
    x2 <- if (m2_given) ifelse(full(m2), b, a) else b
    x1 <- if (m1_given) ifelse(full(m1), a, x2) else a
    op(x1, x2)
  }
  expect_equal(layer_maximum()(list(a, b), mask = list(m1, m2)), expected(pmax))
  expect_equal(layer_minimum()(list(a, b), mask = list(m1, m2)), expected(pmin))
  expect_equal(layer_maximum()(list(a, b), mask = list(NULL, m2)),
               expected(pmax, m1_given = FALSE))
  expect_equal(layer_maximum()(list(a, b), mask = list(m1, NULL)),
               expected(pmax, m2_given = FALSE))
  # Multiply: a masked-out value counts as 1; with every input masked, 0
  # where all are masked out.
  one <- function(x, m) ifelse(full(m), x, 1)
  expect_equal(layer_multiply()(list(a, b), mask = list(m1, m2)),
               ifelse(full(m1 | m2), one(a, m1) * one(b, m2), 0))
  expect_equal(layer_multiply()(list(a, b), mask = list(m1, NULL)), one(a, m1) * b)
})

test_that("concatenate's mask: time-axis masks concatenate, feature-axis ones OR", {
  set.seed(6)
  a <- arr(2, 4, 3)
  b <- arr(2, 4, 2)
  c5 <- arr(2, 5, 3)
  m1 <- matrix(c(TRUE, TRUE, TRUE, FALSE, FALSE, TRUE, TRUE, FALSE), 2)
  m2 <- matrix(c(TRUE, FALSE, TRUE, TRUE, FALSE, TRUE, FALSE, FALSE), 2)
  m5 <- matrix(c(TRUE, FALSE), 2, 5)
  feat <- layer_concatenate()
  expect_identical(feat$compute_mask(list(a, b), list(m1, m2)), m1 | m2)
  # an unmasked input counts as all TRUE
  expect_identical(feat$compute_mask(list(a, b), list(m1, NULL)), matrix(TRUE, 2, 4))
  expect_null(feat$compute_mask(list(a, b), list(NULL, NULL)))
  time <- layer_concatenate(axis = 2)
  expect_identical(time$compute_mask(list(a, c5), list(m1, m5)), cbind(m1, m5))
  expect_identical(time$compute_mask(list(a, c5), list(NULL, m5)),
                   cbind(matrix(TRUE, 2, 4), m5))
  expect_error(feat(list(a, b), mask = m1), class = "gru_error_mask")
  expect_error(feat(list(a, b), mask = list(m1, m2[, 1:3])), class = "gru_error_mask")
})

test_that("merges on symbolic tensors give symbolic outputs of Keras' shapes", {
  a <- keras_input(c(5, 3), name = "sa")
  b <- keras_input(c(7, 3), name = "sb")
  v <- keras_input(3, name = "sv")
  expect_s3_class(layer_concatenate(list(a, b), axis = 2), "gru_tensor")
  expect_equal(dim(layer_concatenate(list(a, b), axis = 2)), c(NA, 12L, 3L))
  expect_equal(dim(layer_add(a, v)), c(NA, 5L, 3L))
  expect_equal(dim(layer_multiply(list(a, a, a))), c(NA, 5L, 3L))
  expect_error(layer_add(a, b), class = "gru_error_shape")
  expect_error(layer_subtract(list(a, a, a)), class = "gru_error_shape")
  expect_error(layer_concatenate(list(a, b)), class = "gru_error_shape")
  u <- keras_input(c(NA, 3), name = "su")
  expect_equal(dim(layer_concatenate(list(a, u), axis = 2)), c(NA, NA, 3L))
  expect_equal(dim(layer_add(a, u)), c(NA, NA, 3L))
})

# Two GRU branches of different lengths and widths, merged by `merge`, then
# a GRU or dense head; float64 for the finite differences.
branch_model <- function(merge, masked = FALSE, sequences = TRUE, t2 = 5) {
  a <- keras_input(c(5, 3))
  b <- keras_input(c(t2, 2))
  pre <- function(x) if (masked) layer_masking(x) else x
  ga <- layer_gru(pre(a), 3, return_sequences = sequences, dtype = "float64")
  gb <- layer_gru(pre(b), 3, return_sequences = sequences, dtype = "float64")
  m <- merge(list(ga, gb))
  head <- if (sequences) layer_gru(m, 2, dtype = "float64") else m
  keras_model(list(a, b), layer_dense(head, 1, dtype = "float64"))
}

test_that("gradients through every merge in a two-branch GRU model match finite differences", {
  set.seed(7)
  x <- list(arr(4, 5, 3), arr(4, 5, 2))
  y <- rnorm(4)
  merges <- list(layer_concatenate, layer_add, layer_subtract, layer_multiply,
                 layer_average, layer_maximum, layer_minimum)
  for (merge in merges) {
    expect_model_gradients(branch_model(merge), x, y, loss = "mse", tol = 1e-6)
  }
  expect_model_gradients(branch_model(layer_concatenate, sequences = FALSE), x, y,
                         loss = "mse", tol = 1e-6)
})

test_that("gradients through masked merges match finite differences", {
  set.seed(8)
  x <- list(arr(4, 5, 3), arr(4, 5, 2))
  x[[1]][1, 4:5, ] <- 0
  x[[2]][2, 3:5, ] <- 0
  x[[2]][1, 1, ] <- 0
  y <- rnorm(4)
  for (merge in list(layer_add, layer_multiply, layer_maximum, layer_minimum,
                     layer_concatenate)) {
    expect_model_gradients(branch_model(merge, masked = TRUE), x, y, loss = "mse",
                           tol = 1e-6)
  }
  x3 <- list(x[[1]], arr(4, 7, 2))
  x3[[2]][3, 6:7, ] <- 0
  along_time <- function(xs) layer_concatenate(xs, axis = 2)
  expect_model_gradients(branch_model(along_time, masked = TRUE, t2 = 7), x3, y,
                         loss = "mse", tol = 1e-6)
})

test_that("gradients of a broadcast input are summed over the broadcast axes", {
  set.seed(9)
  a <- keras_input(c(5, 3))
  v <- keras_input(2)
  seqs <- layer_gru(a, 3, return_sequences = TRUE, dtype = "float64")
  per_sample <- layer_dense(v, 3, dtype = "float64")
  for (merge in list(layer_add, layer_multiply, layer_maximum)) {
    out <- merge(seqs, per_sample) |> layer_gru(2, dtype = "float64") |>
      layer_dense(1, dtype = "float64")
    model <- keras_model(list(a, v), out)
    expect_model_gradients(model, list(arr(4, 5, 3), arr(4, 2)), rnorm(4),
                           loss = "mse", tol = 1e-6)
  }
})

test_that("configs carry Keras' class names and axis, and round-trip", {
  cat_layer <- layer_concatenate(axis = 2, name = "join")
  cfg <- get_config(cat_layer)
  expect_identical(attr(cfg, "class_name"), "Concatenate")
  expect_identical(names(cfg), c("name", "trainable", "dtype", "axis"))
  expect_identical(cfg$axis, 1L)
  expect_identical(get_config(from_config(cfg)), cfg)
  expect_identical(get_config(layer_concatenate())$axis, -1L)
  # Keras' JSON form
  k <- list(class_name = "Concatenate",
            config = list(name = "c", trainable = TRUE, dtype = "float32", axis = 1L))
  expect_identical(gru:::layer_self(from_config(k))$config$axis, 2L)
  classes <- c(add = "Add", subtract = "Subtract", multiply = "Multiply",
               average = "Average", maximum = "Maximum", minimum = "Minimum")
  for (nm in names(classes)) {
    layer <- get(paste0("layer_", nm))(name = paste0("m_", nm))
    cfg <- get_config(layer)
    expect_identical(attr(cfg, "class_name"), classes[[nm]])
    expect_identical(names(cfg), c("name", "trainable", "dtype"))
    expect_identical(get_config(from_config(cfg)), cfg)
  }
  expect_error(from_config(list(class_name = "Add", config = list(name = "a", axis = 1))),
               class = "gru_error_config")
  # a functional model with a merge round-trips, with Keras' inbound nodes
  set.seed(10)
  model <- branch_model(layer_concatenate)
  cfg <- get_config(model)
  node <- cfg$layers[[5]]$inbound_nodes[[1]]
  expect_identical(cfg$layers[[5]]$class_name, "Concatenate")
  expect_length(node$args[[1]], 2L)
  copy <- from_config(cfg)
  set_weights(copy, get_weights(model))
  x <- list(arr(3, 5, 3), arr(3, 5, 2))
  expect_identical(predict(copy, x), predict(model, x))
})

test_that("summary() shows a merge with no parameters, connected to its inputs", {
  a <- keras_input(c(5, 3), name = "left")
  b <- keras_input(c(7, 2), name = "right")
  ga <- layer_gru(a, 4, name = "enc_a")
  gb <- layer_gru(b, 6, name = "enc_b")
  m <- layer_concatenate(list(ga, gb), name = "both")
  model <- keras_model(list(a, b), layer_dense(m, 1, name = "out"), name = "two")
  s <- summary(model)
  expect_identical(s$type[5], "Concatenate")
  expect_identical(s$output_shape[5], "(NA, 10)")
  expect_identical(s$connected[5], "enc_a[0][0], enc_b[0][0]")
  # Keras: GRU 3 * (units * (input + units) + 2 * units), Dense in * out + out
  gru_params <- function(u, f) 3L * (u * (f + u) + 2L * u)
  expect_identical(s$params, c(0L, 0L, gru_params(4L, 3L), gru_params(6L, 2L), 0L, 11L))
  expect_identical(s$trainable_params, s$params)
  expect_match(format(s), "Non-trainable params: 0", all = FALSE)
})

test_that("a two-branch GRU model merged by layer_concatenate() learns a task", {
  set.seed(11)
  n <- 96
  x1 <- arr(n, 6, 2)
  x2 <- arr(n, 4, 1)
  # the target needs both branches: a sum over one sequence, the last step
  # of the other
  y <- rowMeans(x1[, , 1]) + 0.5 * x2[, 4, 1]
  a <- keras_input(c(6, 2))
  b <- keras_input(c(4, 1))
  merged <- layer_concatenate(list(layer_gru(a, 8), layer_gru(b, 8)))
  out <- merged |> layer_dense(8, activation = "tanh") |> layer_dense(1)
  model <- keras_model(list(a, b), out)
  compile(model, optimizer = optimizer_adam(learning_rate = 0.01), loss = "mse")
  before <- evaluate(model, list(x1, x2), y)$loss
  fit(model, list(x1, x2), y, epochs = 40, batch_size = 16, verbose = 0)
  after <- evaluate(model, list(x1, x2), y)$loss
  expect_lt(after, before / 5)
})

test_that("bad arguments and shapes are classed errors", {
  a <- arr(2, 3, 4)
  expect_error(layer_concatenate(axis = 0), class = "gru_error_input")
  expect_error(layer_concatenate(axis = 1.5), class = "gru_error_input")
  expect_error(layer_add(list(a, a), units = 3), class = "gru_error_unknown_argument")
  expect_error(layer_subtract(list(a, a, a)), class = "gru_error_shape")
  expect_error(layer_add(list(a, "b")), class = "gru_error_input")
  expect_error(layer_add(list(a, keras_input(c(3, 4)))), class = "gru_error_input")
  expect_error(layer_add()(a), class = "gru_error_input")
  expect_error(
    keras_model_sequential(input_shape = c(3, 4)) |> layer_add(),
    class = "gru_error_input"
  )
  expect_error(layer_add()(list(a, a), mask = list(NULL)), class = "gru_error_mask")
  expect_snapshot(error = TRUE, {
    layer_add(name = "sum")(list(array(0, c(2, 3, 4)), array(0, c(2, 3, 5))))
    layer_concatenate(axis = 0)
  })
})
