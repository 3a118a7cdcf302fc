# The graph executor, and objects saved by the version before it.

test_that("a tensor read by two layers gets the sum of their gradients", {
  set.seed(3)
  a <- keras_input(c(5, 2), name = "a")
  h <- layer_gru(a, 3, return_sequences = TRUE, dtype = "float64", name = "h")
  o1 <- layer_gru(h, 2, dtype = "float64", name = "o1")
  o2 <- layer_dense(layer_gru(h, 2, dtype = "float64", name = "o2g"), 1, name = "o2")
  model <- keras_model(a, list(o1, o2))
  x <- array(runif(4 * 5 * 2), c(4, 5, 2))
  y <- list(matrix(rnorm(8), 4), matrix(rnorm(4), 4))
  expect_model_gradients(model, x, y, loss = "mse")
  # an output the loss does not reach (weight 0) contributes nothing
  compile(model, loss = "mse", loss_weights = c(1, 0))
  g <- gradients(model, x, y)
  expect_true(all(g[[length(g)]] == 0))
})

test_that("a sequential model runs as a chain graph, node by node", {
  set.seed(4)
  model <- keras_model_sequential(input_shape = c(5, 2)) |>
    layer_masking() |>
    layer_gru(3, return_sequences = TRUE) |>
    layer_dense(1)
  graph <- gru:::model_graph(gru:::model_self(model))
  expect_length(graph$nodes, 3L)
  expect_identical(graph$nodes[[2]]$inputs, list(c(1L, 1L)))
  expect_identical(graph$outputs, list(c(3L, 1L)))
  x <- array(runif(3 * 5 * 2), c(3, 5, 2))
  x[1, 4:5, ] <- 0
  run <- gru:::graph_forward(graph, list(x))
  expect_identical(run$outputs[[1]], predict(model, x))
  expect_identical(run$masks[[4]][[1]], run$masks[[2]][[1]])
})

test_that("objects saved by gru 0.1.0 still load and predict the same", {
  old <- readRDS(test_path("fixtures", "rds", "model-gru-0.1.0.rds"))
  expect_identical(old$gru_version, "0.1.0")
  # float32 layers: equal to float32 rounding (builds with other CPU
  # kernels, e.g. under the sanitizers, sum in another order)
  expect_equal(predict(old$model, old$x), old$prediction, tolerance = 1e-6)
  # and still train: compiled by 0.1.0, with its optimizer state
  h <- fit(old$model, old$x, rowSums(old$x), epochs = 1, verbose = 0)
  expect_named(h$metrics, c("loss", "mae"))
})
