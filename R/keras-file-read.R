# Reading Keras model files without Python: the file layer under
# load_model(). read_keras_file() detects the format by content and returns
# one normalized description whatever wrote the file:
#
#   list(format          "keras" (Keras 3 / tf.keras >= 2.13 zip), "h5"
#                        (full-model HDF5, Keras 1-3), "h5_weights"
#                        (Keras 1/2 save_weights() HDF5) or "weights_h5"
#                        (Keras 3 .weights.h5),
#        keras_version   the version string the file records, or NA,
#        backend         the backend string the file records, or NA,
#        model_config    list(class_name, config[, build_config]) as parsed by
#                        jsonlite::fromJSON(simplifyVector = FALSE), or NULL,
#        training_config parsed, or NULL,
#        weights         named list, one entry per top-level layer of the
#                        model (Keras' `model.layers`, in the file's order),
#                        each an unnamed list of arrays in the order Keras'
#                        `layer.get_weights()` returns them, in Keras' shapes,
#        weight_names    the same structure, the name each array is stored
#                        under (an HDF5 path inside the layer's group),
#        metadata        metadata.json of a .keras file, or NULL)
#
# Storage order. HDF5 stores arrays row-major (C order) and h5py reports the
# C shape; hdf5r reports the reversed shape and returns an R array whose
# column-major layout is the same bytes, so element [j, i] of what hdf5r
# returns is h5py's [i, j]. One aperm() reversing all axes gives Keras'
# shape and element order (verified against the raw bytes of a contiguous
# float32 dataset of a real Keras file; tests/testthat/test-keras-file.R
# checks it on every run against bytes it writes).
#
# The layout facts, with where Keras writes them:
#
# Keras 1/2 and Keras 3 legacy HDF5 (tf-keras tf_keras/saving/legacy/
# hdf5_format.py save_model_to_hdf5(), save_weights_to_hdf5_group(),
# save_subset_weights_to_hdf5_group(); keras-team/keras keras/src/legacy/
# saving/legacy_h5_format.py, the same functions):
# - Root attributes `model_config` and `training_config` are JSON strings
#   (bytes or str); `keras_version` and `backend` are root attributes, and
#   attributes of the `model_weights` group too.
# - `model_weights` (the root itself in a save_weights() file) carries the
#   attribute `layer_names` (one per layer of `model.layers`; bytes), and a
#   group per layer, named by the layer, carrying `weight_names`; each
#   weight is the dataset at `<layer group>/<weight name>`, e.g.
#   `model_weights/gru/gru/gru_cell/kernel:0` (tf.keras 2),
#   `model_weights/gru_1/gru_1_W_z` (Keras 1),
#   `model_weights/gru/sequential/gru/gru_cell/kernel` (Keras 3).
# - An attribute list too large for an HDF5 object header is split into
#   `<name>0`, `<name>1`, ... (save_attributes_to_hdf5_group() /
#   load_attributes_from_hdf5_group()). An empty list is written as an
#   empty float64 attribute, which hdf5r cannot read: its size is checked
#   first.
# - Weights are stored in `_legacy_weights()` order (trainable, then
#   non-trainable), which is get_weights() order for every layer gru has.
# - A file without `keras_version` was written by Keras 1
#   (load_weights_from_hdf5_group() then uses original_keras_version "1").
# - The group `top_level_model_weights` holds the model's own weights (none
#   for Sequential/Functional); `optimizer_weights` the optimizer's.
#
# Keras 3 .keras and .weights.h5 (keras-team/keras keras/src/saving/
# saving_lib.py; tf.keras 2.13-2.15: tf-keras tf_keras/saving/saving_lib.py):
# - The .keras file is a zip (_save_model_to_fileobj()) holding
#   `metadata.json` ({"keras_version", "date_saved"}), `config.json`
#   (serialize_keras_object(model)) and `model.weights.h5`
#   (_CONFIG_FILENAME, _METADATA_FILENAME, _VARS_FNAME_H5).
# - Variables are stored by object path, not by layer name: _save_state()
#   walks the model, Sequential/Functional first through `layers`
#   (_walk_saveable()); a list element's path is the snake-cased class name
#   made unique with `_1`, `_2`, ... (_save_container_state(),
#   _get_unique_name(), naming.to_snake_case()); an attribute's path is the
#   attribute name (`cell`, `forward_layer`, `backward_layer`, `layer`,
#   `cells`). Each object's own variables are datasets `0`, `1`, ... in the
#   group `<path>/vars` (H5IOStore.make(), Layer.save_own_variables()),
#   e.g. `layers/gru/cell/vars/0`; the model's own is the root `vars`.
# - Sequential.layers leaves out the leading InputLayer
#   (keras/src/models/sequential.py `layers`); Functional.layers keeps
#   input layers (keras/src/models/functional.py `layers`).
# - tf.keras 2.15 joined paths with tf.io.gfile.join(), which uses `\` on
#   Windows: such files have groups named `layers\bidirectional\...`
#   holding a `vars` group; Keras 3 replaces `\` by `/`. So do we.

