#' @include layer-type.R
NULL

#' Stack GRU cells into one cell
#'
#' keras3's `rnn_cells_stack()` (keras 2's `layer_stacked_rnn_cells()`):
#' several cells run one after the other at each timestep, the output of one
#' being the input of the next, each with its own state. Called as
#' `stack(inputs, states)` with `states` a list of one state per cell, it
#' returns `list(output, list(state_1, state_2, ...))`. [layer_rnn()] runs a
#' stack over a sequence (`layer_rnn(cell = list(...))` builds the stack for
#' you).
#'
#' @param cells A list of GRU cells ([layer_gru_cell()]).
#' @param ... `name` and `trainable`.
#' @returns A cell (class `gru_cell`).
#' @family layers
#' @export
#' @examples
#' stack <- rnn_cells_stack(list(rnn_cell_gru(4), rnn_cell_gru(2)))
#' res <- stack(matrix(1, 3, 5))
#' dim(res[[1]])
#' length(res[[2]])
#'
#' x <- array(runif(3 * 6 * 5), c(3, 6, 5))
#' x |> layer_rnn(cell = stack, return_state = TRUE) |> lengths()
rnn_cells_stack <- function(cells, ...) {
  call <- rlang::current_env()
  dots <- check_layer_dots(list(...), c("name", "trainable"), "rnn_cells_stack",
                           call = call)
  cells <- check_cells(cells, call = call)
  name <- dots$name %||% unique_layer_name("stacked_rnn_cells")
  check_string(name, arg = "name", call = call)
  trainable <- dots$trainable %||% TRUE
  check_bool(trainable, arg = "trainable", call = call)
  new_stack(cells, list(name = name, trainable = trainable))
}

#' @rdname rnn_cells_stack
#' @export
layer_stacked_rnn_cells <- function(cells, ...) rnn_cells_stack(cells, ...)

new_stack <- function(cells, config) {
  stack <- new_cell("stacked_cells", config)
  self <- layer_self(stack)
  self$cells <- cells
  stack
}

# A non-empty list of GRU cells (a stack's cells are taken in order).
check_cells <- function(cells, arg = rlang::caller_arg(cells),
                        call = rlang::caller_env()) {
  if (inherits(cells, "gru_layer")) cells <- list(cells)
  if (!is.list(cells) || length(cells) == 0L) {
    abort_gru(
      c("{.arg {arg}} must be a non-empty list of cells, not {.obj_type_friendly {cells}}.",
        "i" = "For example {.code list(rnn_cell_gru(8), rnn_cell_gru(4))}."),
      class = "gru_error_input", call = call
    )
  }
  out <- list()
  for (i in seq_along(cells)) {
    cell <- cells[[i]]
    if (is_cell_stack(cell)) {
      out <- c(out, layer_self(cell)$cells)
      next
    }
    check_cell(cell, arg = paste0(arg, "[[", i, "]]"), call = call)
    out[[length(out) + 1L]] <- cell
  }
  out
}

check_cell <- function(cell, arg = rlang::caller_arg(cell),
                       call = rlang::caller_env()) {
  if (inherits(cell, "gru_layer") && !is_cell(cell)) {
    abort_gru(
      c("{.arg {arg}} is a layer ({.val {cell$name}}), but a cell is expected here.",
        "i" = "Use {.fn layer_gru_cell} (or {.fn rnn_cell_gru}) for cells; a layer runs a whole sequence itself."),
      class = "gru_error_layer_kind", call = call
    )
  }
  if (!is_cell(cell) || !methods_of(layer_self(cell))$engine_cell) {
    abort_gru(
      c("{.arg {arg}} must be a GRU cell, not {.obj_type_friendly {cell}}.",
        "i" = "Create one with {.fn layer_gru_cell} or {.fn rnn_cell_gru}."),
      class = "gru_error_input", call = call
    )
  }
  invisible(cell)
}

# Named, known `...` of the small constructors.
check_layer_dots <- function(dots, allowed, fn, call) {
  nms <- names(dots)
  if (length(dots) > 0L && (is.null(nms) || any(!nzchar(nms)) ||
                            any(!nms %in% allowed))) {
    unknown <- if (is.null(nms)) "(unnamed)" else setdiff(nms, allowed)
    hint <- if (length(allowed)) {
      "{.fn {fn}} takes its documented arguments and {.arg {allowed}}."
    } else {
      "{.fn {fn}} takes only its documented arguments."
    }
    abort_gru(
      c("Unknown or unnamed argument{?s} {.arg {unknown}}.", "i" = hint),
      class = "gru_error_unknown_argument", call = call
    )
  }
  dots
}

stack_step <- function(self, inputs, states = NULL, training = NULL,
                       call = rlang::caller_env()) {
  cells <- self$cells
  check_step_input(inputs, call = call)
  if (!is.null(states) && (!is.list(states) || length(states) != length(cells))) {
    abort_gru(
      c("{.arg states} must be a list of {length(cells)} state{?s}, one per cell.",
        "i" = "Pass {.code NULL} for zeros."),
      class = "gru_error_shape", call = call
    )
  }
  x <- inputs
  new_states <- vector("list", length(cells))
  # check_self() of the stack has checked its cells.
  for (i in seq_along(cells)) {
    cs <- layer_self(cells[[i]])
    res <- methods_of(cs)$step(cs, x, states = states[[i]], training = training,
                               call = call)
    x <- res[[1L]]
    new_states[[i]] <- res[[2L]][[1L]]
  }
  list(x, new_states)
}

stack_format <- function(self) {
  head <- sprintf("<stacked cells \"%s\"> %d GRU cells", self$config$name,
                  length(self$cells))
  c(head, paste0("  ", unlist(lapply(self$cells, format))))
}

stack_from_config <- function(config, call) {
  args <- config_args(config, rnn_cells_stack, extra = c("name", "trainable"),
                      class_name = "StackedRNNCells", call = call)
  if (!is.list(args$cells)) {
    abort_config("cells", "is {.obj_type_friendly {args$cells}}, not a list of cell configs",
                 call = call)
  }
  args$cells <- lapply(seq_along(args$cells), function(i) {
    nested_from_config(args$cells[[i]], paste0("cells[[", i, "]]"), call = call)
  })
  do.call(rnn_cells_stack, args)
}

register_layer_type(new_layer_type(
  type = "stacked_cells", class_name = "StackedRNNCells", kind = "cell",
  container = TRUE,
  step = stack_step,
  format = stack_format,
  sublayers = function(self) self$cells,
  get_config = function(self, cfg) {
    cfg$cells <- lapply(self$cells, nested_config)
    cfg
  },
  from_config = stack_from_config
))
