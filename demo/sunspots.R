# A GRU forecaster for the monthly sunspot numbers shipped with R
# (datasets::sunspot.month, 1749-2013): windows of 24 months predict the next
# month. The last 20% of the series (in time) is the test set. The demo
# trains the model, prints its test error next to the naive forecast
# "next month = this month", and writes a plot of forecast against truth to
# sunspots-forecast.png in the working directory.
library(gru)

series <- as.numeric(datasets::sunspot.month)
years <- as.numeric(stats::time(datasets::sunspot.month))
window <- 24L

# Windows -> next value. Row i holds months i .. i + 23 and targets i + 24.
n_windows <- length(series) - window
index <- outer(seq_len(n_windows), 0:(window - 1L), `+`)
target_index <- seq_len(n_windows) + window
n_train <- floor(0.8 * n_windows)
train <- seq_len(n_train)
test <- (n_train + 1L):n_windows

# Scale with the training part's statistics only.
center <- mean(series[seq_len(max(target_index[train]))])
scale <- stats::sd(series[seq_len(max(target_index[train]))])
scaled <- (series - center) / scale
x <- array(scaled[index], c(n_windows, window, 1L))
y <- scaled[target_index]
cat(sprintf("%d windows of %d months (%d for training, %d for testing)\n",
            n_windows, window, length(train), length(test)))

set.seed(2024)
model <- keras_model_sequential(input_shape = c(window, 1), name = "sunspots") |>
  layer_gru(16, name = "encoder") |>
  layer_dense(1, name = "forecast")
compile(model, optimizer = optimizer_adam(learning_rate = 0.005), loss = "mse",
        metrics = "mae")
print(model)

elapsed <- system.time(
  history <- fit(
    model, x[train, , , drop = FALSE], y[train],
    epochs = 30, batch_size = 64, validation_split = 0.1, verbose = 2,
    callbacks = list(callback_early_stopping(monitor = "val_loss", patience = 5,
                                             restore_best_weights = TRUE))
  )
)[["elapsed"]]
cat(sprintf("trained %d epochs in %.1f s\n", length(history$metrics$loss), elapsed))

# Test error in sunspot numbers, next to the naive last-value forecast.
forecast <- as.numeric(predict(model, x[test, , , drop = FALSE])) * scale + center
truth <- series[target_index[test]]
naive <- series[target_index[test] - 1L]
rmse <- function(a, b) sqrt(mean((a - b)^2))
mae <- function(a, b) mean(abs(a - b))
errors <- data.frame(
  forecast = c("GRU", "naive (last value)"),
  RMSE = c(rmse(forecast, truth), rmse(naive, truth)),
  MAE = c(mae(forecast, truth), mae(naive, truth))
)
cat("\nTest error (monthly sunspot number), ", format(years[target_index[test[1]]], nsmall = 1),
    "-", format(years[target_index[tail(test, 1)]], nsmall = 1), ":\n", sep = "")
print(errors, row.names = FALSE, digits = 4)

path <- file.path(getwd(), "sunspots-forecast.png")
grDevices::png(path, width = 1000, height = 450)
t_test <- years[target_index[test]]
graphics::plot(t_test, truth, type = "l", col = "grey40", xlab = "year",
               ylab = "monthly sunspot number",
               main = "GRU one-month-ahead forecast on the test years")
graphics::lines(t_test, forecast, col = "#d95f02", lwd = 1.5)
graphics::legend("topright", c("truth", "GRU forecast"), col = c("grey40", "#d95f02"),
                 lwd = c(1, 1.5), bty = "n")
invisible(grDevices::dev.off())
cat("\nPlot of forecast against truth written to", path, "\n")
