#' @include model-graph.R
NULL

# The functional API. keras_input() makes a symbolic tensor; a layer
# applied to symbolic tensors records a node and returns symbolic outputs;
# keras_model() walks back from the outputs to the inputs and stores the
# graph that R/model-graph.R runs. A symbolic tensor is
#
#   list(node, index, shape, dtype)   class "gru_tensor"
#
# where `node` is an environment: kind "input" (name, shape, dtype) or
# "layer" (layer, inputs = tensors, states = initial-state tensors). Node
# environments only live while a model is being written: the model keeps a
# plain graph of layers and refs.

the$node_id <- 0L

new_node <- function(kind, ...) {
  node <- new.env(parent = emptyenv())
  the$node_id <- the$node_id + 1L
  node$id <- the$node_id
  node$kind <- kind
  fields <- list(...)
  for (nm in names(fields)) assign(nm, fields[[nm]], envir = node)
  node
}

new_tensor <- function(node, index, shape, dtype = "float32") {
  structure(list(node = node, index = as.integer(index),
                 shape = as.integer(shape), dtype = dtype),
            class = "gru_tensor")
}

is_tensor <- function(x) inherits(x, "gru_tensor")

is_symbolic <- function(x) {
  is_tensor(x) ||
    (is.list(x) && !is.object(x) && length(x) > 0L && all(vapply(x, is_tensor, logical(1))))
}

#' @export
print.gru_tensor <- function(x, ...) {
  from <- if (x$node$kind == "input") paste0("input \"", x$node$name, "\"") else
    paste0("layer \"", x$node$layer$name, "\"", if (x$index > 1L) paste0(", output ", x$index))
  cat(sprintf("<symbolic tensor> shape %s, %s, from %s\n", format_shape(x$shape),
              x$dtype, from))
  invisible(x)
}

#' @export
dim.gru_tensor <- function(x) x$shape

#' A symbolic input of a functional model
#'
#' keras3's `keras_input()` (and keras 2's `layer_input()`): a placeholder
#' for a model input. Layers applied to it return symbolic outputs, and
#' [keras_model()] turns inputs and outputs into a model:
#' `input |> layer_gru(8) |> layer_dense(1)` describes the computation
#' without running it.
#'
#' @param shape The shape of one sample, without the batch axis, e.g.
#'   `c(timesteps, features)`; `NA` (or `NULL` in a list) for unknown sizes.
#' @param batch_size `NULL` or a fixed batch size.
#' @param dtype `NULL` (`"float32"`), `"float32"`, `"float64"` or
#'   `"int32"` (integer indices for an embedding).
#' @param sparse,ragged Must be `NULL` or `FALSE`: gru has no sparse or
#'   ragged tensors.
#' @param batch_shape The shape including the batch axis, instead of
#'   `shape` and `batch_size`.
#' @param name `NULL` or the input's name (Keras names them `input_layer`,
#'   `input_layer_1`, ...).
#' @param tensor,optional Not supported; must be `NULL` / `FALSE`.
#' @param input_shape keras 2's name for `shape`.
#' @returns A symbolic tensor (class `gru_tensor`).
#' @family models
#' @export
#' @examples
#' input <- keras_input(shape = c(10, 3))
#' output <- input |> layer_gru(8) |> layer_dense(1)
#' model <- keras_model(input, output)
#' dim(predict(model, array(runif(2 * 10 * 3), c(2, 10, 3))))
keras_input <- function(shape = NULL, batch_size = NULL, dtype = NULL,
                        sparse = NULL, batch_shape = NULL, name = NULL,
                        tensor = NULL, optional = FALSE) {
  call <- rlang::current_env()
  new_input_tensor(shape = shape, batch_size = batch_size, dtype = dtype,
                   sparse = sparse, batch_shape = batch_shape, name = name,
                   tensor = tensor, optional = optional, call = call)
}

