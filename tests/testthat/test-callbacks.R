# Callbacks: early stopping, reducing the learning rate, checkpoints, lambdas.

cb_data <- function(n = 32) {
  set.seed(1)
  x <- array(stats::runif(n * 4), c(n, 4, 1))
  list(x = x, y = apply(x, 1, sum))
}

cb_model <- function() {
  m <- keras_model_sequential(input_shape = c(4, 1)) |> layer_gru(3) |> layer_dense(1)
  compile(m, optimizer = optimizer_sgd(0.01), loss = "mse")
  m
}

test_that("early stopping stops and restores the best weights", {
  d <- cb_data()
  model <- cb_model()
  es <- callback_early_stopping(monitor = "loss", min_delta = 1e9, patience = 1)
  h <- fit(model, d$x, d$y, epochs = 10, callbacks = list(es), verbose = 0)
  expect_equal(length(h$metrics$loss), 2)
  best <- NULL
  model <- cb_model()
  keep <- callback_lambda(on_epoch_end = function(epoch, logs) {
    if (epoch == 1) best <<- get_weights(model)
  })
  es <- callback_early_stopping(monitor = "val_loss", mode = "max", patience = 0,
                                restore_best_weights = TRUE)
  h <- fit(model, d$x, d$y, epochs = 5, validation_split = 0.25,
           callbacks = list(keep, es), verbose = 0)
  # val_loss falls, so in "max" mode epoch 1 stays the best
  expect_lt(length(h$metrics$loss), 5)
  expect_equal(get_weights(model), best)
  expect_warning(fit(cb_model(), d$x, d$y, epochs = 1, verbose = 0,
                     callbacks = list(callback_early_stopping())),
                 "val_loss")
})

test_that("reduce_lr_on_plateau lowers the learning rate", {
  d <- cb_data()
  model <- cb_model()
  cb <- callback_reduce_lr_on_plateau(monitor = "loss", min_delta = 1e9, patience = 1,
                                      factor = 0.5, min_lr = 0.003)
  fit(model, d$x, d$y, epochs = 3, callbacks = list(cb), verbose = 0)
  expect_equal(model$optimizer$config$learning_rate, 0.003)
  expect_error(callback_reduce_lr_on_plateau(factor = 1), class = "gru_error_input")
})

test_that("model_checkpoint saves with saveRDS() and fills the file name", {
  d <- cb_data()
  dir <- tempfile()
  dir.create(dir)
  model <- cb_model()
  cb <- callback_model_checkpoint(file.path(dir, "m-{epoch:02d}-{loss:.3f}.rds"),
                                  monitor = "loss")
  h <- fit(model, d$x, d$y, epochs = 2, callbacks = list(cb), verbose = 0)
  files <- sort(list.files(dir))
  expect_length(files, 2)
  expect_match(files[2], sprintf("^m-02-%.3f\\.rds$", h$metrics$loss[2]))
  saved <- readRDS(file.path(dir, files[2]))
  expect_equal(get_weights(saved), get_weights(model))
  cb2 <- callback_model_checkpoint(file.path(dir, "w.rds"), monitor = "loss",
                                   save_best_only = TRUE, save_weights_only = TRUE)
  fit(model, d$x, d$y, epochs = 2, callbacks = list(cb2), verbose = 0)
  expect_type(readRDS(file.path(dir, "w.rds")), "list")
})

test_that("callback_lambda calls every hook with R's 1-based numbers", {
  d <- cb_data(16)
  calls <- character()
  rec <- function(tag) function(i, logs) calls <<- c(calls, paste(tag, i))
  cb <- callback_lambda(
    on_train_begin = function(logs) calls <<- c(calls, "train_begin"),
    on_epoch_begin = rec("epoch_begin"), on_epoch_end = rec("epoch_end"),
    on_batch_begin = rec("batch_begin"), on_batch_end = rec("batch_end"),
    on_train_end = function(logs) calls <<- c(calls, "train_end")
  )
  fit(cb_model(), d$x, d$y, epochs = 2, batch_size = 8, callbacks = list(cb), verbose = 0)
  expect_equal(calls[1:4], c("train_begin", "epoch_begin 1", "batch_begin 1", "batch_end 1"))
  expect_equal(tail(calls, 2), c("epoch_end 2", "train_end"))
  expect_equal(sum(startsWith(calls, "batch_end")), 4)
  expect_error(callback_lambda(on_epoch_end = 1), class = "gru_error_input")
  expect_error(fit(cb_model(), d$x, d$y, callbacks = list(1)), class = "gru_error_input")
  expect_output(print(cb), "LambdaCallback")
})
