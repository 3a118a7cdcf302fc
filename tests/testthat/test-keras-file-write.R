# The writer: what it writes reads back identically, and its layout is
# Keras 3's (member order and compression, group names, attributes, dtypes,
# shapes in h5py order).

h5_layout <- function(path) {
  h5 <- hdf5r::H5File$new(path, mode = "r")
  on.exit(h5$close_all())
  ls <- h5$ls(recursive = TRUE)
  ls <- ls[order(ls$name), ]
  attrs <- vapply(ls$name, function(n) {
    obj <- h5[[n]]
    on.exit(obj$close())
    if (!obj$attr_exists("name")) return(NA_character_)
    gru:::h5_attr_values(obj, "name")
  }, "")
  data.frame(name = ls$name, type = as.character(ls$obj_type),
             dims = ifelse(is.na(ls$dataset.dims), "", ls$dataset.dims),
             attr_name = unname(attrs), stringsAsFactors = FALSE)
}

unzip_member <- function(zipfile, member) {
  dir <- tempfile()
  utils::unzip(zipfile, files = member, exdir = dir)
  file.path(dir, member)
}

test_that("write_keras_archive() writes what read_keras_file() reads back", {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture("keras3_zip")
  cfg <- gru:::read_keras_file(fx$path)$model_config
  tree <- gru:::keras_weights_tree(cfg, fx$weights)
  path <- tempfile(fileext = ".keras")
  gru:::write_keras_archive(path, cfg, NULL, tree)
  back <- gru:::read_keras_file(path)
  expect_identical(back$format, "keras")
  expect_identical(back$keras_version, gru:::keras_layout_version)
  expect_identical(back$model_config, cfg)
  expect_identical(names(back$weights), names(fx$weights))
  for (n in names(fx$weights)) {
    expect_identical(back$weights[[n]], lapply(fx$weights[[n]], function(a) {
      if (is.null(dim(a))) array(a, length(a)) else a
    }))
  }
  expect_named(back$metadata, c("keras_version", "date_saved"))
  expect_match(back$metadata$date_saved, "^[0-9]{4}-[0-9]{2}-[0-9]{2}@[0-9]{2}:[0-9]{2}:[0-9]{2}$")
})

test_that("the archive's members, their order and compression are Keras 3's", {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture("keras3_zip")
  path <- tempfile(fileext = ".keras")
  gru:::write_keras_archive(path, fx$config, list(keras_version = "3.9.2", date_saved = "x"),
                            gru:::keras_weights_tree(fx$config, fx$weights))
  members <- zip_members(path)
  expect_identical(members$name, c("metadata.json", "config.json", "model.weights.h5"))
  expect_identical(members$method, c(0L, 0L, 0L))
  listing <- utils::unzip(path, list = TRUE)
  expect_identical(format(listing$Date[1:2], "%Y-%m-%d %H:%M"), rep("1980-01-01 00:00", 2))
  expect_identical(readLines(unzip_member(path, "metadata.json"), warn = FALSE),
                   "{\"keras_version\":\"3.9.2\",\"date_saved\":\"x\"}")
})

