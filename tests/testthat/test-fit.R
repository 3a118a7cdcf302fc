# compile(), fit(), evaluate(), train_on_batch(): training to known answers,
# the training contract (trainable, constraints, regularization, dropout,
# stateful, interrupts) and classed errors.

sum_task <- function(n = 256, steps = 6, seed = 1) {
  set.seed(seed)
  x <- array(stats::runif(n * steps), c(n, steps, 1))
  list(x = x, y = apply(x, 1, sum))
}

small_model <- function(units = 16, ...) {
  keras_model_sequential(input_shape = c(NA, 1), name = "small") |>
    layer_gru(units, ...) |>
    layer_dense(1)
}

test_that("a GRU learns to sum a sequence to a loss near zero", {
  d <- sum_task()
  set.seed(1)
  model <- small_model()
  compile(model, optimizer = optimizer_adam(0.01), loss = "mse", metrics = "mae")
  h <- fit(model, d$x, d$y, epochs = 40, batch_size = 32, verbose = 0)
  expect_s3_class(h, "gru_history")
  expect_lt(tail(h$metrics$loss, 1), 0.01)
  expect_lt(tail(h$metrics$loss, 1), h$metrics$loss[1] / 50)
  ev <- evaluate(model, d$x, d$y)
  expect_named(ev, c("loss", "mae"))
  expect_lt(ev$loss, 0.01)
})

test_that("a masked GRU learns the sum of variable-length sequences", {
  set.seed(2)
  n <- 256
  x <- array(stats::runif(n * 8), c(n, 8, 1))
  len <- sample(3:8, n, replace = TRUE)
  for (i in seq_len(n)) if (len[i] < 8) x[i, (len[i] + 1):8, 1] <- 0
  y <- apply(x, 1, sum)
  model <- keras_model_sequential(input_shape = c(8, 1)) |>
    layer_masking(mask_value = 0) |>
    layer_gru(16) |>
    layer_dense(1)
  compile(model, optimizer = optimizer_adam(0.01), loss = "mse")
  h <- fit(model, x, y, epochs = 40, batch_size = 32, verbose = 0)
  expect_lt(tail(h$metrics$loss, 1), 0.02)
})

test_that("a classifier learns which of two tokens came first", {
  set.seed(3)
  n <- 200
  tokens <- matrix(sample(1:4, n * 5, replace = TRUE), n, 5)
  y <- as.integer(tokens[, 1] > 2)
  model <- keras_model_sequential(input_shape = 5) |>
    layer_embedding(input_dim = 5, output_dim = 4) |>
    layer_gru(8) |>
    layer_dense(2)
  compile(model, optimizer = optimizer_adam(0.02),
          loss = loss_sparse_categorical_crossentropy(from_logits = TRUE),
          metrics = "accuracy")
  h <- fit(model, tokens, y, epochs = 25, batch_size = 20, verbose = 0)
  expect_gt(tail(h$metrics$accuracy, 1), 0.95)
})

test_that("train_on_batch() takes one step and returns the batch's values", {
  d <- sum_task(n = 16)
  model <- small_model(4)
  compile(model, optimizer = "sgd", loss = "mse", metrics = c("mae", "mse"))
  w0 <- get_weights(model)
  res <- train_on_batch(model, d$x, d$y)
  expect_named(res, c("loss", "mae", "mse"))
  expect_equal(res$loss, res$mse)
  expect_false(isTRUE(all.equal(get_weights(model), w0)))
  expect_equal(model$optimizer$iterations, 1L)
})

test_that("layers with trainable = FALSE keep their weights", {
  d <- sum_task(n = 32)
  model <- keras_model_sequential(input_shape = c(6, 1)) |>
    layer_gru(4, trainable = FALSE) |>
    layer_dense(1)
  compile(model, loss = "mse")
  w0 <- get_weights(model)
  fit(model, d$x, d$y, epochs = 2, verbose = 0)
  w1 <- get_weights(model)
  expect_equal(w1[1:3], w0[1:3])
  expect_false(isTRUE(all.equal(w1[4:5], w0[4:5])))
})

