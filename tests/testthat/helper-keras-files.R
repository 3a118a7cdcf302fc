# Small Keras-layout files, written at test time into tempdir() with hdf5r
# and zip from random weights, laid out as the Keras versions named write
# them (the layouts are documented, with their sources in Keras' code, at
# the top of R/keras-file-read.R and R/keras-file-write.R). They are
# written here, not with the package's writer, so the reader is checked
# against an independent spelling of each layout.
#
# Every weight value is a multiple of 2^-10 in [-1, 1], exact in float32,
# so what is read back must equal what was written.

skip_if_no_keras_file_deps <- function() {
  skip_if_not_installed("hdf5r")
  skip_if_not_installed("jsonlite")
  skip_if_not_installed("zip")
}

f32_array <- function(...) {
  d <- c(...)
  array(round(stats::runif(prod(d), -1, 1) * 1024) / 1024, d)
}

to_json <- function(x) {
  as.character(jsonlite::toJSON(x, auto_unbox = TRUE, null = "null", digits = NA))
}

# --- HDF5 as h5py writes it -----------------------------------------------

# A float32 dataset `name` (a path; intermediate groups are created) holding
# the R array `x` in Keras' shape: h5py's C-order shape is dim(x), and
# hdf5r takes the reversed shape, hence aperm().
h5py_dataset <- function(group, name, x) {
  parts <- strsplit(name, "/", fixed = TRUE)[[1L]]
  g <- group
  for (p in parts[-length(parts)]) {
    g <- if (g$exists(p)) g[[p]] else g$create_group(p)
  }
  if (is.null(dim(x))) x <- array(x, length(x))
  g$create_dataset(parts[[length(parts)]], robj = aperm(x),
                   dtype = hdf5r::h5types$H5T_IEEE_F32LE,
                   chunk_dims = NULL, gzip_level = 0)
}

h5py_group <- function(group, path) {
  g <- group
  for (p in strsplit(path, "/", fixed = TRUE)[[1L]]) {
    g <- if (g$exists(p)) g[[p]] else g$create_group(p)
  }
  g
}

# A list of bytes (Keras' [name.encode("utf8") for ...]): a numpy "S" array,
# fixed-length null-padded strings; an empty list is an empty float64 array.
h5py_bytes_attr <- function(obj, name, values) {
  if (!length(values)) {
    obj$create_attr(name, robj = NULL, dtype = hdf5r::h5types$H5T_IEEE_F64LE,
                    space = hdf5r::H5S$new("simple", dims = 0, maxdims = 0))
    return(invisible())
  }
  type <- hdf5r::H5T_STRING$new(size = max(nchar(values, "bytes")))
  type$set_strpad(hdf5r::h5const$H5T_STR_NULLPAD)
  obj$create_attr(name, robj = values, dtype = type,
                  space = hdf5r::H5S$new("simple", dims = length(values),
                                         maxdims = length(values)))
  invisible()
}

# A Python str: a scalar variable-length UTF-8 string.
h5py_str_attr <- function(obj, name, value) {
  type <- hdf5r::H5T_STRING$new(size = Inf)
  type$set_cset(hdf5r::h5const$H5T_CSET_UTF8)
  obj$create_attr(name, robj = value, dtype = type,
                  space = hdf5r::H5S$new("scalar"))
  invisible()
}

# Python bytes scalar (json.dumps(...).encode("utf8")): fixed-length.
h5py_bytes_scalar <- function(obj, name, value) {
  type <- hdf5r::H5T_STRING$new(size = nchar(value, "bytes"))
  type$set_strpad(hdf5r::h5const$H5T_STR_NULLPAD)
  obj$create_attr(name, robj = value, dtype = type,
                  space = hdf5r::H5S$new("scalar"))
  invisible()
}

