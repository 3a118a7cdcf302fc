#' Gradients of a layer's output (vector-Jacobian product)
#'
#' Backpropagation through time for one layer: given the gradient of some
#' loss with respect to the layer's output (`grad_output`) and, optionally,
#' with respect to its final state (`grad_state`), returns the gradient of
#' that loss with respect to the layer's weights, its inputs and its initial
#' state. In other words the vector-Jacobian product
#' `t(J) %*% grad_output`, where `J` is the Jacobian of the layer's output.
#' For a loss `sum(output * R)`, `grad_output` is `R`.
#'
#' The forward pass and the backward pass both run in C++ (on the CPU, in the
#' layer's `dtype`), with no R code per timestep. Every feature of the
#' forward pass is differentiated: both `reset_after` conventions, every
#' built-in activation, masks of any pattern, `go_backwards`,
#' `initial_state`, `return_sequences`, `zero_output_for_mask` and, with
#' `training = TRUE`, `dropout` and `recurrent_dropout` (one set of masks is
#' drawn, as a training call of the layer draws them). At a kink of a
#' piecewise-linear activation (`relu` at 0, ...) the gradient is
#' TensorFlow's choice (`relu'(0) = 0`).
#'
#' The layer is built on first use, like a call. A stateful layer starts
#' from its carried state, which this function does not advance. Layers with
#' an R function as an activation are not supported.
#'
#' @param layer A layer made by [layer_gru()].
#' @param inputs A numeric array `(batch, timesteps, features)`, as for a
#'   layer call.
#' @param grad_output The gradient of the loss with respect to the layer's
#'   output: a `(batch, units)` matrix, or a `(batch, timesteps, units)`
#'   array with `return_sequences = TRUE` (in the order the output has, i.e.
#'   processing order with `go_backwards`). `NULL` means zeros.
#' @param grad_state `NULL` (zeros) or the gradient of the loss with respect
#'   to the final state, a `(batch, units)` matrix (the second element of the
#'   result with `return_state = TRUE`).
#' @param mask,initial_state,training As in a layer call (see the "Call
#'   arguments" of [layer_gru()]).
#'
#' @returns A named list: `inputs` (the shape of `inputs`), `initial_state`
#'   (`(batch, units)`; the gradient with respect to the zeros used when no
#'   initial state is given) and the gradients of the weights in the order and
#'   shapes of `layer$get_weights()`: `kernel`, `recurrent_kernel` and,
#'   when the layer uses a bias, `bias` (`(2, 3 * units)` with `reset_after
#'   = TRUE`, `3 * units` otherwise).
#' @family layers
#' @export
#' @examples
#' set.seed(1)
#' layer <- layer_gru(units = 3, dtype = "float64")
#' x <- array(rnorm(2 * 4 * 5), c(2, 4, 5))
#'
#' # The gradients of loss = sum(output * R):
#' R <- matrix(rnorm(2 * 3), 2, 3)
#' g <- layer_gradients(layer, x, grad_output = R)
#' str(g)
#'
#' # Check one kernel entry against a finite difference:
#' loss <- function() sum(layer(x) * R)
#' w <- layer$get_weights()
#' w1 <- w
#' w1$kernel[1, 1] <- w1$kernel[1, 1] + 1e-6
#' layer$set_weights(w1)
#' (loss_shifted <- loss())
#' layer$set_weights(w)
#' c(finite_difference = (loss_shifted - loss()) / 1e-6,
#'   gradient = g$kernel[1, 1])
layer_gradients <- function(layer, inputs, grad_output, grad_state = NULL,
                            mask = NULL, initial_state = NULL,
                            training = FALSE) {
  call <- environment()
  if (!inherits(layer, "gru_layer")) {
    abort_gru(
      c("{.arg layer} must be a layer made by {.fn layer_gru}, not {.obj_type_friendly {layer}}.",
        "i" = "Create one with {.code layer_gru(units = ...)}."),
      class = "gru_error_input", call = call
    )
  }
  if (missing(grad_output)) {
    abort_gru(
      c("{.arg grad_output} is missing.",
        "i" = "Pass the gradient of the loss with respect to the layer's output (or {.code NULL} for zeros)."),
      class = "gru_error_input", call = call
    )
  }
  gru_layer_gradients(layer, inputs, grad_output, grad_state = grad_state,
                      mask = mask, initial_state = initial_state,
                      training = training, call = call)
}