test_that("constraints hold after every update; penalties are in the loss", {
  d <- sum_task(n = 32)
  model <- keras_model_sequential(input_shape = c(6, 1)) |>
    layer_gru(4, kernel_constraint = constraint_nonneg(),
              kernel_regularizer = regularizer_l2(0.1)) |>
    layer_dense(1)
  compile(model, optimizer = optimizer_sgd(0.1), loss = "mse")
  fit(model, d$x, d$y, epochs = 2, verbose = 0)
  expect_true(all(get_weights(model)[[1]] >= 0))
  penalty <- sum(unlist(model$losses))
  expect_gt(penalty, 0)
  g <- gradients(model, d$x, d$y)
  pred <- predict(model, d$x)
  expect_equal(attr(g, "loss"), mean((pred - d$y)^2) + penalty, tolerance = 1e-5)
})

test_that("dropout is reproducible with set.seed() and with seed", {
  d <- sum_task(n = 64)
  run <- function(...) {
    set.seed(10)
    model <- small_model(4, dropout = 0.2, recurrent_dropout = 0.2, ...)
    compile(model, loss = "mse")
    fit(model, d$x, d$y, epochs = 2, batch_size = 16, verbose = 0)
    get_weights(model)
  }
  expect_equal(run(), run())
  expect_equal(run(seed = 3), run(seed = 3))
})

test_that("stateful training carries state and needs whole batches in order", {
  d <- sum_task(n = 32)
  model <- keras_model_sequential(input_shape = c(6, 1), batch_size = 8) |>
    layer_gru(4, stateful = TRUE) |>
    layer_dense(1)
  compile(model, loss = "mse")
  resets <- 0
  cb <- callback_lambda(on_epoch_begin = function(epoch, logs) {
    reset_state(model)
    resets <<- resets + 1
  })
  fit(model, d$x, d$y, batch_size = 8, epochs = 2, shuffle = FALSE,
      callbacks = list(cb), verbose = 0)
  expect_equal(resets, 2)
  expect_true(any(model$layers[[1]]$states[[1]] != 0))
  expect_error(fit(model, d$x[1:30, , , drop = FALSE], d$y[1:30], batch_size = 8,
                   shuffle = FALSE, verbose = 0),
               class = "gru_error_stateful_batch")
  expect_error(fit(model, d$x, d$y, batch_size = 8, verbose = 0), class = "gru_error_fit")
  expect_error(fit(model, d$x, d$y, batch_size = 4, shuffle = FALSE, verbose = 0),
               class = "gru_error_stateful_batch")
})

test_that("an interrupt ends fit() with the last finished batch's weights", {
  d <- sum_task(n = 64)
  model <- small_model(4)
  compile(model, loss = "mse")
  after <- NULL
  cb <- callback_lambda(on_batch_end = function(batch, logs) {
    if (batch == 2) {
      after <<- get_weights(model)
      rlang::interrupt()
    }
  })
  expect_message(h <- fit(model, d$x, d$y, batch_size = 16, epochs = 3,
                          callbacks = list(cb), verbose = 0),
                 "interrupted")
  expect_equal(get_weights(model), after)
  expect_equal(length(h$metrics$loss), 0)
  expect_equal(model$optimizer$iterations, 2L)
  expect_true(all(is.finite(predict(model, d$x))))
})

test_that("a non-finite loss stops training, naming epoch and batch", {
  d <- sum_task(n = 32)
  model <- keras_model_sequential(input_shape = c(6, 1)) |>
    layer_gru(2) |>
    layer_dense(1)
  compile(model, optimizer = "sgd", loss = "mse")
  w <- get_weights(model)
  w[[4]][] <- 1e200
  set_weights(model, w)
  expect_error(fit(model, d$x, d$y, epochs = 1, verbose = 0),
               class = "gru_error_loss")
  expect_snapshot(fit(model, d$x, d$y, epochs = 1, verbose = 0), error = TRUE)
  expect_equal(get_weights(model), w)
})

test_that("verbose = 2 prints one line per epoch; verbose = 0 nothing", {
  d <- sum_task(n = 32)
  model <- small_model(2)
  compile(model, loss = "mse", metrics = "mae")
  out <- capture.output(fit(model, d$x, d$y, epochs = 2, verbose = 2,
                            validation_split = 0.25))
  expect_length(out, 2)
  expect_match(out[2], "^Epoch 2/2 - .* - loss: .* - mae: .* - val_loss: .* - val_mae: ")
  expect_length(capture.output(fit(model, d$x, d$y, epochs = 2, verbose = 0)), 0)
})

