# Legacy Keras conventions turned into current (Keras 3 style) configs and
# weights, as Keras' own legacy loaders do. Pure functions: a config list
# (as jsonlite::fromJSON(simplifyVector = FALSE) parses it) and weights (as
# read_keras_file() returns them) in, converted ones out.
#
# Sources, by fact (keras-team/keras at the tags named, tf-keras at HEAD):
# - Keras 1 argument names -> Keras 2 names: keras 2.2.4
#   keras/legacy/interfaces.py, legacy_recurrent_support (output_dim ->
#   units, init -> kernel_initializer, inner_init -> recurrent_initializer,
#   inner_activation -> recurrent_activation, W_/U_/b_regularizer ->
#   kernel_/recurrent_/bias_regularizer, dropout_W -> dropout, dropout_U ->
#   recurrent_dropout, consume_less -> implementation with cpu 0, mem 1,
#   gpu 2; recurrent_args_preprocessor(): input_dim and input_length ->
#   input_shape (input_length, input_dim)), legacy_dense_support
#   (output_dim -> units, init -> kernel_initializer, W_/b_regularizer and
#   W_/b_constraint -> kernel_/bias_, bias -> use_bias),
#   legacy_dropout_support and legacy_gaussiandropout_support (p -> rate),
#   legacy_gaussiannoise_support (sigma -> stddev), legacy_embedding_support
#   (init -> embeddings_initializer, W_regularizer -> embeddings_regularizer,
#   W_constraint -> embeddings_constraint; embedding_kwargs_preprocessor()
#   drops `dropout`).
# - Keras 1 `input_dtype` is the dtype: keras 2.0.8 keras/engine/topology.py
#   Layer.__init__ (allowed kwarg 'input_dtype', "legacy").
# - Keras 2 Dense's `input_dim` is input_shape (input_dim,): keras 2.2.4
#   keras/layers/core.py Dense.__init__.
# - `implementation = 0` (Keras 2.0.x) means 1: keras 2.2.4
#   keras/layers/recurrent.py GRU.__init__ ("`implementation=0` has been
#   deprecated, and now defaults to `implementation=1`").
# - A GRU config without `reset_after` (Keras 1, Keras < 2.1.3) computes the
#   reset gate before the recurrent product: keras 1.2.2
#   keras/layers/recurrent.py GRU.step() (hh = act(x_h + (r * h_tm1) U_h));
#   keras 2.2.4 keras/layers/recurrent.py GRU(reset_after = False) is the
#   default that reproduces it.
# - `hard_sigmoid` before Keras 3 is clip(0.2 x + 0.5, 0, 1): keras 2.0.8
#   keras/backend/tensorflow_backend.py hard_sigmoid(); tf-keras
#   tf_keras/backend.py hard_sigmoid(); Theano's T.nnet.hard_sigmoid (Keras
#   1) is the same. Keras 3's is relu6(x + 3) / 6: keras/src/backend/numpy/
#   nn.py hard_sigmoid(). gru calls the former "hard_sigmoid_keras2".
# - Keras 1 GRU weights, per gate (consume_less "cpu"/"mem"): W_z, U_z,
#   b_z, W_r, U_r, b_r, W_h, U_h, b_h (keras 1.2.2 keras/layers/recurrent.py
#   GRU.build()); Keras 2 joins them along the last axis into kernel,
#   recurrent_kernel, bias with gate blocks z, r, h: tf-keras
#   tf_keras/saving/legacy/hdf5_format.py preprocess_weights_for_loading(),
#   `original_keras_version == "1"`, GRU with 9 weights (keras 2.0.8
#   keras/engine/topology.py, the same). consume_less "gpu" already stored
#   W, U, b in that layout.
# - CuDNNGRU: kernel (input_dim, 3H), recurrent_kernel (H, 3H), bias (6H),
#   input biases then recurrent biases, gates z, r, h (tf-keras
#   tf_keras/layers/rnn/cudnn_gru.py build(); _process_batch() reorders the
#   gates for cuDNN, the stored order is Keras'). cuDNN's GRU is sigmoid /
#   tanh with the reset gate applied after the recurrent product, so its
#   weights load into GRU(reset_after = TRUE); they do not fit
#   GRU(reset_after = FALSE) (hdf5_format.py _convert_rnn_weights(),
#   "CuDNNGRU and GRU(reset_after=True)", "is not compatible with").
#   The conversion, recognised by the bias shape (6H,): each gate block k
#   of the kernel becomes k.T.reshape(k.shape, order = "F") (the block's
#   row-major bytes read as the (H, input_dim) matrix cuDNN sees), each
#   gate block of the recurrent kernel is transposed, the gates are not
#   reordered, and the bias is reshaped to (2, 3H): row 1 input biases, row
#   2 recurrent biases (convert_gru_weights(), transform_kernels(),
#   transpose_input()).
# - Bidirectional weights are the forward layer's then the backward
#   layer's, half each; TimeDistributed's are its layer's
#   (preprocess_weights_for_loading(), convert_nested_bidirectional(),
#   convert_nested_time_distributed()).

