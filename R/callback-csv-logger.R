#' Stream each epoch's values to a CSV file
#'
#' keras3's `callback_csv_logger()`: after every epoch a row with the epoch
#' and the logged values (`loss`, the metrics and their `val_` versions) is
#' added to `filename`, in the file format Keras writes: a header
#' `epoch,<names>` with the names sorted, Keras' 0-based epoch numbers (the
#' first epoch is `0`, where gru's callbacks count from 1), numbers as
#' Python writes them (shortest round-trip form, `1.0` for whole numbers),
#' `NA` for a value missing from an epoch, and `\r\n` line ends, as Python's
#' `csv` module writes. The columns are fixed by the first epoch.
#'
#' The file is started (emptied, or with `append = TRUE` kept) when
#' training begins; each row is written and flushed as its epoch ends, so
#' the file is complete up to the last finished epoch if training stops.
#' With `append = TRUE` the header is written only when the file is new or
#' empty. Read it back with `read.csv(filename)`.
#'
#' @param filename The CSV file to write, e.g. `"run/log.csv"`; its folder
#'   must exist when training starts.
#' @param separator The single character between fields.
#' @param append `TRUE`: add to the file if it exists (to continue a
#'   training run); `FALSE`: overwrite it.
#' @returns A callback (class `gru_callback`) for [fit()][fit.gru_model].
#' @family callbacks
#' @export
#' @examples
#' log <- tempfile(fileext = ".csv")
#' x <- array(runif(16 * 3), c(16, 3, 1))
#' model <- keras_model_sequential(input_shape = c(3, 1)) |>
#'   layer_gru(2) |>
#'   layer_dense(1)
#' compile(model, loss = "mse", metrics = "mae")
#' fit(model, x, rowSums(x), epochs = 3, verbose = 0,
#'     callbacks = list(callback_csv_logger(log)))
#' read.csv(log)
callback_csv_logger <- function(filename, separator = ",", append = FALSE) {
  call <- rlang::current_env()
  check_string(filename, call = call)
  if (!(is.character(separator) && length(separator) == 1L && !is.na(separator) &&
        nchar(separator) == 1L)) {
    shown <- if (is.character(separator) && length(separator) == 1L && !is.na(separator)) {
      paste0("{.val ", "{separator}}", " (", nchar(separator), " characters)")
    } else {
      "{.obj_type_friendly {separator}}"
    }
    abort_gru(
      c(paste0("{.arg separator} must be a single character, not ", shown, "."),
        "i" = "For example {.code separator = \";\"} or {.code separator = \"\\t\"}."),
      class = "gru_error_input", call = call
    )
  }
  check_bool(append, call = call)
  filename <- path.expand(filename)
  st <- new.env(parent = emptyenv())
  hooks <- list(
    on_train_begin = function(ctx, i, logs) {
      st$header <- !append || !file.exists(filename) || file.size(filename) == 0
      st$keys <- NULL
      open_csv_log(filename, append)
    },
    on_epoch_end = function(ctx, epoch, logs) {
      if (is.null(st$keys)) {
        # Python's sorted(): by code point, whatever the locale.
        st$keys <- sort(names(logs), method = "radix")
        if (st$header) {
          write_csv_row(filename, c("epoch", st$keys), separator)
        }
      }
      values <- lapply(st$keys, function(k) logs[[k]])
      fields <- c(format_csv_value(epoch - 1L),
                  vapply(values, format_csv_value, character(1)))
      write_csv_row(filename, fields, separator)
    }
  )
  new_callback("CSVLogger", hooks,
               list(filename = filename, separator = separator, append = append))
}

# Empties (or, appending, creates) the log when training begins, as Keras
# opens it with mode "w" or "a"; a file that cannot be written is the
# user's `filename`.
open_csv_log <- function(filename, append) {
  con <- tryCatch(
    file(filename, open = if (append) "ab" else "wb"),
    error = function(cnd) cnd,
    warning = function(cnd) cnd
  )
  if (inherits(con, "condition")) {
    abort_gru(
      c("{.fn callback_csv_logger} cannot write {.file {filename}}.",
        "i" = "Check that its folder exists and is writable."),
      class = "gru_error_input", parent = con, call = NULL
    )
  }
  close(con)
  invisible()
}

# One row as Python's csv writer (excel dialect, QUOTE_MINIMAL) writes it:
# fields holding the separator, a quote or a line break are quoted, with
# quotes doubled; lines end in \r\n.
write_csv_row <- function(filename, fields, separator) {
  special <- grepl(separator, fields, fixed = TRUE) | grepl("[\"\r\n]", fields)
  fields[special] <- paste0("\"", gsub("\"", "\"\"", fields[special], fixed = TRUE), "\"")
  con <- file(filename, open = "ab")
  on.exit(close(con))
  writeChar(paste0(paste(fields, collapse = separator), "\r\n"), con, eos = NULL)
  flush(con)
}

# A logged value as Keras' CSVLogger writes it: a string as is, a number as
# Python's str(float), a missing value as NA, a vector as "[a, b, ...]"
# (with the quotes Keras adds, which the writer then doubles).
format_csv_value <- function(v) {
  if (is.null(v)) return("NA")
  if (is.character(v) && length(v) == 1L) return(v)
  if (length(v) == 1L) return(format_python_number(v))
  items <- if (is.character(v)) v else vapply(v, format_python_number, character(1))
  paste0("\"[", paste(items, collapse = ", "), "]\"")
}

# Python's repr of a float: the shortest of 15-17 significant digits that
# reads back as the same double, with ".0" on whole numbers; integers as
# integers.
format_python_number <- function(x) {
  if (is.logical(x)) return(if (is.na(x)) "NA" else if (x) "True" else "False")
  if (is.na(x) && !is.nan(x)) return("NA")
  if (is.nan(x)) return("nan")
  if (is.infinite(x)) return(if (x > 0) "inf" else "-inf")
  if (is.integer(x)) return(as.character(x))
  for (digits in 15:17) {
    s <- sprintf(paste0("%.", digits, "g"), x)
    if (as.numeric(s) == x) break
  }
  if (x == trunc(x) && abs(x) < 1e16 && !grepl("e", s, fixed = TRUE)) s <- paste0(s, ".0")
  s
}