test_that("validation data and history", {
  d <- sum_task(n = 40)
  model <- small_model(2)
  compile(model, loss = "mae", metrics = "mse")
  h <- fit(model, d$x[1:30, , , drop = FALSE], d$y[1:30], epochs = 3, verbose = 0,
           validation_data = list(d$x[31:40, , , drop = FALSE], d$y[31:40]))
  expect_named(h$metrics, c("loss", "mse", "val_loss", "val_mse"))
  ev <- evaluate(model, d$x[31:40, , , drop = FALSE], d$y[31:40])
  expect_equal(ev$loss, h$metrics$val_loss[3], tolerance = 1e-12)
  df <- as.data.frame(h)
  expect_named(df, c("epoch", "value", "metric", "data"))
  expect_equal(nrow(df), 12)
  expect_output(print(h), "3 epochs")
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  expect_invisible(plot(h))
})

test_that("a compiled model with optimizer state survives saveRDS()", {
  d <- sum_task(n = 32)
  model <- small_model(3)
  compile(model, optimizer = "adam", loss = "mse")
  fit(model, d$x, d$y, epochs = 1, verbose = 0)
  path <- tempfile(fileext = ".rds")
  saveRDS(model, path)
  copy <- readRDS(path)
  expect_equal(copy$optimizer, model$optimizer)
  set.seed(1)
  fit(model, d$x, d$y, epochs = 1, verbose = 0)
  set.seed(1)
  fit(copy, d$x, d$y, epochs = 1, verbose = 0)
  expect_equal(get_weights(copy), get_weights(model))
})

test_that("bad input gives classed errors", {
  d <- sum_task(n = 8)
  model <- small_model(2)
  expect_error(fit(model, d$x, d$y, verbose = 0), class = "gru_error_fit")
  expect_error(evaluate(model, d$x, d$y), class = "gru_error_fit")
  expect_error(train_on_batch(model, d$x, d$y), class = "gru_error_fit")
  expect_snapshot(fit(model, d$x, d$y), error = TRUE)
  compile(model, loss = "mse")
  expect_error(fit(model, d$x, d$y[1:5], verbose = 0), class = "gru_error_fit")
  expect_snapshot(fit(model, d$x, d$y[1:5], verbose = 0), error = TRUE)
  expect_error(fit(model, d$x, matrix(1, 8, 3), verbose = 0), class = "gru_error_loss")
  expect_snapshot(fit(model, d$x, matrix(1, 8, 3), verbose = 0), error = TRUE)
  expect_error(compile(model, loss = "msee"), class = "gru_error_unknown_name")
  expect_error(compile(model, optimizer = "adamw", loss = "mse"),
               class = "gru_error_unknown_name")
  expect_error(compile(model, loss = "mse", metrics = "auc"),
               class = "gru_error_unknown_name")
  expect_snapshot(compile(model, loss = "mse", metrics = "auc"), error = TRUE)
  expect_error(compile(model), class = "gru_error_input")
  expect_error(fit(model, d$x, d$y, epochs = 0), class = "gru_error_input")
  expect_error(fit(model, d$x, d$y, validation_split = 1), class = "gru_error_input")
  expect_error(fit(model, d$x, d$y, verbose = 0, foo = 1),
               class = "gru_error_unknown_argument")
  cls <- keras_model_sequential(input_shape = c(6, 1)) |> layer_gru(2) |> layer_dense(3)
  compile(cls, loss = "sparse_categorical_crossentropy")
  expect_error(fit(cls, d$x, rep(3, 8), verbose = 0), class = "gru_error_loss")
  expect_error(fit(cls, d$x, matrix(0, 8, 3), verbose = 0), class = "gru_error_shape")
})

test_that("an interactive session gets a progress bar", {
  old <- options(rlang_interactive = TRUE, cli.progress_show_after = 0,
                 cli.dynamic = FALSE)
  on.exit(options(old), add = TRUE)
  d <- sum_task(n = 32)
  model <- small_model(2)
  compile(model, loss = "mse", metrics = "mae")
  out <- capture.output(h <- fit(model, d$x, d$y, epochs = 2, batch_size = 8),
                        type = "message")
  expect_equal(length(h$metrics$loss), 2)
  # cli throttles updates, so fast epochs may not all be drawn
  expect_true(any(grepl("Epoch 1/2 .* - loss: .* - mae: ", out)))
})

