#' @include layer-type.R
NULL

# Two Keras 1 layers that later Keras versions dropped, so that Keras 1
# model files holding them load (load_model(), from_config()): MaxoutDense
# and Highway. They have no exported constructor (keras3 has none) and
# compute in float64 like layer_dense(); they run in inference and are not
# trainable. Formulas from Keras 1.2.2's keras/layers/core.py:
#
#   MaxoutDense  output = max_k (x W[k, , ] + b[k, ]), W (nb_feature,
#                input_dim, output_dim), b (nb_feature, output_dim)
#   Highway      t = sigmoid(x W_carry + b_carry),
#                output = t * activation(x W + b) + (1 - t) * x; weights
#                W, b, W_carry, b_carry (the order Keras 1 saves them)

keras1_dense_input <- function(self, inputs, call) {
  d <- dim(inputs) %||% c(1L, length(inputs))
  if (!is.numeric(inputs) || length(d) != 2L) {
    abort_gru(
      c("{.arg inputs} of layer {.val {self$config$name}} ({methods_of(self)$class_name}) must be a (batch, features) matrix, not {.obj_type_friendly {inputs}}."),
      class = "gru_error_input", call = call
    )
  }
  if (self$built && d[2L] != self$input_dim) {
    abort_gru(
      c("{.arg inputs} has {d[2L]} features, but layer {.val {self$config$name}} was built for {self$input_dim}."),
      class = "gru_error_shape", call = call
    )
  }
  matrix(as.numeric(inputs), d[1L])
}

keras1_output_shape <- function(units) {
  function(self, shape) {
    if (length(shape) != 2L) return("it needs 2-D input (batch, features)")
    if (self$built && !is.na(shape[2L]) && shape[2L] != self$input_dim) {
      return(paste0("it was built for ", self$input_dim, " input features"))
    }
    c(shape[1L], units(self, shape))
  }
}

# The config of a Keras 1 layer (the keys legacy_layer_config() leaves):
# the keys a layer needs, and regularizers or constraints, which these
# layers do not support, refused.
keras1_config <- function(config, class_name, keys, call) {
  for (k in grep("regularizer|constraint", names(config), value = TRUE)) {
    if (!is.null(config[[k]])) {
      abort_gru(
        c("{.arg config} of a {class_name} layer sets {.field {k}}, which gru does not support for this Keras 1 layer."),
        class = "gru_error_config", call = call
      )
    }
  }
  name <- config$name %||% unique_layer_name(tolower(class_name))
  out <- list(name = name, trainable = config$trainable %||% TRUE, dtype = "float64")
  out[names(keys)] <- lapply(names(keys), function(k) config[[k]] %||% keys[[k]])
  out
}

new_keras1_layer <- function(type, config, weight_shapes, input_dim, call) {
  layer <- new_layer(type, config)
  self <- layer_self(layer)
  if (!is.null(input_dim)) {
    self$input_dim <- as.integer(input_dim)
    self$weights <- lapply(weight_shapes(self, input_dim), function(s) array(0, s))
    self$built <- TRUE
  }
  layer
}

maxout_weight_shapes <- function(self, input_dim) {
  cfg <- self$config
  shapes <- list(W = c(cfg$nb_feature, input_dim, cfg$output_dim))
  if (isTRUE(cfg$bias)) shapes$b <- c(cfg$nb_feature, cfg$output_dim)
  lapply(shapes, as.integer)
}

maxout_forward <- function(self, inputs, mask = NULL, training = NULL,
                           initial_state = NULL, call = rlang::caller_env()) {
  x <- keras1_dense_input(self, inputs, call)
  if (!self$built) {
    abort_gru(c("Layer {.val {self$config$name}} has no weights: set them first."),
              class = "gru_error_not_built", call = call)
  }
  w <- self$weights
  out <- NULL
  for (k in seq_len(self$config$nb_feature)) {
    z <- x %*% matrix(w$W[k, , ], self$input_dim)
    if (!is.null(w$b)) z <- z + rep(w$b[k, ], each = nrow(z))
    out <- if (is.null(out)) z else pmax(out, z)
  }
  list(output = out, states = list(), mask = NULL)
}

