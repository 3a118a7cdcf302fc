# load_model() and load_model_weights(): Keras files into gru models, on
# top of the file layer (R/keras-file-read.R, R/keras-file-legacy.R). The
# model is built with from_config() from the file's config (converted from
# legacy conventions) and each layer of `model$layers` gets its weights
# with set_weights(), matched by name (load_model()) or as Keras'
# load_weights() matches them (load_model_weights()). Sequential and
# functional models.

#' Load a Keras model file
#'
#' keras3's `load_model()`, without Python: reads a model saved by Keras
#' (`model.save()`) and returns the gru model with the same architecture and
#' weights. Reads Keras 3 `.keras` archives (also those written by tf.keras
#' 2.13-2.15), full-model HDF5 files (`.h5`, `.hdf5`) of Keras 1, Keras 2
#' (including tf.keras) and Keras 3. The format is read from the file's
#' content, not its extension. Needs the \pkg{hdf5r} and \pkg{jsonlite}
#' packages.
#'
#' Legacy conventions are converted as Keras' own loaders convert them:
#' Keras 1 argument names and per-gate GRU weights, `CuDNNGRU` layers
#' (loaded as `layer_gru(reset_after = TRUE)`), GRUs saved before
#' `reset_after` existed (`reset_after = FALSE`), and `"hard_sigmoid"` in
#' files older than Keras 3, which means the Keras 2 formula
#' (`"hard_sigmoid_keras2"`, see [gru_activations()]).
#'
#' Sequential and functional models load; a layer class gru does not have
#' is an error of class `gru_error_unsupported` naming it and the file
#' (give a builder in `custom_objects` to supply one).
#'
#' @param filepath Path of the Keras file.
#' @param custom_objects `NULL`, or a named list of functions, one per Keras
#'   class name, each taking a layer's config (a list with Keras' keys) and
#'   returning a gru layer; used for classes gru does not build itself.
#' @param compile If `TRUE` and the file records how the model was compiled
#'   (loss and optimizer), compile the gru model the same way when gru knows
#'   that loss and optimizer (metrics are not restored). Otherwise the model
#'   is returned uncompiled, with a message saying why.
#' @returns A sequential or functional model.
#' @family models
#' @export
#' @examplesIf requireNamespace("hdf5r", quietly = TRUE) && requireNamespace("jsonlite", quietly = TRUE) && requireNamespace("zip", quietly = TRUE)
#' model <- keras_model_sequential(input_shape = c(NA, 3)) |>
#'   layer_gru(4) |>
#'   layer_dense(1)
#' path <- file.path(tempdir(), "tiny.keras")
#' save_model(model, path)
#' copy <- load_model(path)
#' x <- array(runif(2 * 5 * 3), c(2, 5, 3))
#' all.equal(predict(copy, x), predict(model, x), tolerance = 1e-6)
load_model <- function(filepath, custom_objects = NULL, compile = TRUE) {
  call <- rlang::current_env()
  check_string(filepath, call = call)
  check_custom_objects(custom_objects, call)
  check_bool(compile, call = call)
  file <- read_keras_file(filepath, call = call)
  if (is.null(file$model_config)) {
    abort_gru(
      c("{.file {filepath}} holds weights only, no model architecture.",
        "i" = "Build the model (e.g. with {.fn from_config} from its architecture JSON), then call {.fn load_model_weights}."),
      class = "gru_error_file", call = call
    )
  }
  config <- legacy_model_config(file$model_config, file$keras_version)
  config <- drop_custom_training_objects(config, filepath)
  check_loadable_config(config, custom_objects, filepath, call)
  model <- with_custom_objects(custom_objects, rlang::try_fetch(
    from_config(config),
    gru_error_config = function(cnd) {
      abort_gru(
        c("The model in {.file {filepath}} cannot be built."),
        class = c("gru_error_config", "gru_error_file"), parent = cnd, call = call
      )
    }
  ))
  originals <- model_layer_dicts(file$model_config)
  names(originals) <- vapply(originals, layer_dict_name, "")
  for (layer in model$layers) {
    weights <- file$weights[[layer$name]]
    original <- originals[[layer$name]]
    if (is.null(weights)) {
      if (!layer_has_weights(layer)) next
      abort_gru(
        c("{.file {filepath}} has no weights for layer {.val {layer$name}}."),
        class = "gru_error_file", call = call
      )
    }
    assign_file_weights(layer, weights, original$class_name, original$config,
                        file$keras_version, filepath, skip_mismatch = FALSE,
                        call = call)
  }
  if (compile) compile_from_file(model, file$training_config, filepath)
  model
}