test_that("careless training input is a classed error, not NaN or a crash", {
  set.seed(31)
  model <- keras_model_sequential(input_shape = c(3, 2), name = "careless") |>
    layer_gru(2, name = "g") |>
    layer_dense(1, name = "d")
  compile(model, loss = "mse")
  x <- array(runif(8 * 3 * 2), c(8, 3, 2))
  x0 <- x[0, , , drop = FALSE]
  expect_error(fit(model, x0, numeric(0), verbose = 0), class = "gru_error_input")
  expect_error(evaluate(model, x0, numeric(0)), class = "gru_error_input")
  expect_error(predict(model, x0), class = "gru_error_input")
  expect_error(fit(model, x, factor(letters[1:8]), verbose = 0), class = "gru_error_input")
  expect_error(fit(model, x, rnorm(8), epochs = 1e12, verbose = 0), class = "gru_error_input")
  expect_snapshot(error = TRUE, fit(model, x, rnorm(8), verbose = 0, foo = 1))
  # a stateful model declared with batch size 4 predicts in batches of 4
  st <- keras_model_sequential(input_shape = c(3, 2), batch_size = 4, name = "st") |>
    layer_gru(2, stateful = TRUE, name = "sg")
  expect_error(predict(st, x[1:3, , , drop = FALSE]), class = "gru_error_stateful_batch")
  expect_equal(dim(predict(st, x)), c(8L, 2L))
})

test_that("a callback that fails, or takes the wrong arguments, is a classed error", {
  model <- keras_model_sequential(input_shape = c(3, 2)) |> layer_gru(2) |> layer_dense(1)
  compile(model, loss = "mse")
  x <- array(runif(8 * 3 * 2), c(8, 3, 2))
  w <- get_weights(model)
  boom <- callback_lambda(on_batch_end = function(batch, logs) if (batch == 1) stop("boom"))
  err <- expect_error(fit(model, x, rnorm(8), batch_size = 4, verbose = 0, callbacks = list(boom)),
                      class = "gru_error_callback")
  expect_match(conditionMessage(err), "on_batch_end")
  expect_match(conditionMessage(err), "epoch 1, batch 1")
  expect_match(conditionMessage(err$parent), "boom")
  # the failed callback ran after batch 1's update: the model holds it
  expect_false(identical(get_weights(model), w))
  expect_error(callback_lambda(on_epoch_end = function() 1), class = "gru_error_input")
  expect_error(callback_lambda(on_train_begin = function(a, b) 1), class = "gru_error_input")
  expect_s3_class(callback_lambda(on_epoch_end = function(...) 1), "gru_callback")
})

test_that("a constraint that writes non-finite weights stops training before the update", {
  model <- keras_model_sequential(input_shape = c(3, 2)) |>
    layer_dense(1, kernel_constraint = function(w) w * NaN) |>
    layer_flatten()
  compile(model, loss = "mse", optimizer = "sgd")
  x <- array(runif(4 * 3 * 2), c(4, 3, 2))
  w <- get_weights(model)
  expect_error(fit(model, x, matrix(0, 4, 3), verbose = 0), class = "gru_error_nonfinite")
  expect_identical(get_weights(model), w)
})

test_that("an interrupt inside a stateful training step leaves state and weights in step", {
  set.seed(32)
  make <- function(interrupt_at = NULL) {
    count <- 0L
    cons <- function(w) {
      count <<- count + 1L
      if (!is.null(interrupt_at) && count == interrupt_at) rlang::interrupt()
      w
    }
    keras_model_sequential(input_shape = c(3, 2), batch_size = 2) |>
      layer_gru(3, stateful = TRUE, name = "sg") |>
      layer_dense(1, kernel_constraint = cons, name = "d")
  }
  x <- array(runif(6 * 3 * 2), c(6, 3, 2))
  y <- rnorm(6)
  set.seed(1)
  ref <- make()
  compile(ref, loss = "mse", optimizer = "sgd")
  fit(ref, x[1:2, , , drop = FALSE], y[1:2], batch_size = 2, shuffle = FALSE, verbose = 0)
  set.seed(1)
  model <- make(interrupt_at = 2L)   # the constraint of batch 2 interrupts
  compile(model, loss = "mse", optimizer = "sgd")
  expect_message(
    fit(model, x, y, batch_size = 2, shuffle = FALSE, verbose = 0),
    "interrupted in epoch 1, batch 2"
  )
  expect_identical(get_weights(model), get_weights(ref))
  expect_identical(get_layer(model, "sg")$states, get_layer(ref, "sg")$states)
})