# Layer classes that own no variables: a config layer of one of these
# classes may lack a weights group (Keras >= 3.10 creates groups lazily,
# H5IOStore.make()).
weightless_classes <- c(
  "InputLayer", "Dropout", "SpatialDropout1D", "GaussianNoise",
  "GaussianDropout", "AlphaDropout", "Masking", "Activation", "Flatten",
  "Reshape", "Permute", "RepeatVector", "Concatenate", "Add", "Subtract",
  "Multiply", "Average", "Maximum", "Minimum", "Dot", "Lambda",
  "ActivityRegularization", "GlobalAveragePooling1D", "GlobalMaxPooling1D",
  "MaxPooling1D", "AveragePooling1D", "Cropping1D", "ZeroPadding1D",
  "UpSampling1D"
)

read_keras_file <- function(filepath, model_config = NULL,
                            call = rlang::caller_env()) {
  check_keras_file_exists(filepath, call)
  kind <- sniff_keras_file(filepath)
  out <- switch(
    kind,
    zip = read_keras_zip(filepath, call),
    hdf5 = read_keras_hdf5(filepath, model_config, call),
    abort_gru(
      c("{.file {filepath}} is neither an HDF5 file nor a zip archive.",
        "i" = "Keras writes models as {.file .keras} (zip) or {.file .h5} (HDF5) files; an architecture JSON is read by {.fn read_keras_json}."),
      class = "gru_error_file", call = call
    )
  )
  out$keras_version <- check_keras_version(out$keras_version, filepath, call)
  out
}

# An architecture JSON (Keras 1/2 `model.to_json()`, Keras 3
# `model.to_json()`, or a config.json), in read_keras_file()'s shape with
# format "json" and no weights. Keras 2 to_json() writes `keras_version` and
# `backend` next to class_name and config (tf_keras/engine/training.py
# `_updated_config()`); Keras 1 and Keras 3 write neither.
read_keras_json <- function(path, call = rlang::caller_env()) {
  check_keras_file_exists(path, call)
  check_keras_dependency("jsonlite", call)
  text <- paste(readLines(path, warn = FALSE, encoding = "UTF-8"), collapse = "\n")
  parsed <- parse_keras_json(text, path, "the file", call)
  if (!is_model_dict(parsed)) {
    abort_gru(
      c("{.file {path}} is JSON but not a Keras model architecture.",
        "i" = "It must be an object with {.field class_name} and {.field config}, as {.code model.to_json()} writes."),
      class = "gru_error_file", call = call
    )
  }
  list(
    format = "json",
    keras_version = check_keras_version(scalar_or_na(parsed$keras_version), path, call),
    backend = scalar_or_na(parsed$backend),
    model_config = model_dict(parsed),
    training_config = NULL,
    weights = NULL,
    weight_names = NULL,
    metadata = NULL
  )
}

# --- detection and checks ---------------------------------------------------