# Keras 1/2 layer groups (save_weights_to_hdf5_group()): `layer_names` on
# `group`, then per layer a group with `weight_names` and the datasets.
# `layers` is a named list (layer name -> named list weight name -> array).
# `chunk` splits layer_names into layer_names0, layer_names1, ... as
# save_attributes_to_hdf5_group() does for long lists.
write_legacy_layers <- function(group, layers, keras_version = NULL,
                                backend = "tensorflow", chunk = FALSE) {
  nm <- names(layers)
  if (chunk) {
    half <- ceiling(length(nm) / 2)
    h5py_bytes_attr(group, "layer_names0", nm[seq_len(half)])
    h5py_bytes_attr(group, "layer_names1", nm[-seq_len(half)])
  } else {
    h5py_bytes_attr(group, "layer_names", nm)
  }
  if (!is.null(keras_version)) {
    h5py_bytes_scalar(group, "backend", backend)
    h5py_bytes_scalar(group, "keras_version", keras_version)
  }
  for (layer in sort(nm)) {
    g <- group$create_group(layer)
    h5py_bytes_attr(g, "weight_names", names(layers[[layer]]))
    for (w in names(layers[[layer]])) h5py_dataset(g, w, layers[[layer]][[w]])
  }
}

# A Keras 2 / Keras 3 legacy full-model HDF5 (save_model_to_hdf5()).
write_keras2_h5 <- function(path, model_config, layers, keras_version,
                            training_config = NULL, vlen_json = TRUE,
                            extra = NULL) {
  h5 <- hdf5r::H5File$new(path, mode = "w")
  on.exit(h5$close_all())
  json_attr <- if (vlen_json) h5py_str_attr else h5py_bytes_scalar
  h5py_bytes_scalar(h5, "keras_version", keras_version)
  h5py_bytes_scalar(h5, "backend", "tensorflow")
  json_attr(h5, "model_config", to_json(model_config))
  if (!is.null(training_config)) json_attr(h5, "training_config", to_json(training_config))
  mw <- h5$create_group("model_weights")
  write_legacy_layers(mw, layers, keras_version)
  top <- mw$create_group("top_level_model_weights")
  h5py_bytes_attr(top, "weight_names", character())
  if (!is.null(extra)) extra(h5)
  invisible(path)
}

# A Keras 1/2 save_weights() HDF5: the layer groups at the root.
write_keras2_weights_h5 <- function(path, layers, keras_version = NULL,
                                    chunk = FALSE) {
  h5 <- hdf5r::H5File$new(path, mode = "w")
  on.exit(h5$close_all())
  write_legacy_layers(h5, layers, keras_version, chunk = chunk)
  invisible(path)
}

# Keras 3 object-path weights: `vars` is a named list, object path ->
# list of arrays (stored as `<path>/vars/0`, ...; "(root)" is the root `vars`), `names` the `name`
# attribute of each (Keras >= 3.6). `sep` joins path components: "\\"
# writes the tf.keras 2.15-on-Windows spelling, `layers\\gru\\cell/vars`.
write_keras3_weights <- function(path, vars, names = list(), sep = "/") {
  h5 <- hdf5r::H5File$new(path, mode = "w")
  on.exit(h5$close_all())
  for (p in base::names(vars)) {
    g <- if (p == "(root)") h5py_group(h5, "vars") else {
      top <- paste(strsplit(p, "/", fixed = TRUE)[[1L]], collapse = sep)
      outer <- if (sep == "/") h5py_group(h5, top) else if (h5$exists(top)) h5[[top]] else h5$create_group(top)
      h5py_group(outer, "vars")
    }
    if (!is.null(names[[p]])) h5py_str_attr(g, "name", names[[p]])
    for (i in seq_along(vars[[p]])) h5py_dataset(g, as.character(i - 1L), vars[[p]][[i]])
  }
  invisible(path)
}

