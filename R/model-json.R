# keras 2's architecture JSON: model_to_json() and model_from_json(), and
# the keras 2 names of the file functions (load_model_hdf5(),
# load_model_weights_hdf5()). The JSON is Keras' model.to_json(): Keras 1,
# 2 and 3 forms are read, legacy conventions converted as load_model()
# converts them.

#' A model's architecture as JSON, and a model from JSON
#'
#' keras' `model_to_json()` and `model_from_json()`: the architecture (no
#' weights) as the JSON string Keras' `model.to_json()` writes, and a new
#' model built from such a string. `model_from_json()` reads what Keras 1,
#' Keras 2 (tf.keras) and Keras 3 write, converting legacy conventions as
#' [load_model()] does (Keras 1 argument names, `hard_sigmoid` before Keras
#' 3, GRUs saved before `reset_after`). Load weights afterwards with
#' [load_model_weights()] or [set_weights()].
#'
#' @param object A model.
#' @param json A JSON string (or a path to a `.json` file).
#' @param custom_objects As for [load_model()].
#' @returns `model_to_json()`: a JSON string. `model_from_json()`: a new,
#'   unbuilt (or, with a declared input shape, built) model with fresh
#'   weights.
#' @family models
#' @export
#' @examples
#' model <- keras_model_sequential(input_shape = c(NA, 3)) |> layer_gru(4)
#' json <- model_to_json(model)
#' copy <- model_from_json(json)
#' identical(get_config(copy), get_config(model))
model_to_json <- function(object) {
  call <- rlang::current_env()
  check_model(object, call = call)
  cfg <- model_keras_config(object)
  cfg$keras_version <- keras_layout_version
  cfg$backend <- "tensorflow"
  keras_json(cfg)
}

#' @rdname model_to_json
#' @export
model_from_json <- function(json, custom_objects = NULL) {
  call <- rlang::current_env()
  check_string(json, call = call)
  check_custom_objects(custom_objects, call)
  what <- "the string"
  if (!grepl("^\\s*[{[]", json) && file.exists(json)) {
    what <- json
    json <- paste(readLines(json, warn = FALSE, encoding = "UTF-8"), collapse = "\n")
  }
  parsed <- parse_keras_json(json, what, "the architecture", call)
  if (!is_model_dict(parsed)) {
    abort_gru(
      c("{.arg json} is not a Keras model architecture.",
        "i" = "It must be an object with {.field class_name} and {.field config}, as {.code model.to_json()} writes."),
      class = "gru_error_config", call = call
    )
  }
  version <- check_keras_version(scalar_or_na(parsed$keras_version), what, call)
  config <- drop_custom_training_objects(legacy_model_config(model_dict(parsed), version), what)
  check_loadable_config(config, custom_objects, what, call)
  with_custom_objects(custom_objects, from_config(config))
}

#' @rdname load_model
#' @export
load_model_hdf5 <- function(filepath, custom_objects = NULL, compile = TRUE) {
  load_model(filepath, custom_objects = custom_objects, compile = compile)
}

#' @rdname load_model_weights
#' @param object keras 2's name for `model` (in `load_model_weights_hdf5()`).
#' @param reshape Not supported; must be `FALSE`.
#' @export
load_model_weights_hdf5 <- function(object, filepath, by_name = FALSE,
                                    skip_mismatch = FALSE, reshape = FALSE) {
  if (!isFALSE(reshape)) {
    abort_gru(c("{.arg reshape} is not supported by gru."),
              class = c("gru_error_unsupported", "gru_error_input"))
  }
  load_model_weights(object, filepath, skip_mismatch = skip_mismatch, by_name = by_name)
}
