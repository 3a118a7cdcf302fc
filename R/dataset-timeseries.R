# timeseries_dataset_from_array(): Keras' sliding windows over a series, as a
# plain R object of class gru_timeseries_dataset.
#
# The object is lazy: it keeps `data` and `targets` (vectors and matrices
# as given, so R shares their memory with the caller's objects; arrays of
# rank 3 and more reshaped once to a matrix of rows x features) and the
# first row of every window. A batch is gathered when asked for, so memory
# is the series plus one batch (dataset_batches() and dataset_arrays()
# gather every window at once: windows x sequence_length x features values).
#
# Indices follow Keras: a window starting at 0-based position p (relative
# to start_index) covers data rows start_index + p + k * sampling_rate,
# k = 0, ..., sequence_length - 1, and its target is targets[start_index +
# p]; p runs over 0, sequence_stride, ... below
# min(end_index - start_index - (sequence_length - 1) * sampling_rate,
# NROW(targets)). `starts` holds the 1-based R row start_index + p + 1.
#
# Internal interface for the training code (fit(), evaluate(), predict()):
#   dataset_size(ds)                  number of windows
#   dataset_batch_size(ds)            rows per batch (1 for an unbatched one)
#   dataset_order(ds, epoch = 1L)     the windows' order in that epoch
#   dataset_batch(ds, windows)        list(x, y) for those window numbers
#   dataset_batches(ds, epoch = 1L)   every batch of that epoch, in order
#   dataset_arrays(ds)                list(x, y): every window, in order

