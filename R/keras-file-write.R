# Writing Keras 3 files: a .weights.h5 from a nested list mirroring its
# groups, and a .keras zip, laid out as Keras 3's saving_lib writes them
# (keras-team/keras keras/src/saving/saving_lib.py), so that Keras loads
# them and read_keras_file() reads them back.
#
# Layout facts, with their source in saving_lib.py:
# - The zip holds, in this order, `metadata.json`, `config.json` and
#   `model.weights.h5` (_save_model_to_fileobj(); _METADATA_FILENAME,
#   _CONFIG_FILENAME, _VARS_FNAME_H5), stored uncompressed
#   (zipfile.ZipFile(fileobj, "w") defaults to ZIP_STORED). The two JSON
#   members are written through zf.open(name, "w"), whose ZipInfo carries
#   the default date 1980-01-01 00:00; we set the same date.
# - metadata.json is {"keras_version": ..., "date_saved":
#   "%Y-%m-%d@%H:%M:%S"} (_serialize_model_as_json()); config.json is the
#   serialized model. Python's json.dumps puts a space after `,` and `:`;
#   jsonlite writes none. JSON readers do not care. Doubles are written
#   with a decimal point (1.0) and integers without, as Python does, so
#   a config reads back with the same types.
# - Each saveable object's variables are datasets named `0`, `1`, ... in
#   get_weights() order (Layer.save_own_variables()) in the group
#   `<object path>/vars` (H5IOStore.make(), _create_h5_group()); the model's
#   own group is the root `vars`. Since Keras 3.6 a `vars` group carries
#   the attribute `name`, the object's name, as a str (h5py: a scalar
#   variable-length UTF-8 string) (_save_state(), metadata = {"name": ...}).
# - Datasets are written with `group[key] = numpy array` (H5IOStore.
#   __setitem__()): contiguous, uncompressed, the array's dtype (float32
#   for gru's weights) and its C-order shape. hdf5r reverses shapes (see
#   R/keras-file-read.R), so each array is written as aperm(x).
# - Object paths: see R/keras-file-read.R (keras3_layer_paths(),
#   keras3_var_groups()).

# Writes `tree` to the HDF5 file `path`. `tree` is a named list: a list
# element is a group (its attribute "h5_attrs", a named list of strings,
# become string attributes), a numeric array or vector a float32 dataset
# in Keras' shape (a vector is 1-d). Returns `path`, invisibly.
write_keras_weights_h5 <- function(path, tree, call = rlang::caller_env()) {
  check_keras_dependency("hdf5r", call)
  h5 <- hdf5r::H5File$new(path, mode = "w")
  on.exit(h5$close_all())
  write_h5_group(h5, tree)
  invisible(path)
}

write_h5_group <- function(group, tree) {
  for (a in names(attr(tree, "h5_attrs"))) {
    write_h5_string_attr(group, a, attr(tree, "h5_attrs")[[a]])
  }
  for (name in names(tree)) {
    node <- tree[[name]]
    if (is.list(node)) {
      child <- group$create_group(name)
      write_h5_group(child, node)
      child$close()
    } else {
      x <- if (is.null(dim(node))) array(as.numeric(node), length(node)) else node
      ds <- group$create_dataset(
        name, robj = aperm(x), dtype = hdf5r::h5types$H5T_IEEE_F32LE,
        chunk_dims = NULL, gzip_level = 0
      )
      ds$close()
    }
  }
}

# A str attribute as h5py writes it: scalar, variable-length, UTF-8.
write_h5_string_attr <- function(obj, name, value) {
  type <- hdf5r::H5T_STRING$new(size = Inf)
  type$set_cset(hdf5r::h5const$H5T_CSET_UTF8)
  obj$create_attr(name, robj = enc2utf8(value), dtype = type,
                  space = hdf5r::H5S$new("scalar"))
}

# Writes a .keras archive: `config` (list(class_name, config, ...), as
# serialized by Keras), `metadata` (NULL: keras_version "3.9.2"-style
# version of the layout written, and the date now) and `weights_tree` (as
# for write_keras_weights_h5()). Returns `path`, invisibly.
# JSON as Keras writes it: whole doubles as 1.0, as Python writes floats;
# integers as 1; NA (an unknown size) and NULL as null.
keras_json <- function(x) {
  as.character(jsonlite::toJSON(x, auto_unbox = TRUE, null = "null", na = "null",
                                digits = NA, always_decimal = TRUE))
}