# Whether a file's config follows Keras 3 conventions: its recorded
# version, or when none is recorded, the Keras 3 serialization format's
# `module` key (keras/src/saving/serialization_lib.py
# serialize_keras_object(); Keras 1 and 2 JSON never has it).
is_keras3_file <- function(keras_version, model_config = NULL) {
  if (!is.na(keras_version)) {
    return(as.integer(sub("\\..*$", "", keras_version)) >= 3L)
  }
  !is.null(model_config$module)
}

# A whole model config in the current form: a Keras 1 / Keras <= 2.1
# Sequential config that is a bare list of layers becomes
# list(name, layers) (keras 2.2.4 keras/engine/sequential.py from_config(),
# "legacy config file"), and every layer goes through legacy_layer_config().
legacy_model_config <- function(model_config, keras_version) {
  keras3 <- is_keras3_file(keras_version, model_config)
  cfg <- model_config$config
  if (is.null(names(cfg)) && length(cfg)) cfg <- list(name = NULL, layers = cfg)
  cfg$layers <- lapply(cfg$layers %||% list(), function(l) {
    converted <- legacy_layer_config(l$class_name, l$config, keras_version,
                                     keras3 = keras3)
    l$class_name <- converted$class_name
    l$config <- converted$config
    l
  })
  out <- model_config
  out$config <- cfg
  out
}

# One layer's config: list(class_name, config), converted. Files from Keras
# 3 are returned as they are.
legacy_layer_config <- function(class_name, config, keras_version,
                                keras3 = is_keras3_file(keras_version)) {
  if (keras3) return(list(class_name = class_name, config = config))
  config <- rename_keys(config, c(input_dtype = "dtype"))
  nested <- function(d) {
    if (is.null(d)) return(NULL)
    c(d[setdiff(names(d), c("class_name", "config"))],
      legacy_layer_config(d$class_name, d$config, keras_version, keras3 = FALSE))
  }
  switch(
    class_name,
    GRU = , LSTM = , SimpleRNN = ,
    GRUCell = , LSTMCell = , SimpleRNNCell = {
      config <- legacy_recurrent_config(config)
      if (class_name %in% c("GRU", "GRUCell") && is.null(config$reset_after)) {
        config$reset_after <- FALSE
      }
    },
    CuDNNGRU = {
      class_name <- "GRU"
      config <- legacy_recurrent_config(config)
      config$activation <- "tanh"
      config$recurrent_activation <- "sigmoid"
      config$use_bias <- TRUE
      config$reset_after <- TRUE
    },
    Dense = {
      config <- rename_keys(config, c(
        output_dim = "units", init = "kernel_initializer",
        W_regularizer = "kernel_regularizer", b_regularizer = "bias_regularizer",
        W_constraint = "kernel_constraint", b_constraint = "bias_constraint",
        bias = "use_bias"
      ))
      config <- input_dim_to_shape(config, NULL)
    },
    Dropout = , GaussianDropout = {
      config <- rename_keys(config, c(p = "rate"))
    },
    GaussianNoise = {
      config <- rename_keys(config, c(sigma = "stddev"))
    },
    Embedding = {
      config <- rename_keys(config, c(
        init = "embeddings_initializer", W_regularizer = "embeddings_regularizer",
        W_constraint = "embeddings_constraint"
      ))
      config$dropout <- NULL
    },
    Bidirectional = {
      config$layer <- nested(config$layer)
      config$backward_layer <- nested(config$backward_layer)
    },
    TimeDistributed = {
      config$layer <- nested(config$layer)
    },
    RNN = {
      config$cell <- if (is.null(names(config$cell))) lapply(config$cell, nested) else nested(config$cell)
    },
    StackedRNNCells = {
      config$cells <- lapply(config$cells, nested)
    }
  )
  for (key in c("activation", "recurrent_activation")) {
    if (identical(config[[key]], "hard_sigmoid")) config[[key]] <- "hard_sigmoid_keras2"
  }
  list(class_name = class_name, config = config)
}

# Keras 1 recurrent argument names and values (legacy_recurrent_support).
legacy_recurrent_config <- function(config) {
  consume <- c(cpu = 0L, mem = 1L, gpu = 2L)
  if (is.character(config$consume_less) && config$consume_less %in% names(consume)) {
    config$consume_less <- consume[[config$consume_less]]
  }
  config <- rename_keys(config, c(
    output_dim = "units", init = "kernel_initializer",
    inner_init = "recurrent_initializer",
    inner_activation = "recurrent_activation",
    W_regularizer = "kernel_regularizer", b_regularizer = "bias_regularizer",
    U_regularizer = "recurrent_regularizer", dropout_W = "dropout",
    dropout_U = "recurrent_dropout", consume_less = "implementation"
  ))
  if (identical(as.numeric(config$implementation), 0)) config$implementation <- 1L
  input_dim_to_shape(config, config[["input_length"]], length_key = TRUE)
}