#' Sliding windows over a time series
#'
#' keras3's `timeseries_dataset_from_array()`: windows of `sequence_length`
#' timesteps taken every `sequence_stride` rows from `data` (rows `sampling_rate`
#' apart within a window), in batches of `batch_size`, each window paired
#' with `targets[i]` for the window that starts at row `i`. Give it to
#' [fit()][fit.gru_model], or read its batches with [as_iterator()] and
#' [iter_next()] as with tfdatasets.
#'
#' # Indices
#' `start_index` and `end_index` are passed through as keras3 for R passes
#' them to Keras (no conversion), so they keep Keras' meaning: rows
#' `start_index + 1` to `end_index` (R's 1-based rows) are used, that is
#' `start_index` is the number of leading rows left out (Keras' 0-based
#' first row) and `end_index` the last row used (Keras' exclusive end). A
#' Python or keras3 script's `start_index = n_train, end_index = n_train +
#' n_val` therefore selects the same rows here. Unlike Keras, `end_index`
#' may equal `nrow(data)` (Keras requires it to be smaller).
#'
#' # Shapes
#' A batch's inputs have shape `(batch, sequence_length, ...)`, where `...`
#' are `data`'s dimensions after the first: `(batch, sequence_length,
#' features)` for a matrix, `(batch, sequence_length)` for a vector (as in
#' Keras; a recurrent layer needs the 3-D form, so pass
#' `matrix(x, ncol = 1)` for a univariate series). Targets have shape
#' `(batch, ...)` after `targets`' first dimension: a vector for a vector.
#' Values keep `data`'s type (an integer series gives integer windows).
#'
#' # Shuffling and memory
#' With `shuffle = TRUE` each epoch sees the windows in a fresh random
#' order, the same for the same `seed` (with `seed = NULL` a seed is drawn
#' from R's RNG when the dataset is made, so [set.seed()] reproduces it).
#' The orders come from R's RNG, not NumPy's, so they differ from Keras'.
#' The dataset holds `data` and `targets` (shared with your objects, not
#' copied, for vectors and matrices) and gathers each batch's windows when
#' it is read; [saveRDS()] keeps all of it.
#'
#' @param data A numeric vector, matrix, array or data frame of
#'   consecutive data points; the first dimension (rows) is time.
#' @param targets `NULL`, or the targets: a vector, matrix or array whose
#'   first dimension is time; `targets[i]` goes with the window starting at
#'   row `i`.
#' @param sequence_length Timesteps per window.
#' @param sequence_stride Rows between the starts of successive windows.
#' @param sampling_rate Rows between successive timesteps within a window.
#' @param batch_size Windows per batch (the last may be smaller), or `NULL`
#'   for single windows without a batch dimension.
#' @param shuffle Whether to shuffle the windows (every epoch), or keep
#'   them in time order.
#' @param seed `NULL` or a whole number: the seed of the shuffling.
#' @param start_index `NULL` (0) or the number of leading rows not used
#'   (Keras' 0-based index of the first row used).
#' @param end_index `NULL` (`nrow(data)`) or the last row used (Keras'
#'   exclusive end).
#' @returns A dataset of class `gru_timeseries_dataset`: `length()` is its
#'   number of batches, `print()` describes it, [as_iterator()] reads it.
#' @family data utils
#' @export
#' @examples
#' # Three steps predict the next one (Deep Learning with R, chapter 10)
#' int_sequence <- seq(10)
#' ds <- timeseries_dataset_from_array(
#'   data = head(int_sequence, -3),
#'   targets = tail(int_sequence, -3),
#'   sequence_length = 3,
#'   batch_size = 2
#' )
#' ds
#' it <- as_iterator(ds)
#' while (!is.null(batch <- iter_next(it))) {
#'   inputs <- batch[[1]]; targets <- batch[[2]]
#'   for (r in seq_len(nrow(inputs)))
#'     cat("input:", inputs[r, ], " target:", targets[r], "\n")
#' }
#'
#' # Windows of a multivariate series for a GRU
#' x <- cbind(sin(1:200 / 10), cos(1:200 / 10))
#' ds <- timeseries_dataset_from_array(x[1:190, ], x[11:200, 1],
#'                                     sequence_length = 10, batch_size = 32)
#' length(ds)                       # batches
#' dim(iter_next(as_iterator(ds))[[1]])   # 32 10 2
timeseries_dataset_from_array <- function(data, targets, sequence_length,
                                          sequence_stride = 1L, sampling_rate = 1L,
                                          batch_size = 128L, shuffle = FALSE, seed = NULL,
                                          start_index = NULL, end_index = NULL) {
  call <- rlang::current_env()
  data <- check_series(data, call = call)
  n <- NROW(data$values)
  if (!is.null(targets)) targets <- check_series(targets, call = call)
  sequence_length <- check_positive_whole(sequence_length, call = call)
  sequence_stride <- check_positive_whole(sequence_stride, call = call)
  sampling_rate <- check_positive_whole(sampling_rate, call = call)
  check_below_length(sequence_stride, n, call = call)
  check_below_length(sampling_rate, n, call = call)
  if (!is.null(batch_size)) batch_size <- check_positive_whole(batch_size, call = call)
  check_bool(shuffle, call = call)
  seed <- check_seed(seed, call = call)
  range <- check_index_range(start_index, end_index, n, call = call)

  span <- (sequence_length - 1L) * sampling_rate
  num_seqs <- range[2L] - range[1L] - span
  if (!is.null(targets)) num_seqs <- min(num_seqs, NROW(targets$values))
  if (num_seqs < 1L) {
    abort_gru(
      c("No window fits: a window of {.arg sequence_length} = {sequence_length} at {.arg sampling_rate} = {sampling_rate} spans {span + 1L} rows, but {.arg data} has {range[2L] - range[1L]} row{?s} between {.arg start_index} and {.arg end_index}.",
        "i" = "Use a shorter {.arg sequence_length}, a smaller {.arg sampling_rate} or more rows."),
      class = "gru_error_input", call = call
    )
  }
  starts <- range[1L] + seq.int(0L, num_seqs - 1L, by = sequence_stride) + 1L
  if (!is.null(targets) && starts[length(starts)] > NROW(targets$values)) {
    abort_gru(
      c("{.arg targets} has {NROW(targets$values)} row{?s}, too few for the window starting at row {starts[length(starts)]} ({.arg start_index} = {range[1L]}).",
        "i" = "{.code targets[i]} goes with the window starting at row {.code i}: give a target for every row of {.arg data}."),
      class = "gru_error_input", call = call
    )
  }
  if (shuffle && is.null(seed)) seed <- sample.int(1e6L, 1L)
  structure(
    list(data = data$values, data_dim = data$dim,
         targets = targets$values, targets_dim = targets$dim,
         has_targets = !is.null(targets), starts = starts,
         sequence_length = sequence_length, sequence_stride = sequence_stride,
         sampling_rate = sampling_rate, batch_size = batch_size,
         shuffle = shuffle, seed = seed,
         start_index = start_index, end_index = end_index),
    class = "gru_timeseries_dataset"
  )
}