# A .keras zip: metadata.json, config.json, model.weights.h5, stored.
write_keras3_zip <- function(path, config, vars, names = list(),
                             keras_version = "3.9.2", sep = "/",
                             members = c("metadata.json", "config.json", "model.weights.h5")) {
  dir <- tempfile("keras-zip-")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE))
  writeLines(to_json(list(keras_version = keras_version,
                          date_saved = "2025-04-13@06:52:54")),
             file.path(dir, "metadata.json"))
  writeLines(to_json(config), file.path(dir, "config.json"))
  write_keras3_weights(file.path(dir, "model.weights.h5"), vars, names, sep = sep)
  zip::zip(normalizePath(path, mustWork = FALSE), files = members, root = dir,
           compression_level = 0, mode = "cherry-pick")
  invisible(path)
}

# --- configs ----------------------------------------------------------------

keras2_gru_config <- function(name, units, reset_after = TRUE,
                              recurrent_activation = "sigmoid", ...) {
  cfg <- list(name = name, trainable = TRUE, dtype = "float32",
              return_sequences = FALSE, return_state = FALSE,
              go_backwards = FALSE, stateful = FALSE, unroll = FALSE,
              time_major = FALSE, units = units, activation = "tanh",
              recurrent_activation = recurrent_activation, use_bias = TRUE,
              dropout = 0, recurrent_dropout = 0, implementation = 2L,
              reset_after = reset_after, ...)
  if (is.na(reset_after)) cfg$reset_after <- NULL
  list(class_name = "GRU", config = cfg)
}

keras2_dense_config <- function(name, units) {
  list(class_name = "Dense",
       config = list(name = name, trainable = TRUE, dtype = "float32",
                     units = units, activation = "linear", use_bias = TRUE))
}

keras2_sequential <- function(layers, input_shape = NULL, name = "sequential") {
  if (!is.null(input_shape)) {
    input <- list(class_name = "InputLayer",
                  config = list(batch_input_shape = c(list(NULL), as.list(input_shape)),
                                dtype = "float32", sparse = FALSE, ragged = FALSE,
                                name = "gru_input"))
    layers <- c(list(input), layers)
  }
  list(class_name = "Sequential", config = list(name = name, layers = layers))
}

# --- the fixtures -------------------------------------------------------

# Each fixture: list(path, weights = expected per-layer weights (named
# lists of arrays), ...). Made once per test run.
keras_fixture_cache <- new.env(parent = emptyenv())

keras_fixture <- function(kind) {
  if (!is.null(keras_fixture_cache[[kind]])) return(keras_fixture_cache[[kind]])
  dir <- file.path(tempdir(), "gru-keras-fixtures")
  dir.create(dir, showWarnings = FALSE)
  set.seed(match(kind, keras_fixture_kinds) * 101L)
  fx <- switch(kind,
    keras2_h5 = make_keras2_h5(file.path(dir, "keras2.h5")),
    keras2_weights = make_keras2_weights(file.path(dir, "keras2-weights.h5")),
    keras3_zip = make_keras3_zip(file.path(dir, "keras3.keras")),
    keras3_h5 = make_keras3_h5(file.path(dir, "keras3-legacy.h5")),
    keras3_weights = make_keras3_weights(file.path(dir, "keras3.weights.h5")),
    cudnn = make_cudnn_h5(file.path(dir, "cudnn.h5")),
    keras1 = make_keras1(file.path(dir, "keras1")),
    bidirectional = make_bidirectional_h5(file.path(dir, "bidirectional.h5")),
    windows_zip = make_windows_zip(file.path(dir, "windows.keras"))
  )
  keras_fixture_cache[[kind]] <- fx
  fx
}

keras_fixture_kinds <- c("keras2_h5", "keras2_weights", "keras3_zip", "keras3_h5",
                         "keras3_weights", "cudnn", "keras1", "bidirectional",
                         "windows_zip")

