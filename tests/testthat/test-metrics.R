# Metric objects for compile(): their log names and values during training,
# and the metric functions against formulas written out here.

test_that("constructors make metric objects named as Keras names them", {
  cases <- list(
    list(metric_mean_absolute_error(), "MeanAbsoluteError", "mean_absolute_error"),
    list(metric_mean_squared_error(), "MeanSquaredError", "mean_squared_error"),
    list(metric_binary_accuracy(), "BinaryAccuracy", "binary_accuracy"),
    list(metric_categorical_accuracy(), "CategoricalAccuracy", "categorical_accuracy"),
    list(metric_sparse_categorical_accuracy(), "SparseCategoricalAccuracy",
         "sparse_categorical_accuracy"),
    list(metric_accuracy(), "Accuracy", "accuracy")
  )
  for (cs in cases) {
    m <- cs[[1]]
    expect_s3_class(m, "gru_metric")
    expect_identical(m$class_name, cs[[2]])
    expect_identical(m$name, cs[[3]])
  }
  m <- metric_mean_squared_error(name = "my_mse", dtype = "float32")
  expect_identical(m$name, "my_mse")
  expect_identical(m$config$dtype, "float32")
  expect_identical(metric_binary_accuracy(threshold = 0.7)$config$threshold, 0.7)
  expect_output(print(metric_binary_accuracy()),
                "<metric BinaryAccuracy\\(name = \"binary_accuracy\", threshold = 0.5\\)>")
})

test_that("fit() logs metric objects under their names, with the right values", {
  set.seed(1)
  x <- array(stats::runif(40 * 8), c(40, 8, 1))
  y <- apply(x, 1, sum)
  model <- keras_model_sequential(input_shape = c(8, 1)) |> layer_gru(4) |> layer_dense(1)
  compile(model, loss = "mse",
          metrics = list(metric_mean_absolute_error(), "mse",
                         metric_mean_squared_error(name = "squared")))
  h <- fit(model, x, y, epochs = 2, verbose = 0, validation_split = 0.25)
  expect_named(h$metrics, c("loss", "mean_absolute_error", "mse", "squared",
                            "val_loss", "val_mean_absolute_error", "val_mse",
                            "val_squared"))
  ev <- evaluate(model, x, y)
  pred <- as.vector(predict(model, x))
  expect_equal(ev$mean_absolute_error, mean(abs(pred - y)), tolerance = 1e-12)
  expect_equal(ev$squared, mean((pred - y)^2), tolerance = 1e-12)
  expect_identical(ev$squared, ev$mse)
})

test_that("accuracy objects compute what their names say during training", {
  set.seed(2)
  x <- array(stats::runif(30 * 5 * 2), c(30, 5, 2))
  cls <- sample(0:2, 30, replace = TRUE)
  model <- keras_model_sequential(input_shape = c(5, 2)) |> layer_gru(4) |>
    layer_dense(3, activation = "softmax")
  compile(model, loss = "sparse_categorical_crossentropy",
          metrics = list(metric_sparse_categorical_accuracy(name = "acc")))
  ev <- evaluate(model, x, cls)
  p <- predict(model, x)
  expect_equal(ev$acc, mean(max.col(p, "first") - 1 == cls), tolerance = 1e-12)
  compile(model, loss = "categorical_crossentropy",
          metrics = list(metric_categorical_accuracy()))
  ev <- evaluate(model, x, to_categorical(cls, 3))
  expect_equal(ev$categorical_accuracy, mean(max.col(p, "first") - 1 == cls),
               tolerance = 1e-12)
  b <- keras_model_sequential(input_shape = c(5, 2)) |> layer_gru(2) |>
    layer_dense(1, activation = "sigmoid")
  compile(b, loss = "binary_crossentropy", metrics = list(metric_binary_accuracy()))
  yb <- as.numeric(cls == 1)
  ev <- evaluate(b, x, yb)
  expect_equal(ev$binary_accuracy, mean((predict(b, x) > 0.5) == yb), tolerance = 1e-12)
})

