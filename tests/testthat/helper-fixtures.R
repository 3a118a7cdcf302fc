# Reading the conformance fixtures (JSON, row-major nested lists) into R
# arrays in Keras' dimension order.

nested_dims <- function(x) {
  d <- integer()
  while (is.list(x)) {
    d <- c(d, length(x))
    x <- x[[1L]]
  }
  d
}

nested_to_array <- function(x) {
  if (is.null(x)) return(NULL)
  d <- nested_dims(x)
  values <- unlist(x)
  if (length(d) <= 1L) return(values)
  # unlist() walks the last index fastest (row-major); R fills the first
  # index fastest, so fill the reversed shape and transpose back.
  aperm(array(values, rev(d)), rev(seq_along(d)))
}

fixture_paths <- function() {
  dir <- test_path("fixtures")
  sort(list.files(dir, pattern = "\\.json$", full.names = TRUE))
}

read_case <- function(path) {
  jsonlite::fromJSON(path, simplifyVector = FALSE)
}

# layer_gru() arguments for a case; `hard_sigmoid` cases say by their
# features which formula their oracle used.
case_layer_args <- function(case, dtype = "float32") {
  cfg <- case$config
  ra <- cfg$recurrent_activation
  if ("hard_sigmoid_keras2" %in% unlist(case$features)) ra <- "hard_sigmoid_keras2"
  args <- list(
    units = cfg$units, activation = cfg$activation, recurrent_activation = ra,
    use_bias = cfg$use_bias, return_sequences = cfg$return_sequences,
    return_state = cfg$return_state, go_backwards = cfg$go_backwards,
    stateful = cfg$stateful, unroll = cfg$unroll, reset_after = cfg$reset_after,
    dtype = dtype
  )
  if (!is.null(cfg$zero_output_for_mask)) {
    args$zero_output_for_mask <- cfg$zero_output_for_mask
  }
  args
}

case_weights <- function(case) {
  w <- case$weights
  out <- list(kernel = nested_to_array(w$kernel),
              recurrent_kernel = nested_to_array(w$recurrent_kernel))
  if (!is.null(w$bias)) out$bias <- nested_to_array(w$bias)
  out
}

case_layer <- function(case, dtype = "float32") {
  layer <- do.call(layer_gru, case_layer_args(case, dtype))
  layer$set_weights(case_weights(case))
  layer
}

# The calls of a case: one for plain cases, several for stateful ones.
case_calls <- function(case) {
  if (!is.null(case$calls)) return(case$calls)
  list(list(action = "call", inputs = case$inputs, expected = case$expected))
}

case_expected <- function(call) {
  e <- call$expected
  if (is.null(e)) e <- list(output = call$oracle_output_torch)
  list(output = nested_to_array(e$output), state = nested_to_array(e$state))
}

# Applies a case to a layer and returns the largest absolute error; fails the
# test on any shape mismatch.
run_case <- function(case, layer) {
  worst <- 0
  for (cl in case_calls(case)) {
    if (identical(cl$action, "reset_states")) {
      layer$reset_states()
      next
    }
    res <- layer(
      nested_to_array(cl$inputs),
      mask = nested_to_array(case$mask),
      initial_state = nested_to_array(case$initial_state)
    )
    exp <- case_expected(cl)
    out <- if (isTRUE(case$config$return_state)) res[[1L]] else res
    testthat::expect_equal(dim(out), dim(exp$output), label = paste(case$id, "output shape"))
    worst <- max(worst, abs(out - exp$output))
    if (isTRUE(case$config$return_state)) {
      testthat::expect_equal(dim(res[[2L]]), dim(exp$state), label = paste(case$id, "state shape"))
      worst <- max(worst, abs(res[[2L]] - exp$state))
    }
  }
  worst
}