# `input_dim` (and a recurrent layer's `input_length`) as a batch input
# shape, unless the config already has one; a null input_dim is dropped.
input_dim_to_shape <- function(config, input_length, length_key = FALSE) {
  has_dim <- "input_dim" %in% names(config)
  dim <- config[["input_dim"]]
  config[["input_dim"]] <- NULL
  if (length_key) config[["input_length"]] <- NULL
  if (has_dim && !is.null(dim) && is.null(config$batch_input_shape) &&
      is.null(config$batch_shape)) {
    config$batch_input_shape <- if (length_key) {
      list(NULL, input_length, dim)
    } else {
      list(NULL, dim)
    }
  }
  config
}

# Renames keys old -> new (`map` is c(old = "new")); a key given under both
# names keeps the new one, as Keras refuses the pair.
rename_keys <- function(config, map) {
  for (old in intersect(names(map), names(config))) {
    new <- map[[old]]
    if (is.null(config[[new]])) config[new] <- config[old]
    config[[old]] <- NULL
  }
  config
}

# One layer's weights, converted for a layer of class `class_name` with
# `config` (the file's, or the receiving layer's). Returns the list of
# arrays in the current layout.
legacy_layer_weights <- function(class_name, config, weights, keras_version,
                                 call = rlang::caller_env()) {
  switch(
    class_name,
    Bidirectional = {
      n <- length(weights) %/% 2L
      fwd <- config$layer
      bwd <- config$backward_layer %||% config$layer
      c(legacy_layer_weights(fwd$class_name, fwd$config, weights[seq_len(n)],
                             keras_version, call),
        legacy_layer_weights(bwd$class_name, bwd$config,
                             weights[seq_len(length(weights) - n) + n],
                             keras_version, call))
    },
    TimeDistributed = legacy_layer_weights(config$layer$class_name,
                                           config$layer$config, weights,
                                           keras_version, call),
    RNN = {
      cell <- config$cell
      if (is.list(cell) && is.character(cell$class_name)) {
        legacy_layer_weights(cell$class_name, cell$config, weights,
                             keras_version, call)
      } else {
        weights
      }
    },
    GRU = , GRUCell = , CuDNNGRU = legacy_gru_weights(class_name, config,
                                                      weights, call),
    weights
  )
}

legacy_gru_weights <- function(class_name, config, weights, call) {
  if (length(weights) == 9L) {
    # Keras 1: W_z, U_z, b_z, W_r, U_r, b_r, W_h, U_h, b_h.
    return(list(
      cbind(weights[[1L]], weights[[4L]], weights[[7L]]),
      cbind(weights[[2L]], weights[[5L]], weights[[8L]]),
      array(c(weights[[3L]], weights[[6L]], weights[[9L]]))
    ))
  }
  if (length(weights) != 3L) return(weights)
  units <- nrow(weights[[2L]])
  bias <- weights[[3L]]
  if (length(dim(bias)) > 1L || length(bias) != 6L * units) return(weights)
  if (class_name != "CuDNNGRU" && isFALSE(config$reset_after)) {
    abort_gru(
      c("CuDNNGRU weights do not fit a GRU with {.code reset_after = FALSE}.",
        "i" = "cuDNN's GRU applies the reset gate after the recurrent product; use {.code reset_after = TRUE}."),
      class = c("gru_error_weights", "gru_error_file"), call = call
    )
  }
  cudnn_to_gru_weights(weights, units)
}

# CuDNNGRU -> GRU(reset_after = TRUE) (hdf5_format.py convert_gru_weights(),
# from_cudnn = TRUE). In R a block k of the kernel, (input_dim, H), becomes
# matrix(t(k), input_dim, H): numpy's k.T.reshape(k.shape, order = "F")
# reads k.T column-major, which is k row-major, and fills column-major.
cudnn_to_gru_weights <- function(weights, units) {
  blocks <- function(m) lapply(0:2, function(g) m[, g * units + seq_len(units), drop = FALSE])
  kernel <- do.call(cbind, lapply(blocks(weights[[1L]]), function(k) {
    matrix(t(k), nrow(k), ncol(k))
  }))
  recurrent <- do.call(cbind, lapply(blocks(weights[[2L]]), t))
  bias <- matrix(as.vector(weights[[3L]]), nrow = 2L, byrow = TRUE)
  list(kernel, recurrent, bias)
}