test_that("the metric functions match their formulas", {
  set.seed(3)
  yt <- matrix(stats::rnorm(12), 4, 3)
  yp <- matrix(stats::rnorm(12), 4, 3)
  mae <- mse <- numeric(4)
  for (i in 1:4) {
    mae[i] <- sum(abs(yp[i, ] - yt[i, ])) / 3
    mse[i] <- sum((yp[i, ] - yt[i, ])^2) / 3
  }
  expect_equal(metric_mean_absolute_error(yt, yp), mae, tolerance = 1e-15)
  expect_equal(metric_mean_squared_error(yt, yp), mse, tolerance = 1e-15)
  # a vector is one sample (a 1-D array in Keras)
  expect_equal(metric_mean_absolute_error(c(0, 1), c(1, 1)), 0.5)
  # 3-D arrays keep their leading axes
  a <- array(stats::rnorm(24), c(2, 4, 3))
  b <- array(stats::rnorm(24), c(2, 4, 3))
  want <- apply(abs(a - b), c(1, 2), mean)
  expect_equal(metric_mean_absolute_error(a, b), want, tolerance = 1e-15)
  # Keras' documented examples
  expect_identical(metric_binary_accuracy(rbind(1, 1, 0, 0), rbind(0.98, 1, 0, 0.6)),
                   c(1, 1, 1, 0))
  expect_identical(metric_binary_accuracy(rbind(1, 1, 0, 0), rbind(0.98, 1, 0, 0.6),
                                          threshold = 0.7), c(1, 1, 1, 1))
  expect_identical(metric_categorical_accuracy(rbind(c(0, 0, 1), c(0, 1, 0)),
                                               rbind(c(0.1, 0.9, 0.8), c(0.05, 0.95, 0))),
                   c(0, 1))
  expect_identical(metric_sparse_categorical_accuracy(c(2, 1),
                                                      rbind(c(0.1, 0.6, 0.3), c(0.05, 0.95, 0))),
                   c(0, 1))
  expect_identical(metric_sparse_categorical_accuracy(matrix(c(2, 1)),
                                                      rbind(c(0.1, 0.6, 0.3), c(0.05, 0.95, 0))),
                   c(0, 1))
  expect_identical(metric_accuracy(rbind(c(1, 2), c(3, 4)), rbind(c(1, 2), c(3, 5))),
                   c(1, 0.5))
})

test_that("compile() takes names and objects together and rejects clashes", {
  model <- keras_model_sequential(input_shape = c(3, 1)) |> layer_gru(2) |> layer_dense(1)
  compile(model, loss = "mse", metrics = list("mae", c("mse", "acc")))
  expect_identical(names(model_self(model)$compiled$metrics), c("mae", "mse", "acc"))
  compile(model, loss = "mse", metrics = metric_mean_absolute_error())
  expect_identical(names(model_self(model)$compiled$metrics), "mean_absolute_error")
  compile(model, loss = "mse", metrics = list())
  expect_length(model_self(model)$compiled$metrics, 0)
  expect_error(compile(model, loss = "mse", metrics = list("mse", metric_mean_squared_error(name = "mse"))),
               class = "gru_error_input")
  expect_error(compile(model, loss = "mse", metrics = list(1)), class = "gru_error_input")
  # the error names compile()'s argument, also for a single string
  expect_error(compile(model, loss = "mse", metrics = "auc"), "`metrics` names",
               class = "gru_error_unknown_name")
})

test_that("exact-match accuracy and a binary threshold are computed in evaluate()", {
  set.seed(9)
  model <- keras_model_sequential(input_shape = c(3, 2)) |>
    layer_gru(2) |>
    layer_dense(1, activation = "sigmoid")
  x <- array(runif(20 * 3 * 2), c(20, 3, 2))
  y <- matrix(rbinom(20, 1, 0.5))
  compile(model, loss = "binary_crossentropy",
          metrics = list(metric_binary_accuracy(threshold = 0.3, name = "acc30"),
                         metric_accuracy(name = "exact")))
  res <- evaluate(model, x, y)
  p <- predict(model, x)
  expect_equal(res$acc30, mean((p > 0.3) == (y > 0.5)))
  expect_equal(res$exact, mean(p == y))
})

test_that("bad arguments are classed errors", {
  expect_error(metric_mean_absolute_error(name = 1), class = "gru_error_input")
  expect_error(metric_mean_absolute_error(name = ""), class = "gru_error_input")
  expect_error(metric_mean_absolute_error(dtype = "int8"), class = "gru_error_input")
  expect_error(metric_binary_accuracy(threshold = "a"), class = "gru_error_input")
  expect_error(metric_categorical_accuracy(foo = 1), class = "gru_error_unknown_argument")
  expect_error(metric_mean_squared_error(1:3), class = "gru_error_input")
  expect_error(metric_mean_squared_error(y_pred = 1:3), class = "gru_error_input")
  expect_error(metric_mean_squared_error("a", "b"), class = "gru_error_input")
  expect_error(metric_mean_squared_error(1:3, 1:4), class = "gru_error_input")
  expect_error(metric_sparse_categorical_accuracy(1:3, diag(2)), class = "gru_error_input")
  expect_snapshot(metric_mean_squared_error(matrix(1:6, 2), matrix(1:6, 3)), error = TRUE)
})