# A series as list(values, dim): a vector or matrix as given (no copy), a
# data frame as a matrix, a higher-rank array as a rows x features matrix
# with `dim` its trailing dimensions (NULL for a vector).
check_series <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (is.data.frame(x)) {
    if (!all(vapply(x, function(col) is.numeric(col) || is.logical(col), logical(1)))) {
      abort_gru(
        c("{.arg {arg}} must have numeric columns only.",
          "i" = "Drop or encode the other columns first, e.g. with {.fn to_categorical}."),
        class = "gru_error_input", call = call
      )
    }
    x <- as.matrix(x)
  }
  if (!(is.numeric(x) || is.logical(x)) || is.object(x) && !is.array(x)) {
    abort_gru(
      c("{.arg {arg}} must be a numeric vector, matrix or array whose first dimension is time, not {.obj_type_friendly {x}}.",
        "i" = "Convert it with {.code as.matrix()}."),
      class = "gru_error_input", call = call
    )
  }
  if (NROW(x) < 1L) {
    abort_gru(
      c("{.arg {arg}} has no rows.", "i" = "Pass at least one timestep."),
      class = "gru_error_input", call = call
    )
  }
  d <- dim(x)
  if (length(d) <= 1L) return(list(values = as.vector(x), dim = NULL))
  if (length(d) == 2L) return(list(values = x, dim = d[2L]))
  list(values = matrix(x, d[1L]), dim = d[-1L])
}

check_below_length <- function(x, n, arg = rlang::caller_arg(x),
                               call = rlang::caller_env()) {
  if (x >= n) {
    abort_gru(
      c("{.arg {arg}} must be lower than the length of the data. Received: {arg}={x}, for data of length {n}.",
        "i" = "Use a smaller {.arg {arg}} or a longer series."),
      class = "gru_error_input", call = call
    )
  }
  invisible(x)
}

# c(first, end): the 0-based first row used and the exclusive end, Keras'
# data[start_index:end_index].
check_index_range <- function(start_index, end_index, n, call) {
  index_ok <- function(x) {
    is.numeric(x) && length(x) == 1L && !is.na(x) && x == trunc(x)
  }
  start <- 0L
  if (!is.null(start_index)) {
    if (!index_ok(start_index) || start_index < 0 || start_index >= n) {
      abort_gru(
        c("{.arg start_index} must be `NULL` or a whole number from 0 to {n - 1}, not {.obj_type_friendly {start_index}}{if (is.numeric(start_index) && length(start_index) == 1L) paste0(' (', start_index, ')')}.",
          "i" = "It is the number of leading rows to leave out (Keras' 0-based first row)."),
        class = "gru_error_input", call = call
      )
    }
    start <- as.integer(start_index)
  }
  end <- n
  if (!is.null(end_index)) {
    if (!index_ok(end_index) || end_index <= start || end_index > n) {
      abort_gru(
        c("{.arg end_index} must be `NULL` or a whole number from {start + 1L} to {n}, not {.obj_type_friendly {end_index}}{if (is.numeric(end_index) && length(end_index) == 1L) paste0(' (', end_index, ')')}.",
          "i" = "It is the last row used (Keras' exclusive end) and must be higher than {.arg start_index}."),
        class = "gru_error_input", call = call
      )
    }
    end <- as.integer(end_index)
  }
  c(start, end)
}

# Internal interface ------------------------------------------------------

dataset_size <- function(ds) length(ds$starts)

