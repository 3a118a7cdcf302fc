test_that("get_layer() finds layers by name and by 1-based or negative index", {
  model <- keras_model_sequential(input_shape = c(5, 2), name = "m") |>
    layer_gru(4, name = "enc") |>
    layer_dense(3, name = "mid") |>
    layer_dense(1, name = "out")
  expect_identical(get_layer(model, "mid"), model$layers[[2]])
  expect_identical(get_layer(model, index = 1), model$layers[[1]])
  expect_identical(get_layer(model, index = -1), model$layers[[3]])
  expect_identical(model$get_layer("enc"), model$layers[[1]])
  expect_error(get_layer(model, "nope"), class = "gru_error_input")
  expect_error(get_layer(model, index = 4), class = "gru_error_input")
  expect_error(get_layer(model), class = "gru_error_input")
  expect_snapshot(error = TRUE, get_layer(model, "nope"))
})

test_that("frozen layers keep their weights through fit()", {
  set.seed(5)
  model <- keras_model_sequential(input_shape = c(5, 2)) |>
    layer_gru(4, name = "enc") |>
    layer_dense(1, name = "out")
  x <- array(runif(16 * 5 * 2), c(16, 5, 2))
  y <- matrix(rowSums(x))
  freeze_weights(model, to = "enc")
  expect_false(get_layer(model, "enc")$trainable)
  expect_true(get_layer(model, "out")$trainable)
  expect_identical(summary(model)$trainable, c(FALSE, TRUE))
  compile(model, optimizer = "sgd", loss = "mse")
  w0 <- get_weights(model)
  fit(model, x, y, epochs = 1, verbose = 0)
  w1 <- get_weights(model)
  expect_identical(w1[1:3], w0[1:3])
  expect_false(identical(w1[[4]], w0[[4]]))
  unfreeze_weights(model)
  expect_true(get_layer(model, "enc")$trainable)
  freeze_weights(model)
  expect_false(model$trainable)
  unfreeze_weights(model, which = function(l) l$name == "out")
  expect_true(model$trainable)
  expect_true(get_layer(model, "out")$trainable)
})

test_that("clone_model() copies the architecture with new weights", {
  set.seed(6)
  a <- keras_input(c(5, 2), name = "a")
  model <- keras_model(a, layer_dense(layer_gru(a, 3, name = "g"), 1, name = "d"))
  copy <- clone_model(model)
  expect_identical(get_config(copy), get_config(model))
  expect_false(identical(get_weights(copy), get_weights(model)))
  set_weights(copy, get_weights(model))
  x <- array(runif(2 * 5 * 2), c(2, 5, 2))
  expect_identical(predict(copy, x), predict(model, x))
  expect_error(clone_model(model, clone_function = identity), class = "gru_error_unsupported")
})
