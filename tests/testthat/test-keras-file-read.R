# read_keras_file() against small files written in each Keras layout by
# helper-keras-files.R, then against the real files in ../shared/keras-files.

expect_weights_equal <- function(actual, expected) {
  expect_identical(names(actual), names(expected))
  for (n in names(expected)) {
    expect_length(actual[[n]], length(expected[[n]]))
    for (i in seq_along(expected[[n]])) {
      e <- expected[[n]][[i]]
      if (is.null(dim(e))) e <- array(e, length(e))
      expect_identical(actual[[n]][[i]], e, label = paste0(n, "[[", i, "]]"))
    }
  }
}

# Reads fixture `kind` and checks what every fixture must satisfy.
read_fixture <- function(kind, format, version) {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture(kind)
  x <- gru:::read_keras_file(fx$path)
  expect_identical(x$format, format)
  expect_identical(x$keras_version, version)
  expect_weights_equal(x$weights, fx$weights)
  x
}

test_that("hdf5r reverses h5py's shapes; the reader undoes it (raw bytes)", {
  skip_if_no_keras_file_deps()
  path <- tempfile(fileext = ".h5")
  x <- array(as.numeric(1:24), c(2, 3, 4))
  h5 <- hdf5r::H5File$new(path, mode = "w")
  ds <- h5py_dataset(h5, "x", x)
  expect_identical(ds$dims, c(4L, 3L, 2L))
  offset <- ds$get_offset()
  h5$close_all()
  # h5py's (2, 3, 4) C order: the last index fastest.
  con <- file(path, "rb")
  seek(con, offset)
  raw <- readBin(con, "numeric", n = 24, size = 4, endian = "little")
  close(con)
  expect_identical(raw, as.vector(aperm(x, 3:1)))
  h5 <- hdf5r::H5File$new(path, mode = "r")
  on.exit(h5$close_all())
  expect_identical(gru:::h5_read_array(h5[["x"]]), x)
})

test_that("a Keras 2 full-model .h5 reads with its config and weights", {
  x <- read_fixture("keras2_h5", "h5", "2.10.0")
  expect_identical(x$backend, "tensorflow")
  expect_identical(x$model_config$class_name, "Sequential")
  expect_identical(x$model_config$config$layers[[2]]$config$units, 3L)
  expect_identical(x$training_config$loss, "mean_squared_error")
  expect_identical(x$weight_names$gru[[1]], "gru/gru_cell/kernel:0")
  expect_identical(dim(x$weights$gru[[1]]), c(2L, 9L))
  expect_identical(dim(x$weights$gru[[3]]), c(2L, 9L))
})

test_that("a weights-only .h5 reads, with chunked layer_names and a weightless layer", {
  x <- read_fixture("keras2_weights", "h5_weights", "2.4.0")
  expect_null(x$model_config)
  expect_identical(x$weights$masking, list())
})

test_that("a Keras 3 .keras zip reads by object path", {
  x <- read_fixture("keras3_zip", "keras", "3.9.2")
  expect_identical(x$metadata$date_saved, "2025-04-13@06:52:54")
  expect_identical(x$model_config$class_name, "Sequential")
  expect_named(x$model_config, c("class_name", "config", "build_config"))
  expect_identical(x$training_config$loss, "mean_squared_error")
  expect_identical(x$weight_names$dense_1, c("layers/dense_1/vars/0", "layers/dense_1/vars/1"))
})

test_that("a Keras 3 legacy .h5 reads (weight names are variable paths)", {
  x <- read_fixture("keras3_h5", "h5", "3.9.2")
  expect_identical(x$weight_names$gru[[1]], "sequential/gru/gru_cell/kernel")
})

test_that("a Keras 3 .weights.h5 reads alone and with a model config", {
  x <- read_fixture("keras3_weights", "weights_h5", NA_character_)
  cfg <- keras_fixture("keras3_h5")$config
  cfg$config$layers[[2]]$config$name <- "my_gru"
  y <- gru:::read_keras_file(keras_fixture("keras3_weights")$path, model_config = cfg)
  expect_identical(names(y$weights), c("my_gru", "dense"))
  expect_identical(y$weights$my_gru, x$weights$gru)
})

