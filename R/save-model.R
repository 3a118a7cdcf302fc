# save_model(): a gru sequential model as a Keras 3 .keras file, through
# the writer in R/keras-file-write.R.

#' Save a model as a Keras file
#'
#' keras3's `save_model()`: writes `model` as a Keras 3 `.keras` archive
#' (`config.json` with the architecture in Keras' keys, `metadata.json`, and
#' the weights in `model.weights.h5`, laid out as Keras 3.9 writes them).
#' [load_model()] reads it back. Needs the \pkg{hdf5r}, \pkg{jsonlite} and
#' \pkg{zip} packages. The optimizer state is not saved.
#'
#' @param model A sequential model whose layers are built (give
#'   `input_shape`, or call the model once).
#' @param filepath Path of the file to write; it must end in `.keras`.
#' @param overwrite Whether to replace an existing file.
#' @returns `filepath`, invisibly.
#' @family models
#' @export
#' @examplesIf requireNamespace("hdf5r", quietly = TRUE) && requireNamespace("jsonlite", quietly = TRUE) && requireNamespace("zip", quietly = TRUE)
#' model <- keras_model_sequential(input_shape = c(NA, 3)) |>
#'   layer_gru(4) |>
#'   layer_dense(1)
#' path <- file.path(tempdir(), "model.keras")
#' save_model(model, path, overwrite = TRUE)
#' utils::unzip(path, list = TRUE)$Name
save_model <- function(model, filepath, overwrite = FALSE) {
  call <- rlang::current_env()
  check_sequential_model(model, call = call)
  check_string(filepath, call = call)
  check_bool(overwrite, call = call)
  if (!grepl("\\.keras$", filepath)) {
    abort_gru(
      c("{.arg filepath} must end in {.file .keras}, not {.file {basename(filepath)}}.",
        "i" = "gru writes Keras 3 {.file .keras} archives."),
      class = "gru_error_input", call = call
    )
  }
  if (file.exists(filepath) && !overwrite) {
    abort_gru(
      c("{.file {filepath}} already exists.",
        "i" = "Use {.code overwrite = TRUE} to replace it."),
      class = "gru_error_file", call = call
    )
  }
  weights <- lapply(model$layers, function(l) unname(get_weights(l)))
  unbuilt <- vapply(seq_along(weights), function(i) {
    layer_has_weights(model$layers[[i]]) && !length(weights[[i]])
  }, TRUE)
  if (any(unbuilt)) {
    names <- vapply(model$layers[unbuilt], function(l) l$name, "")
    abort_gru(
      c("Layer{?s} {.val {names}} {?is/are} not built, so {?it has/they have} no weights to save.",
        "i" = "Give the model an {.arg input_shape}, or call it on data once."),
      class = "gru_error_not_built", call = call
    )
  }
  cfg <- get_config(model)
  attr(cfg, "class_name") <- NULL
  config <- list(class_name = "Sequential", config = cfg)
  write_keras_archive(filepath, config, NULL, keras_weights_tree(config, weights),
                      call = call)
  invisible(filepath)
}
