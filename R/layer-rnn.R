#' @include layer-type.R
NULL

#' Run a cell over a sequence
#'
#' keras3's `layer_rnn()`: runs a GRU cell ([layer_gru_cell()]), a list of
#' cells or a stack ([rnn_cells_stack()]) over the timesteps of its input,
#' with all of [layer_gru()]'s semantics (masks, initial state,
#' `go_backwards`, `stateful`, dropout). The whole sequence runs in C++ on
#' the same engine as `layer_gru()`, so `layer_rnn(cell = layer_gru_cell(n))`
#' gives the numbers of `layer_gru(n)` with the same weights. The layer uses
#' the cell object it is given (its weights are the cell's).
#'
#' A stack of cells returns one state per cell. Over a sequence it equals
#' GRU layers chained with `return_sequences = TRUE` that all see the
#' layer's mask: at a masked step every cell keeps its state and the layer
#' repeats its previous output, as Keras' stacked-cell RNN does.
#'
#' @section Call arguments:
#' As [layer_gru()]'s; with a stack, `initial_state` is a list of one
#' `(batch, units)` matrix per cell.
#'
#' @inheritParams layer_gru
#' @param cell A GRU cell, a list of GRU cells, or a stack of them.
#' @param return_state Also return the final state(s): the result is then
#'   `list(output, state_1, ...)`, one state per cell.
#' @param zero_output_for_mask Output zeros (instead of the previous output)
#'   at masked steps, with `return_sequences`.
#' @param ... `name`, `trainable`, `input_shape`, `batch_size`,
#'   `batch_input_shape`, `input_dim` and `weights`.
#' @returns An RNN layer (class `gru_layer`) when `object` is missing or
#'   `NULL`; the layer's output when `object` is an array; a sequential
#'   model with the layer appended when `object` is a model.
#' @family layers
#' @export
#' @examples
#' x <- array(runif(2 * 5 * 3), c(2, 5, 3))
#'
#' # The keras example:
#' rnn <- layer_rnn(cell = layer_gru_cell(4), return_sequences = TRUE,
#'                  return_state = TRUE)
#' res <- rnn(x)
#' dim(res[[1]])
#' dim(res[[2]])
#'
#' # Stacked cells: one state per cell.
#' x |>
#'   layer_rnn(cell = list(rnn_cell_gru(8), rnn_cell_gru(4)),
#'             return_state = TRUE) |>
#'   lengths()
layer_rnn <- function(object, cell, return_sequences = FALSE,
                      return_state = FALSE, go_backwards = FALSE,
                      stateful = FALSE, unroll = FALSE,
                      zero_output_for_mask = FALSE, ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), rnn_dots, "layer_rnn", call = call)
  if (missing(cell)) {
    abort_gru(
      c("{.arg cell} is missing.", "i" = "For example {.code layer_rnn(cell = layer_gru_cell(32))}."),
      class = "gru_error_input", call = call
    )
  }
  if (inherits(cell, "gru_layer") || !is.list(cell)) {
    if (!is_cell_stack(cell)) check_cell(cell, call = call)
  } else {
    cell <- new_stack(check_cells(cell, call = call),
                      list(name = unique_layer_name("stacked_rnn_cells"),
                           trainable = TRUE))
  }
  for (nm in c("return_sequences", "return_state", "go_backwards", "stateful",
               "unroll", "zero_output_for_mask")) {
    check_bool(get(nm), arg = nm, call = call)
  }
  name <- dots$name %||% unique_layer_name("rnn")
  check_string(name, arg = "name", call = call)
  trainable <- dots$trainable %||% TRUE
  check_bool(trainable, arg = "trainable", call = call)
  shape <- check_build_shape(dots, call = call)
  config <- list(
    name = name, trainable = trainable,
    dtype = rnn_cells_of(cell)[[1L]]$dtype,
    return_sequences = return_sequences, return_state = return_state,
    go_backwards = go_backwards, stateful = stateful, unroll = unroll,
    zero_output_for_mask = zero_output_for_mask
  )
  if (!is.null(shape$batch_input_shape)) {
    config$batch_input_shape <- shape$batch_input_shape
  }
  layer <- new_layer("rnn", config)
  self <- layer_self(layer)
  self$cell <- cell
  bis <- config$batch_input_shape
  if (!is.null(bis)) {
    if (!is.na(bis[1L])) self$batch_size <- bis[1L]
    rnn_build_shape(self, bis)
  }
  if (!is.null(dots$weights)) layer_set_weights(self, dots$weights, call = call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

rnn_dots <- c("name", "trainable", "input_shape", "batch_size",
              "batch_input_shape", "input_dim", "weights")

# The engine cells a cell runs, in order: a stack's cells, or the cell.
rnn_cells_of <- function(cell) {
  if (!is_cell_stack(cell)) return(list(cell))
  layer_sublayers(layer_self(cell))
}

# (FALSE for anything but a stack, a damaged one included: check_self()
# then finds it.)
is_cell_stack <- function(cell) {
  if (!is_cell(cell)) return(FALSE)
  type <- layer_self(cell)$type
  is.character(type) && length(type) == 1L && !is.na(type) && nzchar(type) &&
    isTRUE(get0(type, envir = layer_types, inherits = FALSE)$container)
}

rnn_build_shape <- function(self, shape) {
  dim_in <- shape[3L]
  for (cell in rnn_cells_of(self$cell)) {
    cs <- layer_self(cell)
    if (is.na(dim_in)) break
    if (!cs$built) gru_build(cs, dim_in)
    dim_in <- cs$config$units
  }
  invisible(self)
}

rnn_output_shape <- function(self, shape) {
  cells <- rnn_cells_of(self$cell)
  if (length(shape) != 3L) {
    return("it needs 3-D input (batch, timesteps, features)")
  }
  first <- layer_self(cells[[1L]])
  if (first$built && !is.na(shape[3L]) && shape[3L] != first$input_dim) {
    return(paste0("its cell was built for ", first$input_dim, " input features"))
  }
  units <- layer_self(cells[[length(cells)]])$config$units
  if (isTRUE(self$config$return_sequences)) c(shape[1:2], units) else c(shape[1L], units)
}

# The cells run one after the other over the whole sequence, each on the
# engine. Cell i > 1 reads cell i - 1's sequence, which is in processing
# order, so with go_backwards only cell 1 runs backwards and the later cells
# see the mask reversed. Every cell sees the mask, so at a masked step all
# states are carried and the output repeats, as in Keras' stacked RNN;
# zero_output_for_mask and return_sequences apply to the last cell.
#
# With `train = TRUE` the cells run the training pass (gru_train_pass()) and
# the result also holds `cache`, what rnn_backward() needs.
rnn_forward <- function(self, inputs, mask = NULL, training = NULL,
                        initial_state = NULL, call = rlang::caller_env(),
                        train = FALSE) {
  cfg <- self$config
  cells <- rnn_cells_of(self$cell)
  n <- length(cells)
  check_sequence_input(inputs, arg = "inputs", call = call)
  d <- dim(inputs)
  b <- d[1L]
  if (isTRUE(cfg$stateful)) check_stateful_batch(self, b, cfg$name, call)
  mask <- check_mask(mask, b, d[2L], call = call)
  states0 <- vector("list", n)
  if (!is.null(initial_state)) {
    if (!is.list(initial_state) || is.data.frame(initial_state)) {
      initial_state <- list(initial_state)
    }
    if (length(initial_state) != n) {
      abort_gru(
        c("{.arg initial_state} must be a list of {n} state{?s}, one per cell, not a list of {length(initial_state)}.",
          "i" = "Each state is a (batch, units) matrix."),
        class = "gru_error_shape", call = call
      )
    }
    states0 <- initial_state
  } else if (isTRUE(cfg$stateful) && !is.null(self$state)) {
    states0 <- self$state
  }
  x <- inputs
  states <- caches <- vector("list", n)
  for (i in seq_len(n)) {
    cs <- layer_self(cells[[i]])
    last <- i == n
    cell_cfg <- cell_sequence_config(
      cs$config,
      return_sequences = if (last) isTRUE(cfg$return_sequences) else TRUE,
      go_backwards = i == 1L && isTRUE(cfg$go_backwards),
      zero_output_for_mask = last && isTRUE(cfg$zero_output_for_mask)
    )
    cell_mask <- if (i > 1L && isTRUE(cfg$go_backwards) && !is.null(mask)) {
      mask[, rev(seq_len(ncol(mask))), drop = FALSE]
    } else {
      mask
    }
    if (train) {
      res <- gru_train_pass(cs, x, mask = cell_mask, training = training,
                            initial_state = states0[[i]], call = call, cfg = cell_cfg)
      caches[[i]] <- res$cache
    } else {
      res <- gru_forward(cs, x, mask = cell_mask, training = training,
                         initial_state = states0[[i]], call = call, cfg = cell_cfg)
    }
    x <- res$output
    states[[i]] <- res$states[[1L]]
  }
  if (isTRUE(cfg$stateful)) self$state <- states
  list(output = x, states = states,
       mask = if (isTRUE(cfg$return_sequences)) mask,
       cache = if (train) caches)
}

# Backward through the chained cells: the last cell gets dL/d(output), each
# earlier cell the input gradient of the next (its output sequence, in the
# processing order the next cell read). Weight gradients in get_weights()
# order: cell 1's, then cell 2's, ...
rnn_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                         call = rlang::caller_env()) {
  cells <- rnn_cells_of(self$cell)
  n <- length(cells)
  grads <- vector("list", n)
  g <- grad_output
  for (i in rev(seq_len(n))) {
    res <- gru_train_backward(layer_self(cells[[i]]), cache[[i]], g,
                              need_inputs = i > 1L || need_inputs, call = call)
    grads[[i]] <- res$weights
    g <- res$inputs
  }
  list(inputs = if (need_inputs) g, weights = do.call(c, grads))
}