check_keras_file_exists <- function(filepath, call) {
  if (!(is.character(filepath) && length(filepath) == 1L && !is.na(filepath))) {
    abort_gru(
      c("The file path must be a single string, not {.obj_type_friendly {filepath}}."),
      class = c("gru_error_input", "gru_error_file"), call = call
    )
  }
  if (!file.exists(filepath) || dir.exists(filepath)) {
    abort_gru(
      c("Can't find the file {.file {filepath}}.",
        "i" = "Check the path; the working directory is {.file {getwd()}}."),
      class = "gru_error_file", call = call
    )
  }
  invisible(filepath)
}

check_keras_dependency <- function(pkg, call) {
  if (requireNamespace(pkg, quietly = TRUE)) return(invisible(TRUE))
  debian <- paste0("r-cran-", tolower(pkg))
  abort_gru(
    c("Reading Keras files needs the {.pkg {pkg}} package, which is not installed.",
      "i" = "Install it with {.code apt-get install {debian}} (Debian/Ubuntu) or {.code install.packages(\"{pkg}\")}."),
    class = c("gru_error_dependency", "gru_error_file"), call = call
  )
}

# "zip", "hdf5" or "other", from the first bytes. A zip starts with a local
# file header "PK\3\4" (or "PK\5\6", an empty archive); the HDF5 superblock
# signature "\x89HDF\r\n\x1a\n" sits at byte 0, 512, 1024, 2048, ... (the
# HDF5 file format specification, "Format Signature").
sniff_keras_file <- function(filepath) {
  size <- file.size(filepath)
  con <- file(filepath, "rb")
  on.exit(close(con))
  head <- readBin(con, "raw", n = 8L)
  if (length(head) >= 4L && identical(head[1:2], charToRaw("PK")) &&
      (identical(head[3:4], as.raw(c(3, 4))) || identical(head[3:4], as.raw(c(5, 6))))) {
    return("zip")
  }
  signature <- as.raw(c(0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a))
  offset <- 0
  while (offset + 8 <= size) {
    if (offset > 0) {
      seek(con, offset)
      head <- readBin(con, "raw", n = 8L)
    }
    if (identical(head, signature)) return("hdf5")
    offset <- if (offset == 0) 512 else offset * 2
  }
  "other"
}

# Keras version strings are "1.2.2", "2.0.8", "2.2.4-tf", "2.15.0",
# "3.9.2"; anything else, or a major version gru does not know, is refused.
check_keras_version <- function(version, filepath, call) {
  if (is.null(version) || (length(version) == 1L && is.na(version))) {
    return(NA_character_)
  }
  ok <- is.character(version) && length(version) == 1L &&
    grepl("^[123]\\.[0-9]+(\\.[0-9]+)?([-+.][A-Za-z0-9.+-]*)?$", version)
  if (!ok) {
    shown <- paste(format(version), collapse = " ")
    abort_gru(
      c("{.file {filepath}} records Keras version {.val {shown}}, which gru does not know.",
        "i" = "gru reads files written by Keras 1, 2 (including tf.keras) and 3."),
      class = "gru_error_file", call = call
    )
  }
  version
}

scalar_or_na <- function(x) {
  if (is.character(x) && length(x) == 1L) x else NA_character_
}

parse_keras_json <- function(text, filepath, what, call) {
  rlang::try_fetch(
    jsonlite::fromJSON(text, simplifyVector = FALSE),
    error = function(cnd) {
      abort_gru(
        c("{.file {filepath}}: {what} is not valid JSON.",
          "i" = "The file may be truncated or corrupt."),
        class = "gru_error_file", parent = cnd, call = call
      )
    }
  )
}

is_model_dict <- function(x) {
  is.list(x) && is.character(x$class_name) && length(x$class_name) == 1L &&
    !is.null(x$config) && is.list(x$config)
}

# The architecture part of a serialized model: class_name and config, and
# Keras 3's build_config when present.
model_dict <- function(x) {
  out <- list(class_name = x$class_name, config = x$config)
  if (!is.null(x$build_config)) out$build_config <- x$build_config
  out
}

# The top-level layer dicts of a model config: Sequential's `layers` (or,
# in Keras 1 and Keras <= 2.1 files, the config itself is the list of
# layers: keras 2.2.4 keras/engine/sequential.py from_config(), "legacy
# config file"), Functional/Model's `layers`.
config_layer_list <- function(model_config) {
  cfg <- model_config$config
  if (is.null(names(cfg)) && length(cfg)) return(cfg)
  cfg$layers %||% list()
}

