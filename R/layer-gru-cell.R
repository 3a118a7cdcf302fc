#' @include layer-type.R
NULL

#' A GRU cell: one timestep of a GRU
#'
#' keras 2's `layer_gru_cell()` and keras3's `rnn_cell_gru()`: the GRU's
#' arguments, weights, config and printing, for one timestep. A cell is
#' called as `cell(inputs, states)` with `inputs` a `(batch, features)`
#' matrix and `states` a list of one `(batch, units)` matrix, and returns
#' `list(output, list(new_state))`; the step runs in C++ (the engine of
#' [layer_gru()] over one timestep). [layer_rnn()] runs a cell, or a stack
#' of cells, over a whole sequence.
#'
#' @section Call arguments:
#' `cell(inputs, states = NULL, training = NULL)`:
#' * `inputs`: a numeric `(batch, features)` matrix.
#' * `states`: a list of one `(batch, units)` matrix (or the matrix);
#'   `NULL` means zeros.
#' * `training`: `TRUE` applies dropout (a new mask at every call).
#'
#' @section Memory:
#' Like [layer_gru()], a cell keeps its kernels packed for the CPU engine
#' between calls with the same weights, so a loop that steps it from R does
#' not pack them at every step.
#'
#' @inheritParams layer_gru
#' @param ... `name`, `dtype`, `trainable`, `seed` (keras3: seeds the
#'   cell's dropout), `implementation`, `input_dim` (builds the weights at
#'   once) and `weights`. Other names are an error.
#' @returns A cell (class `gru_cell`).
#' @family layers
#' @export
#' @examples
#' cell <- layer_gru_cell(4, name = "step")
#' x <- matrix(runif(2 * 3), 2, 3)
#' res <- cell(x, list(matrix(0, 2, 4)))
#' dim(res[[1]])
#' dim(res[[2]][[1]])
#' cell
#'
#' # keras3's name, and running it over a sequence:
#' seq <- array(runif(2 * 5 * 3), c(2, 5, 3))
#' seq |> layer_rnn(cell = rnn_cell_gru(4)) |> dim()
layer_gru_cell <- function(units, activation = "tanh",
                           recurrent_activation = "sigmoid", use_bias = TRUE,
                           kernel_initializer = "glorot_uniform",
                           recurrent_initializer = "orthogonal",
                           bias_initializer = "zeros", kernel_regularizer = NULL,
                           recurrent_regularizer = NULL, bias_regularizer = NULL,
                           kernel_constraint = NULL, recurrent_constraint = NULL,
                           bias_constraint = NULL, dropout = 0,
                           recurrent_dropout = 0, reset_after = TRUE, ...) {
  call <- rlang::current_env()
  if (missing(units)) {
    abort_gru(
      c("{.arg units} is missing.", "i" = "Give the number of units, e.g. {.code layer_gru_cell(units = 32)}."),
      class = "gru_error_input", call = call
    )
  }
  dots <- check_layer_dots(list(...), gru_cell_dots, "layer_gru_cell", call = call)
  dots$name <- dots$name %||% unique_layer_name("gru_cell")
  config <- gru_config(
    units = units, activation = activation,
    recurrent_activation = recurrent_activation, use_bias = use_bias,
    kernel_initializer = kernel_initializer,
    recurrent_initializer = recurrent_initializer,
    bias_initializer = bias_initializer,
    kernel_regularizer = kernel_regularizer,
    recurrent_regularizer = recurrent_regularizer,
    bias_regularizer = bias_regularizer, activity_regularizer = NULL,
    kernel_constraint = kernel_constraint,
    recurrent_constraint = recurrent_constraint,
    bias_constraint = bias_constraint, dropout = dropout,
    recurrent_dropout = recurrent_dropout, seed = dots$seed,
    return_sequences = FALSE, return_state = FALSE, go_backwards = FALSE,
    stateful = FALSE, unroll = FALSE, reset_after = reset_after,
    use_cudnn = "auto", dots = dots[setdiff(names(dots), "seed")], call = call
  )
  weights <- attr(config, "weights")
  input_dim <- config$batch_input_shape[3L]
  config <- config[gru_cell_keys]
  cell <- new_cell("gru_cell", config)
  self <- layer_self(cell)
  if (!is.null(input_dim) && !is.na(input_dim)) gru_build(self, input_dim, call = call)
  if (!is.null(weights)) layer_set_weights(self, weights, call = call)
  cell
}