test_that("CuDNNGRU's (6H) bias, Keras 1 per-gate weights and Bidirectional read as stored", {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture("cudnn")
  x <- gru:::read_keras_file(fx$path)
  expect_weights_equal(x$weights, fx$weights)
  expect_identical(dim(x$weights$cu_dnngru_1[[3]]), 18L)

  fx <- keras_fixture("keras1")
  x <- gru:::read_keras_file(fx$path)
  expect_identical(x$format, "h5_weights")
  expect_identical(x$keras_version, NA_character_)
  expect_weights_equal(x$weights, fx$weights)
  expect_identical(x$weight_names$gru_1[1:3], c("gru_1_W_z", "gru_1_U_z", "gru_1_b_z"))

  fx <- keras_fixture("bidirectional")
  x <- gru:::read_keras_file(fx$path)
  expect_identical(x$keras_version, "2.0.8")
  expect_weights_equal(x$weights, fx$weights)
  expect_match(x$weight_names$bidirectional_1[1:3], "forward_gru1")
})

test_that("tf.keras 2.15 .keras files with backslashes in group names read", {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture("windows_zip")
  x <- gru:::read_keras_file(fx$path)
  expect_identical(x$keras_version, "2.15.0")
  expect_weights_equal(x$weights, fx$weights)
  expect_match(x$weight_names$bidirectional[1:3], "forward_layer", fixed = TRUE)
  expect_match(x$weight_names$bidirectional[4:6], "backward_layer", fixed = TRUE)
})

test_that("the format is read from the content, not the extension", {
  skip_if_no_keras_file_deps()
  zip_as_h5 <- tempfile(fileext = ".h5")
  file.copy(keras_fixture("keras3_zip")$path, zip_as_h5)
  expect_identical(gru:::read_keras_file(zip_as_h5)$format, "keras")
  h5_as_keras <- tempfile(fileext = ".keras")
  file.copy(keras_fixture("keras2_h5")$path, h5_as_keras)
  expect_identical(gru:::read_keras_file(h5_as_keras)$format, "h5")
})

test_that("read_keras_json() reads Keras 1 and Keras 2 architecture files", {
  skip_if_no_keras_file_deps()
  x <- gru:::read_keras_json(keras_fixture("keras1")$json)
  expect_identical(x$format, "json")
  expect_identical(x$keras_version, NA_character_)
  expect_identical(x$model_config$class_name, "Sequential")
  expect_length(x$model_config$config, 4)
  path <- tempfile(fileext = ".json")
  writeLines(to_json(c(keras_fixture("keras2_h5")$config,
                       list(keras_version = "2.4.0", backend = "tensorflow"))), path)
  x <- gru:::read_keras_json(path)
  expect_identical(x$keras_version, "2.4.0")
  expect_identical(x$backend, "tensorflow")
})

# --- bad files -------------------------------------------------------------

test_that("bad files are gru_error_file errors naming the file", {
  skip_if_no_keras_file_deps()
  expect_error(gru:::read_keras_file(tempfile()), class = "gru_error_file")

  text <- tempfile(fileext = ".h5")
  writeLines("not a model", text)
  expect_error(gru:::read_keras_file(text), class = "gru_error_file",
               regexp = "neither an HDF5 file nor a zip")

  for (kind in c("keras2_h5", "keras3_zip", "keras1")) {
    cut <- truncated_copy(keras_fixture(kind)$path, 0.6)
    expect_error(gru:::read_keras_file(cut), class = "gru_error_file",
                 regexp = "truncated or corrupt")
  }

  no_config <- tempfile(fileext = ".keras")
  dir <- tempfile()
  dir.create(dir)
  writeLines("{}", file.path(dir, "metadata.json"))
  zip::zip(no_config, "metadata.json", root = dir, mode = "cherry-pick")
  expect_error(gru:::read_keras_file(no_config), class = "gru_error_file",
               regexp = "without")

  not_json <- tempfile(fileext = ".json")
  writeLines("{\"class_name\": ", not_json)
  expect_error(gru:::read_keras_json(not_json), class = "gru_error_file")
  not_model <- tempfile(fileext = ".json")
  writeLines("[1, 2]", not_model)
  expect_error(gru:::read_keras_json(not_model), class = "gru_error_file")
})

