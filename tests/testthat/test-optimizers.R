# Optimizers: keras3's update rules, worked by hand, and clipping.

opt_update <- get("optimizer_update", envir = asNamespace("gru"))

steps <- function(opt, g, w = c(1, -2), n = 2) {
  for (i in seq_len(n)) {
    res <- opt_update(opt, "w", list(w), list(g))
    opt <- res$optimizer
    w <- res$weights[[1]]
  }
  list(w = w, opt = opt)
}

test_that("SGD, with momentum and Nesterov momentum", {
  g <- c(0.5, -1)
  expect_equal(steps(optimizer_sgd(0.1), g)$w, c(1, -2) - 2 * 0.1 * g)
  # m1 = -lr g, m2 = 0.9 m1 - lr g; w2 = w0 + m1 + m2
  m1 <- -0.1 * g
  m2 <- 0.9 * m1 - 0.1 * g
  expect_equal(steps(optimizer_sgd(0.1, momentum = 0.9), g)$w, c(1, -2) + m1 + m2)
  nes <- c(1, -2) + (0.9 * m1 - 0.1 * g) + (0.9 * m2 - 0.1 * g)
  expect_equal(steps(optimizer_sgd(0.1, momentum = 0.9, nesterov = TRUE), g)$w, nes)
})

test_that("Adam and AMSGrad", {
  g <- c(0.5, -1)
  # The first Adam step moves each weight by about lr * sign(g).
  r <- steps(optimizer_adam(0.01), g, n = 1)
  expect_equal(r$w, c(1, -2) - 0.01 * sign(g), tolerance = 1e-5)
  expect_equal(r$opt$iterations, 1L)
  r2 <- steps(optimizer_adam(0.01, amsgrad = TRUE), g, n = 3)
  expect_true(all(is.finite(r2$w)))
  expect_named(r2$opt$slots$w, c("m", "v", "v_hat"))
})

test_that("RMSprop and Adagrad", {
  g <- c(0.5, -1)
  v <- 0.1 * g^2
  expect_equal(steps(optimizer_rmsprop(0.01), g, n = 1)$w,
               c(1, -2) - 0.01 * g / sqrt(v + 1e-7))
  r <- steps(optimizer_rmsprop(0.01, centered = TRUE, momentum = 0.5), g)
  expect_named(r$opt$slots$w, c("velocity", "average_gradient", "momentum"))
  acc <- 0.1 + g^2
  expect_equal(steps(optimizer_adagrad(0.1), g, n = 1)$w,
               c(1, -2) - 0.1 * g / sqrt(acc + 1e-7))
})

test_that("clipvalue, clipnorm and global_clipnorm", {
  g <- c(3, -4)
  expect_equal(steps(optimizer_sgd(1, clipvalue = 1), g, w = c(0, 0), n = 1)$w, c(-1, 1))
  expect_equal(steps(optimizer_sgd(1, clipnorm = 1), g, w = c(0, 0), n = 1)$w,
               -g / 5)
  res <- opt_update(optimizer_sgd(1, global_clipnorm = 1), c("a", "b"),
                    list(0, 0), list(3, 4))
  expect_equal(unlist(res$weights), c(-3, -4) / 5)
  expect_error(optimizer_sgd(clipnorm = 1, clipvalue = 1), class = "gru_error_input")
})

test_that("learning rates must be positive numbers; names must be known", {
  for (lr in list(0, -1, "a", NA, c(1, 2), Inf)) {
    expect_error(optimizer_adam(learning_rate = lr), class = "gru_error_input")
  }
  expect_snapshot(optimizer_sgd(learning_rate = -0.1), error = TRUE)
  expect_error(optimizer_adam(weight_decay = 0.1), class = "gru_error_unknown_argument")
  expect_output(print(optimizer_adam()), "Adam")
})