write_keras_archive <- function(path, config, metadata = NULL, weights_tree,
                                call = rlang::caller_env()) {
  check_keras_dependency("jsonlite", call)
  check_keras_dependency("zip", call)
  metadata <- metadata %||% list(
    keras_version = keras_layout_version,
    date_saved = format(Sys.time(), "%Y-%m-%d@%H:%M:%S")
  )
  dir <- tempfile("gru-keras-")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE))
  writeLines(keras_json(metadata), file.path(dir, "metadata.json"), sep = "")
  writeLines(keras_json(config), file.path(dir, "config.json"), sep = "")
  Sys.setFileTime(file.path(dir, c("metadata.json", "config.json")),
                  as.POSIXct("1980-01-01 00:00:00"))
  write_keras_weights_h5(file.path(dir, "model.weights.h5"), weights_tree,
                         call = call)
  target <- normalizePath(path, mustWork = FALSE)
  if (file.exists(target)) unlink(target)
  zip::zip(target, files = c("metadata.json", "config.json", "model.weights.h5"),
           root = dir, compression_level = 0, mode = "cherry-pick")
  invisible(path)
}

# The Keras version whose layout write_keras_archive() writes.
keras_layout_version <- "3.9.2"

# The weights tree of a model: `model_config` (a Sequential or Functional
# config) and `weights` (a list, one entry per layer of Keras'
# `model.layers`, each a list of arrays in get_weights() order, as
# read_keras_file() returns them). Every object gets its `vars` group with
# its name, as Keras >= 3.6 writes them.
keras_weights_tree <- function(model_config, weights) {
  entries <- keras3_layer_paths(model_config)
  layers <- list()
  for (i in seq_along(entries)) {
    e <- entries[[i]]
    layers[[sub("^layers/", "", e$path)]] <- object_tree(
      e$class_name, e$config, weights[[i]] %||% list(), e$name
    )
  }
  list(layers = layers, vars = named_group(list(), model_config$config$name))
}

named_group <- function(x, name) {
  if (!is.null(name)) attr(x, "h5_attrs") <- list(name = name)
  x
}

# One object's subtree: its own `vars` and the objects that hold its
# weights (see keras3_var_groups() in R/keras-file-read.R). GRU, LSTM and
# SimpleRNN name their cell "gru_cell", "lstm_cell", "simple_rnn_cell"
# (keras/src/layers/rnn/gru.py, GRUCell(name = "gru_cell"), and likewise);
# Bidirectional names its layers "forward_<name>" and "backward_<name>"
# (keras/src/layers/rnn/bidirectional.py __init__()).
object_tree <- function(class_name, config, weights, name) {
  own <- function(w = list()) {
    names(w) <- as.character(seq_along(w) - 1L)
    named_group(w, name)
  }
  cell_names <- c(GRU = "gru_cell", LSTM = "lstm_cell", SimpleRNN = "simple_rnn_cell")
  renamed <- function(d, prefix) {
    d$config$name <- paste0(prefix, sub(paste0("^", prefix), "", d$config$name %||% ""))
    d
  }
  switch(
    class_name,
    GRU = , LSTM = , SimpleRNN = list(
      vars = own(),
      cell = object_tree(paste0(class_name, "Cell"), config, weights,
                         cell_names[[class_name]])
    ),
    RNN = list(
      vars = own(),
      cell = object_tree(config$cell$class_name, config$cell$config, weights,
                         config$cell$config$name)
    ),
    StackedRNNCells = {
      cells <- config$cells
      nm <- keras_container_names(vapply(cells, function(c) c$class_name, ""))
      counts <- vapply(cells, function(c) 2L + as.integer(!isFALSE(c$config$use_bias)), 1L)
      ends <- cumsum(counts)
      subtrees <- lapply(seq_along(cells), function(i) {
        object_tree(cells[[i]]$class_name, cells[[i]]$config,
                    weights[seq_len(counts[[i]]) + ends[[i]] - counts[[i]]],
                    cells[[i]]$config$name)
      })
      list(vars = own(), cells = stats::setNames(subtrees, nm))
    },
    Bidirectional = {
      n <- length(weights) %/% 2L
      fwd <- renamed(config$layer, "forward_")
      bwd <- renamed(config$backward_layer %||% config$layer, "backward_")
      list(
        vars = own(),
        forward_layer = object_tree(fwd$class_name, fwd$config,
                                    weights[seq_len(n)], fwd$config$name),
        backward_layer = object_tree(bwd$class_name, bwd$config,
                                     weights[seq_len(length(weights) - n) + n],
                                     bwd$config$name)
      )
    },
    TimeDistributed = list(
      vars = own(),
      layer = object_tree(config$layer$class_name, config$layer$config,
                          weights, config$layer$config$name)
    ),
    list(vars = own(weights))
  )
}
