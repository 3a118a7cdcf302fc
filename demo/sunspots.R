# A GRU over the monthly sunspot numbers shipped with R (datasets::sunspot.month).
# It windows the series into sequences, runs a GRU encoder over them, and
# shows the shapes, the weight layout and the time one call takes.
library(gru)

series <- as.numeric(datasets::sunspot.month)
series <- (series - mean(series)) / stats::sd(series)
window <- 24L
starts <- seq(1L, length(series) - window, by = 6L)
x <- array(0, c(length(starts), window, 1L))
for (i in seq_along(starts)) x[i, , 1L] <- series[starts[i]:(starts[i] + window - 1L)]
cat(sprintf("%d windows of %d months, 1 feature\n", dim(x)[1], dim(x)[2]))

set.seed(2024)
encoder <- layer_gru(units = 16, return_sequences = TRUE, return_state = TRUE,
                     name = "sunspot_encoder")
res <- encoder(x)
print(encoder)
cat("sequence output:", paste(dim(res[[1]]), collapse = " x "),
    " final state:", paste(dim(res[[2]]), collapse = " x "), "\n")
str(encoder$get_weights())

elapsed <- system.time(for (i in 1:10) encoder(x))[["elapsed"]] / 10
cat(sprintf("one forward pass over %d x %d x 1 -> 16 units: %.1f ms\n",
            dim(x)[1], dim(x)[2], 1000 * elapsed))

# The same layer through the pipe, ending in the last output only.
last <- x |> layer_gru(8)
cat("x |> layer_gru(8):", paste(dim(last), collapse = " x "), "\n")
print(backend_info())
