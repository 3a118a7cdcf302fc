# Losses and metrics against their formulas.

loss_value <- function(loss, y, pred, mask = NULL) {
  ns <- asNamespace("gru")
  loss <- ns$resolve_loss(loss)
  t <- ns$loss_targets(loss, ns$as_target_array(y), pred, call = NULL)
  ns$loss_compute(loss, t, pred, mask)$value
}

test_that("losses match Keras' formulas", {
  y <- matrix(c(0, 1, 1, 0), 2)
  p <- matrix(c(0.2, 0.7, 0.9, 0.4), 2)
  expect_equal(loss_value("mse", y, p), mean((p - y)^2))
  expect_equal(loss_value("mean_absolute_error", y, p), mean(abs(p - y)))
  e <- abs(p - y)
  expect_equal(loss_value(loss_huber(delta = 0.5), y, p),
               mean(ifelse(e <= 0.5, 0.5 * e^2, 0.5 * e - 0.125)))
  expect_equal(loss_value("binary_crossentropy", y, p),
               mean(-(y * log(p) + (1 - y) * log(1 - p))))
  z <- qlogis(p)
  expect_equal(loss_value(loss_binary_crossentropy(from_logits = TRUE), y, z),
               loss_value("binary_crossentropy", y, p))
  probs <- rbind(c(0.2, 0.5, 0.3), c(0.6, 0.3, 0.1))
  onehot <- rbind(c(0, 1, 0), c(1, 0, 0))
  expect_equal(loss_value("categorical_crossentropy", onehot, probs),
               mean(-log(c(0.5, 0.6))))
  expect_equal(loss_value("sparse_categorical_crossentropy", c(1, 0), probs),
               mean(-log(c(0.5, 0.6))))
  expect_equal(loss_value(loss_sparse_categorical_crossentropy(from_logits = TRUE),
                          c(1, 0), log(probs)),
               mean(-log(c(0.5, 0.6))))
})

test_that("a sequence output's masked positions are left out", {
  y <- array(1, c(2, 3, 1))
  p <- array(c(1, 2, 3, 4, 5, 6), c(2, 3, 1))
  mask <- matrix(c(TRUE, TRUE, TRUE, FALSE, FALSE, FALSE), 2)
  kept <- c(1, 2, 3)
  expect_equal(loss_value("mse", y, p, mask), mean((kept - 1)^2))
})

test_that("loss objects print and unknown names are classed errors", {
  expect_output(print(loss_huber(0.5)), "Huber")
  expect_error(compile(keras_model_sequential() |> layer_dense(1), loss = 1),
               class = "gru_error_input")
  expect_snapshot(compile(keras_model_sequential() |> layer_dense(1), loss = "hinge"),
                  error = TRUE)
})
