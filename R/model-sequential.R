#' @include layer-type.R
NULL

# The sequential model. Like a layer it is a closure over `self`, an
# environment with
#
#   type          "sequential"
#   config        list(name, trainable)
#   layers        the layer objects, in order (they keep their own weights
#                 and stateful state)
#   input_shape   the batch input shape c(batch, ...) with NA for unknown
#                 entries, or NULL until known
#   format_version  see check_self_format() (R/layer.R)
#
# `model |> layer_*()` appends through compose_layer.gru_model(). The forward
# pass is one internal function, model_forward(), that returns every layer's
# output and mask (what training will differentiate through).

#' A sequential model of layers
#'
#' keras3's `keras_model_sequential()`, under the name keras3 users look
#' for: a model that runs its layers one after the other. Layer constructors
#' given the model as `object` append to it and return it (keras3's rules),
#' so models are written with the pipe:
#' `keras_model_sequential(input_shape = c(10, 8)) |> layer_gru(16) |>
#' layer_dense(1)`. When the input shape is known, each layer is built as it
#' is added and a layer whose input does not fit the previous layer's output
#' is an error naming both.
#'
#' Masks flow as in Keras: a [layer_masking()] or
#' `layer_embedding(mask_zero = TRUE)` produces one, it passes through layers
#' that keep the time axis and stops at those that do not. The model is
#' mutable, like a keras3 model: appending changes it in place.
#'
#' @section Members:
#' `model$layers`, `model$add(layer)`, `model$get_weights()`,
#' `model$set_weights(w)`, `model$reset_state()`, `model$get_config()`,
#' `model$count_params()`, `model$name`, `model$input_shape`,
#' `model$output_shape`, `model$losses`, and after [compile()][compile.gru_model]
#' `model$optimizer` (with its state), `model$loss` and
#' `model$compiled_metrics`. Calling `model(x)` runs it on one
#' batch; [predict()][predict.gru_model] runs it in batches.
#'
#' @param input_shape `NULL` or the shape of one sample without the batch
#'   axis, e.g. `c(timesteps, features)` (timesteps may be `NA`) or
#'   `c(timesteps)` for integer sequences into [layer_embedding()].
#' @param name `NULL` or the model's name.
#' @param ... Unused; must be empty.
#' @param batch_size `NULL` or a fixed batch size (what stateful layers
#'   need). keras3's `input_batch_size` is accepted as an alias.
#' @param input_batch_size keras3's name for `batch_size`.
#' @param layers A list of layers to add.
#' @param trainable Whether the model's weights are trainable.
#' @returns A sequential model (class `gru_model`).
#' @family models
#' @export
#' @examples
#' model <- keras_model_sequential(input_shape = c(10, 3), name = "tour") |>
#'   layer_gru(8, return_sequences = TRUE) |>
#'   layer_gru(4) |>
#'   layer_dense(1)
#' model
#' x <- array(runif(5 * 10 * 3), c(5, 10, 3))
#' dim(predict(model, x))
keras_model_sequential <- function(input_shape = NULL, name = NULL, ...,
                                   batch_size = NULL,
                                   input_batch_size = batch_size,
                                   layers = list(), trainable = TRUE) {
  call <- rlang::current_env()
  check_layer_dots(list(...), character(), "keras_model_sequential", call = call)
  name <- name %||% unique_layer_name("sequential")
  check_string(name, call = call)
  check_bool(trainable, call = call)
  shape <- NULL
  if (!is.null(input_shape) || !is.null(input_batch_size)) {
    shape <- check_simple_shape(
      list(input_shape = input_shape %||% NA, batch_size = input_batch_size),
      call = call
    )
  }
  self <- new.env(parent = emptyenv())
  self$type <- "sequential"
  self$config <- list(name = name, trainable = trainable)
  self$layers <- list()
  self$input_shape <- shape
  self$format_version <- gru_format_version
  model <- new_model_object(self, "gru_model_sequential")
  if (inherits(layers, "gru_layer")) layers <- list(layers)
  for (layer in layers) model_add(self, layer, call = call)
  model
}