dataset_batch_size <- function(ds) ds$batch_size %||% 1L

# The window numbers (1 to dataset_size(ds)) in the order epoch `epoch`
# reads them: time order, or with shuffle a permutation drawn from the
# dataset's seed and the epoch, leaving the session's RNG as it was.
dataset_order <- function(ds, epoch = 1L) {
  n <- dataset_size(ds)
  if (!isTRUE(ds$shuffle)) return(seq_len(n))
  seed <- (ds$seed + epoch - 1) %% .Machine$integer.max
  with_seed(seed, sample.int(n))
}

# list(x, y) for the windows numbered `windows`, with a batch dimension: x
# is (length(windows), sequence_length, <data's trailing dims>), y is
# (length(windows), <targets' trailing dims>) or NULL.
dataset_batch <- function(ds, windows) {
  starts <- ds$starts[windows]
  b <- length(starts)
  # rows[i, k]: the data row of timestep k of window i.
  offsets <- (seq_len(ds$sequence_length) - 1L) * ds$sampling_rate
  rows <- rep(starts, times = length(offsets)) + rep(offsets, each = b)
  list(x = gather_rows(ds$data, rows, c(b, ds$sequence_length), ds$data_dim),
       y = if (ds$has_targets) gather_rows(ds$targets, starts, b, ds$targets_dim))
}

# Rows `rows` of a stored series shaped c(lead, trailing): a vector's
# values, or a matrix's rows in column-major order so that the leading
# dimensions vary fastest.
gather_rows <- function(values, rows, lead, trailing) {
  if (is.null(trailing)) {
    out <- values[rows]
    if (length(lead) > 1L) dim(out) <- lead
    return(out)
  }
  array(values[rows, , drop = FALSE], c(lead, trailing))
}

# The batches of one epoch, each list(x, y), in reading order. This gathers
# every window; dataset_order() with dataset_batch() reads one at a time.
dataset_batches <- function(ds, epoch = 1L) {
  order <- dataset_order(ds, epoch)
  lapply(split_batches(order, dataset_batch_size(ds)), function(w) dataset_batch(ds, w))
}

split_batches <- function(order, size) {
  unname(split(order, (seq_along(order) - 1L) %/% size))
}

# Every window and target in time order, list(x, y), ignoring shuffle.
dataset_arrays <- function(ds) dataset_batch(ds, seq_len(dataset_size(ds)))

# One element as iteration yields it: with a batch size, a batch; without,
# one window with its batch dimension dropped (Keras' unbatched dataset).
dataset_element <- function(ds, windows) {
  batch <- dataset_batch(ds, windows)
  if (is.null(ds$batch_size)) {
    batch$x <- drop_batch_dim(batch$x)
    if (ds$has_targets) batch$y <- drop_batch_dim(batch$y)
  }
  if (ds$has_targets) list(batch$x, batch$y) else batch$x
}

drop_batch_dim <- function(a) {
  d <- dim(a)
  if (is.null(d)) return(a)
  if (length(d) == 2L) return(as.vector(a))
  array(a, d[-1L])
}

# Methods ------------------------------------------------------------------

#' @export
length.gru_timeseries_dataset <- function(x) {
  n <- dataset_size(x)
  as.integer(ceiling(n / dataset_batch_size(x)))
}

#' @export
print.gru_timeseries_dataset <- function(x, ...) {
  n <- dataset_size(x)
  d <- x$data_dim
  feat <- if (is.null(d)) "" else if (length(d) == 1L) {
    paste0(" x ", d, " feature", if (d != 1L) "s")
  } else {
    paste0(" x (", paste(d, collapse = ", "), ")")
  }
  cat("<timeseries dataset> ", n, " window", if (n != 1L) "s", " of ",
      x$sequence_length, " timestep", if (x$sequence_length != 1L) "s", feat,
      " (sampling_rate ", x$sampling_rate, ", sequence_stride ",
      x$sequence_stride, ")\n", sep = "")
  if (is.null(x$batch_size)) {
    cat("  unbatched: ", n, " single windows", sep = "")
  } else {
    nb <- length(x)
    last <- n - (nb - 1L) * x$batch_size
    cat("  ", nb, " batch", if (nb != 1L) "es", " of ", x$batch_size,
        if (last != x$batch_size) paste0(" (the last of ", last, ")"), sep = "")
  }
  cat(if (x$shuffle) paste0(", shuffled each epoch (seed ", x$seed, ")\n") else
    ", in time order\n")
  tshape <- if (is.null(x$targets_dim)) "one value" else
    paste0("shape (", paste(x$targets_dim, collapse = ", "), ")")
  cat("  targets: ", if (x$has_targets) paste(tshape, "per window") else "none",
      "\n", sep = "")
  invisible(x)
}