#' @rdname keras_input
#' @export
layer_input <- function(shape = NULL, batch_size = NULL, name = NULL,
                        dtype = NULL, sparse = NULL, tensor = NULL,
                        ragged = NULL, batch_shape = NULL, input_shape = NULL) {
  call <- rlang::current_env()
  if (!is.null(ragged) && !isFALSE(ragged)) {
    abort_gru(
      c("{.arg ragged} must be {.code FALSE}: gru has no ragged tensors.",
        "i" = "Pad the sequences to one length, e.g. with {.fn pad_sequences}, and mask the padding."),
      class = c("gru_error_unsupported", "gru_error_input"), call = call
    )
  }
  new_input_tensor(shape = shape %||% input_shape, batch_size = batch_size,
                   dtype = dtype, sparse = sparse, batch_shape = batch_shape,
                   name = name, tensor = tensor, call = call)
}

new_input_tensor <- function(shape, batch_size, dtype, sparse, batch_shape, name,
                             tensor = NULL, optional = FALSE, call) {
  for (arg in c("sparse", "optional")) {
    v <- get(arg)
    if (!is.null(v) && !isFALSE(v)) {
      abort_gru(
        c("{.arg {arg}} must be {.code FALSE}: gru does not support {arg} inputs."),
        class = c("gru_error_unsupported", "gru_error_input"), call = call
      )
    }
  }
  if (!is.null(tensor)) {
    abort_gru(
      c("{.arg tensor} is not supported: gru inputs are placeholders for R arrays."),
      class = c("gru_error_unsupported", "gru_error_input"), call = call
    )
  }
  dtype <- dtype %||% "float32"
  check_choice(dtype, c("float32", "float64", "int32", "int64"), arg = "dtype", call = call)
  if (is.null(shape) && is.null(batch_shape)) {
    abort_gru(
      c("{.arg shape} is missing.",
        "i" = "Give the shape of one sample, e.g. {.code keras_input(shape = c(10, 3))} for 10 timesteps of 3 features."),
      class = "gru_error_input", call = call
    )
  }
  full <- check_simple_shape(
    list(batch_input_shape = batch_shape,
         input_shape = if (is.null(batch_shape)) shape_vector(shape), batch_size = batch_size),
    call = call
  )
  name <- name %||% unique_layer_name("input_layer")
  check_string(name, arg = "name", call = call)
  node <- new_node("input", name = name, shape = full, dtype = dtype)
  new_tensor(node, 1L, full, dtype)
}

# A shape given as a vector or as a list with NULLs (JSON's null).
shape_vector <- function(shape) {
  if (is.list(shape)) {
    shape <- vapply(shape, function(v) if (is.null(v)) NA_real_ else as.numeric(v), numeric(1))
  }
  if (length(shape) && all(is.na(shape))) shape <- as.numeric(shape)
  shape
}

# The number of units of each state a layer returns with return_state.
layer_state_units <- function(self) {
  subs <- layer_sublayers(self)
  if (!length(subs)) return(as.integer(self$config$units))
  unlist(lapply(subs, function(l) layer_state_units(layer_self(l))))
}

# A layer applied to symbolic tensors: checks that the input shapes fit,
# builds the layer, records the node and returns its symbolic output(s)
# (a list when the layer returns several, e.g. with return_state).
symbolic_call <- function(layer, inputs, initial_state = NULL,
                          call = rlang::caller_env()) {
  self <- layer_self(layer)
  check_self(self, call = call)
  m <- methods_of(self)
  if (is_cell(layer)) {
    abort_gru(
      c("A cell cannot be applied to a symbolic tensor: cells process one timestep.",
        "i" = "Wrap it in a layer: {.code layer_rnn(cell = ...)}."),
      class = "gru_error_layer_kind", call = call
    )
  }
  if (is_tensor(inputs)) inputs <- list(inputs)
  if (m$n_inputs == "one" && length(inputs) != 1L) {
    abort_gru(
      c("Layer {.val {self$config$name}} takes one input, but was given {length(inputs)} tensors.",
        "i" = "Merge them first, e.g. with {.fn layer_concatenate}."),
      class = "gru_error_input", call = call
    )
  }
  states <- list()
  if (!is.null(initial_state)) {
    states <- if (is_tensor(initial_state)) list(initial_state) else initial_state
    if (!is_symbolic(states)) {
      abort_gru(
        c("{.arg initial_state} of a layer applied to symbolic tensors must be symbolic tensors too, not {.obj_type_friendly {initial_state}}.",
          "i" = "Pass the state outputs of another layer, e.g. of {.code layer_gru(return_state = TRUE)}, or a {.fn keras_input}."),
        class = "gru_error_input", call = call
      )
    }
  }
  in_shape <- if (m$n_inputs == "one") inputs[[1L]]$shape else lapply(inputs, `[[`, "shape")
  out <- layer_output_shape(layer, in_shape)
  if (is.character(out)) {
    shape_txt <- format_shapes(in_shape)
    abort_gru(
      c("Layer {.val {self$config$name}} cannot take an input of shape {shape_txt}: {out}.",
        "i" = "Shapes are (batch, ...) with NA for unknown sizes; a recurrent layer feeding another needs {.code return_sequences = TRUE}."),
      class = "gru_error_shape", call = call
    )
  }
  layer_build_shape(layer, in_shape)
  node <- new_node("layer", layer = layer, inputs = inputs, states = states)
  shapes <- node_output_shapes(layer, in_shape, out)
  dtype <- layer_output_dtype(self)
  outs <- lapply(seq_along(shapes), function(i) new_tensor(node, i, shapes[[i]], dtype))
  if (length(outs) == 1L) outs[[1L]] else outs
}