model_self <- function(model) environment(unclass(model))$self

#' @export
compose_layer.gru_model <- function(object, layer, call = rlang::caller_env()) {
  self <- model_self(object)
  if (is_functional(self)) {
    abort_gru(
      c("Layers cannot be appended to functional model {.val {self$config$name}}.",
        "i" = "Apply the layer to the model's output tensor and build a new {.fn keras_model}."),
      class = "gru_error_input", call = call
    )
  }
  model_add(self, layer, call = call)
  object
}

# Appends a layer after checking it is a single-output layer whose input
# fits the current output, and builds it when that shape is known.
model_add <- function(self, layer, call) {
  check_self(self, call = call)
  if (is_cell(layer)) {
    abort_gru(
      c("Cell {.val {layer$name}} cannot be added to a model: a model holds layers.",
        "i" = "Wrap it in a layer: {.code model |> layer_rnn(cell = ...)}."),
      class = "gru_error_layer_kind", call = call
    )
  }
  if (!inherits(layer, "gru_layer")) {
    abort_gru(
      c("Only gru layers can be added to a model, not {.obj_type_friendly {layer}}."),
      class = "gru_error_input", call = call
    )
  }
  lself <- layer_self(layer)
  if (methods_of(lself)$n_inputs == "many") {
    abort_gru(
      c("Layer {.val {layer$name}} merges several inputs, so it cannot be a layer of a sequential model.",
        "i" = "Build a functional model: apply it to a list of symbolic tensors and call {.fn keras_model}."),
      class = "gru_error_input", call = call
    )
  }
  if (methods_of(lself)$n_outputs(lself) > 1L) {
    abort_gru(
      c("Layer {.val {layer$name}} has several outputs, but each layer of a sequential model must have one.",
        "i" = "Use {.code return_state = FALSE} (and a {.arg merge_mode} for bidirectional layers) inside a model."),
      class = "gru_error_input", call = call
    )
  }
  if (any(vapply(self$layers, function(l) identical(layer_self(l), lself), logical(1)))) {
    abort_gru(
      c("Layer {.val {layer$name}} is already in model {.val {self$config$name}}."),
      class = "gru_error_input", call = call
    )
  }
  if (length(self$layers) == 0L && is.null(self$input_shape) &&
      !is.null(lself$config$batch_input_shape)) {
    self$input_shape <- lself$config$batch_input_shape
  }
  shape <- model_output_shape(self)
  if (!is.null(shape)) {
    out <- layer_output_shape(layer, shape)
    if (is.character(out)) {
      abort_chain(self, layer, length(self$layers) + 1L, shape, out, call = call)
    }
    layer_build_shape(layer, shape)
  }
  self$layers[[length(self$layers) + 1L]] <- layer
  invisible(self)
}

abort_chain <- function(self, layer, i, shape, problem, call) {
  prev <- if (i == 1L) "the model input" else
    paste0("layer \"", self$layers[[i - 1L]]$name, "\"")
  abort_gru(
    c("Layer {.val {layer$name}} (layer {i} of model {.val {self$config$name}}) cannot take the output of {prev}, of shape {format_shape(shape)}: {problem}.",
      "i" = "Shapes are (batch, ...) with NA for unknown sizes; a recurrent layer feeding another needs {.code return_sequences = TRUE}."),
    class = "gru_error_shape", call = call
  )
}

# The output shape after the first `upto` layers, or NULL when the input
# shape is unknown.
model_output_shape <- function(self, upto = length(self$layers),
                               input_shape = self$input_shape) {
  shape <- input_shape
  if (is.null(shape)) return(NULL)
  for (layer in self$layers[seq_len(upto)]) {
    shape <- layer_output_shape(layer, shape)
    if (is.character(shape)) return(shape)
  }
  shape
}