# Iteration ----------------------------------------------------------------

#' Iterate over a dataset's batches
#'
#' The tfdatasets / reticulate idiom that keras3 code (and the book "Deep
#' Learning with R") uses to read a dataset: `as_iterator()` starts a pass
#' over a dataset made by [timeseries_dataset_from_array()], and each
#' `iter_next()` returns its next batch, `list(inputs, targets)` (just
#' `inputs` for a dataset without targets), until the batches run out and
#' it returns `completed`. `as_array_iterator()` is the same (gru's batches
#' are R arrays already). A pass reads the batches in the order of the
#' dataset's first epoch; each new iterator starts again from the first
#' batch.
#'
#' @param x A dataset from [timeseries_dataset_from_array()].
#' @param it An iterator from `as_iterator()`.
#' @param completed What `iter_next()` returns when no batch is left.
#' @param ... Unused; must be empty.
#' @returns `as_iterator()`: an iterator (class `gru_dataset_iterator`)
#'   that keeps its position in an environment. `iter_next()`: the next
#'   batch, or `completed`.
#' @family data utils
#' @export
#' @examples
#' ds <- timeseries_dataset_from_array(1:7, 4:10, sequence_length = 3,
#'                                     batch_size = 2)
#' it <- as_iterator(ds)
#' iter_next(it)          # list(inputs, targets) of the first batch
#' repeat {
#'   batch <- iter_next(it)
#'   if (is.null(batch)) break
#'   print(batch[[1]])
#' }
as_iterator <- function(x, ...) {
  UseMethod("as_iterator")
}

#' @rdname as_iterator
#' @export
as_array_iterator <- function(x, ...) {
  as_iterator(x, ...)
}

#' @export
as_iterator.default <- function(x, ...) {
  abort_gru(
    c("{.arg x} must be a dataset from {.fn timeseries_dataset_from_array}, not {.obj_type_friendly {x}}.",
      "i" = "Make one with {.code timeseries_dataset_from_array(data, targets, sequence_length)}."),
    class = "gru_error_input", call = rlang::caller_env()
  )
}

#' @export
as_iterator.gru_timeseries_dataset <- function(x, ...) {
  check_layer_dots(list(...), character(), "as_iterator", call = rlang::current_env())
  st <- new.env(parent = emptyenv())
  st$dataset <- x
  st$batches <- split_batches(dataset_order(x, 1L), dataset_batch_size(x))
  st$position <- 0L
  structure(list(state = st), class = "gru_dataset_iterator")
}

#' @rdname as_iterator
#' @export
iter_next <- function(it, completed = NULL) {
  if (!inherits(it, "gru_dataset_iterator")) {
    abort_gru(
      c("{.arg it} must be an iterator from {.fn as_iterator}, not {.obj_type_friendly {it}}.",
        "i" = "Start one with {.code as_iterator(dataset)}."),
      class = "gru_error_input", call = rlang::current_env()
    )
  }
  st <- it$state
  if (st$position >= length(st$batches)) return(completed)
  st$position <- st$position + 1L
  dataset_element(st$dataset, st$batches[[st$position]])
}

#' @export
print.gru_dataset_iterator <- function(x, ...) {
  st <- x$state
  cat("<dataset iterator> ", st$position, " of ", length(st$batches),
      " batches read\n", sep = "")
  invisible(x)
}