# layer_gradients() without the checks of `layer`. `dropout` (internal)
# gives the dropout masks instead of drawing them (see gru_forward()).
gru_layer_gradients <- function(layer, x, grad_output, grad_state = NULL,
                                mask = NULL, initial_state = NULL,
                                training = FALSE, dropout = NULL,
                                call = rlang::caller_env()) {
  self <- layer_self(layer)
  check_self(self, call = call)
  methods_of(self)$gradients(self, x, grad_output, grad_state = grad_state,
                             mask = mask, initial_state = initial_state,
                             training = training, dropout = dropout,
                             call = call)
}

# The GRU's gradients method (the gradients slot of the GRU type).
gru_backward <- function(self, inputs, grad_output, grad_state = NULL,
                         mask = NULL, initial_state = NULL, training = FALSE,
                         dropout = NULL, call = rlang::caller_env()) {
  cfg <- self$config
  prep <- gru_prepare_call(self, inputs, mask = mask, training = training,
                           initial_state = initial_state, dropout = dropout,
                           call = call)
  if (is.na(prep$act$code) || is.na(prep$ract$code)) {
    abort_gru(
      c("Gradients need built-in activations, but layer {.val {cfg$name}} has an R function as an activation.",
        "i" = "Use one of {.fn gru_activations} for {.arg activation} and {.arg recurrent_activation}."),
      class = "gru_error_input", call = call
    )
  }
  out_dim <- if (isTRUE(cfg$return_sequences)) {
    c(prep$b, prep$n_steps, cfg$units)
  } else {
    c(prep$b, cfg$units)
  }
  grad_output <- check_gradient(grad_output, out_dim, "grad_output",
                                "the layer's output", call = call)
  grad_state <- check_gradient(grad_state, c(prep$b, cfg$units), "grad_state",
                               "the final state", call = call)
  # The one gradient route: the training passes fit() runs, the input
  # gradient included.
  fwd <- with_backend_errors(cpp_gru_train_forward(prep$engine,
                                                   float64 = identical(cfg$dtype, "float64")),
                             what = "GRU training forward pass", call = call)
  res <- with_backend_errors(
    cpp_gru_train_backward(fwd$cache, grad_output, grad_state, need_inputs = TRUE),
    what = "GRU backward pass", call = call
  )
  out <- list(inputs = res$inputs, initial_state = res$initial_state,
              kernel = res$kernel, recurrent_kernel = res$recurrent_kernel)
  if (!is.null(self$weights$bias)) {
    out$bias <- if (isTRUE(cfg$reset_after)) {
      rbind(res$input_bias, res$recurrent_bias, deparse.level = 0)
    } else {
      res$input_bias
    }
  }
  out
}

# An upstream gradient: NULL, or a finite numeric array of shape `want`.
# Returns it as a double vector (or NULL).
check_gradient <- function(x, want, arg, what, call) {
  if (is.null(x)) return(NULL)
  if (!is.numeric(x) || is.object(x) && !is.array(x)) {
    abort_gru(
      c("{.arg {arg}} must be a numeric array, the gradient of the loss with respect to {what}, not {.obj_type_friendly {x}}."),
      class = "gru_error_input", call = call
    )
  }
  have <- dim(x) %||% length(x)
  if (!identical(as.integer(have), as.integer(want))) {
    abort_gru(
      c("{.arg {arg}} must have shape ({paste(want, collapse = ', ')}), the shape of {what}, not ({paste(have, collapse = ', ')}).",
        "i" = "It is the gradient of the loss with respect to {what}, element by element."),
      class = "gru_error_shape", call = call
    )
  }
  check_finite(x, arg = arg, call = call)
  as.double(x)
}