layer_output_dtype <- function(self) {
  if (identical(self$config$dtype, "float64")) "float64" else "float32"
}

# The shapes of a layer's outputs (main outputs, then its states with
# return_state) for an input shape whose main output shape is `out`.
node_output_shapes <- function(layer, in_shape, out) {
  self <- layer_self(layer)
  n_out <- methods_of(self)$n_outputs(self)
  units <- if (isTRUE(self$config$return_state)) layer_state_units(self) else integer()
  batch <- if (is.list(in_shape)) in_shape[[1L]][1L] else in_shape[1L]
  c(rep(list(out), n_out - length(units)), lapply(units, function(u) c(batch, u)))
}

# The output shapes of every node of a functional model (from its declared
# input shapes): shapes[[k + 1]] are node k's, shapes[[1]] the inputs'.
graph_shapes <- function(self) {
  graph <- self$graph
  shapes <- vector("list", length(graph$nodes) + 1L)
  shapes[[1L]] <- lapply(self$input_specs, `[[`, "shape")
  get <- function(r) shapes[[r[1L] + 1L]][[r[2L]]]
  for (k in seq_along(graph$nodes)) {
    node <- graph$nodes[[k]]
    m <- methods_of(layer_self(node$layer))
    in_shape <- if (m$n_inputs == "one") get(node$inputs[[1L]]) else lapply(node$inputs, get)
    out <- layer_output_shape(node$layer, in_shape)
    if (is.character(out)) out <- rep(NA_integer_, length(get(node$inputs[[1L]])))
    shapes[[k + 1L]] <- node_output_shapes(node$layer, in_shape, out)
  }
  shapes
}