#' Load weights from a Keras file into a model
#'
#' keras3's `load_weights()` for a gru sequential model: reads the weights
#' saved in a Keras file (`model.save_weights()` files of Keras 1 and 2
#' (`.h5`), Keras 3 `.weights.h5` files, and the weights of full-model
#' `.h5` and `.keras` files) and sets them in `model`'s layers. Legacy
#' weight layouts (Keras 1 per-gate GRU weights, `CuDNNGRU`) are converted
#' as in [load_model()].
#'
#' By default layers are matched as Keras matches them: the layers that
#' have weights, in order, for HDF5 files; by their position in the model
#' for Keras 3 files. `by_name = TRUE` matches layers by name instead
#' (HDF5 files of Keras 1 and 2) and leaves layers without a match as they
#' are.
#'
#' @param model A sequential model, e.g. from [keras_model_sequential()] or
#'   [from_config()].
#' @param filepath Path of the Keras file.
#' @param skip_mismatch If `TRUE`, a layer whose weights do not fit is left
#'   as it is, with a warning, instead of an error.
#' @param by_name Match layers by name rather than by order.
#' @returns `model`, invisibly, with its weights set.
#' @family models
#' @export
#' @examplesIf requireNamespace("hdf5r", quietly = TRUE) && requireNamespace("jsonlite", quietly = TRUE) && requireNamespace("zip", quietly = TRUE)
#' model <- keras_model_sequential(input_shape = c(NA, 3)) |>
#'   layer_gru(4) |>
#'   layer_dense(1)
#' path <- file.path(tempdir(), "tiny-weights.keras")
#' save_model(model, path)
#' other <- from_config(get_config(model))
#' load_model_weights(other, path)
#' # the file holds float32, as Keras' do
#' all.equal(get_weights(other), get_weights(model), tolerance = 1e-6)
load_model_weights <- function(model, filepath, skip_mismatch = FALSE,
                               by_name = FALSE) {
  call <- rlang::current_env()
  check_sequential_model(model, call = call)
  check_string(filepath, call = call)
  check_bool(skip_mismatch, call = call)
  check_bool(by_name, call = call)
  own <- get_config(model)
  attr(own, "class_name") <- NULL
  file <- read_keras_file(filepath, model_config = list(class_name = "Sequential", config = own),
                          call = call)
  layers <- model$layers
  if (by_name) {
    pairs <- lapply(layers, function(l) list(layer = l, weights = file$weights[[l$name]]))
    pairs <- Filter(function(p) !is.null(p$weights), pairs)
  } else {
    with_weights <- Filter(layer_has_weights, layers)
    stored <- Filter(length, file$weights)
    if (length(stored) != length(with_weights)) {
      abort_gru(
        c("Layer count mismatch when loading weights from {.file {filepath}}.",
          "x" = "The model has {length(with_weights)} layer{?s} with weights; the file has {length(stored)}.",
          "i" = "Use {.code by_name = TRUE} to match layers by name."),
        class = c("gru_error_weights", "gru_error_file"), call = call
      )
    }
    pairs <- Map(function(l, w) list(layer = l, weights = w), with_weights, stored)
  }
  for (p in pairs) {
    cfg <- get_config(p$layer)
    assign_file_weights(p$layer, p$weights, attr(cfg, "class_name"), cfg,
                        file$keras_version, filepath,
                        skip_mismatch = skip_mismatch, call = call)
  }
  invisible(model)
}

check_sequential_model <- function(model, arg = rlang::caller_arg(model),
                                   call = rlang::caller_env()) {
  if (!inherits(model, "gru_model")) {
    abort_gru(
      c("{.arg {arg}} must be a gru model, not {.obj_type_friendly {model}}.",
        "i" = "Build one with {.fn keras_model_sequential} or {.fn from_config}."),
      class = "gru_error_input", call = call
    )
  }
  invisible(model)
}

