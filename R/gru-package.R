#' gru: Keras-compatible gated recurrent units in C++
#'
#' `layer_gru()` gives R users the GRU layer of keras3 (same arguments, weight
#' layout and numbers) with the recurrence running in C++. See the README for
#' a tour.
#'
#' @keywords internal
#' @useDynLib gru, .registration = TRUE
#' @importFrom Rcpp sourceCpp
#' @importFrom stats predict
#' @importFrom rlang is_reference wref_value
"_PACKAGE"

# Per-session counters for Keras-style automatic layer names ("gru", "gru_1").
the <- new.env(parent = emptyenv())
the$name_counts <- list()

`%||%` <- function(a, b) if (is.null(a)) b else a
