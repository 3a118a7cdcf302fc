#' @include layer-type.R
NULL

#' Turn integer sequences into dense vectors
#'
#' keras3's `layer_embedding()`: maps a `(batch, timesteps)` matrix of
#' integer indices in `0:(input_dim - 1)` to a `(batch, timesteps,
#' output_dim)` array by looking rows up in an `(input_dim, output_dim)`
#' weight. With `mask_zero = TRUE`, index 0 is padding: it produces the
#' mask the next recurrent layer uses (the masking path keras' docs
#' describe).
#'
#' @inheritParams layer_gru
#' @param input_dim Size of the vocabulary: the largest index plus one.
#' @param output_dim Size of each embedding vector.
#' @param embeddings_initializer Initializer of the embeddings (Keras'
#'   default `"uniform"`: uniform in `[-0.05, 0.05]`).
#' @param embeddings_regularizer Regularizer or `NULL`.
#' @param embeddings_constraint Constraint or `NULL`.
#' @param mask_zero Whether index 0 is padding to mask.
#' @param input_length keras 2's fixed sequence length, or `NULL`.
#' @param ... `name`, `trainable`, `dtype`, `batch_size`, `input_shape`,
#'   `batch_input_shape` and `weights`.
#' @returns An embedding layer (class `gru_layer`) when `object` is missing
#'   or `NULL`; its output when `object` is an array; the model when
#'   `object` is a sequential model.
#' @family layers
#' @export
#' @examples
#' tokens <- rbind(c(3, 1, 4, 0, 0), c(2, 7, 1, 8, 2))
#' emb <- layer_embedding(input_dim = 10, output_dim = 3, mask_zero = TRUE)
#' dim(emb(tokens))
#' emb$compute_mask(tokens)
#' tokens |> emb() |> dim()
layer_embedding <- function(object, input_dim, output_dim,
                            embeddings_initializer = "uniform",
                            embeddings_regularizer = NULL,
                            activity_regularizer = NULL,
                            embeddings_constraint = NULL, mask_zero = FALSE,
                            input_length = NULL, ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), embedding_dots, "layer_embedding", call = call)
  input_dim <- check_positive_whole(input_dim, call = call)
  output_dim <- check_positive_whole(output_dim, call = call)
  check_bool(mask_zero, call = call)
  if (!is.null(input_length)) input_length <- check_positive_whole(input_length, call = call)
  if (is.null(dots$input_shape) && is.null(dots$batch_input_shape) && !is.null(dots$batch_size)) {
    dots$input_shape <- input_length %||% NA
  }
  config <- c(
    standard_config("embedding", dots, call),
    list(
      input_dim = input_dim, output_dim = output_dim,
      embeddings_initializer = resolve_initializer(embeddings_initializer, call = call),
      embeddings_regularizer = resolve_regularizer(embeddings_regularizer, call = call),
      activity_regularizer = resolve_regularizer(activity_regularizer, call = call),
      embeddings_constraint = resolve_constraint(embeddings_constraint, call = call),
      mask_zero = mask_zero, input_length = input_length
    )
  )
  layer <- new_simple_layer("embedding", config, dots, call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

embedding_dots <- c("name", "trainable", "dtype", "input_shape", "batch_size",
                    "batch_input_shape", "weights")

embedding_weight_shapes <- function(self, input_dim) {
  list(embeddings = as.integer(c(self$config$input_dim, self$config$output_dim)))
}

embedding_build <- function(self, input_dim = NULL, call = NULL) {
  shapes <- embedding_weight_shapes(self)
  self$weights <- build_weights(self, shapes, c(embeddings = "embeddings_initializer"),
                                call = call)
  self$input_dim <- shapes$embeddings[1L]
  self$built <- TRUE
  invisible(self)
}

embedding_forward <- function(self, inputs, mask = NULL, training = NULL,
                              initial_state = NULL, call = rlang::caller_env()) {
  cfg <- self$config
  if (is.numeric(inputs) && is.null(dim(inputs))) inputs <- matrix(inputs, 1L)
  d <- dim(inputs)
  if (!is.numeric(inputs) || length(d) != 2L) {
    abort_gru(
      c("{.arg inputs} of an embedding layer must be a (batch, timesteps) matrix of integer indices, not {.obj_type_friendly {inputs}}{if (!is.null(d)) paste0(' of shape ', format_shape(d))}."),
      class = "gru_error_input", call = call
    )
  }
  bad <- is.na(inputs) | inputs != trunc(inputs) | inputs < 0 | inputs >= cfg$input_dim
  if (any(bad)) {
    abort_gru(
      c("{.arg inputs} must hold whole numbers in [0, {cfg$input_dim - 1}] for layer {.val {cfg$name}}; found {format(inputs[which(bad)[1L]])} at {first_nonfinite(ifelse(bad, NA, 0))}.",
        "i" = "{.arg input_dim} is the vocabulary size: the largest index plus one."),
      class = "gru_error_input", call = call
    )
  }
  if (!self$built) embedding_build(self, call = call)
  rows <- self$weights$embeddings[as.vector(inputs) + 1L, , drop = FALSE]
  list(output = array(rows, c(d, cfg$output_dim)), states = list(),
       mask = if (isTRUE(cfg$mask_zero)) matrix(inputs != 0, d[1L], d[2L]))
}

embedding_train_forward <- function(self, inputs, mask = NULL,
                                                  training = NULL,
                                                  initial_state = NULL,
                                                  call = rlang::caller_env()) {
  res <- embedding_forward(self, inputs, mask = mask, call = call)
  res$cache <- list(index = as.vector(inputs) + 1L)
  res
}

# Rows of the embedding matrix get the sum of the output gradients at the
# positions that looked them up; indices are not differentiable.
embedding_backward <- function(self, cache, grad_output,
                                             need_inputs = TRUE,
                                             call = rlang::caller_env()) {
  cfg <- self$config
  g <- matrix(as.numeric(grad_output), ncol = cfg$output_dim)
  sums <- rowsum(g, cache$index, reorder = TRUE)
  de <- matrix(0, cfg$input_dim, cfg$output_dim)
  de[as.integer(rownames(sums)), ] <- sums
  list(inputs = NULL, weights = list(embeddings = de))
}

register_layer_type(new_layer_type(
  type = "embedding", class_name = "Embedding",
  forward = embedding_forward,
  train_forward = embedding_train_forward,
  backward = embedding_backward,
  weight_shapes = function(self, input_dim) embedding_weight_shapes(self),
  build = embedding_build,
  format = function(self) {
    cfg <- self$config
    sprintf("<embedding layer \"%s\"> %d -> %d%s%s", cfg$name, cfg$input_dim,
            cfg$output_dim, if (isTRUE(cfg$mask_zero)) ", mask_zero" else "",
            if (self$built) "" else " (not built)")
  },
  regularized = function(self) c(embeddings = "embeddings_regularizer"),
  constrained = function(self) c(embeddings = "embeddings_constraint"),
  output_shape = function(self, shape) {
    if (length(shape) != 2L) return("it needs 2-D input (batch, timesteps) of integer indices")
    c(shape, self$config$output_dim)
  },
  build_shape = function(self, shape) if (!self$built) embedding_build(self),
  constructor = layer_embedding, constructor_dots = embedding_dots
))