test_that("model.weights.h5 has Keras 3's groups, names, dtypes and shapes", {
  skip_if_no_keras_file_deps()
  fx <- keras_fixture("keras3_zip")
  path <- tempfile(fileext = ".keras")
  gru:::write_keras_archive(path, fx$config, NULL,
                            gru:::keras_weights_tree(fx$config, fx$weights))
  layout <- h5_layout(unzip_member(path, "model.weights.h5"))
  groups <- layout$name[layout$type == "H5I_GROUP"]
  expect_setequal(groups, c(
    "layers", "layers/gru", "layers/gru/vars", "layers/gru/cell", "layers/gru/cell/vars",
    "layers/dropout", "layers/dropout/vars", "layers/dense", "layers/dense/vars",
    "layers/dense_1", "layers/dense_1/vars", "vars"
  ))
  named <- stats::setNames(layout$attr_name, layout$name)
  expect_identical(unname(named[c("vars", "layers/gru/vars", "layers/gru/cell/vars",
                                  "layers/dropout/vars", "layers/dense_1/vars")]),
                   c("sequential", "gru", "gru_cell", "dropout", "dense_1"))
  ds <- layout[layout$type == "H5I_DATASET", ]
  # hdf5r lists the reversed (Fortran) shape: h5py's (2, 9) is "9 x 2".
  expect_identical(stats::setNames(ds$dims, ds$name), c(
    "layers/dense/vars/0" = "2 x 3", "layers/dense/vars/1" = "2",
    "layers/dense_1/vars/0" = "1 x 2", "layers/dense_1/vars/1" = "1",
    "layers/gru/cell/vars/0" = "9 x 2", "layers/gru/cell/vars/1" = "9 x 3",
    "layers/gru/cell/vars/2" = "9 x 2"
  ))
  h5 <- hdf5r::H5File$new(unzip_member(path, "model.weights.h5"), mode = "r")
  on.exit(h5$close_all())
  kernel <- h5[["layers/gru/cell/vars/0"]]
  expect_identical(kernel$get_type()$to_text(), "H5T_IEEE_F32LE")
  expect_identical(as.character(kernel$get_create_plist()$get_layout()), "H5D_CONTIGUOUS")
  name_attr <- h5[["layers/gru/cell/vars"]]$attr_open("name")
  expect_identical(name_attr$get_space()$get_simple_extent_type(),
                   hdf5r::h5const$H5S_SCALAR)
  expect_match(name_attr$get_type()$to_text(), "H5T_VARIABLE")
  expect_match(name_attr$get_type()$to_text(), "H5T_CSET_UTF8")
})

test_that("datasets are in h5py's element order (raw bytes)", {
  skip_if_no_keras_file_deps()
  path <- tempfile(fileext = ".weights.h5")
  x <- matrix(as.numeric(1:6), 2, 3)
  gru:::write_keras_weights_h5(path, list(layers = list(dense = list(vars = list(`0` = x)))))
  h5 <- hdf5r::H5File$new(path, mode = "r")
  offset <- h5[["layers/dense/vars/0"]]$get_offset()
  h5$close_all()
  con <- file(path, "rb")
  seek(con, offset)
  raw <- readBin(con, "numeric", n = 6, size = 4, endian = "little")
  close(con)
  expect_identical(raw, as.vector(t(x)))  # row-major: [0, :] first
})

test_that("write_keras_weights_h5() writes a tree that reads back as .weights.h5", {
  skip_if_no_keras_file_deps()
  k <- f32_array(3, 6)
  r <- f32_array(2, 6)
  b <- f32_array(2, 6)
  fwd <- list(k, r, b)
  bwd <- list(f32_array(3, 6), f32_array(2, 6), f32_array(2, 6))
  tree <- list(layers = list(
    bidirectional = list(
      forward_layer = list(cell = list(vars = stats::setNames(fwd, 0:2))),
      backward_layer = list(cell = list(vars = stats::setNames(bwd, 0:2))),
      vars = structure(list(), h5_attrs = list(name = "bidirectional"))
    )
  ))
  path <- tempfile(fileext = ".weights.h5")
  gru:::write_keras_weights_h5(path, tree)
  cfg <- list(class_name = "Sequential", config = list(name = "s", layers = list(
    list(class_name = "Bidirectional", config = list(
      name = "bidi", layer = list(class_name = "GRU", config = list(name = "g", units = 2L)))))))
  back <- gru:::read_keras_file(path, model_config = cfg)
  expect_identical(back$format, "weights_h5")
  expect_identical(back$weights$bidi, c(fwd, bwd))
  expect_identical(back$weight_names$bidi[1], "layers/bidirectional/forward_layer/cell/vars/0")
})

test_that("the writer's layout matches a real Keras 3.9 file's", {
  skip_if_no_keras_file_deps()
  dir <- skip_if_no_real_keras_files()
  real <- file.path(dir, "ccrnn-k392-gru-keras", "gru_model.keras")
  skip_if_not(file.exists(real))
  x <- gru:::read_keras_file(real)
  path <- tempfile(fileext = ".keras")
  gru:::write_keras_archive(path, x$model_config, x$metadata,
                            gru:::keras_weights_tree(x$model_config, x$weights))
  ours <- h5_layout(unzip_member(path, "model.weights.h5"))
  theirs <- h5_layout(unzip_member(real, "model.weights.h5"))
  theirs <- theirs[!startsWith(theirs$name, "optimizer"), ]
  rownames(ours) <- rownames(theirs) <- NULL
  expect_identical(ours, theirs)
  expect_identical(zip_members(path), zip_members(real))
  expect_identical(gru:::read_keras_file(path)$weights, x$weights)
})
