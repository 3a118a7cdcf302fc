#' @include layer-type.R
NULL

#' Mask timesteps whose features all equal a value
#'
#' keras3's `layer_masking()`: a timestep is masked when every one of its
#' features equals `mask_value`. The layer outputs its input with masked
#' steps set to zero and hands the mask to the next layer, so a recurrent
#' layer after it skips padded steps. The mask passes through layers that
#' keep the time axis (recurrent layers with `return_sequences = TRUE`,
#' dense layers) and stops at layers that do not.
#'
#' @inheritParams layer_gru
#' @param mask_value The padding value.
#' @param ... `name`, `trainable`, `dtype`, `input_shape`, `batch_size` and
#'   `batch_input_shape`.
#' @returns A masking layer (class `gru_layer`) when `object` is missing or
#'   `NULL`; its output when `object` is an array; the model when `object`
#'   is a sequential model. `layer$compute_mask(x)` returns the mask.
#' @family layers
#' @export
#' @examples
#' x <- array(runif(2 * 4 * 3), c(2, 4, 3))
#' x[2, 3:4, ] <- 0                     # padding
#' masking <- layer_masking(mask_value = 0)
#' masking$compute_mask(x)
#' x |> layer_masking() |> layer_gru(5) |> dim()
layer_masking <- function(object, mask_value = 0, ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), masking_dots, "layer_masking", call = call)
  check_number(mask_value, call = call)
  config <- c(standard_config("masking", dots, call), list(mask_value = mask_value))
  layer <- new_weightless_layer("masking", config, dots, call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

masking_dots <- weightless_dots

masking_forward <- function(self, inputs, mask = NULL, training = NULL,
                            initial_state = NULL, call = rlang::caller_env()) {
  if (!(is.numeric(inputs) || is.logical(inputs)) || length(dim(inputs)) != 3L) {
    abort_gru(
      c("{.arg inputs} of a masking layer must be a (batch, timesteps, features) array, not {.obj_type_friendly {inputs}}{if (!is.null(dim(inputs))) paste0(' of shape ', format_shape(dim(inputs)))}.",
        "i" = "The mask is one value per batch row and timestep, so it needs a time axis."),
      class = c("gru_error_mask", "gru_error_shape"), call = call
    )
  }
  d <- dim(inputs)
  keep <- apply(inputs != self$config$mask_value, c(1L, 2L), any)
  keep[is.na(keep)] <- TRUE
  # (batch, timesteps) recycles over the features of a (b, t, f) array.
  output <- array(as.numeric(inputs) * as.vector(keep), d)
  list(output = output, states = list(), mask = matrix(keep, d[1L], d[2L]))
}

masking_train_forward <- function(self, inputs, mask = NULL,
                                                training = NULL, initial_state = NULL,
                                                call = rlang::caller_env()) {
  res <- masking_forward(self, inputs, mask = mask, call = call)
  res$cache <- list(keep = as.vector(res$mask), dim = dim(inputs))
  res
}

masking_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                                           call = rlang::caller_env()) {
  list(inputs = if (need_inputs) {
    array(as.numeric(grad_output) * cache$keep, cache$dim)
  }, weights = list())
}

register_layer_type(new_layer_type(
  type = "masking", class_name = "Masking",
  forward = masking_forward,
  train_forward = masking_train_forward,
  backward = masking_backward,
  format = function(self) sprintf("<masking layer \"%s\"> mask_value = %s",
                                  self$config$name, format(self$config$mask_value)),
  output_shape = function(self, shape) {
    if (length(shape) != 3L) return("it needs 3-D input (batch, timesteps, features) to mask timesteps")
    shape
  },
  constructor = layer_masking, constructor_dots = masking_dots
))