maxout_from_config <- function(config, call) {
  cfg <- keras1_config(config, "MaxoutDense",
                       list(output_dim = NULL, nb_feature = 4L, bias = TRUE), call)
  if (is.null(cfg$output_dim)) {
    abort_gru(c("{.arg config} of a MaxoutDense layer lacks {.field output_dim}."),
              class = "gru_error_config", call = call)
  }
  cfg$output_dim <- as.integer(cfg$output_dim)
  cfg$nb_feature <- as.integer(cfg$nb_feature)
  new_keras1_layer("maxout_dense", cfg, maxout_weight_shapes,
                   config$input_dim %||% config$batch_input_shape[[2L]], call)
}

register_layer_type(new_layer_type(
  type = "maxout_dense", class_name = "MaxoutDense",
  forward = maxout_forward,
  weight_shapes = maxout_weight_shapes,
  build = function(self, input_dim) {
    self$weights <- lapply(maxout_weight_shapes(self, input_dim), function(s) array(0, s))
    self$input_dim <- as.integer(input_dim)
    self$built <- TRUE
  },
  build_shape = function(self, shape) {
    if (!self$built && !is.na(shape[2L])) methods_of(self)$build(self, shape[2L])
  },
  format = function(self) {
    sprintf("<maxout dense layer \"%s\"> %d units, %d features (Keras 1)",
            self$config$name, self$config$output_dim, self$config$nb_feature)
  },
  output_shape = keras1_output_shape(function(self, shape) self$config$output_dim),
  from_config = maxout_from_config
))

highway_weight_shapes <- function(self, input_dim) {
  shapes <- list(W = c(input_dim, input_dim))
  if (isTRUE(self$config$bias)) shapes$b <- input_dim
  shapes$W_carry <- c(input_dim, input_dim)
  if (isTRUE(self$config$bias)) shapes$b_carry <- input_dim
  lapply(shapes, as.integer)
}

highway_forward <- function(self, inputs, mask = NULL, training = NULL,
                            initial_state = NULL, call = rlang::caller_env()) {
  x <- keras1_dense_input(self, inputs, call)
  if (!self$built) {
    abort_gru(c("Layer {.val {self$config$name}} has no weights: set them first."),
              class = "gru_error_not_built", call = call)
  }
  w <- self$weights
  affine <- function(W, b) {
    z <- x %*% W
    if (is.null(b)) z else z + rep(b, each = nrow(z))
  }
  t <- 1 / (1 + exp(-affine(w$W_carry, w$b_carry)))
  h <- apply_dense_activation(self$config$activation, affine(w$W, w$b))
  list(output = t * h + (1 - t) * x, states = list(), mask = NULL)
}

highway_from_config <- function(config, call) {
  cfg <- keras1_config(config, "Highway",
                       list(activation = "linear", bias = TRUE, transform_bias = -2), call)
  resolve_activation(cfg$activation, call = call)
  new_keras1_layer("highway", cfg, highway_weight_shapes,
                   config$input_dim %||% config$batch_input_shape[[2L]], call)
}

register_layer_type(new_layer_type(
  type = "highway", class_name = "Highway",
  forward = highway_forward,
  weight_shapes = highway_weight_shapes,
  build = function(self, input_dim) {
    self$weights <- lapply(highway_weight_shapes(self, input_dim), function(s) array(0, s))
    self$input_dim <- as.integer(input_dim)
    self$built <- TRUE
  },
  build_shape = function(self, shape) {
    if (!self$built && !is.na(shape[2L])) methods_of(self)$build(self, shape[2L])
  },
  format = function(self) {
    sprintf("<highway layer \"%s\"> %s (Keras 1)", self$config$name, self$config$activation)
  },
  output_shape = keras1_output_shape(function(self, shape) shape[2L]),
  from_config = highway_from_config
))