#' Predict with a sequential model
#'
#' Runs the model on `x` in batches of `batch_size` rows (inference mode:
#' no dropout) and binds the results along the first axis. Stateful layers
#' carry their state from batch to batch, as in keras3.
#'
#' @param object A sequential model ([keras_model_sequential()]).
#' @param x A numeric array whose first axis is the batch, a list of them
#'   for a model with several inputs, or a dataset from
#'   [timeseries_dataset_from_array()] (its inputs are used).
#' @param batch_size Rows per batch.
#' @param ... Unused.
#' @param parallel `TRUE` runs the batches on the current [future][future::plan]
#'   plan (local sessions, a cluster, a scheduler): the rows are cut into
#'   `chunks` runs of whole batches, the model is sent to the workers as a plain
#'   R object, and the results come back in order, the same numbers as a
#'   sequential run. Progress is reported through progressr
#'   ([progressr::with_progress()]). Models with stateful layers are refused.
#'   See `vignette("parallel", package = "gru")`.
#' @param chunks How many pieces the rows are cut into when `parallel = TRUE`
#'   (giving it implies `parallel = TRUE`); default one per worker, so the
#'   model travels once to each.
#' @param threads Each worker's gru thread count; default the cores the plan
#'   gives a worker (`parallelly::availableCores()` there: 1 on a multisession
#'   worker).
#' @returns The model's output for every row of `x`; for several outputs
#'   a list of them (named when the model's outputs were given as a named
#'   list).
#' @family models
#' @export
#' @examples
#' model <- keras_model_sequential(input_shape = c(4, 2)) |> layer_gru(3)
#' predict(model, array(runif(10 * 4 * 2), c(10, 4, 2)), batch_size = 4)
predict.gru_model <- function(object, x, batch_size = 32, ..., parallel = FALSE, chunks = NULL,
                              threads = NULL) {
  call <- rlang::current_env()
  batch_missing <- missing(batch_size)
  self <- model_self(object)
  if (missing(x)) {
    abort_gru(
      c("{.arg x} is missing.", "i" = "Pass the input array, e.g. {.code predict(model, x)}."),
      class = "gru_error_input", call = call
    )
  }
  batch_size <- check_positive_whole(batch_size, call = call)
  if (is_dataset(x)) {
    if (!isFALSE(parallel) || !is.null(chunks)) {
      abort_gru(
        c("{.arg parallel} and {.arg chunks} take arrays, not a dataset.",
          "i" = "Predict a dataset with {.code parallel = FALSE}, or give {.fn predict_chunks} its windows in pieces."),
        class = c("gru_error_unsupported", "gru_error_input"), call = call
      )
    }
    pieces <- lapply(split(dataset_order(x), ceiling(seq_len(dataset_size(x)) / dataset_batch_size(x))),
                     function(w) {
                       model_forward(self, dataset_batch(x, w)$x, training = FALSE,
                                     call = call)$output_list
                     })
    outs <- lapply(seq_along(pieces[[1L]]), function(j) bind_rows(lapply(pieces, `[[`, j)))
    return(model_output_value(self, outs))
  }
  if (is.null(dim(x)) && is.numeric(x)) x <- matrix(x, 1L)
  if (is_data_list(x)) {
    x <- lapply(x, function(v) if (is.null(dim(v)) && is.numeric(v)) matrix(v, 1L) else v)
  }
  n <- data_rows(x)
  if (n == 0L) {
    abort_gru(
      c("{.arg x} has no rows: there is nothing to predict.", "i" = "Pass at least one sample."),
      class = "gru_error_input", call = call
    )
  }
  check_self(self, call = call)
  st <- model_stateful(self)
  if (st$stateful && !is.null(st$batch_size)) {
    if (batch_missing) batch_size <- st$batch_size
    if (batch_size != st$batch_size || n %% st$batch_size != 0L) {
      abort_gru(
        c("Model {.val {self$config$name}} has stateful layers with a fixed batch size of {st$batch_size}, so it predicts in batches of {st$batch_size} rows; {.arg x} has {n} row{?s} and {.arg batch_size} is {batch_size}.",
          "i" = "Use {.code batch_size = {st$batch_size}} and a multiple of {st$batch_size} rows."),
        class = c("gru_error_stateful_batch", "gru_error_input"), call = call
      )
    }
  }
  if (!isFALSE(parallel) || !is.null(chunks)) {
    if (!isTRUE(parallel) && !isFALSE(parallel)) {
      abort_gru(
        c("{.arg parallel} must be {.code TRUE} or {.code FALSE}, not {.obj_type_friendly {parallel}}.",
          "i" = "{.code parallel = TRUE} runs the batches on the current future plan."),
        class = "gru_error_input", call = call
      )
    }
    return(predict_parallel(object, self, x, n, batch_size, chunks, threads, call))
  }
  model_output_value(self, predict_outputs(self, x, batch_size, call))
}

