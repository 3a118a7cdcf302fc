# A keras 2 style text classifier, end to end: padded token sequences ->
# embedding -> convolution -> max pooling -> bidirectional GRU over the
# pooled steps -> global max pooling -> softmax. The synthetic task: each
# sequence holds filler tokens and one ordered keyword pair that names its
# class, (5, 6), (6, 5) or (7, 7), at a random place; the order matters, so
# the convolution's window has to learn it. Chance is 1/3.

make_texts <- function(n) {
  pairs <- list(c(5, 6), c(6, 5), c(7, 7))
  label <- sample(0:2, n, replace = TRUE)
  texts <- lapply(label, function(k) {
    len <- sample(6:18, 1)
    at <- sample(0:len, 1)
    filler <- sample(8:29, len, replace = TRUE)
    c(filler[seq_len(at)], pairs[[k + 1]], filler[seq_len(len - at) + at])
  })
  list(x = pad_sequences(texts, maxlen = 20), y = label)
}

test_that("a conv + bidirectional GRU text classifier learns with fit()", {
  set.seed(42)
  train <- make_texts(256)
  test <- make_texts(150)
  expect_identical(dim(train$x), c(256L, 20L))
  model <- keras_model_sequential(input_shape = c(20), name = "text") |>
    layer_embedding(input_dim = 30, output_dim = 8) |>
    layer_conv_1d(filters = 16, kernel_size = 3, activation = "relu") |>
    layer_max_pooling_1d(pool_size = 2) |>
    bidirectional(layer_gru(units = 8, return_sequences = TRUE)) |>
    layer_global_max_pooling_1d() |>
    layer_dense(3, activation = "softmax")
  s <- summary(model)
  expect_identical(s$output_shape, c("(NA, 20, 8)", "(NA, 18, 16)", "(NA, 9, 16)",
                                     "(NA, 9, 16)", "(NA, 16)", "(NA, 3)"))
  compile(model, optimizer = optimizer_adam(learning_rate = 0.01),
          loss = "sparse_categorical_crossentropy", metrics = "accuracy")
  before <- evaluate(model, test$x, test$y, verbose = 0)
  history <- fit(model, train$x, train$y, epochs = 6, batch_size = 32, verbose = 0)
  after <- evaluate(model, test$x, test$y, verbose = 0)
  expect_lt(before[["accuracy"]], 0.6)
  expect_gt(after[["accuracy"]], 0.9)
  expect_lt(tail(history$metrics$loss, 1), history$metrics$loss[1] / 2)
  pred <- predict(model, test$x)
  expect_equal(rowSums(pred), rep(1, 150), tolerance = 1e-6)
  expect_equal(mean(max.col(pred) - 1 == test$y), after[["accuracy"]], tolerance = 1e-6)
})