test_that("weights missing for a layer the config names are an error", {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture("keras2_h5")
  path <- tempfile(fileext = ".h5")
  cfg <- fx$config
  cfg$config$layers[[4]] <- keras2_dense_config("dense_extra", 1)
  layers <- list(gru = stats::setNames(fx$weights$gru, paste0("gru/gru_cell/", c("kernel", "recurrent_kernel", "bias"), ":0")),
                 dense = stats::setNames(fx$weights$dense, c("dense/kernel:0", "dense/bias:0")))
  write_keras2_h5(path, cfg, layers, "2.10.0")
  expect_error(gru:::read_keras_file(path), class = "gru_error_file",
               regexp = "dense_extra")

  # A layer group that weight_names promises a dataset of, without it.
  path <- tempfile(fileext = ".h5")
  write_keras2_h5(path, fx$config, layers, "2.10.0", extra = function(h5) {
    h5$link_delete("model_weights/dense/dense/bias:0")
  })
  expect_error(gru:::read_keras_file(path), class = "gru_error_file",
               regexp = "bias:0")

  # A Keras 3 file whose GRU has no cell variables.
  zfx <- keras_fixture("keras3_zip")
  path <- tempfile(fileext = ".keras")
  vars <- list(`layers/gru` = list(), `layers/dropout` = list(),
               `layers/dense` = zfx$weights$dense, `layers/dense_1` = zfx$weights$dense_1)
  write_keras3_zip(path, zfx$config, vars)
  expect_error(gru:::read_keras_file(path), class = "gru_error_file",
               regexp = "layers/gru/cell/vars")
})

test_that("an unknown Keras version string is an error", {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture("keras2_h5")
  path <- tempfile(fileext = ".h5")
  layers <- list(gru = stats::setNames(fx$weights$gru, paste0("gru/gru_cell/", c("kernel", "recurrent_kernel", "bias"), ":0")),
                 dense = stats::setNames(fx$weights$dense, c("dense/kernel:0", "dense/bias:0")))
  write_keras2_h5(path, fx$config, layers, "9.1.0")
  expect_error(gru:::read_keras_file(path), class = "gru_error_file",
               regexp = "9.1.0")
  expect_identical(gru:::check_keras_version("2.2.4-tf", "f", NULL), "2.2.4-tf")
  expect_error(gru:::check_keras_version("banana", "f", NULL), class = "gru_error_file")
})

test_that("a missing hdf5r is a classed error that says how to install it", {
  expect_error(gru:::check_keras_dependency("gruNoSuchPackage", NULL),
               class = "gru_error_dependency")
  err <- tryCatch(gru:::check_keras_dependency("gruNoSuchPackage", NULL),
                  error = identity)
  expect_s3_class(err, "gru_error_file")
  expect_match(conditionMessage(err), "apt-get install r-cran-grunosuchpackage", fixed = TRUE)
  expect_match(conditionMessage(err), "install.packages", fixed = TRUE)
})

test_that("error messages name the file and what is wrong", {
  skip_if_no_keras_file_deps()
  text <- file.path(tempdir(), "notes.h5")
  writeLines("not a model", text)
  expect_snapshot(error = TRUE, gru:::read_keras_file(text),
                  transform = function(x) gsub(tempdir(), "<tempdir>", x, fixed = TRUE))
  fx <- keras_fixture("keras2_h5")
  path <- file.path(tempdir(), "future.h5")
  layers <- list(gru = stats::setNames(fx$weights$gru, paste0("gru/gru_cell/", c("kernel", "recurrent_kernel", "bias"), ":0")),
                 dense = stats::setNames(fx$weights$dense, c("dense/kernel:0", "dense/bias:0")))
  write_keras2_h5(path, fx$config, layers, "9.1.0")
  expect_snapshot(error = TRUE, gru:::read_keras_file(path),
                  transform = function(x) gsub(tempdir(), "<tempdir>", x, fixed = TRUE))
  path <- file.path(tempdir(), "short.h5")
  write_keras2_h5(path, fx$config, layers["gru"], "2.10.0")
  expect_snapshot(error = TRUE, gru:::read_keras_file(path),
                  transform = function(x) gsub(tempdir(), "<tempdir>", x, fixed = TRUE))
})

# --- the real files ---------------------------------------------------------