# The model's outputs (a list, one array per output) for every row of the
# array or list of arrays `x`, batch by batch.
predict_outputs <- function(self, x, batch_size, call) {
  n <- data_rows(x)
  starts <- seq(1L, n, by = batch_size)
  pieces <- lapply(starts, function(s) {
    rows <- s:min(n, s + batch_size - 1L)
    model_forward(self, slice_data(x, rows), training = FALSE, call = call)$output_list
  })
  lapply(seq_along(pieces[[1L]]), function(j) {
    bind_rows(lapply(pieces, `[[`, j))
  })
}

slice_rows <- function(x, rows) {
  d <- dim(x)
  args <- c(list(x, rows), rep(list(TRUE), length(d) - 1L), list(drop = FALSE))
  do.call(`[`, args)
}

# Binds arrays along their first axis.
bind_rows <- function(pieces) {
  if (length(pieces) == 1L) return(pieces[[1L]])
  d <- dim(pieces[[1L]])
  r <- length(d)
  perm <- c(seq_len(r)[-1L], 1L)
  moved <- unlist(lapply(pieces, function(p) aperm(p, perm)))
  n <- sum(vapply(pieces, function(p) dim(p)[1L], numeric(1)))
  aperm(array(moved, c(d[-1L], n)), c(r, seq_len(r - 1L)))
}

#' @export
`$.gru_model` <- function(x, name) {
  self <- model_self(x)
  switch(
    name,
    layers = self$layers,
    add = function(layer) {
      compose_layer.gru_model(x, layer, call = rlang::caller_env())
      invisible(x)
    },
    get_weights = function() get_weights(x),
    set_weights = function(weights) set_weights(x, weights),
    reset_state = ,
    reset_states = function() reset_state(x),
    get_config = function() get_config(x),
    count_params = function() model_count_params(self),
    losses = do.call(c, c(list(list()), lapply(self$layers, function(l) layer_losses(layer_self(l))))),
    name = self$config$name,
    trainable = self$config$trainable,
    optimizer = self$compiled$optimizer,
    loss = self$compiled$loss,
    compiled_metrics = names(self$compiled$metrics),
    input_shape = if (is_functional(self)) {
      shapes <- lapply(self$input_specs, `[[`, "shape")
      if (length(shapes) == 1L) shapes[[1L]] else shapes
    } else {
      self$input_shape
    },
    output_shape = if (is_functional(self)) {
      if (length(self$output_shapes) == 1L) self$output_shapes[[1L]] else self$output_shapes
    } else {
      model_output_shape(self)
    },
    inputs = if (is_functional(self)) vapply(self$input_specs, `[[`, character(1), "name"),
    outputs = if (is_functional(self)) self$output_names,
    get_layer = function(name = NULL, index = NULL) get_layer(x, name = name, index = index),
    built = length(self$layers) > 0L &&
      all(vapply(self$layers, function(l) layer_is_built(layer_self(l)), logical(1))),
    NULL
  )
}