is_sequential_config <- function(model_config) {
  identical(model_config$class_name, "Sequential")
}

# The layers Keras' `model.layers` lists: Sequential leaves out its leading
# InputLayer (keras/src/models/sequential.py `layers`; the same in tf.keras),
# Functional keeps input layers.
model_layer_dicts <- function(model_config) {
  layers <- config_layer_list(model_config)
  if (is_sequential_config(model_config) && length(layers) &&
      identical(layers[[1L]]$class_name, "InputLayer")) {
    layers <- layers[-1L]
  }
  layers
}

layer_dict_name <- function(layer) {
  name <- layer$config$name
  if (is.character(name) && length(name) == 1L) name else NA_character_
}

# --- zip (.keras) -----------------------------------------------------------

read_keras_zip <- function(filepath, call) {
  check_keras_dependency("jsonlite", call)
  listing <- rlang::try_fetch(
    utils::unzip(filepath, list = TRUE),
    error = function(cnd) abort_corrupt(filepath, "zip archive", cnd, call),
    warning = function(cnd) abort_corrupt(filepath, "zip archive", cnd, call)
  )
  entries <- listing$Name
  if (!"config.json" %in% entries) {
    abort_gru(
      c("{.file {filepath}} is a zip archive without {.file config.json}, so not a {.file .keras} model.",
        "i" = "It holds: {.file {utils::head(entries, 10)}}."),
      class = "gru_error_file", call = call
    )
  }
  dir <- tempfile("gru-keras-")
  on.exit(unlink(dir, recursive = TRUE), add = TRUE)
  wanted <- intersect(c("config.json", "metadata.json", "model.weights.h5"), entries)
  rlang::try_fetch(
    utils::unzip(filepath, files = wanted, exdir = dir),
    error = function(cnd) abort_corrupt(filepath, "zip archive", cnd, call),
    warning = function(cnd) abort_corrupt(filepath, "zip archive", cnd, call)
  )
  read_text <- function(name) {
    paste(readLines(file.path(dir, name), warn = FALSE, encoding = "UTF-8"),
          collapse = "\n")
  }
  config <- parse_keras_json(read_text("config.json"), filepath,
                             "its config.json", call)
  if (!is_model_dict(config)) {
    abort_gru(
      c("{.file {filepath}}: {.file config.json} does not describe a model.",
        "i" = "It must be an object with {.field class_name} and {.field config}."),
      class = "gru_error_file", call = call
    )
  }
  metadata <- NULL
  if ("metadata.json" %in% wanted) {
    metadata <- parse_keras_json(read_text("metadata.json"), filepath,
                                 "its metadata.json", call)
  }
  model_config <- model_dict(config)
  out <- list(
    format = "keras",
    keras_version = scalar_or_na(metadata$keras_version),
    backend = NA_character_,
    model_config = model_config,
    training_config = config$compile_config,
    weights = NULL,
    weight_names = NULL,
    metadata = metadata
  )
  if (!"model.weights.h5" %in% wanted) {
    abort_gru(
      c("{.file {filepath}} has no {.file model.weights.h5}.",
        "i" = "gru reads {.file .keras} files whose weights are in HDF5, as Keras saves them by default."),
      class = "gru_error_file", call = call
    )
  }
  check_keras_dependency("hdf5r", call)
  h5 <- open_h5(file.path(dir, "model.weights.h5"), filepath, call)
  on.exit(h5$close_all(), add = TRUE, after = FALSE)
  w <- with_h5_errors(read_keras3_weights(h5, model_config, filepath, call),
                      filepath, call)
  out$weights <- w$weights
  out$weight_names <- w$weight_names
  out
}

# Something the file's own index promises is not there.
abort_damaged_file <- function(message, call, .envir = parent.frame()) {
  abort_gru(
    c(message, "i" = "The file may be truncated or corrupt."),
    class = "gru_error_file", call = call, .envir = .envir
  )
}

