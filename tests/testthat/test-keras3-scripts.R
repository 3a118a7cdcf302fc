# keras3 / keras R code run unchanged under library(gru). The code below is
# written as the keras R book ("Deep Learning with R", 2nd edition,
# chapter 10: temperature forecasting) writes it, on a small synthetic
# weather table instead of the Jena data set, and shortened to a few
# epochs.

test_that("chapter-10-style forecasting code runs unchanged", {
  set.seed(10)
  n <- 1400
  t <- seq_len(n)
  df <- data.frame(
    `p (mbar)` = 1000 + 5 * sin(t / 50) + rnorm(n),
    `T (degC)` = 10 + 8 * sin(t / 30) + rnorm(n, sd = 0.3),
    `rh (%)` = 70 + 10 * cos(t / 40) + rnorm(n),
    check.names = FALSE
  )
  num_train_samples <- round(nrow(df) * .5)
  num_val_samples <- round(nrow(df) * 0.25)
  num_test_samples <- nrow(df) - num_train_samples - num_val_samples
  train_df <- df[seq(num_train_samples), ]
  val_df <- df[seq(from = nrow(train_df) + 1, length.out = num_val_samples), ]
  test_df <- df[seq(to = nrow(df), length.out = num_test_samples), ]

  input_data_colnames <- names(df)
  normalization_values <- lapply(train_df[input_data_colnames],
                                 function(col) list(mean = mean(col), sd = sd(col)))
  normalize_input_data <- function(df) {
    normalize <- function(x, center, scale) (x - center) / scale
    for (col_nm in names(normalization_values)) {
      col_nv <- normalization_values[[col_nm]]
      df[[col_nm]] <- normalize(df[[col_nm]], col_nv$mean, col_nv$sd)
    }
    df
  }

  sampling_rate <- 2
  sequence_length <- 12
  delay <- sampling_rate * (sequence_length + 4 - 1)
  batch_size <- 64

  df_to_inputs_and_targets <- function(df) {
    inputs <- df[input_data_colnames] %>%
      normalize_input_data() %>%
      as.matrix()
    targets <- as.array(df$`T (degC)`)
    list(
      head(inputs, -delay),
      tail(targets, -delay)
    )
  }

  make_dataset <- function(df) {
    c(inputs, targets) %<-% df_to_inputs_and_targets(df)
    timeseries_dataset_from_array(
      inputs, targets,
      sampling_rate = sampling_rate,
      sequence_length = sequence_length,
      shuffle = TRUE,
      batch_size = batch_size
    )
  }

  train_dataset <- make_dataset(train_df)
  val_dataset <- make_dataset(val_df)
  test_dataset <- make_dataset(test_df)

  c(samples, targets) %<-% iter_next(as_iterator(train_dataset))
  expect_equal(dim(samples), c(batch_size, sequence_length, 3L))

  ncol_input_data <- length(input_data_colnames)
  inputs <- layer_input(shape = c(sequence_length, ncol_input_data))
  outputs <- inputs %>%
    layer_gru(32, recurrent_dropout = 0.5, return_sequences = TRUE) %>%
    layer_gru(32, recurrent_dropout = 0.5) %>%
    layer_dropout(0.5) %>%
    layer_dense(1)
  model <- keras_model(inputs, outputs)

  path <- tempfile(fileext = ".keras")
  callbacks <- list(
    callback_model_checkpoint(path, save_best_only = TRUE)
  )
  model %>% compile(optimizer = "rmsprop", loss = "mse", metrics = "mae")
  history <- model %>% fit(
    train_dataset,
    epochs = 4,
    validation_data = val_dataset,
    callbacks = callbacks,
    verbose = 0
  )
  expect_s3_class(history, "gru_history")
  expect_named(history$metrics, c("loss", "mae", "val_loss", "val_mae"))
  expect_true(file.exists(path))

  result <- evaluate(model, test_dataset)
  expect_match(sprintf("Test MAE: %.2f", result["mae"]), "^Test MAE: [0-9.]+$")

  # the dataset's windows are what fit() trained on: evaluate() on the
  # dataset equals evaluate() on its arrays
  all <- gru:::dataset_arrays(test_dataset)
  expect_equal(evaluate(model, all$x, all$y, batch_size = 7), result)
  # training moved the model from where it started, and the checkpoint
  # holds the epoch with the best validation loss
  best <- load_model(path)
  expect_equal(evaluate(best, val_dataset)$loss, min(unlist(history$metrics$val_loss)),
               tolerance = 1e-6)
  # the mean temperature is about 10 with a spread of 8: predicting it well
  # beats the spread
  expect_lt(result$mae, 8)
  p <- predict(model, test_dataset)
  expect_equal(dim(p), c(length(all$y), 1L))
})

test_that("keras 2 idioms: the sequential pipe, layer_input(), %<-% on states", {
  set.seed(11)
  x <- array(runif(40 * 5 * 2), c(40, 5, 2))
  y <- to_categorical(as.integer(apply(x, 1, sum) > 5), num_classes = 2)
  model <- keras_model_sequential() %>%
    layer_gru(units = 8, input_shape = c(5, 2)) %>%
    layer_dense(units = 2, activation = "softmax")
  model %>% compile(loss = "categorical_crossentropy", optimizer = "adam",
                    metrics = c("accuracy"))
  history <- model %>% fit(x, y, epochs = 2, batch_size = 8, verbose = 0)
  expect_named(history$metrics, c("loss", "accuracy"))
  scores <- model %>% evaluate(x, y, verbose = 0)
  expect_named(scores, c("loss", "accuracy"))
  probs <- model %>% predict(x)
  expect_equal(rowSums(probs), rep(1, 40))

  input <- layer_input(shape = c(5, 2))
  c(seq_out, state) %<-% (input %>% layer_gru(4, return_sequences = TRUE, return_state = TRUE))
  m <- keras_model(input, list(seq_out, state))
  c(a, b) %<-% predict(m, x)
  expect_equal(dim(a), c(40L, 5L, 4L))
  expect_equal(a[, 5, ], b)
})