#' @export
`[[.gru_model` <- function(x, i, ...) `$.gru_model`(x, i)

#' @export
names.gru_model <- function(x) {
  c("layers", "add", "get_weights", "set_weights", "reset_state",
    "reset_states", "get_config", "count_params", "losses", "name",
    "trainable", "optimizer", "loss", "compiled_metrics", "input_shape",
    "output_shape", "built")
}

model_count_params <- function(self) {
  as.integer(sum(vapply(self$layers, function(l) {
    s <- layer_self(l)
    if (layer_is_built(s)) layer_count_params(s, NULL) else 0L
  }, numeric(1))))
}

#' @export
get_weights.gru_model <- function(object, ...) {
  do.call(c, c(list(list()), lapply(model_self(object)$layers, get_weights)))
}

#' @export
set_weights.gru_model <- function(object, weights, ...) {
  call <- rlang::current_env()
  self <- model_self(object)
  counts <- vapply(self$layers, function(l) layer_n_weights(layer_self(l)), numeric(1))
  if (!is.list(weights) || length(weights) != sum(counts)) {
    abort_gru(
      c("{.arg weights} must be a list of {sum(counts)} arrays for model {.val {self$config$name}}, not {.obj_type_friendly {weights}}{if (is.list(weights)) paste0(' of length ', length(weights))}.",
        "i" = "Pass them in the order {.code get_weights(model)} returns."),
      class = "gru_error_weights", call = call
    )
  }
  set_weights_in_parts(lapply(self$layers, layer_self), counts, weights,
                       cli::format_inline("model {.val {self$config$name}}"), call)
  invisible(object)
}

#' @export
reset_state.gru_model <- function(object, states = NULL, ...) {
  for (l in model_self(object)$layers) reset_state(l)
  invisible(object)
}

#' @export
get_config.gru_model <- function(object, ...) {
  self <- model_self(object)
  call <- rlang::current_env()
  check_self_identity(self, call)
  check_model_self_layers(self, call)
  if (is_functional(self)) return(functional_config(self))
  layers <- lapply(self$layers, nested_config)
  if (!is.null(self$input_shape)) {
    input <- list(class_name = "InputLayer",
                  config = list(batch_input_shape = self$input_shape,
                                dtype = "float32",
                                name = paste0(self$config$name, "_input")))
    layers <- c(list(input), layers)
  }
  structure(list(name = self$config$name, trainable = self$config$trainable,
                 layers = layers),
            class_name = "Sequential")
}

sequential_from_config <- function(config, call) {
  unknown <- setdiff(names(config), c("name", "trainable", "dtype", "layers", "build_input_shape"))
  if (length(unknown)) {
    abort_gru(
      c("{.arg config} for class {.val Sequential} has {length(unknown)} unknown key{?s}: {.field {unknown}}."),
      class = "gru_error_config", call = call
    )
  }
  layers <- config$layers %||% list()
  if (!is.list(layers) || is.object(layers)) {
    abort_config("layers", "is {.obj_type_friendly {layers}}, not a list of layer configs",
                 call = call)
  }
  shape <- NULL
  skip <- 0L  # a leading InputLayer gives the input shape
  first <- if (length(layers)) layers[[1L]]
  if (is.list(first) && identical(first$class_name, "InputLayer")) {
    ic <- first$config
    shape <- shape_from_list(ic$batch_input_shape %||% ic$batch_shape)
    if (!is_batch_shape(shape)) {
      abort_config("layers[[1]]$config$batch_input_shape",
                   "must be a batch shape: positive whole numbers or NA (JSON null), not {.obj_type_friendly {shape}}",
                   call = call)
    }
    skip <- 1L
  }
  model <- keras_model_sequential(name = config$name,
                                  trainable = config$trainable %||% TRUE)
  self <- model_self(model)
  if (!is.null(shape)) self$input_shape <- as.integer(shape)
  for (i in seq_along(layers)) {
    if (i <= skip) next
    layer <- nested_from_config(layers[[i]], paste0("layers[[", i, "]]"), call = call)
    model_add(self, layer, call = call)
  }
  model
}