# Checks that the weights of each config layer have the shapes its config
# implies; returns the layer's output feature size.
expect_layer_weights_fit <- function(class_name, config, w, in_dim, label) {
  units <- config$units %||% config$output_dim
  # An unknown input size (after a layer gru does not know, or in a
  # functional model) is not checked.
  known <- function(actual) if (is.na(in_dim)) actual else in_dim
  gru_shapes <- function(cfg, w, in_dim) {
    h <- cfg$units %||% cfg$output_dim
    if (length(w) == 9L) {
      expect_identical(dim(w[[1]]), as.integer(c(known(nrow(w[[1]])), h)), label = label)
      return(h)
    }
    expect_length(w, 3L)
    expect_identical(dim(w[[1]]), as.integer(c(known(nrow(w[[1]])), 3 * h)), label = label)
    expect_identical(dim(w[[2]]), as.integer(c(h, 3 * h)), label = label)
    bias <- if (isTRUE(cfg$reset_after)) c(2L, 3L * h) else 3L * h
    expect_identical(dim(w[[3]]), as.integer(bias), label = label)
    h
  }
  switch(
    class_name,
    GRU = gru_shapes(config, w, in_dim),
    Bidirectional = {
      n <- length(w) / 2
      h <- gru_shapes(config$layer$config, w[seq_len(n)], in_dim)
      gru_shapes(config$layer$config, w[n + seq_len(n)], in_dim)
      if (identical(config$merge_mode, "concat")) 2 * h else h
    },
    Dense = {
      expect_identical(dim(w[[1]])[[1]], as.integer(known(nrow(w[[1]]))), label = label)
      expect_identical(dim(w[[1]])[[2]], as.integer(units), label = label)
      units
    },
    Embedding = {
      expect_identical(dim(w[[1]]), as.integer(c(config$input_dim, config$output_dim)),
                       label = label)
      config$output_dim
    },
    {
      if (class_name %in% gru:::weightless_classes) expect_length(w, 0L)
      NA
    }
  )
}

test_that("every real Keras file reads with weights that fit its config", {
  skip_if_no_keras_file_deps()
  dir <- skip_if_no_real_keras_files()
  cases <- list(
    list(file = "benedict-k210-gru/gru_model.h5", format = "h5", version = "2.10.0"),
    list(file = "medaka-k208-bigru/test_model.hdf5", format = "h5", version = "2.0.8"),
    list(file = "rnnoise-k211/weights.hdf5", format = "h5", version = "2.11.0"),
    list(file = "ccrnn-k392-gru-h5/gru_model.h5", format = "h5", version = "3.9.2"),
    list(file = "ccrnn-k392-gru-keras/gru_model.keras", format = "keras", version = "3.9.2"),
    list(file = "toxic-tfk215-bigru/bidir_gru_model.keras", format = "keras", version = "2.15.0"),
    list(file = "battery-k24-gru-weights/gru_weights.h5", format = "h5_weights",
         version = "2.4.0", json = "battery-k24-gru-weights/architecture.json"),
    list(file = "lwtnn-keras1-gru/GRU_weights.h5", format = "h5_weights",
         version = NA_character_, json = "lwtnn-keras1-gru/GRU.json")
  )
  for (case in cases) {
    path <- file.path(dir, case$file)
    if (!file.exists(path)) next
    x <- gru:::read_keras_file(path)
    expect_identical(x$format, case$format, label = case$file)
    expect_identical(x$keras_version, case$version, label = case$file)
    cfg <- if (is.null(case$json)) x$model_config else gru:::read_keras_json(file.path(dir, case$json))$model_config
    expect_true(is.list(cfg) && is.character(cfg$class_name), label = case$file)
    layers <- gru:::model_layer_dicts(cfg)
    names <- vapply(layers, gru:::layer_dict_name, "")
    with_weights <- names[!vapply(layers, function(l) l$class_name, "") %in% gru:::weightless_classes]
    expect_true(all(with_weights %in% names(x$weights)), label = case$file)
    in_dim <- NA
    functional <- !identical(cfg$class_name, "Sequential")
    for (l in gru:::config_layer_list(cfg)) {
      shape <- l$config$batch_input_shape %||% l$config$batch_shape
      if (!is.null(shape) && !functional) in_dim <- shape[[length(shape)]]
      if (identical(l$class_name, "InputLayer")) next
      w <- x$weights[[l$config$name]]
      out <- expect_layer_weights_fit(l$class_name, l$config, w, in_dim,
                                      paste(case$file, l$config$name))
      if (!functional && !(is.na(out) && l$class_name %in% gru:::weightless_classes)) in_dim <- out
    }
  }
})

test_that("the real files' datasets are read in Keras' element order (raw bytes)", {
  skip_if_no_keras_file_deps()
  dir <- skip_if_no_real_keras_files()
  path <- file.path(dir, "battery-k24-gru-weights", "gru_weights.h5")
  skip_if_not(file.exists(path))
  h5 <- hdf5r::H5File$new(path, mode = "r")
  ds <- h5[["gru_6/gru_6/gru_cell_6/kernel:0"]]
  offset <- ds$get_offset()
  h5$close_all()
  x <- gru:::read_keras_file(path)$weights$gru_6[[1]]
  expect_identical(dim(x), c(12L, 96L))
  con <- file(path, "rb")
  seek(con, offset)
  raw <- readBin(con, "numeric", n = 12 * 96, size = 4, endian = "little")
  close(con)
  expect_identical(x, matrix(raw, 12, 96, byrow = TRUE))
})
