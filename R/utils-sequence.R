# keras3's small data utilities for class labels and token sequences:
# to_categorical() and pad_sequences(). Both return plain R arrays.

#' Convert class labels to one-hot arrays
#'
#' keras3's `to_categorical()`: integer class labels become a one-hot
#' (binary) array with a new last axis of `num_classes` columns, for
#' [loss_categorical_crossentropy()][losses]. Labels are 0-based, as in
#' Keras: class `0` sets the first column. A trailing axis of length one is
#' dropped first, as Keras does, so a vector or a one-column matrix of `n`
#' labels both give an `n x num_classes` matrix, and an `(n, t)` matrix an
#' `(n, t, num_classes)` array.
#'
#' A factor gives its level codes minus one (`as.integer(x) - 1L`, as
#' keras3 does) and, with `num_classes = NULL`, one column per level, used
#' or not.
#'
#' @param x Class labels: a numeric vector, matrix or array of whole
#'   numbers from `0` to `num_classes - 1`, or a factor.
#' @param num_classes The number of classes, or `NULL` for `max(x) + 1`
#'   (for a factor, its number of levels).
#' @returns A double array of shape `c(dim(x), num_classes)` (a matrix for
#'   a vector `x`) holding 0 and 1.
#' @family data utils
#' @export
#' @examples
#' to_categorical(c(0, 1, 2, 3), num_classes = 4)
#' to_categorical(factor(c("b", "a", "c")))
#' dim(to_categorical(matrix(c(0, 1, 1, 0), 2)))   # 2 2 2
to_categorical <- function(x, num_classes = NULL) {
  call <- rlang::current_env()
  levels_n <- NULL
  if (is.factor(x)) {
    levels_n <- nlevels(x)
    x <- array(as.integer(x) - 1L, dim = dim(x) %||% length(x))
  }
  check_class_labels(x, call = call)
  if (!is.null(num_classes)) {
    num_classes <- check_positive_whole(num_classes, call = call)
  } else if (!is.null(levels_n)) {
    num_classes <- levels_n
  } else if (length(x) == 0L) {
    abort_gru(
      c("{.arg num_classes} must be given when {.arg x} is empty.",
        "i" = "For example {.code to_categorical(x, num_classes = 10)}."),
      class = "gru_error_input", call = call
    )
  } else {
    num_classes <- as.integer(max(x)) + 1L
  }
  if (length(x) > 0L && max(x) >= num_classes) {
    top <- max(x)
    abort_gru(
      c("{.arg x} holds class {top}, outside the {num_classes} class{?es} of {.arg num_classes} = {num_classes}.",
        "i" = "Classes are 0-based as in Keras, from 0 to {.code num_classes - 1}; subtract 1 from 1-based labels or raise {.arg num_classes}."),
      class = "gru_error_input", call = call
    )
  }
  shape <- dim(x) %||% length(x)
  if (length(shape) > 1L && shape[length(shape)] == 1L) {
    shape <- shape[-length(shape)]
  }
  # Column-major: label i's one-hot entry for class k sits at i + n * k.
  n <- length(x)
  out <- numeric(n * num_classes)
  out[seq_len(n) + n * as.integer(x)] <- 1
  array(out, c(shape, num_classes))
}

check_class_labels <- function(x, arg = rlang::caller_arg(x),
                               call = rlang::caller_env()) {
  if (!(is.numeric(x) || is.logical(x)) || is.object(x) && !is.array(x)) {
    abort_gru(
      c("{.arg {arg}} must be a numeric vector, matrix or array of class labels, or a factor, not {.obj_type_friendly {x}}.",
        "i" = "Pass whole numbers from 0 (Keras' 0-based classes)."),
      class = "gru_error_input", call = call
    )
  }
  bad <- which(is.na(x) | x < 0 | x != trunc(x))
  if (length(bad) > 0L) {
    value <- format(x[bad[1L]])
    where <- first_index(x, bad[1L])
    abort_gru(
      c("{.arg {arg}} must hold whole numbers >= 0; it has {value} at {where}.",
        "i" = "Classes are 0-based as in Keras; remove or impute missing labels."),
      class = "gru_error_input", call = call
    )
  }
  invisible(x)
}

# Linear index `i` of `x` written as "[i]" or "[i, j, ...]".
first_index <- function(x, i) {
  d <- dim(x)
  if (is.null(d) || length(d) == 1L) return(paste0("[", i, "]"))
  paste0("[", paste(arrayInd(i, d), collapse = ", "), "]")
}