# tf.keras 2.10 model.save("x.h5"): InputLayer, GRU(3, reset_after), Dense(1).
make_keras2_h5 <- function(path) {
  gru <- list(f32_array(2, 9), f32_array(3, 9), f32_array(2, 9))
  dense <- list(f32_array(3, 1), f32_array(1))
  cfg <- keras2_sequential(list(keras2_gru_config("gru", 3),
                                keras2_dense_config("dense", 1)),
                           input_shape = list(NULL, 2))
  layers <- list(
    gru = stats::setNames(gru, paste0("gru/gru_cell/", c("kernel", "recurrent_kernel", "bias"), ":0")),
    dense = stats::setNames(dense, paste0("dense/", c("kernel", "bias"), ":0"))
  )
  training <- list(loss = "mean_squared_error",
                   optimizer_config = list(class_name = "Adam",
                                           config = list(name = "Adam", learning_rate = 0.01)))
  write_keras2_h5(path, cfg, layers, "2.10.0", training_config = training)
  list(path = path, config = cfg, weights = list(gru = gru, dense = dense))
}

# tf.keras 2.4 model.save_weights("x.h5"): Masking, GRU, Dense; the layer
# names split over two attributes.
make_keras2_weights <- function(path) {
  gru <- list(f32_array(4, 6), f32_array(2, 6), f32_array(2, 6))
  dense <- list(f32_array(2, 3), f32_array(3))
  layers <- list(
    masking = list(),
    gru_6 = stats::setNames(gru, paste0("gru_6/gru_cell_6/", c("kernel", "recurrent_kernel", "bias"), ":0")),
    dense_12 = stats::setNames(dense, paste0("dense_12/", c("kernel", "bias"), ":0"))
  )
  write_keras2_weights_h5(path, layers, "2.4.0", chunk = TRUE)
  list(path = path, weights = list(masking = list(), gru_6 = gru, dense_12 = dense))
}

keras3_sequential_config <- function(layers, name = "sequential", batch_shape = list(NULL, 5, 2)) {
  policy <- list(module = "keras", class_name = "DTypePolicy",
                 config = list(name = "float32"), registered_name = NULL)
  input <- list(module = "keras.layers", class_name = "InputLayer",
                config = list(batch_shape = batch_shape, dtype = "float32",
                              sparse = FALSE, ragged = FALSE, name = "input_layer"),
                registered_name = NULL)
  list(module = "keras", class_name = "Sequential",
       config = list(name = name, trainable = TRUE, dtype = policy,
                     layers = c(list(input), layers), build_input_shape = batch_shape),
       registered_name = NULL, build_config = list(input_shape = batch_shape),
       compile_config = list(
         optimizer = list(module = "keras.optimizers", class_name = "Adam",
                          config = list(name = "adam", learning_rate = 0.001),
                          registered_name = NULL),
         loss = "mean_squared_error", loss_weights = NULL, metrics = NULL))
}

keras3_layer <- function(class_name, config) {
  list(module = "keras.layers", class_name = class_name, config = config,
       registered_name = NULL)
}

# Keras 3.9 model.save("x.keras"): GRU(3), Dropout, Dense(2), Dense(1); an
# optimizer group that is not a layer's.
make_keras3_zip <- function(path) {
  gru <- list(f32_array(2, 9), f32_array(3, 9), f32_array(2, 9))
  d1 <- list(f32_array(3, 2), f32_array(2))
  d2 <- list(f32_array(2, 1), f32_array(1))
  layers <- list(
    keras3_layer("GRU", list(name = "gru", units = 3L, reset_after = TRUE,
                             activation = "tanh", recurrent_activation = "sigmoid")),
    keras3_layer("Dropout", list(name = "dropout", rate = 0.1)),
    keras3_layer("Dense", list(name = "dense", units = 2L, activation = "linear")),
    keras3_layer("Dense", list(name = "dense_1", units = 1L, activation = "linear"))
  )
  cfg <- keras3_sequential_config(layers)
  vars <- list(`layers/gru/cell` = gru, `layers/gru` = list(), `layers/dropout` = list(),
               `layers/dense` = d1, `layers/dense_1` = d2, `optimizer` = list(f32_array(3)),
               `(root)` = list())
  names <- list(`layers/gru/cell` = "gru_cell", `layers/gru` = "gru",
                `layers/dense` = "dense", `layers/dense_1` = "dense_1", `(root)` = "sequential")
  write_keras3_zip(path, cfg, vars, names)
  list(path = path, config = cfg,
       weights = list(gru = gru, dropout = list(), dense = d1, dense_1 = d2))
}