check_custom_objects <- function(x, call) {
  ok <- is.null(x) || (is.list(x) && length(x) > 0L && !is.null(names(x)) &&
                         all(nzchar(names(x))) && all(vapply(x, is.function, TRUE)))
  if (!ok) {
    abort_gru(
      c("{.arg custom_objects} must be `NULL` or a named list of functions, not {.obj_type_friendly {x}}.",
        "i" = "Name each function by the Keras class it builds, e.g. {.code list(MyLayer = function(config) layer_dense(units = config$units))}."),
      class = "gru_error_input", call = call
    )
  }
  invisible(x)
}

# Constraints and regularizers of classes gru does not have (a Python
# file's own, such as rnnoise's WeightClip) act only in training: they are
# dropped, with one message naming them, so the model loads and predicts.
drop_custom_training_objects <- function(config, filepath) {
  dropped <- character()
  known <- c("MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "L1", "L2", "L1L2",
             "max_norm", "non_neg", "unit_norm", "min_max_norm", "l1", "l2", "l1_l2")
  walk <- function(x) {
    if (!is.list(x)) return(x)
    nms <- names(x)
    for (k in seq_along(x)) {
      v <- x[[k]]
      key <- if (is.null(nms)) "" else nms[[k]]
      if (grepl("_(constraint|regularizer)$", key) && is.list(v) &&
          is.character(v$class_name) && !v$class_name %in% known) {
        dropped <<- c(dropped, v$class_name)
        x[k] <- list(NULL)
      } else if (is.list(v)) {
        x[[k]] <- walk(v)
      }
    }
    x
  }
  config <- walk(config)
  if (length(dropped)) {
    cli::cli_inform(c(
      "!" = "{.file {basename(filepath)}} uses constraint or regularizer class{?es} {.cls {unique(dropped)}}, which gru does not have; {?it is/they are} left out.",
      "i" = "They act only in training: predictions are unchanged. Add your own constraint before training the model further."
    ))
  }
  config
}

# Layer classes gru can build (its registered layer types) or the caller
# supplies, checked before building so the error names the class and the
# file.
check_loadable_config <- function(config, custom_objects, filepath, call) {
  known <- c(known_class_names(), names(custom_objects), "InputLayer")
  classes <- unique(unlist(lapply(config_layer_list(config), nested_class_names)))
  unknown <- setdiff(classes, known)
  if (length(unknown)) {
    abort_gru(
      c("{.file {filepath}} uses layer class{?es} {.cls {unknown}}, which gru does not have.",
        "i" = "Pass a builder function for each such class in {.arg custom_objects}."),
      class = c("gru_error_unsupported", "gru_error_file"), call = call
    )
  }
  invisible(TRUE)
}

# A layer dict's class and the classes of the layers and cells inside it.
nested_class_names <- function(d) {
  if (!is.list(d) || !is.character(d$class_name)) return(character())
  cfg <- d$config
  inner <- c(list(cfg$layer, cfg$backward_layer),
             if (is.null(names(cfg$cell))) cfg$cell else list(cfg$cell),
             cfg$cells)
  c(d$class_name, unlist(lapply(inner, nested_class_names)))
}

# Runs `expr` with the caller's builders registered for from_config() (as
# layer types that only build), and restores the types that were there.
with_custom_objects <- function(custom_objects, expr) {
  if (is.null(custom_objects)) return(expr)
  saved <- mget(names(custom_objects), envir = layer_type_ids, ifnotfound = list(NULL))
  ids <- paste0("custom_object:", names(custom_objects))
  on.exit({
    for (k in seq_along(saved)) {
      n <- names(saved)[k]
      rm(list = ids[k], envir = layer_types)
      if (is.null(saved[[k]])) rm(list = n, envir = layer_type_ids) else
        assign(n, saved[[k]], envir = layer_type_ids)
    }
  })
  for (k in seq_along(custom_objects)) {
    f <- custom_objects[[k]]
    register_layer_type(new_layer_type(
      type = ids[k], class_name = names(custom_objects)[k], kind = "model",
      from_config = local({
        fn <- f
        function(config, call) fn(config)
      })
    ))
  }
  expr
}