#' Pad sequences to the same length
#'
#' keras3's (and Keras 2's) `pad_sequences()`: a list of `n` sequences
#' becomes an `n x maxlen` matrix. Sequences shorter than `maxlen` are
#' padded with `value`, sequences longer are truncated; `padding` and
#' `truncating` say at which end (`"pre"`, the default, pads and cuts at the
#' start, so the last tokens stay aligned at the right).
#'
#' Each sequence is read as a vector, as keras3 does (a matrix is flattened
#' column by column); `NULL` or an empty vector gives a row of padding.
#' Integer `dtype`s truncate values towards zero, as NumPy's cast does;
#' `"int8"`, `"int16"` and `"int32"` give an R integer matrix, `"int64"` a
#' double matrix of whole numbers, and the float types a double matrix (R
#' has no float32, so values are not rounded to it).
#'
#' @param sequences A list of numeric vectors (e.g. token ids).
#' @param maxlen The number of columns, or `NULL` for the length of the
#'   longest sequence.
#' @param dtype The type of the result: `"int32"` (default), `"int8"`,
#'   `"int16"`, `"int64"`, `"float16"`, `"float32"` or `"float64"`.
#' @param padding `"pre"` or `"post"`: pad before or after each sequence.
#' @param truncating `"pre"` or `"post"`: drop values from the start or the
#'   end of sequences longer than `maxlen`.
#' @param value The padding value, a number (`NA` only for float types).
#' @returns A matrix with one row per sequence and `maxlen` columns.
#' @family data utils
#' @export
#' @examples
#' sequence <- list(c(1), c(2, 3), c(4, 5, 6))
#' pad_sequences(sequence)
#' pad_sequences(sequence, value = -1)
#' pad_sequences(sequence, padding = "post")
#' pad_sequences(sequence, maxlen = 2)
#' pad_sequences(sequence, maxlen = 2, truncating = "post")
pad_sequences <- function(sequences, maxlen = NULL, dtype = "int32", padding = "pre",
                          truncating = "pre", value = 0) {
  call <- rlang::current_env()
  check_sequence_list(sequences, call = call)
  if (!is.null(maxlen)) maxlen <- check_positive_whole(maxlen, call = call)
  check_choice(dtype, c(pad_integer_dtypes, pad_float_dtypes), call = call)
  check_choice(padding, c("pre", "post"), call = call)
  check_choice(truncating, c("pre", "post"), call = call)
  integer_type <- dtype %in% pad_integer_dtypes
  ok <- (is.numeric(value) || is.logical(value)) && length(value) == 1L &&
    (!is.na(value) || !integer_type)
  if (!ok) {
    abort_gru(
      c("{.arg value} must be a single number{if (integer_type) ' (not NA)'} for {.arg dtype} {.val {dtype}}, not {.obj_type_friendly {value}}.",
        "i" = "For example {.code value = 0}, the index Keras reserves for padding."),
      class = "gru_error_input", call = call
    )
  }
  if (integer_type) {
    bad <- which(vapply(sequences, anyNA, logical(1)))
    if (length(bad) > 0L) {
      abort_gru(
        c("{.arg sequences[[{bad[1L]}]]} holds NA, which {.arg dtype} {.val {dtype}} cannot represent.",
          "i" = "Drop the missing values, or use {.code dtype = \"float32\"}."),
        class = "gru_error_input", call = call
      )
    }
  }
  pad_matrix(sequences, maxlen, dtype, padding, truncating, value)
}

pad_integer_dtypes <- c("int32", "int8", "int16", "int64")
pad_float_dtypes <- c("float32", "float16", "float64")

check_sequence_list <- function(x, arg = rlang::caller_arg(x),
                                call = rlang::caller_env()) {
  if (!is.list(x)) {
    abort_gru(
      c("{.arg {arg}} must be a list of sequences, not {.obj_type_friendly {x}}.",
        "i" = "Wrap a single sequence in a list: {.code list(x)}."),
      class = "gru_error_input", call = call
    )
  }
  ok <- vapply(x, function(s) is.null(s) || is.atomic(s) && (is.numeric(s) || is.logical(s)),
               logical(1))
  if (!all(ok)) {
    i <- which(!ok)[1L]
    abort_gru(
      c("{.arg {arg}[[{i}]]} must be a numeric vector, not {.obj_type_friendly {x[[i]]}}.",
        "i" = "Each sequence is a vector of integer ids, e.g. from a tokenizer."),
      class = "gru_error_input", call = call
    )
  }
  invisible(x)
}

# The padded n x maxlen matrix, for checked arguments. Vectorized: every
# kept value's row and column are computed at once from its position within
# its sequence.
pad_matrix <- function(sequences, maxlen, dtype, padding, truncating, value) {
  n <- length(sequences)
  lens <- lengths(sequences)
  maxlen <- maxlen %||% if (n > 0L) max(lens) else 0L
  integer_type <- dtype %in% pad_integer_dtypes
  cast <- function(v) {
    if (!integer_type) return(as.double(v))
    v <- trunc(as.double(v))
    if (dtype == "int64") v else as.integer(v)
  }
  out <- matrix(cast(value), n, maxlen)
  if (n == 0L || maxlen == 0L || sum(lens) == 0) return(out)
  kept <- pmin(lens, maxlen)
  pos <- sequence(lens)
  drop <- if (truncating == "pre") lens - kept else integer(n)
  keep <- pos > rep(drop, lens) & pos <= rep(drop + kept, lens)
  col <- pos - rep(drop, lens)
  if (padding == "pre") col <- col + rep(maxlen - kept, lens)
  row <- rep(seq_len(n), lens)
  values <- unlist(lapply(sequences, as.vector), use.names = FALSE)
  out[row[keep] + (col[keep] - 1) * n] <- cast(values[keep])
  out
}