# The cause goes into an "x" bullet, shortened: HDF5's error stacks run to
# dozens of lines, of which the innermost says what is wrong.
abort_corrupt <- function(filepath, what, cnd, call) {
  abort_gru(
    c("{.file {filepath}} is a damaged {what}: it may be truncated or corrupt.",
      "x" = "{cause_summary(cnd)}",
      "i" = "Copy or download the file again."),
    class = "gru_error_file", call = call
  )
}

cause_summary <- function(cnd) {
  lines <- strsplit(conditionMessage(cnd), "\n")[[1L]]
  stack <- grep("error #[0-9]+:", lines, value = TRUE)
  if (length(stack)) {
    return(trimws(sub("^.*line [0-9]+: ", "", stack[[length(stack)]])))
  }
  trimws(lines[nzchar(trimws(lines))][1L])
}

# --- HDF5 -------------------------------------------------------------------

open_h5 <- function(path, filepath, call) {
  rlang::try_fetch(
    hdf5r::H5File$new(path, mode = "r"),
    error = function(cnd) abort_corrupt(filepath, "HDF5 file", cnd, call)
  )
}

# Runs a read; an HDF5 library error on the way (a truncated dataset, a
# broken object header) becomes a gru_error_file naming the file.
with_h5_errors <- function(expr, filepath, call) {
  rlang::try_fetch(
    expr,
    error = function(cnd) {
      if (inherits(cnd, "gru_error")) rlang::cnd_signal(cnd)
      abort_corrupt(filepath, "HDF5 file", cnd, call)
    }
  )
}

read_keras_hdf5 <- function(filepath, model_config, call) {
  check_keras_dependency("hdf5r", call)
  h5 <- open_h5(filepath, filepath, call)
  on.exit(h5$close_all())
  with_h5_errors(read_keras_hdf5_open(h5, filepath, model_config, call),
                 filepath, call)
}

read_keras_hdf5_open <- function(h5, filepath, model_config, call) {
  root_attrs <- hdf5r::h5attr_names(h5)
  if ("model_config" %in% root_attrs) {
    check_keras_dependency("jsonlite", call)
    model_config <- read_json_attr(h5, "model_config", filepath, call)
    training_config <- NULL
    if ("training_config" %in% root_attrs) {
      training_config <- read_json_attr(h5, "training_config", filepath, call)
    }
    if (!h5$exists("model_weights")) {
      abort_gru(
        c("{.file {filepath}} holds a model config but no {.field model_weights} group.",
          "i" = "The file may be damaged, or saved without weights."),
        class = "gru_error_file", call = call
      )
    }
    group <- h5[["model_weights"]]
    w <- read_legacy_weights(group, filepath, call)
    check_weights_cover_config(model_config, names(w$weights), filepath, call)
    return(list(
      format = "h5",
      keras_version = h5_attr_string(h5, "keras_version") %|na|%
        h5_attr_string(group, "keras_version"),
      backend = h5_attr_string(h5, "backend") %|na|% h5_attr_string(group, "backend"),
      model_config = model_config,
      training_config = training_config,
      weights = w$weights,
      weight_names = w$weight_names,
      metadata = NULL
    ))
  }
  if (has_chunked_attr(h5, "layer_names")) {
    w <- read_legacy_weights(h5, filepath, call)
    return(list(
      format = "h5_weights",
      keras_version = h5_attr_string(h5, "keras_version"),
      backend = h5_attr_string(h5, "backend"),
      model_config = NULL,
      training_config = NULL,
      weights = w$weights,
      weight_names = w$weight_names,
      metadata = NULL
    ))
  }
  top <- names(h5)
  if (any(top %in% c("layers", "vars")) || any(startsWith(top, "layers\\"))) {
    w <- read_keras3_weights(h5, model_config, filepath, call)
    return(list(
      format = "weights_h5",
      keras_version = NA_character_,
      backend = NA_character_,
      model_config = NULL,
      training_config = NULL,
      weights = w$weights,
      weight_names = w$weight_names,
      metadata = NULL
    ))
  }
  abort_gru(
    c("{.file {filepath}} is an HDF5 file, but not one Keras wrote.",
      "i" = "It has neither a {.field model_config} or {.field layer_names} attribute nor a {.field layers} group."),
    class = "gru_error_file", call = call
  )
}

