# save_model(): a gru sequential or functional model as a Keras 3 .keras file, through
# the writer in R/keras-file-write.R.

#' Save a model as a Keras file
#'
#' keras3's `save_model()`: writes `model` as a Keras 3 `.keras` archive
#' (`config.json` with the architecture in Keras' keys, `metadata.json`, and
#' the weights in `model.weights.h5`, laid out as Keras 3.9 writes them).
#' [load_model()] reads it back. Needs the \pkg{hdf5r}, \pkg{jsonlite} and
#' \pkg{zip} packages. How the model was compiled (loss and optimizer
#' settings) is saved as Keras' `compile_config`; the optimizer state is not.
#'
#' @param model A sequential or functional model whose layers are built (give
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
  check_save_path(filepath, "\\.keras$", ".keras", overwrite, call)
  config <- model_keras_config(model)
  compiled <- model_self(model)$compiled
  if (!is.null(compiled)) {
    # Keras 3's Model.get_compile_config(): the serialized optimizer and
    # the losses by name (keras/src/trainers/trainer.py).
    losses <- lapply(compiled$losses %||% list(compiled$loss), function(l) l$name)
    config$compile_config <- list(
      optimizer = list(module = "keras.optimizers",
                       class_name = compiled$optimizer$class_name,
                       config = compiled$optimizer$config, registered_name = NULL),
      loss = if (length(losses) == 1L) losses[[1L]] else losses,
      loss_weights = if (length(losses) > 1L) unlist(compiled$loss_weights),
      metrics = NULL, weighted_metrics = NULL, run_eagerly = FALSE,
      steps_per_execution = 1L, jit_compile = FALSE
    )
  }
  write_keras_archive(filepath, config, NULL, model_weights_tree(model, config, call),
                      call = call)
  invisible(filepath)
}

#' Save a model's weights as a Keras weights file
#'
#' keras3's `save_model_weights()`: writes the weights of `model` as a Keras
#' 3 `.weights.h5` file (the `model.weights.h5` of a `.keras` archive), which
#' [load_model_weights()] (and Keras 3's `model.load_weights()`) reads into
#' a model of the same architecture. Needs the \pkg{hdf5r} package.
#'
#' @inheritParams save_model
#' @param filepath Path of the file to write; it must end in `.weights.h5`.
#' @returns `filepath`, invisibly.
#' @family models
#' @export
#' @examplesIf requireNamespace("hdf5r", quietly = TRUE)
#' model <- keras_model_sequential(input_shape = c(NA, 3)) |>
#'   layer_gru(4) |>
#'   layer_dense(1)
#' path <- file.path(tempdir(), "model.weights.h5")
#' save_model_weights(model, path, overwrite = TRUE)
#' copy <- from_config(get_config(model))
#' load_model_weights(copy, path)
save_model_weights <- function(model, filepath, overwrite = FALSE) {
  call <- rlang::current_env()
  check_sequential_model(model, call = call)
  check_string(filepath, call = call)
  check_bool(overwrite, call = call)
  check_save_path(filepath, "\\.weights\\.h5$", ".weights.h5", overwrite, call)
  config <- model_keras_config(model)
  write_keras_weights_h5(filepath, model_weights_tree(model, config, call), call = call)
  invisible(filepath)
}

check_save_path <- function(filepath, pattern, ext, overwrite, call) {
  if (!grepl(pattern, filepath)) {
    abort_gru(
      c("{.arg filepath} must end in {.file {ext}}, not {.file {basename(filepath)}}."),
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
}

# list(class_name, config) of a model, as Keras writes it.
model_keras_config <- function(model) {
  cfg <- get_config(model)
  class_name <- attr(cfg, "class_name")
  attr(cfg, "class_name") <- NULL
  list(class_name = class_name, config = cfg)
}

# The weights of every layer laid out as Keras 3 saves them: one weight
# list per layer of the config, InputLayers (functional models list them;
# they hold no weights) included.
model_weights_tree <- function(model, config, call) {
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
  names(weights) <- vapply(model$layers, function(l) l$name, "")
  weights <- lapply(keras3_layer_paths(config), function(e) weights[[e$name]] %||% list())
  keras_weights_tree(config, weights)
}
