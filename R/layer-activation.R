#' @include layer-type.R layer-dense.R layer-reshaping.R
NULL

#' Apply an activation function
#'
#' keras3's `layer_activation()`: applies `activation` elementwise to its
#' input (`"softmax"` over the last axis) and keeps its shape. A mask passes
#' through, as in Keras. Computed in float64, as [layer_dense()].
#'
#' @inheritParams layer_gru
#' @param activation A name from [gru_activations()], `"softmax"` (over the
#'   last axis), `NULL` (`"linear"`), or an R function of one argument
#'   (applied to a `(positions, last axis)` matrix; such a layer cannot be
#'   trained).
#' @param ... `name`, `trainable`, `dtype`, `input_shape`, `batch_size` and
#'   `batch_input_shape`.
#' @returns An activation layer (class `gru_layer`) when `object` is missing
#'   or `NULL`; its output when `object` is an array; the model when
#'   `object` is a sequential model.
#' @family layers
#' @export
#' @examples
#' layer_activation(activation = "relu")(matrix(c(-3, -1, 0, 2), 1))
#' x <- array(runif(2 * 3 * 4), c(2, 3, 4))
#' p <- x |> layer_activation("softmax")
#' apply(p, c(1, 2), sum)           # each position sums to 1
layer_activation <- function(object, activation, ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), weightless_dots, "layer_activation", call = call)
  if (missing(activation)) {
    abort_missing_arg("activation", "layer_activation",
                      "layer_activation(activation = \"relu\")", object, call)
  }
  name <- if (is.function(activation)) activation else
    if (identical(activation, "softmax")) "softmax" else
      resolve_activation(activation, call = call)$name
  config <- c(standard_config("activation", dots, call), list(activation = name))
  layer <- new_weightless_layer("activation", config, dots, call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

# The input's positions as the rows of a matrix whose columns are the last
# axis (softmax normalises each row).
activation_train_forward <- function(self, inputs, mask = NULL, training = NULL,
                                     initial_state = NULL,
                                     call = rlang::caller_env()) {
  x <- layer_input_array(self, inputs, call)
  d <- dim(x)
  z <- matrix(x, ncol = d[length(d)])
  y <- apply_dense_activation(self$config$activation, z)
  list(output = array(y, d), states = list(), mask = sequence_mask(mask, d),
       cache = list(z = z, y = y, dim = d))
}

activation_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                                call = rlang::caller_env()) {
  if (!need_inputs) return(list(inputs = NULL, weights = list()))
  g <- matrix(as.numeric(grad_output), ncol = ncol(cache$z))
  dz <- activation_gradient(self$config$activation, g, cache$z, cache$y)
  list(inputs = array(dz, cache$dim), weights = list())
}

register_layer_type(new_weightless_type(
  "activation", "Activation",
  function(self, inputs, mask = NULL, training = NULL, initial_state = NULL,
           call = rlang::caller_env()) {
    check_trainable_activation(self, call)
    activation_train_forward(self, inputs, mask = mask, call = call)
  },
  forward = forward_without_cache(activation_train_forward),
  backward = activation_backward,
  format = function(self) {
    act <- self$config$activation
    sprintf("<activation layer \"%s\"> %s", self$config$name,
            if (is.function(act)) "<function>" else act)
  },
  output_shape = any_rank_shape,
  constructor = layer_activation
))