`%|na|%` <- function(a, b) if (is.na(a)) b else a


# The values of an attribute as a character vector (or numbers). h5py writes
# Python bytes as fixed-length and str as variable-length strings; hdf5r
# returns both as character. An attribute with no elements (Keras writes
# `weight_names` of a weightless layer as an empty float64 array) is read
# as character(0): hdf5r cannot read a zero-size attribute.
h5_attr_values <- function(obj, name) {
  a <- obj$attr_open(name)
  on.exit(a$close())
  dims <- a$get_space()$dims
  if (length(dims) && prod(dims) == 0) return(character())
  v <- a$read()
  if (is.character(v)) v <- sub("\\s+$", "", enc2utf8(v))
  as.vector(v)
}

h5_attr_string <- function(obj, name) {
  if (!obj$attr_exists(name)) return(NA_character_)
  v <- h5_attr_values(obj, name)
  if (is.character(v) && length(v) == 1L) v else NA_character_
}

has_chunked_attr <- function(obj, name) {
  obj$attr_exists(name) || obj$attr_exists(paste0(name, "0"))
}

# An attribute list, joined from `<name>0`, `<name>1`, ... when Keras had to
# split it (load_attributes_from_hdf5_group()). NULL when absent.
h5_attr_list <- function(obj, name) {
  if (obj$attr_exists(name)) return(as.character(h5_attr_values(obj, name)))
  out <- NULL
  k <- 0L
  while (obj$attr_exists(paste0(name, k))) {
    out <- c(out, as.character(h5_attr_values(obj, paste0(name, k))))
    k <- k + 1L
  }
  out
}

read_json_attr <- function(h5, name, filepath, call) {
  text <- h5_attr_values(h5, name)
  if (!(is.character(text) && length(text) == 1L)) {
    abort_gru(
      c("{.file {filepath}}: the {.field {name}} attribute is not a JSON string."),
      class = "gru_error_file", call = call
    )
  }
  parsed <- parse_keras_json(text, filepath, paste0("the ", name, " attribute"), call)
  if (name == "model_config") {
    if (!is_model_dict(parsed)) {
      abort_gru(
        c("{.file {filepath}}: the {.field model_config} attribute does not describe a model."),
        class = "gru_error_file", call = call
      )
    }
    parsed <- model_dict(parsed)
  }
  parsed
}

# A dataset as an R array in Keras' shape and element order (see the top of
# the file); 1-d weights come back as 1-d arrays, as get_weights() returns
# them, and scalars as length-one vectors.
h5_read_array <- function(ds) {
  dims <- ds$dims
  v <- ds$read()
  storage.mode(v) <- "double"
  if (length(dims) == 0L) return(as.vector(v))
  if (length(dims) == 1L) return(array(as.vector(v), dim = dims))
  aperm(array(v, dim = dims))
}

# Layer weights of a Keras 1/2 (or Keras 3 legacy) HDF5 group: `layer_names`
# in order, each layer's `weight_names` datasets (see the top of the file).
read_legacy_weights <- function(group, filepath, call) {
  layer_names <- h5_attr_list(group, "layer_names")
  weights <- list()
  weight_names <- list()
  for (name in layer_names) {
    if (!group$exists(name)) {
      abort_damaged_file("{.file {filepath}} lists layer {.val {name}} in {.field layer_names} but has no weights group for it.",
                    call = call)
    }
    g <- group[[name]]
    wn <- h5_attr_list(g, "weight_names") %||% character()
    arrays <- lapply(wn, function(w) {
      if (!g$exists(w)) {
        abort_damaged_file("{.file {filepath}}: layer {.val {name}} names weight {.val {w}}, which is not in the file.",
                      call = call)
      }
      ds <- g[[w]]
      on.exit(ds$close())
      h5_read_array(ds)
    })
    g$close()
    weights[[name]] <- arrays
    weight_names[[name]] <- wn
  }
  list(weights = weights, weight_names = weight_names)
}

