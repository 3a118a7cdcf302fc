# Runs `first` then `second` the way a model does (the mask of the first
# feeds the second) and returns the output.
layer_forward_output <- function(first, second, x) {
  a <- gru:::layer_forward(first, x)
  gru:::layer_forward(second, a$output, mask = a$mask)$output
}

# The R-side axis of a layer's kernel constraint.
layer_constraint_axis <- function(layer) {
  gru:::layer_self(layer)$config$kernel_constraint$config$axis
}