layer_has_weights <- function(layer) {
  !(attr(get_config(layer), "class_name") %in% weightless_classes)
}

# Converts one layer's file weights (legacy_layer_weights()) and sets them;
# a mismatch is an error naming the layer and the file, or with
# `skip_mismatch` a warning.
assign_file_weights <- function(layer, weights, class_name, config,
                                keras_version, filepath, skip_mismatch, call) {
  if (!length(weights)) return(invisible(layer))
  weights <- legacy_layer_weights(class_name %||% attr(get_config(layer), "class_name"),
                                  config, weights, keras_version, call = call)
  rlang::try_fetch(
    set_weights(layer, weights),
    gru_error_weights = function(cnd) {
      if (skip_mismatch) {
        cli::cli_warn(
          c("Skipping the weights of layer {.val {layer$name}} from {.file {filepath}}: they do not fit it."),
          parent = cnd
        )
        return(invisible(layer))
      }
      abort_gru(
        c("The weights in {.file {filepath}} do not fit layer {.val {layer$name}}.",
          "i" = "Was the file saved from this model?"),
        class = c("gru_error_weights", "gru_error_file"), parent = cnd, call = call
      )
    }
  )
  invisible(layer)
}

# Compiles `model` as a Keras training config (HDF5 `training_config`:
# loss, optimizer_config) or compile config (.keras `compile_config`:
# loss, optimizer) says, when gru knows the loss and the optimizer; tells
# why not otherwise. Keras 2 optimizers write `lr`, later ones
# `learning_rate` (tf-keras tf_keras/optimizers/legacy/optimizer_v2.py).
compile_from_file <- function(model, training_config, filepath) {
  if (is.null(training_config)) return(invisible(model))
  opt <- training_config$optimizer_config %||% training_config$optimizer
  loss <- training_config$loss
  reason <- NULL
  optimizer <- NULL
  if (is.character(opt) && length(opt) == 1L) opt <- list(class_name = opt, config = list())
  # tf.keras 2.11+ writes its new optimizers as "Custom>Adam".
  key <- tolower(sub("^Custom>", "", opt$class_name %||% ""))
  if (!key %in% names(optimizer_names)) {
    reason <- sprintf("its optimizer \"%s\" is not one gru has", opt$class_name %||% "none")
  } else if (!known_loss_names(loss)) {
    reason <- "its loss is not one gru knows"
  } else {
    ctor <- switch(key, sgd = optimizer_sgd, adam = optimizer_adam,
                   rmsprop = optimizer_rmsprop, adagrad = optimizer_adagrad)
    cfg <- opt$config %||% list()
    if (is.null(cfg$learning_rate)) cfg$learning_rate <- cfg$lr
    args <- cfg[intersect(names(cfg), setdiff(names(formals(ctor)), "..."))]
    args <- Filter(function(v) is.atomic(v) && length(v) == 1L && !is.na(v), args)
    optimizer <- rlang::try_fetch(do.call(ctor, args), gru_error = function(cnd) NULL)
    if (is.null(optimizer)) reason <- "its optimizer settings are not ones gru takes"
  }
  if (!is.null(reason)) {
    cli::cli_inform(c("The model from {.file {filepath}} is not compiled: {reason}.",
                      "i" = "Call {.fn compile} on it to train it."))
    return(invisible(model))
  }
  lw <- training_config$loss_weights
  compile(model, optimizer = optimizer, loss = if (is.list(loss)) unlist(loss) else loss,
          loss_weights = if (is.numeric(unlist(lw))) unlist(lw))
  invisible(model)
}

# A loss name, or one per output (a list or vector, named or not, as Keras
# writes the losses of a model with several outputs), that gru knows.
known_loss_names <- function(loss) {
  flat <- unlist(loss)
  length(flat) >= 1L && is.character(flat) && length(flat) == length(loss) &&
    all(tolower(flat) %in% names(loss_aliases))
}