# Every layer the config names (other than input layers) must have an entry
# in the weights.
check_weights_cover_config <- function(model_config, weight_layers, filepath,
                                       call) {
  names <- vapply(model_layer_dicts(model_config), layer_dict_name, "")
  classes <- vapply(model_layer_dicts(model_config),
                    function(l) as.character(l$class_name %||% NA), "")
  missing <- names[!(names %in% weight_layers) & !(classes %in% weightless_classes)]
  if (length(missing)) {
    abort_gru(
      c("{.file {filepath}} has no weights for layer{?s} {.val {missing}}, which its model config names.",
        "i" = "The file may be truncated, or saved from another model."),
      class = "gru_error_file", call = call
    )
  }
  invisible(TRUE)
}

# --- Keras 3 object-path weights ------------------------------------------

# Keras' naming.to_snake_case() (keras/src/utils/naming.py; tf-keras
# tf_keras/utils/generic_utils.py has the same two substitutions).
keras_snake_case <- function(name) {
  name <- gsub("[^A-Za-z0-9_]+", "", name)
  name <- gsub("(.)([A-Z][a-z]+)", "\\1_\\2", name, perl = TRUE)
  tolower(gsub("([a-z])([A-Z])", "\\1_\\2", name, perl = TRUE))
}

# Unique names for a list of class names, as _get_unique_name() makes them
# inside one container: gru, gru_1, gru_2, ...
keras_container_names <- function(class_names) {
  snake <- vapply(class_names, keras_snake_case, "", USE.NAMES = FALSE)
  seen <- list()
  vapply(snake, function(s) {
    n <- seen[[s]]
    seen[[s]] <<- if (is.null(n)) 0L else n + 1L
    if (is.null(n)) s else paste0(s, "_", n + 1L)
  }, "", USE.NAMES = FALSE)
}

# The top-level layers of a model config with their object paths in a Keras
# 3 weights file (`layers/gru`, `layers/dense_1`, ...).
keras3_layer_paths <- function(model_config) {
  layers <- model_layer_dicts(model_config)
  classes <- vapply(layers, function(l) as.character(l$class_name %||% ""), "")
  paths <- paste0("layers/", keras_container_names(classes))
  lapply(seq_along(layers), function(i) {
    list(name = layer_dict_name(layers[[i]]), class_name = classes[[i]],
         config = layers[[i]]$config, path = paths[[i]])
  })
}

# The `vars` groups, relative to a layer's path, that hold the variables of
# a layer of a known class, in get_weights() order; NULL for other classes.
# GRU/LSTM/SimpleRNN keep their variables in their cell (`self.cell`,
# keras/src/layers/rnn/rnn.py); RNN likewise; StackedRNNCells in the list
# `cells`; Bidirectional in `forward_layer` then `backward_layer`
# (keras/src/layers/rnn/bidirectional.py; get_weights() lists forward
# first though the walk visits backward_layer first); TimeDistributed in
# `layer` (keras/src/layers/core/wrapper.py).
keras3_var_groups <- function(class_name, config) {
  inner <- function(d) keras3_var_groups(d$class_name, d$config) %||% "vars"
  switch(
    class_name,
    GRU = , LSTM = , SimpleRNN = "cell/vars",
    RNN = paste0("cell/", inner(config$cell)),
    StackedRNNCells = {
      cells <- config$cells
      nm <- keras_container_names(vapply(cells, function(c) c$class_name, ""))
      unlist(lapply(seq_along(cells), function(i) {
        paste0("cells/", nm[[i]], "/", inner(cells[[i]]))
      }))
    },
    Bidirectional = c(
      paste0("forward_layer/", inner(config$layer)),
      paste0("backward_layer/", inner(config$backward_layer %||% config$layer))
    ),
    TimeDistributed = paste0("layer/", inner(config$layer)),
    NULL
  )
}

# Everything in the weights file, by path with `\` turned into `/`: groups
# and datasets, each with its real HDF5 name.
keras3_index <- function(h5) {
  ls <- h5$ls(recursive = TRUE, detailed = FALSE)
  list(
    path = gsub("\\", "/", ls$name, fixed = TRUE),
    name = ls$name,
    is_dataset = as.character(ls$obj_type) == "H5I_DATASET"
  )
}