#' @rdname layer_gru_cell
#' @export
rnn_cell_gru <- function(units, activation = "tanh",
                         recurrent_activation = "sigmoid", use_bias = TRUE,
                         kernel_initializer = "glorot_uniform",
                         recurrent_initializer = "orthogonal",
                         bias_initializer = "zeros", kernel_regularizer = NULL,
                         recurrent_regularizer = NULL, bias_regularizer = NULL,
                         kernel_constraint = NULL, recurrent_constraint = NULL,
                         bias_constraint = NULL, dropout = 0,
                         recurrent_dropout = 0, reset_after = TRUE, seed = NULL,
                         ...) {
  layer_gru_cell(
    units, activation = activation, recurrent_activation = recurrent_activation,
    use_bias = use_bias, kernel_initializer = kernel_initializer,
    recurrent_initializer = recurrent_initializer,
    bias_initializer = bias_initializer, kernel_regularizer = kernel_regularizer,
    recurrent_regularizer = recurrent_regularizer,
    bias_regularizer = bias_regularizer, kernel_constraint = kernel_constraint,
    recurrent_constraint = recurrent_constraint, bias_constraint = bias_constraint,
    dropout = dropout, recurrent_dropout = recurrent_dropout,
    reset_after = reset_after, seed = seed, ...
  )
}

gru_cell_dots <- c("name", "dtype", "trainable", "seed", "implementation",
                   "input_dim", "weights")

# Keras' GRUCell config keys (keras 2's implementation kept).
gru_cell_keys <- c("name", "trainable", "dtype", "units", "activation",
                   "recurrent_activation", "use_bias", "kernel_initializer",
                   "recurrent_initializer", "bias_initializer",
                   "kernel_regularizer", "recurrent_regularizer",
                   "bias_regularizer", "kernel_constraint",
                   "recurrent_constraint", "bias_constraint", "dropout",
                   "recurrent_dropout", "reset_after", "seed", "implementation")

# A cell's config as the engine's sequence config: the sequence options a
# layer adds (layer_rnn() passes its own).
cell_sequence_config <- function(cfg, return_sequences = FALSE,
                                 go_backwards = FALSE,
                                 zero_output_for_mask = FALSE,
                                 use_cudnn = "auto") {
  cfg$return_sequences <- return_sequences
  cfg$return_state <- FALSE
  cfg$go_backwards <- go_backwards
  cfg$stateful <- FALSE
  cfg$unroll <- FALSE
  cfg$zero_output_for_mask <- zero_output_for_mask
  cfg$use_cudnn <- use_cudnn
  cfg
}

# The cell's inputs: a (batch, features) matrix.
check_step_input <- function(inputs, call) {
  d <- dim(inputs)
  if (!(is.numeric(inputs) || is.logical(inputs)) || length(d) != 2L) {
    shape <- if (is.null(d)) paste0("a ", if (is.numeric(inputs)) "vector" else obj_kind(inputs)) else
      paste0("an array of shape ", format_shape(d))
    abort_gru(
      c("{.arg inputs} of a cell must be a (batch, features) matrix, not {shape}.",
        "i" = "A cell processes one timestep; to run it over (batch, timesteps, features) sequences use {.code layer_rnn(cell = ...)}."),
      class = "gru_error_shape", call = call
    )
  }
  invisible(inputs)
}

obj_kind <- function(x) class(x)[1L]

# One step: the engine over a single timestep.
gru_cell_step <- function(self, inputs, states = NULL, training = NULL,
                          call = rlang::caller_env()) {
  check_step_input(inputs, call = call)
  d <- dim(inputs)
  x <- array(as.numeric(inputs), c(d[1L], 1L, d[2L]))
  res <- gru_forward(self, x, training = training, initial_state = states,
                     call = call,
                     cfg = cell_sequence_config(self$config, use_cudnn = FALSE))
  list(res$output, list(res$states[[1L]]))
}

gru_cell_format <- function(self) {
  lines <- gru_format(self)
  sub("^<gru layer", "<gru cell", lines)
}

# The GRU's methods are defined in R/layer-gru.R, collated after this file,
# hence the wrappers.
register_layer_type(new_layer_type(
  type = "gru_cell", class_name = "GRUCell", kind = "cell",
  step = gru_cell_step,
  weight_shapes = function(self, input_dim) gru_weight_shapes(self, input_dim),
  build = function(self, input_dim) gru_build(self, input_dim),
  format = gru_cell_format,
  regularized = function(self) gru_regularized(self),
  constrained = function(self) gru_constrained(self),
  engine_cell = TRUE,
  weight_layout_hint = function(self) gru_weight_layout_hint(self),
  kernel_columns = function(self) gru_kernel_columns(self),
  constructor = layer_gru_cell, constructor_dots = gru_cell_dots
))