# Keras 3.9 model.save("x.h5"): Keras 3 config, weight names by variable
# path ('sequential/gru/gru_cell/kernel').
make_keras3_h5 <- function(path) {
  gru <- list(f32_array(2, 9), f32_array(3, 9), f32_array(2, 9))
  dense <- list(f32_array(3, 1), f32_array(1))
  cfg <- keras3_sequential_config(list(
    keras3_layer("GRU", list(name = "gru", units = 3L, reset_after = TRUE)),
    keras3_layer("Dense", list(name = "dense", units = 1L))
  ))
  cfg <- cfg[c("class_name", "config")]
  layers <- list(
    gru = stats::setNames(gru, paste0("sequential/gru/gru_cell/", c("kernel", "recurrent_kernel", "bias"))),
    dense = stats::setNames(dense, paste0("sequential/dense/", c("kernel", "bias")))
  )
  write_keras2_h5(path, cfg, layers, "3.9.2", vlen_json = FALSE)
  list(path = path, config = cfg, weights = list(gru = gru, dense = dense))
}

# Keras 3 model.save_weights("x.weights.h5").
make_keras3_weights <- function(path) {
  gru <- list(f32_array(2, 9), f32_array(3, 9), f32_array(2, 9))
  dense <- list(f32_array(3, 1), f32_array(1))
  write_keras3_weights(path, list(`layers/gru/cell` = gru, `layers/gru` = list(),
                                  `layers/dense` = dense, `(root)` = list()))
  list(path = path, weights = list(dense = dense, gru = gru))
}

# Keras 2.2 model.save() of Sequential(CuDNNGRU(3), Dense(1)): bias (6H,).
make_cudnn_h5 <- function(path) {
  gru <- list(f32_array(2, 9), f32_array(3, 9), f32_array(18))
  dense <- list(f32_array(3, 1), f32_array(1))
  cudnn <- list(class_name = "CuDNNGRU",
                config = list(name = "cu_dnngru_1", trainable = TRUE,
                              batch_input_shape = list(NULL, NULL, 2),
                              dtype = "float32", return_sequences = FALSE,
                              return_state = FALSE, go_backwards = FALSE,
                              stateful = FALSE, units = 3L,
                              kernel_initializer = list(class_name = "VarianceScaling", config = list(scale = 1)),
                              recurrent_initializer = list(class_name = "Orthogonal", config = list(gain = 1)),
                              bias_initializer = list(class_name = "Zeros", config = structure(list(), names = character())),
                              kernel_regularizer = NULL, recurrent_regularizer = NULL,
                              bias_regularizer = NULL, activity_regularizer = NULL,
                              kernel_constraint = NULL, recurrent_constraint = NULL,
                              bias_constraint = NULL))
  cfg <- list(class_name = "Sequential",
              config = list(name = "sequential_1",
                            layers = list(cudnn, keras2_dense_config("dense_1", 1))))
  layers <- list(
    cu_dnngru_1 = stats::setNames(gru, paste0("cu_dnngru_1/", c("kernel", "recurrent_kernel", "bias"), ":0")),
    dense_1 = stats::setNames(dense, paste0("dense_1/", c("kernel", "bias"), ":0"))
  )
  write_keras2_h5(path, cfg, layers, "2.2.4")
  list(path = path, config = cfg, weights = list(cu_dnngru_1 = gru, dense_1 = dense))
}