#' A functional model
#'
#' keras3's `keras_model()`: the model that computes `outputs` from
#' `inputs`, symbolic tensors made with [keras_input()] and layers applied
#' to them. Models may have several inputs and outputs (lists, named or
#' not), share a layer between branches (its weights are shared), and
#' feed a recurrent layer's states into another as `initial_state`. Masks
#' flow along the edges as in a sequential model.
#'
#' The model is called like a layer (`model(x)`, a list of arrays for
#' several inputs), predicts with [predict()][predict.gru_model], trains
#' with [compile()][compile.gru_model] and [fit()][fit.gru_model] (a loss
#' per output, and lists of arrays for `x` and `y`), and round-trips
#' through [get_config()] / [from_config()] with Keras' functional config
#' (`layers` with `inbound_nodes`, `input_layers`, `output_layers`).
#'
#' @param inputs A symbolic input, or a list of them.
#' @param outputs A symbolic tensor computed from `inputs`, or a list of
#'   them; a named list names the outputs (in logs and predictions).
#' @param name `NULL` or the model's name.
#' @param trainable Whether the model's weights are trainable.
#' @param ... Unused; must be empty.
#' @returns A functional model (class `gru_model`).
#' @family models
#' @export
#' @examples
#' a <- keras_input(shape = c(6, 2), name = "a")
#' b <- keras_input(shape = c(6, 2), name = "b")
#' shared <- layer_gru(units = 4)           # one layer, used on both inputs
#' model <- keras_model(list(a, b), list(layer_dense(shared(a), 1),
#'                                       layer_dense(shared(b), 1)))
#' model
#' x <- array(runif(3 * 6 * 2), c(3, 6, 2))
#' predict(model, list(x, x))
keras_model <- function(inputs, outputs, name = NULL, trainable = TRUE, ...) {
  call <- rlang::current_env()
  check_layer_dots(list(...), character(), "keras_model", call = call)
  if (missing(inputs) || missing(outputs)) {
    abort_gru(
      c("{.fn keras_model} needs {.arg inputs} and {.arg outputs}.",
        "i" = "For example {.code input <- keras_input(c(10, 3)); keras_model(input, input |> layer_gru(4))}."),
      class = "gru_error_input", call = call
    )
  }
  name <- name %||% unique_layer_name("functional")
  check_string(name, call = call)
  check_bool(trainable, call = call)
  input_list <- if (is_tensor(inputs)) list(inputs) else inputs
  output_list <- if (is_tensor(outputs)) list(outputs) else outputs
  for (what in c("inputs", "outputs")) {
    v <- if (what == "inputs") input_list else output_list
    if (!is_symbolic(v)) {
      abort_gru(
        c("{.arg {what}} must be a symbolic tensor or a list of them, not {.obj_type_friendly {v}}.",
          "i" = "Make inputs with {.fn keras_input} and outputs by applying layers to them."),
        class = "gru_error_input", call = call
      )
    }
  }
  for (i in seq_along(input_list)) {
    if (input_list[[i]]$node$kind != "input") {
      abort_gru(
        c("{.arg inputs}[[{i}]] is the output of layer {.val {input_list[[i]]$node$layer$name}}, not a model input.",
          "i" = "Inputs must come from {.fn keras_input}."),
        class = "gru_error_input", call = call
      )
    }
  }
  graph <- trace_graph(input_list, output_list, call = call)
  self <- new.env(parent = emptyenv())
  self$type <- "functional"
  self$config <- list(name = name, trainable = trainable)
  self$graph <- graph
  self$layers <- graph_layers(graph)
  self$input_specs <- lapply(input_list, function(t) {
    list(name = t$node$name, shape = t$shape, dtype = t$node$dtype)
  })
  self$input_names_given <- names(inputs)
  self$output_shapes <- lapply(output_list, `[[`, "shape")
  self$output_names <- if (!is.null(names(output_list)) && all(nzchar(names(output_list)))) {
    names(output_list)
  } else {
    vapply(output_list, function(t) t$node$layer$name, character(1))
  }
  self$named_outputs <- !is.null(names(output_list))
  self$format_version <- gru_format_version
  new_model_object(self, "gru_model_functional")
}

# The closure of a model: `model(x, training, mask)` runs it on one batch.
new_model_object <- function(self, class) {
  fn_env <- new.env(parent = topenv())
  fn_env$self <- self
  fn <- function(inputs, training = NULL, mask = NULL) {
    if (is_symbolic(inputs)) {
      abort_gru(
        c("A model cannot yet be applied to symbolic tensors in gru.",
          "i" = "Apply its layers instead, or build one model from the same inputs."),
        class = "gru_error_unsupported", call = environment()
      )
    }
    model_forward(self, inputs, training = training, mask = mask,
                  call = environment())$output
  }
  environment(fn) <- fn_env
  structure(fn, class = c(class, "gru_model"))
}

# The graph from `inputs` to `outputs`: every node they need, each after
# the nodes it reads (a depth-first walk back from the outputs).
trace_graph <- function(inputs, outputs, call) {
  input_ids <- vapply(inputs, function(t) t$node$id, integer(1))
  if (anyDuplicated(input_ids)) {
    abort_gru(c("{.arg inputs} holds the same input twice."),
              class = "gru_error_input", call = call)
  }
  order <- list()
  seen <- integer()
  visit <- function(node, path) {
    if (node$kind == "input") {
      if (!node$id %in% input_ids) {
        abort_gru(
          c("The outputs depend on input {.val {node$name}}, which is not among {.arg inputs}.",
            "i" = "Pass every input the outputs are computed from to {.fn keras_model}."),
          class = "gru_error_input", call = call
        )
      }
      return()
    }
    if (node$id %in% seen) return()
    for (t in c(node$inputs, node$states)) visit(t$node)
    seen <<- c(seen, node$id)
    order[[length(order) + 1L]] <<- node
  }
  for (t in outputs) visit(t$node)
  ids <- vapply(order, function(n) n$id, integer(1))
  ref <- function(t) {
    if (t$node$kind == "input") c(0L, match(t$node$id, input_ids)) else
      c(match(t$node$id, ids), t$index)
  }
  nodes <- lapply(order, function(n) {
    list(layer = n$layer, inputs = lapply(n$inputs, ref), states = lapply(n$states, ref))
  })
  list(n_inputs = length(inputs), nodes = nodes, outputs = lapply(outputs, ref))
}

