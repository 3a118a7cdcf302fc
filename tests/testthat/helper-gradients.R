# Model-level gradients against central finite differences of the loss,
# used by test-backprop.R and test-layer-dropout.R. `training` is passed to
# gradients(); `before`, when given, runs before every evaluation (a test
# with dropout restarts the layers' random streams there, so every
# evaluation draws the same masks and the loss is a smooth function of the
# weights).

model_loss <- function(model, x, y, loss, training = FALSE, before = NULL) {
  if (!is.null(before)) before()
  attr(gradients(model, x, y, loss = loss, training = training), "loss")
}

model_gradient_errors <- function(model, x, y, loss, eps = 1e-6, training = FALSE,
                                  before = NULL) {
  if (!is.null(before)) before()
  g <- gradients(model, x, y, loss = loss, training = training)
  w <- get_weights(model)
  on.exit(set_weights(model, w))
  expect_equal(length(g), length(w))
  errs <- numeric(length(w))
  for (k in seq_along(w)) {
    num <- w[[k]]
    for (i in seq_along(num)) {
      wp <- w
      wp[[k]][i] <- w[[k]][i] + eps
      set_weights(model, wp)
      lp <- model_loss(model, x, y, loss, training, before)
      wp[[k]][i] <- w[[k]][i] - eps
      set_weights(model, wp)
      lm <- model_loss(model, x, y, loss, training, before)
      num[i] <- (lp - lm) / (2 * eps)
    }
    set_weights(model, w)
    expect_equal(dim(g[[k]]), dim(w[[k]]))
    errs[k] <- max(abs(g[[k]] - num)) / max(1e-8, abs(num))
  }
  names(errs) <- names(w)
  errs
}

expect_model_gradients <- function(model, x, y, loss, tol = 1e-6, ...) {
  errs <- model_gradient_errors(model, x, y, loss, ...)
  expect_true(all(errs <= tol), info = paste(names(errs), format(errs), collapse = ", "))
  invisible(errs)
}