# Keras 1.2 (Theano era): model.to_json() and model.save_weights(): a
# Sequential config that is a list of layers, Keras 1 argument names,
# per-gate GRU weights, no keras_version attribute.
make_keras1 <- function(stem) {
  in_dim <- 3L
  units <- 2L
  w <- list()
  for (g in c("z", "r", "h")) {
    w[[paste0("gru_1_W_", g)]] <- f32_array(in_dim, units)
    w[[paste0("gru_1_U_", g)]] <- f32_array(units, units)
    w[[paste0("gru_1_b_", g)]] <- f32_array(units)
  }
  dense <- list(dense_1_W = f32_array(units, 1), dense_1_b = f32_array(1))
  cfg <- list(class_name = "Sequential", config = list(
    list(class_name = "Masking",
         config = list(batch_input_shape = list(NULL, 4L, in_dim), trainable = TRUE,
                       mask_value = 0, name = "masking_1", input_dtype = "float32")),
    list(class_name = "GRU",
         config = list(U_regularizer = NULL, name = "gru_1", inner_activation = "hard_sigmoid",
                       go_backwards = FALSE, output_dim = units, trainable = TRUE,
                       unroll = FALSE, consume_less = "cpu", stateful = FALSE,
                       init = "glorot_uniform", inner_init = "orthogonal",
                       dropout_U = 0, dropout_W = 0, input_dim = in_dim,
                       return_sequences = FALSE, b_regularizer = NULL,
                       W_regularizer = NULL, activation = "tanh", input_length = NULL)),
    list(class_name = "Dropout", config = list(p = 0.2, trainable = TRUE, name = "dropout_1")),
    list(class_name = "Dense",
         config = list(W_constraint = NULL, b_constraint = NULL, name = "dense_1",
                       activity_regularizer = NULL, trainable = TRUE, init = "glorot_uniform",
                       input_dim = NULL, b_regularizer = NULL, W_regularizer = NULL,
                       activation = "linear", output_dim = 1L))
  ))
  json <- paste0(stem, ".json")
  writeLines(to_json(cfg), json)
  path <- paste0(stem, "_weights.h5")
  layers <- list(masking_1 = list(), gru_1 = w, dropout_1 = list(), dense_1 = dense)
  write_keras2_weights_h5(path, layers, keras_version = NULL)
  list(path = path, json = json, config = cfg,
       weights = list(masking_1 = list(), gru_1 = unname(w), dropout_1 = list(),
                      dense_1 = unname(dense)))
}

# Keras 2.0.8 model.save(): Sequential(Bidirectional(GRU(2)), Dense) with no
# `reset_after` key, bias (3H,), hard_sigmoid, implementation 0.
make_bidirectional_h5 <- function(path) {
  fwd <- list(f32_array(3, 6), f32_array(2, 6), f32_array(6))
  bwd <- list(f32_array(3, 6), f32_array(2, 6), f32_array(6))
  dense <- list(f32_array(4, 2), f32_array(2))
  inner <- keras2_gru_config("gru1", 2, reset_after = NA,
                             recurrent_activation = "hard_sigmoid")
  inner$config$implementation <- 0L
  inner$config$return_sequences <- TRUE
  inner$config$time_major <- NULL
  bidir <- list(class_name = "Bidirectional",
                config = list(trainable = TRUE, dtype = "float32", merge_mode = "concat",
                              batch_input_shape = list(NULL, 5L, 3L), layer = inner,
                              name = "bidirectional_1"))
  dense_cfg <- keras2_dense_config("classify", 2)
  cfg <- list(class_name = "Sequential", config = list(bidir, dense_cfg))
  wn <- c("kernel", "recurrent_kernel", "bias")
  layers <- list(
    bidirectional_1 = stats::setNames(c(fwd, bwd), c(
      paste0("bidirectional_1/forward_gru1/", wn, ":0"),
      paste0("bidirectional_1/backward_gru1/", wn, ":0"))),
    classify = stats::setNames(dense, paste0("classify/", c("kernel", "bias"), ":0"))
  )
  write_keras2_h5(path, cfg, layers, "2.0.8")
  list(path = path, config = cfg,
       weights = list(bidirectional_1 = c(fwd, bwd), classify = dense))
}