is_functional <- function(self) !is.null(self$graph)

# Configs ------------------------------------------------------------------

# Keras 3's functional config: every layer once, with the calls of it as
# `inbound_nodes` (args: the input tensors, kwargs: initial_state), each
# tensor a "__keras_tensor__" with its keras_history [layer, node index,
# tensor index]; the model's inputs and outputs as keras histories.
functional_config <- function(self) {
  graph <- self$graph
  shapes <- graph_shapes(self)
  node_index <- integer(length(graph$nodes))
  selves <- lapply(self$layers, layer_self)
  layer_of <- vapply(graph$nodes, function(n) {
    which(vapply(selves, identical, logical(1), layer_self(n$layer)))[1L]
  }, integer(1))
  for (k in seq_along(graph$nodes)) node_index[k] <- sum(layer_of[seq_len(k - 1L)] == layer_of[k])
  history <- function(r) {
    if (r[1L] == 0L) return(list(self$input_specs[[r[2L]]]$name, 0L, 0L))
    list(graph$nodes[[r[1L]]]$layer$name, node_index[r[1L]], r[2L] - 1L)
  }
  keras_tensor <- function(r) {
    list(class_name = "__keras_tensor__",
         config = list(shape = shapes[[r[1L] + 1L]][[r[2L]]],
                       dtype = if (r[1L] == 0L) self$input_specs[[r[2L]]]$dtype else
                         layer_output_dtype(layer_self(graph$nodes[[r[1L]]]$layer)),
                       keras_history = history(r)))
  }
  inputs <- lapply(self$input_specs, function(s) {
    list(module = "keras.layers", class_name = "InputLayer",
         config = list(batch_shape = s$shape, dtype = s$dtype, sparse = FALSE,
                       name = s$name),
         registered_name = NULL, name = s$name, inbound_nodes = list())
  })
  layers <- lapply(seq_along(self$layers), function(i) {
    l <- self$layers[[i]]
    nc <- nested_config(l)
    nodes <- lapply(which(layer_of == i), function(k) {
      node <- graph$nodes[[k]]
      m <- methods_of(layer_self(node$layer))
      args <- if (m$n_inputs == "one") keras_tensor(node$inputs[[1L]]) else
        lapply(node$inputs, keras_tensor)
      kwargs <- if (length(node$states)) {
        list(initial_state = lapply(node$states, keras_tensor))
      } else {
        structure(list(), names = character())
      }
      list(args = list(args), kwargs = kwargs)
    })
    list(module = "keras.layers", class_name = nc$class_name, config = nc$config,
         registered_name = NULL, name = l$name, inbound_nodes = nodes)
  })
  out_refs <- lapply(graph$outputs, history)
  if (isTRUE(self$named_outputs)) names(out_refs) <- self$output_names
  structure(list(name = self$config$name, trainable = self$config$trainable,
                 layers = c(inputs, layers),
                 input_layers = lapply(seq_along(self$input_specs), function(i) history(c(0L, i))),
                 output_layers = out_refs),
            class_name = "Functional")
}