rnn_current_state <- function(self) {
  if (!isTRUE(self$config$stateful)) return(NULL)
  if (!is.null(self$state)) return(self$state)
  if (is.null(self$batch_size)) return(NULL)
  lapply(rnn_cells_of(self$cell), function(cell) {
    matrix(0, self$batch_size, layer_self(cell)$config$units)
  })
}

rnn_reset_state <- function(self, states, call) {
  if (!isTRUE(self$config$stateful)) return(invisible(self))
  if (is.null(states)) {
    self$state <- NULL
    return(invisible(self))
  }
  cells <- rnn_cells_of(self$cell)
  if (!is.list(states)) states <- list(states)
  if (length(states) != length(cells)) {
    abort_gru(
      c("{.arg states} must be a list of {length(cells)} state{?s}, one per cell."),
      class = "gru_error_shape", call = call
    )
  }
  b <- self$batch_size %||% NROW(states[[1L]])
  self$state <- Map(function(s, cell) {
    check_state(s, b, layer_self(cell)$config$units, arg = "states", call = call)
  }, states, cells)
  self$batch_size <- b
  invisible(self)
}

rnn_format <- function(self) {
  cfg <- self$config
  flags <- c(
    sequence_flags(cfg),
    if (isTRUE(cfg$zero_output_for_mask)) "zero_output_for_mask"
  )
  c(sprintf("<rnn layer \"%s\">%s", cfg$name,
            if (length(flags)) paste0(" ", paste(flags, collapse = ", ")) else ""),
    paste0("  ", format(self$cell)))
}

rnn_from_config <- function(config, call) {
  args <- config_args(config, layer_rnn, extra = c(rnn_dots, "dtype"),
                      class_name = "RNN", call = call)
  args$dtype <- NULL
  args$cell <- nested_from_config(args$cell, "cell", call = call)
  do.call(layer_rnn, args)
}

register_layer_type(new_layer_type(
  type = "rnn", class_name = "RNN", container = TRUE,
  forward = rnn_forward,
  train_forward = function(self, ...) rnn_forward(self, ..., train = TRUE),
  backward = rnn_backward,
  format = rnn_format,
  sublayers = function(self) rnn_cells_of(self$cell),
  recurrent = TRUE,
  output_shape = rnn_output_shape,
  build_shape = rnn_build_shape,
  current_state = rnn_current_state,
  reset_state = rnn_reset_state,
  get_config = function(self, cfg) {
    cfg$cell <- nested_config(self$cell)
    cfg
  },
  from_config = rnn_from_config
))