# The datasets `0`, `1`, ... directly inside a `vars` group, in order.
keras3_group_vars <- function(index, group) {
  prefix <- paste0(group, "/")
  hit <- index$is_dataset & startsWith(index$path, prefix)
  rest <- substring(index$path[hit], nchar(prefix) + 1L)
  keep <- grepl("^[0-9]+$", rest)
  ord <- order(as.integer(rest[keep]))
  index$name[hit][keep][ord]
}

# The `vars` groups under `path`, in walk order for classes gru does not
# know: the object's own `vars`, then its children by name (C-locale order,
# as Python's sorted(), with numeric suffixes in numeric order).
keras3_walk_groups <- function(index, path) {
  prefix <- paste0(path, "/")
  under <- index$path[!index$is_dataset & startsWith(index$path, prefix)]
  rest <- substring(under, nchar(prefix) + 1L)
  out <- if ("vars" %in% rest) paste0(path, "/vars") else character()
  children <- unique(sub("/.*$", "", rest[rest != "vars"]))
  if (length(children)) {
    base <- sub("_[0-9]+$", "", children)
    num <- ifelse(grepl("_[0-9]+$", children),
                  as.integer(sub("^.*_", "", children)), 0L)
    children <- children[order(base, num, method = "radix")]
  }
  for (child in children) {
    out <- c(out, keras3_walk_groups(index, paste0(path, "/", child)))
  }
  out
}

# Per-layer weights of a Keras 3 weights file. With a model config, the
# layers are the config's, mapped to their object paths; without one (a
# bare .weights.h5), the entries are the groups under `layers/`, named by
# their path, in natural order.
read_keras3_weights <- function(h5, model_config, filepath, call) {
  index <- keras3_index(h5)
  if (is.null(model_config)) {
    top <- unique(sub("/.*$", "", sub("^layers/", "",
                                      index$path[startsWith(index$path, "layers/")])))
    base <- sub("_[0-9]+$", "", top)
    num <- ifelse(grepl("_[0-9]+$", top), as.integer(sub("^.*_", "", top)), 0L)
    top <- top[order(base, num, method = "radix")]
    entries <- lapply(top, function(t) {
      list(name = t, class_name = NA_character_, config = NULL,
           path = paste0("layers/", t))
    })
  } else {
    entries <- keras3_layer_paths(model_config)
  }
  weights <- list()
  weight_names <- list()
  for (e in entries) {
    present <- e$path %in% index$path
    if (!present) {
      if (e$class_name %in% weightless_classes) {
        weights[[e$name]] <- list()
        weight_names[[e$name]] <- character()
        next
      }
      abort_gru(
        c("{.file {filepath}} has no weights for layer {.val {e$name}} ({.cls {e$class_name}}), which its model config names.",
          "i" = "Keras stores them under {.field {e$path}}; the file may be truncated, or saved from another model."),
        class = "gru_error_file", call = call
      )
    }
    groups <- NULL
    if (!is.na(e$class_name)) {
      if (e$class_name %in% weightless_classes) {
        groups <- character()
      } else {
        rel <- keras3_var_groups(e$class_name, e$config)
        if (!is.null(rel)) groups <- paste0(e$path, "/", rel)
      }
    }
    if (is.null(groups)) groups <- keras3_walk_groups(index, e$path)
    missing <- groups[!groups %in% index$path]
    if (length(missing)) {
      abort_gru(
        c("{.file {filepath}}: the weights of layer {.val {e$name}} are incomplete; {.field {missing}} {?is/are} missing.",
          "i" = "The file may be truncated, or saved from another model."),
        class = "gru_error_file", call = call
      )
    }
    names_ <- unlist(lapply(groups, function(g) keras3_group_vars(index, g)))
    names_ <- names_ %||% character()
    weights[[e$name]] <- lapply(names_, function(n) {
      ds <- h5[[n]]
      on.exit(ds$close())
      h5_read_array(ds)
    })
    weight_names[[e$name]] <- names_
  }
  list(weights = weights, weight_names = weight_names)
}