# A keras history [layer, node index, tensor index] from a Keras 3 keras
# tensor, a Keras 2 inbound entry [layer, node, tensor, kwargs], or a plain
# [layer, node, tensor].
parse_history <- function(x, call) {
  if (is.list(x) && identical(x$class_name, "__keras_tensor__")) x <- x$config$keras_history
  ok <- is.list(x) && length(x) >= 3L && is.character(x[[1L]]) &&
    is.numeric(x[[2L]]) && is.numeric(x[[3L]])
  if (!ok) {
    abort_gru(
      c("{.arg config} holds an inbound tensor gru cannot read: {.val {format(x)}}.",
        "i" = "Keras writes them as [layer name, node index, tensor index]."),
      class = "gru_error_config", call = call
    )
  }
  list(name = x[[1L]], node = as.integer(x[[2L]]), tensor = as.integer(x[[3L]]) + 1L,
       kwargs = if (length(x) >= 4L && is.list(x[[4L]])) x[[4L]])
}

# One inbound node of a layer config: list(inputs = histories, states =
# histories). Keras 3 writes list(args, kwargs); Keras 1 and 2 a list of
# inbound entries, where a recurrent layer's entries after the first are its
# initial states (RNN.__call__ appends them to the inputs).
parse_inbound_node <- function(entry, recurrent, call) {
  is_k3 <- is.list(entry) && !is.null(names(entry)) && "args" %in% names(entry)
  if (is_k3) {
    a <- entry$args[[1L]]
    inputs <- if (is.list(a) && identical(a$class_name, "__keras_tensor__")) list(a) else a
    st <- entry$kwargs$initial_state
    if (is.list(st) && identical(st$class_name, "__keras_tensor__")) st <- list(st)
    return(list(inputs = lapply(inputs, parse_history, call = call),
                states = lapply(st, parse_history, call = call)))
  }
  items <- lapply(entry, parse_history, call = call)
  states <- list()
  st <- items[[1L]]$kwargs$initial_state
  if (!is.null(st)) {
    if (is.character(st[[1L]])) st <- list(st)
    states <- lapply(st, parse_history, call = call)
  } else if (recurrent && length(items) > 1L) {
    states <- items[-1L]
    items <- items[1L]
  }
  list(inputs = items, states = states)
}

# [name, node, tensor] or a list of them (Keras 3 writes a single one flat).
parse_history_list <- function(x, call) {
  if (length(x) >= 3L && is.character(x[[1L]])) x <- list(x)
  lapply(x, parse_history, call = call)
}

functional_from_config <- function(config, call) {
  unknown <- setdiff(names(config), c("name", "trainable", "layers", "input_layers",
                                      "output_layers", "dtype"))
  if (length(unknown)) {
    abort_gru(
      c("{.arg config} for a functional model has {length(unknown)} unknown key{?s}: {.field {unknown}}."),
      class = "gru_error_config", call = call
    )
  }
  tensors <- new.env(parent = emptyenv())
  key <- function(name, node) paste0(name, "\r", node)
  todo <- list()
  for (i in seq_along(config$layers)) {
    lc <- config$layers[[i]]
    if (!is.list(lc) || !is.character(lc$class_name)) {
      abort_gru(c("{.arg config}$layers[[{i}]] is not a layer config."),
                class = "gru_error_config", call = call)
    }
    name <- lc$name %||% lc$config$name
    if (identical(lc$class_name, "InputLayer")) {
      ic <- lc$config
      shape <- shape_vector(ic$batch_shape %||% ic$batch_input_shape)
      dtype <- ic$dtype
      if (is.list(dtype)) dtype <- dtype$config$name
      if (!is.character(dtype) || !dtype %in% c("float32", "float64", "int32", "int64")) dtype <- "float32"
      assign(key(name, 0L), list(keras_input(batch_shape = shape, name = name, dtype = dtype)),
             envir = tensors)
      next
    }
    layer <- from_config(list(class_name = lc$class_name, config = lc$config))
    todo[[length(todo) + 1L]] <- list(name = name, layer = layer,
                                      nodes = lc$inbound_nodes %||% list(), done = 0L)
  }
  resolve <- function(h) {
    outs <- get0(key(h$name, h$node), envir = tensors, inherits = FALSE)
    if (is.null(outs) || h$tensor > length(outs)) return(NULL)
    outs[[h$tensor]]
  }
  repeat {
    progress <- FALSE
    pending <- FALSE
    for (j in seq_along(todo)) {
      item <- todo[[j]]
      while (item$done < length(item$nodes)) {
        recurrent <- methods_of(layer_self(item$layer))$recurrent
        node <- parse_inbound_node(item$nodes[[item$done + 1L]], recurrent, call)
        ins <- lapply(node$inputs, resolve)
        sts <- lapply(node$states, resolve)
        if (any(vapply(c(ins, sts), is.null, logical(1)))) break
        x <- if (length(ins) == 1L) ins[[1L]] else ins
        out <- symbolic_call(item$layer, x, initial_state = if (length(sts)) sts, call = call)
        assign(key(item$name, item$done), if (is_tensor(out)) list(out) else out,
               envir = tensors)
        item$done <- item$done + 1L
        progress <- TRUE
      }
      todo[[j]] <- item
      if (item$done < length(item$nodes)) pending <- TRUE
    }
    if (!pending) break
    if (!progress) {
      stuck <- vapply(Filter(function(t) t$done < length(t$nodes), todo), `[[`, character(1), "name")
      abort_gru(
        c("{.arg config} has layers whose inputs are never computed: {.val {stuck}}.",
          "i" = "Every inbound node must name a layer (and node) of the same config."),
        class = "gru_error_config", call = call
      )
    }
  }
  pick <- function(hs, what) {
    lapply(hs, function(h) {
      t <- resolve(h)
      if (is.null(t)) {
        abort_gru(c("{.arg config}${what} names {.val {h$name}}, which the config does not compute."),
                  class = "gru_error_config", call = call)
      }
      t
    })
  }
  inputs <- pick(parse_history_list(config$input_layers, call), "input_layers")
  out_h <- config$output_layers
  outputs <- pick(parse_history_list(out_h, call), "output_layers")
  if (!is.null(names(out_h)) && all(nzchar(names(out_h)))) names(outputs) <- names(out_h)
  keras_model(inputs, if (length(outputs) == 1L && is.null(names(outputs))) outputs[[1L]] else outputs,
              name = config$name, trainable = config$trainable %||% TRUE)
}