register_layer_type(new_layer_type(
  type = "sequential", class_name = "Sequential", kind = "model",
  from_config = sequential_from_config
))

#' Summarise a sequential model
#'
#' Keras' model summary: each layer with its type, output shape and number
#' of parameters, and the totals. Output shapes need a known input shape
#' (give `input_shape` or call the model); unknown ones show as `?`.
#'
#' @param object A sequential model.
#' @param ... Unused.
#' @returns An object of class `gru_model_summary`, printed as the table: a
#'   data frame with a row per layer (`layer`, `type`, `output_shape`,
#'   `params`, `trainable` and `trainable_params`, the parameters training
#'   updates: not the moving statistics of a batch normalization, none of a
#'   layer that is not trainable).
#' @family models
#' @export
#' @examples
#' model <- keras_model_sequential(input_shape = c(NA, 3)) |>
#'   layer_masking() |>
#'   layer_gru(4)
#' summary(model)
summary.gru_model <- function(object, ...) {
  self <- model_self(object)
  if (is_functional(self)) {
    return(structure(functional_summary(self), class = c("gru_model_summary", "data.frame"),
                     model_name = self$config$name))
  }
  rows <- lapply(seq_along(self$layers), function(i) {
    l <- self$layers[[i]]
    s <- layer_self(l)
    shape <- model_output_shape(self, upto = i)
    data.frame(
      layer = l$name,
      type = methods_of(s)$class_name,
      output_shape = if (is.null(shape)) "?" else format_shape(shape),
      params = if (layer_is_built(s)) layer_count_params(s, NULL) else NA_integer_,
      trainable = isTRUE(s$config$trainable),
      trainable_params = if (layer_is_built(s)) layer_count_trainable_params(s) else NA_integer_,
      stringsAsFactors = FALSE
    )
  })
  df <- if (length(rows)) do.call(rbind, rows) else
    data.frame(layer = character(), type = character(), output_shape = character(),
               params = integer(), trainable = logical(), trainable_params = integer())
  structure(df, class = c("gru_model_summary", "data.frame"),
            model_name = self$config$name)
}

#' @export
format.gru_model_summary <- function(x, ...) {
  df <- as.data.frame(unclass(x), stringsAsFactors = FALSE)
  col1 <- c("Layer (type)", paste0(df$layer, " (", df$type, ")"))
  col2 <- c("Output Shape", df$output_shape)
  col3 <- c("Param #", ifelse(is.na(df$params), "?", format(df$params, big.mark = ",")))
  w1 <- max(nchar(col1)) + 2L
  w2 <- max(nchar(col2)) + 2L
  lines <- sprintf("%-*s%-*s%s", w1, col1, w2, col2, col3)
  if (!is.null(df$connected)) {
    w3 <- max(nchar(col3)) + 2L
    lines <- sprintf("%-*s%s", w1 + w2 + w3, lines, c("Connected to", df$connected))
    lines <- sub(" +$", "", lines)
  }
  rule <- strrep("-", max(nchar(lines)))
  total <- sum(df$params, na.rm = TRUE)
  trainable <- sum(df$trainable_params, na.rm = TRUE)
  c(sprintf("Model: \"%s\"", attr(x, "model_name")), rule, lines[1L], rule,
    lines[-1L], rule,
    sprintf("Total params: %s", format(total, big.mark = ",")),
    sprintf("Trainable params: %s", format(trainable, big.mark = ",")),
    sprintf("Non-trainable params: %s", format(total - trainable, big.mark = ",")))
}

#' @export
print.gru_model_summary <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

#' @export
format.gru_model <- function(x, ...) {
  check_self(model_self(x))
  format(summary(x))
}

#' @export
print.gru_model <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}