# tf.keras 2.15 on Windows, model.save("x.keras"): Embedding, Dropout,
# Bidirectional(GRU), Dense; group names joined with backslashes, and the
# Bidirectional's template `layer` with empty vars.
make_windows_zip <- function(path) {
  emb <- list(f32_array(10, 3))
  fwd <- list(f32_array(3, 6), f32_array(2, 6), f32_array(2, 6))
  bwd <- list(f32_array(3, 6), f32_array(2, 6), f32_array(2, 6))
  dense <- list(f32_array(4, 1), f32_array(1))
  gru <- keras3_layer("GRU", list(name = "gru_1", units = 2L, reset_after = TRUE,
                                  activation = "tanh", recurrent_activation = "sigmoid"))
  layers <- list(
    keras3_layer("Embedding", list(name = "embedding_3", input_dim = 10L, output_dim = 3L)),
    keras3_layer("Dropout", list(name = "dropout_6", rate = 0.5)),
    keras3_layer("Bidirectional", list(name = "bidirectional", layer = gru, merge_mode = "concat")),
    keras3_layer("Dense", list(name = "dense_3", units = 1L, activation = "sigmoid"))
  )
  cfg <- keras3_sequential_config(layers, name = "sequential_3", batch_shape = list(NULL, 7))
  vars <- list(
    `layers/embedding` = emb, `layers/dropout` = list(),
    `layers/bidirectional` = list(),
    `layers/bidirectional/backward_layer` = list(),
    `layers/bidirectional/backward_layer/cell` = bwd,
    `layers/bidirectional/forward_layer` = list(),
    `layers/bidirectional/forward_layer/cell` = fwd,
    `layers/bidirectional/layer` = list(),
    `layers/bidirectional/layer/cell` = list(),
    `layers/dense` = dense, `optimizer` = list(f32_array(2)), `(root)` = list()
  )
  write_keras3_zip(path, cfg, vars, keras_version = "2.15.0", sep = "\\")
  list(path = path, config = cfg,
       weights = list(embedding_3 = emb, dropout_6 = list(),
                      bidirectional = c(fwd, bwd), dense_3 = dense))
}

# --- reference GRUs in plain R ---------------------------------------------

ref_hard_sigmoid_keras2 <- function(x) pmin(pmax(0.2 * x + 0.5, 0), 1)
ref_sigmoid <- function(x) 1 / (1 + exp(-x))

# Keras 1.2.2 GRU.step() (keras/layers/recurrent.py), in float64.
keras1_gru <- function(x, w, inner = ref_hard_sigmoid_keras2) {
  h <- matrix(0, dim(x)[1], ncol(w$gru_1_U_z))
  add <- function(m, b) sweep(m, 2, b, "+")
  for (t in seq_len(dim(x)[2])) {
    xt <- matrix(x[, t, ], nrow = dim(x)[1])
    z <- inner(add(xt %*% w$gru_1_W_z, w$gru_1_b_z) + h %*% w$gru_1_U_z)
    r <- inner(add(xt %*% w$gru_1_W_r, w$gru_1_b_r) + h %*% w$gru_1_U_r)
    hh <- tanh(add(xt %*% w$gru_1_W_h, w$gru_1_b_h) + (r * h) %*% w$gru_1_U_h)
    h <- z * h + (1 - z) * hh
  }
  h
}