register_layer_type(new_layer_type(
  type = "functional", class_name = "Functional", kind = "model",
  from_config = functional_from_config
))

# Keras 2 writes functional models as class "Model".
register_layer_type(new_layer_type(
  type = "functional_keras2", class_name = "Model", kind = "model",
  from_config = functional_from_config
))

# Summary ------------------------------------------------------------------

# Keras' functional summary: the inputs, then each layer once with the
# shape of its (first) output and the tensors it reads ("Connected to").
functional_summary <- function(self) {
  graph <- self$graph
  shapes <- graph_shapes(self)
  selves <- lapply(self$layers, layer_self)
  layer_of <- vapply(graph$nodes, function(n) {
    which(vapply(selves, identical, logical(1), layer_self(n$layer)))[1L]
  }, integer(1))
  node_index <- vapply(seq_along(layer_of), function(k) sum(layer_of[seq_len(k - 1L)] == layer_of[k]), integer(1))
  label <- function(r) {
    if (r[1L] == 0L) return(paste0(self$input_specs[[r[2L]]]$name, "[0][0]"))
    sprintf("%s[%d][%d]", graph$nodes[[r[1L]]]$layer$name, node_index[r[1L]], r[2L] - 1L)
  }
  rows <- lapply(self$input_specs, function(s) {
    data.frame(layer = s$name, type = "InputLayer", output_shape = format_shape(s$shape),
               params = 0L, trainable = TRUE, trainable_params = 0L, connected = "-",
               stringsAsFactors = FALSE)
  })
  for (i in seq_along(self$layers)) {
    ks <- which(layer_of == i)
    s <- selves[[i]]
    refs <- unlist(lapply(ks, function(k) lapply(c(graph$nodes[[k]]$inputs, graph$nodes[[k]]$states), label)))
    rows[[length(rows) + 1L]] <- data.frame(
      layer = self$layers[[i]]$name, type = methods_of(s)$class_name,
      output_shape = format_shape(shapes[[ks[1L] + 1L]][[1L]]),
      params = if (layer_is_built(s)) layer_count_params(s, NULL) else NA_integer_,
      trainable = isTRUE(s$config$trainable),
      trainable_params = if (layer_is_built(s)) layer_count_trainable_params(s) else NA_integer_,
      connected = paste(refs, collapse = ", "), stringsAsFactors = FALSE
    )
  }
  do.call(rbind, rows)
}
