# Methods shared by the types that hold other layers (rnn, bidirectional,
# stacked cells): weights are the sublayers' weights in order, and setting
# them splits the list by each sublayer's count, all or nothing.
layer_n_weights <- function(self) {
  subs <- layer_sublayers(self)
  if (length(subs)) {
    return(sum(vapply(subs, function(l) layer_n_weights(layer_self(l)), numeric(1))))
  }
  length(methods_of(self)$weight_shapes(self, 1L))
}

container_get_weights <- function(self) {
  subs <- layer_sublayers(self)
  if (!all(vapply(subs, function(l) layer_is_built(layer_self(l)), logical(1)))) {
    return(list())
  }
  do.call(c, lapply(subs, function(l) layer_get_weights(layer_self(l))))
}

container_set_weights <- function(self, weights, call) {
  subs <- lapply(layer_sublayers(self), layer_self)
  counts <- vapply(subs, layer_n_weights, numeric(1))
  if (length(weights) != sum(counts)) {
    abort_gru(
      c("{.arg weights} has {length(weights)} element{?s}, but layer {.val {self$config$name}} expects {sum(counts)}.",
        "i" = "Pass them in the order {.code get_weights()} returns."),
      class = "gru_error_weights", call = call
    )
  }
  set_weights_in_parts(subs, counts, weights,
                       cli::format_inline("layer {.val {self$config$name}}"), call)
  invisible(self)
}

# Sets `weights` on the layers `subs` (selves), counts[i] to layer i, all or
# nothing: on an error every layer gets its old weights back, and a weight
# error is re-raised with its index among `weights` (of `owner`, for the
# message).
set_weights_in_parts <- function(subs, counts, weights, owner, call) {
  saved <- lapply(subs, snapshot_weights)
  starts <- cumsum(counts) - counts
  i <- 0L
  rlang::try_fetch(
    for (i in seq_along(subs)) {
      idx <- seq_len(counts[i]) + starts[i]
      if (counts[i] > 0) layer_set_weights(subs[[i]], unname(weights[idx]), call = call)
    },
    error = function(cnd) {
      Map(restore_weights, subs, saved)
      reraise_weight_error(cnd, starts[i], owner, call)
    }
  )
  invisible(subs)
}

container_is_built <- function(self) {
  all(vapply(layer_sublayers(self), function(l) layer_is_built(layer_self(l)),
             logical(1)))
}

snapshot_weights <- function(self) {
  if (length(layer_sublayers(self))) return(lapply(layer_sublayers(self), function(l) snapshot_weights(layer_self(l))))
  list(weights = self$weights, built = self$built, input_dim = self$input_dim)
}

restore_weights <- function(self, saved) {
  subs <- layer_sublayers(self)
  if (length(subs)) return(Map(restore_weights, lapply(subs, layer_self), saved))
  self$weights <- saved$weights
  self$built <- saved$built
  self$input_dim <- saved$input_dim
}

# The output shape of a layer for an input shape (NA = unknown), or a string
# saying why that input does not fit.
layer_output_shape <- function(layer, shape) {
  self <- layer_self(layer)
  methods_of(self)$output_shape(self, shape)
}

# Creates a layer's weights for a known input shape (a model does this as
# layers are added, as Keras does).
layer_build_shape <- function(layer, shape) {
  self <- layer_self(layer)
  methods_of(self)$build_shape(self, shape)
  invisible(layer)
}

format_shape <- function(shape) {
  if (is.character(shape)) return("?")
  dims <- vapply(shape, function(d) {
    if (is.na(d)) "NA" else format(d, scientific = FALSE, trim = TRUE)
  }, character(1))
  paste0("(", paste(dims, collapse = ", "), ")")
}

# Bound along the last axis (merge_mode = "concat"): in column-major order
# the last axis varies slowest, so the values simply follow each other.
bind_last <- function(a, b) {
  d <- dim(a)
  n <- length(d)
  array(c(a, b), c(d[-n], d[n] + dim(b)[n]))
}

# The index of each element of an array of shape `to` into an array of
# shape `from` (the same rank; each axis `to`'s size or 1) broadcast along
# its axes of size 1: `from_values[broadcast_index(from, to)]` is the
# broadcast array, column-major.
broadcast_index <- function(from, to) {
  n <- prod(to)
  idx <- rep(1L, n)
  stride <- 1L
  for (k in seq_along(to)) {
    if (from[[k]] > 1L) {
      pos <- rep(rep(seq_len(to[[k]]) - 1L, each = prod(to[seq_len(k - 1L)])),
                 length.out = n)
      idx <- idx + pos * stride
    }
    stride <- stride * from[[k]]
  }
  idx
}

reverse_time <- function(x) {
  n_steps <- dim(x)[2L]
  x[, rev(seq_len(n_steps)), , drop = FALSE]
}