# cuDNN's GRU as Keras' CuDNNGRU drives it (tf-keras cudnn_gru.py
# _process_batch(): each gate's kernel slice, C-order flattened, is read by
# cuDNN as a row-major (units, input_dim) matrix W_g; gates z, r, h in
# Keras' blocks; bias = input biases then recurrent biases), with cuDNN's
# equations: r and z from W x + R h + both biases, h' = tanh(W_h x + b_Wh +
# r * (R_h h + b_Rh)), h = (1 - z) h' + z h_prev.
cudnn_gru <- function(x, kernel, recurrent, bias) {
  units <- nrow(recurrent)
  in_dim <- nrow(kernel)
  block <- function(m, g) m[, g * units + seq_len(units), drop = FALSE]
  W <- lapply(0:2, function(g) matrix(as.vector(t(block(kernel, g))), units, in_dim, byrow = TRUE))
  R <- lapply(0:2, function(g) matrix(as.vector(t(block(recurrent, g))), units, units, byrow = TRUE))
  bw <- lapply(0:2, function(g) bias[g * units + seq_len(units)])
  br <- lapply(0:2, function(g) bias[(3 + g) * units + seq_len(units)])
  h <- matrix(0, dim(x)[1], units)
  lin <- function(M, v, b) sweep(v %*% t(M), 2, b, "+")
  for (t in seq_len(dim(x)[2])) {
    xt <- matrix(x[, t, ], nrow = dim(x)[1])
    z <- ref_sigmoid(lin(W[[1]], xt, bw[[1]]) + lin(R[[1]], h, br[[1]]))
    r <- ref_sigmoid(lin(W[[2]], xt, bw[[2]]) + lin(R[[2]], h, br[[2]]))
    hh <- tanh(lin(W[[3]], xt, bw[[3]]) + r * lin(R[[3]], h, br[[3]]))
    h <- (1 - z) * hh + z * h
  }
  h
}

# --- bad files --------------------------------------------------------------

# A copy of `path` cut to `fraction` of its bytes.
truncated_copy <- function(path, fraction = 0.5) {
  out <- tempfile(fileext = sub("^[^.]*", "", basename(path)))
  bytes <- readBin(path, "raw", file.size(path))
  writeBin(bytes[seq_len(floor(length(bytes) * fraction))], out)
  out
}

# The members of a zip archive from its central directory: name and
# compression method (0 = stored), in archive order (PKWARE APPNOTE 4.3.12,
# 4.3.16).
zip_members <- function(path) {
  bytes <- readBin(path, "raw", file.size(path))
  u16 <- function(at) sum(as.integer(bytes[at + 1:2]) * c(1L, 256L))
  u32 <- function(at) sum(as.numeric(bytes[at + 1:4]) * 256^(0:3))
  signature <- as.raw(c(0x50, 0x4b, 0x05, 0x06))
  eocd <- NA
  for (i in (length(bytes) - 21L):1L) {
    if (identical(bytes[i + 0:3], signature)) {
      eocd <- i - 1L
      break
    }
  }
  n <- u16(eocd + 10)
  at <- u32(eocd + 16)
  out <- data.frame(name = character(n), method = integer(n))
  for (i in seq_len(n)) {
    name_len <- u16(at + 28)
    out$method[i] <- u16(at + 10)
    out$name[i] <- rawToChar(bytes[at + 46 + seq_len(name_len)])
    at <- at + 46 + name_len + u16(at + 30) + u16(at + 32)
  }
  out
}

# Where the real Keras files live: GRU_KERAS_FILES (tools/check.sh), else
# ../../../shared/keras-files next to the checkout.
real_keras_files_dir <- function() {
  dir <- Sys.getenv("GRU_KERAS_FILES", "")
  if (!nzchar(dir)) dir <- test_path("..", "..", "..", "shared", "keras-files")
  if (dir.exists(dir)) normalizePath(dir) else NA_character_
}

skip_if_no_real_keras_files <- function() {
  dir <- real_keras_files_dir()
  if (is.na(dir)) {
    skip("the real Keras files are not here (set GRU_KERAS_FILES to their folder)")
  }
  dir
}
