# callback_csv_logger(): the file Keras' CSVLogger writes, read back.

csv_model <- function() {
  model <- keras_model_sequential(input_shape = c(8, 1)) |> layer_gru(4) |> layer_dense(1)
  compile(model, optimizer = optimizer_sgd(0.01), loss = "mse", metrics = "mae")
  model
}

csv_data <- function() {
  set.seed(1)
  x <- array(stats::runif(40 * 8), c(40, 8, 1))
  list(x = x, y = apply(x, 1, sum))
}

test_that("each epoch becomes a row: Keras' header, 0-based epochs, exact values", {
  d <- csv_data()
  f <- tempfile(fileext = ".csv")
  h <- fit(csv_model(), d$x, d$y, epochs = 2, verbose = 0, validation_split = 0.25,
           callbacks = list(callback_csv_logger(f)))
  lines <- readLines(f)
  expect_identical(lines[1], "epoch,loss,mae,val_loss,val_mae")
  log <- utils::read.csv(f)
  expect_identical(log$epoch, 0:1)
  for (nm in c("loss", "mae", "val_loss", "val_mae")) {
    expect_identical(log[[nm]], h$metrics[[nm]], label = nm)
  }
  # Python's csv module ends lines with \r\n
  raw <- readChar(f, file.size(f), useBytes = TRUE)
  expect_identical(lengths(regmatches(raw, gregexpr("\r\n", raw, fixed = TRUE))), 3L)
})

test_that("append = TRUE adds rows without a second header; FALSE overwrites", {
  d <- csv_data()
  f <- tempfile(fileext = ".csv")
  model <- csv_model()
  fit(model, d$x, d$y, epochs = 2, verbose = 0, callbacks = list(callback_csv_logger(f)))
  fit(model, d$x, d$y, epochs = 1, verbose = 0,
      callbacks = list(callback_csv_logger(f, append = TRUE)))
  log <- utils::read.csv(f)
  expect_identical(log$epoch, c(0L, 1L, 0L))
  expect_identical(names(log), c("epoch", "loss", "mae"))
  fit(model, d$x, d$y, epochs = 1, verbose = 0, callbacks = list(callback_csv_logger(f)))
  expect_identical(utils::read.csv(f)$epoch, 0L)
  # appending to a new or empty file writes the header
  g <- tempfile(fileext = ".csv")
  file.create(g)
  fit(model, d$x, d$y, epochs = 1, verbose = 0,
      callbacks = list(callback_csv_logger(g, append = TRUE)))
  expect_identical(readLines(g)[1], "epoch,loss,mae")
})

test_that("the separator, missing values and vectors are written as Keras does", {
  f <- tempfile(fileext = ".csv")
  cb <- callback_csv_logger(f, separator = ";")
  ctx <- new.env()
  cb$hooks$on_train_begin(ctx, NULL, list())
  cb$hooks$on_epoch_end(ctx, 1L, list(loss = 0.5, b = 1, a = c(1, 2.5)))
  cb$hooks$on_epoch_end(ctx, 2L, list(loss = 0.25, extra = 3))
  # keys are sorted and fixed by the first epoch; a missing one is NA
  expect_identical(readLines(f), c("epoch;a;b;loss",
                                   "0;\"\"\"[1.0, 2.5]\"\"\";1.0;0.5",
                                   "1;NA;NA;0.25"))
  cb2 <- callback_csv_logger(f, separator = "\t")
  cb2$hooks$on_train_begin(ctx, NULL, list())
  cb2$hooks$on_epoch_end(ctx, 1L, list(loss = 1 / 3, note = "a\tb"))
  expect_identical(readLines(f), c("epoch\tloss\tnote", "0\t0.3333333333333333\t\"a\tb\""))
})

test_that("numbers are formatted as Python's repr", {
  fmt <- format_python_number
  expect_identical(fmt(1), "1.0")
  expect_identical(fmt(0.1), "0.1")
  expect_identical(fmt(1 / 3), "0.3333333333333333")
  expect_identical(fmt(2 / 3), "0.6666666666666666")
  expect_identical(fmt(1e-05), "1e-05")
  expect_identical(fmt(3L), "3")
  expect_identical(fmt(NaN), "nan")
  expect_identical(fmt(-Inf), "-inf")
  expect_identical(fmt(NA_real_), "NA")
  set.seed(4)
  for (v in stats::rnorm(50)) {
    expect_identical(as.numeric(fmt(v)), v)
  }
})

test_that("bad arguments are classed input errors", {
  expect_error(callback_csv_logger(NA_character_), class = "gru_error_input")
  expect_error(callback_csv_logger(c("a", "b")), class = "gru_error_input")
  expect_error(callback_csv_logger("log.csv", separator = ""), class = "gru_error_input")
  expect_error(callback_csv_logger("log.csv", separator = ",,"), class = "gru_error_input")
  expect_error(callback_csv_logger("log.csv", separator = 1), class = "gru_error_input")
  expect_error(callback_csv_logger("log.csv", append = "yes"), class = "gru_error_input")
  d <- csv_data()
  missing_dir <- file.path(tempfile(), "no", "log.csv")
  expect_error(
    fit(csv_model(), d$x, d$y, epochs = 1, verbose = 0,
        callbacks = list(callback_csv_logger(missing_dir))),
    class = "gru_error_input"
  )
  expect_snapshot(callback_csv_logger("log.csv", separator = ", "), error = TRUE)
})
