#' @include layer-type.R
NULL

# The graph executor: the one forward pass, training forward pass and
# backward pass of every model. A graph is a plain list
#
#   n_inputs  how many input arrays it takes
#   nodes     the layer calls in an order where every node comes after the
#             nodes it reads: list(layer, inputs = refs, states = refs)
#   outputs   refs of the model's outputs
#
# A ref c(node, index) names output `index` of node `node`; node 0 is the
# model's inputs (index = which input). A node's outputs are the layer's
# output(s) followed, with return_state, by its states; `states` refs feed
# the layer's initial_state. A sequential model is a chain (chain_graph()):
# node i reads output 1 of node i - 1. A functional model (keras_model())
# stores its graph, a DAG; a layer used by two nodes shares its weights.
#
# Graphs hold layer objects (closures over their `self`), so saveRDS() keeps
# them and the weights they share.

chain_graph <- function(layers) {
  nodes <- lapply(seq_along(layers), function(i) {
    list(layer = layers[[i]], inputs = list(c(i - 1L, 1L)), states = list())
  })
  list(n_inputs = 1L, nodes = nodes, outputs = list(c(length(layers), 1L)))
}

# "the model input" or `layer "name"`: what feeds a node, for messages.
ref_label <- function(graph, ref) {
  if (ref[1L] == 0L) {
    if (graph$n_inputs == 1L) "the model input" else paste0("model input ", ref[2L])
  } else {
    paste0("layer \"", graph$nodes[[ref[1L]]]$layer$name, "\"")
  }
}

abort_node <- function(model_name, graph, k, shape, problem, call) {
  node <- graph$nodes[[k]]
  prev <- paste(vapply(node$inputs, ref_label, character(1), graph = graph),
                collapse = " and ")
  shape_txt <- format_shapes(shape)
  abort_gru(
    c("Layer {.val {node$layer$name}} (layer {k} of model {.val {model_name}}) cannot take the output of {prev}, of shape {shape_txt}: {problem}.",
      "i" = "Shapes are (batch, ...) with NA for unknown sizes; a recurrent layer feeding another needs {.code return_sequences = TRUE}."),
    class = "gru_error_shape", call = call
  )
}

# One shape, or several (the inputs of a merge layer) joined by "and".
format_shapes <- function(shape) {
  if (!is.list(shape)) return(format_shape(shape))
  paste(vapply(shape, format_shape, character(1)), collapse = " and ")
}

array_shape <- function(x) dim(x) %||% c(1L, length(x))

# Runs the graph on `inputs` (a list of arrays, one per model input, and
# their masks). With `train = TRUE` each layer runs its training pass and
# the result keeps its caches for graph_backward(), and the layers' state
# `updates` (list(self, values) each, in node order, as the layers return
# them; a training step assigns them). Returns list(values, masks, caches,
# updates, outputs, output_masks), values[[k + 1]] being node k's outputs
# (values[[1]] the inputs).
graph_forward <- function(graph, inputs, masks = NULL, training = NULL,
                          train = FALSE, model_name = "model",
                          call = rlang::caller_env()) {
  nodes <- graph$nodes
  n <- length(nodes)
  values <- out_masks <- vector("list", n + 1L)
  values[[1L]] <- inputs
  out_masks[[1L]] <- masks %||% vector("list", length(inputs))
  caches <- vector("list", n)
  updates <- list()
  run <- if (train) layer_train_forward else layer_forward
  for (k in seq_len(n)) {
    node <- nodes[[k]]
    layer <- node$layer
    m <- methods_of(layer_self(layer))
    refs <- node$inputs
    if (m$n_inputs == "one") {
      r <- refs[[1L]]
      x <- values[[r[1L] + 1L]][[r[2L]]]
      mask <- out_masks[[r[1L] + 1L]][[r[2L]]]
      in_shape <- array_shape(x)
    } else {
      x <- lapply(refs, function(r) values[[r[1L] + 1L]][[r[2L]]])
      mask <- lapply(refs, function(r) out_masks[[r[1L] + 1L]][[r[2L]]])
      in_shape <- lapply(x, array_shape)
    }
    out_shape <- layer_output_shape(layer, in_shape)
    if (is.character(out_shape)) {
      abort_node(model_name, graph, k, in_shape, out_shape, call = call)
    }
    init <- if (length(node$states)) {
      lapply(node$states, function(r) values[[r[1L] + 1L]][[r[2L]]])
    }
    res <- run(layer, x, mask = mask, training = training, initial_state = init,
               call = call)
    outs <- if (isTRUE(res$multi_output)) res$output else list(res$output)
    main_masks <- rep(list(res$mask), length(outs))
    if (isTRUE(layer_self(layer)$config$return_state)) {
      outs <- c(outs, res$states)
    }
    values[[k + 1L]] <- outs
    out_masks[[k + 1L]] <- c(main_masks, vector("list", length(outs) - length(main_masks)))
    if (train) {
      caches[k] <- list(res$cache)
      updates <- c(updates, res$updates)
    }
  }
  get <- function(r, from) from[[r[1L] + 1L]][[r[2L]]]
  list(values = values, masks = out_masks, caches = caches, updates = updates,
       outputs = lapply(graph$outputs, get, from = values),
       output_masks = lapply(graph$outputs, get, from = out_masks))
}

# Backpropagates the gradients of the graph's outputs (a list, NULL for an
# output the loss does not read) through the run of graph_forward(train =
# TRUE). Returns the weight gradients per node (in its layer's
# get_weights() order; NULL for a node no gradient reached) and, when
# `need_inputs`, the gradients of the model's inputs.
graph_backward <- function(graph, run, grad_outputs, need_inputs = FALSE,
                           call = rlang::caller_env()) {
  nodes <- graph$nodes
  n <- length(nodes)
  grads <- lapply(run$values, function(v) vector("list", length(v)))
  add <- function(r, g) {
    if (is.null(g) || (r[1L] == 0L && !need_inputs)) return()
    slot <- grads[[r[1L] + 1L]][[r[2L]]]
    grads[[r[1L] + 1L]][r[2L]] <<- list(if (is.null(slot)) g else slot + g)
  }
  for (i in seq_along(graph$outputs)) add(graph$outputs[[i]], grad_outputs[[i]])
  weight_grads <- vector("list", n)
  for (k in rev(seq_len(n))) {
    g <- grads[[k + 1L]]
    if (all(vapply(g, is.null, logical(1)))) next
    node <- nodes[[k]]
    self <- layer_self(node$layer)
    outs <- run$values[[k + 1L]]
    n_states <- if (isTRUE(self$config$return_state)) length(outs) - 1L else 0L
    zero_like <- function(v) array(0, array_shape(v))
    g_main <- g[[1L]] %||% zero_like(outs[[1L]])
    g_states <- NULL
    if (n_states > 0L) {
      g_states <- g[1L + seq_len(n_states)]
      if (all(vapply(g_states, is.null, logical(1)))) {
        g_states <- NULL
      } else {
        g_states <- Map(function(gs, v) gs %||% zero_like(v), g_states,
                        outs[1L + seq_len(n_states)])
      }
    }
    need <- need_inputs ||
      any(vapply(c(node$inputs, node$states), function(r) r[1L] > 0L, logical(1)))
    b <- layer_backward(node$layer, run$caches[[k]], g_main, need_inputs = need,
                        call = call, grad_states = g_states)
    weight_grads[k] <- list(b$weights)
    if (methods_of(self)$n_inputs == "one") {
      add(node$inputs[[1L]], b$inputs)
    } else {
      for (j in seq_along(node$inputs)) add(node$inputs[[j]], b$inputs[[j]])
    }
    if (length(node$states) && !is.null(b$initial_state)) {
      st <- b$initial_state
      if (!is.list(st)) st <- list(st)
      for (j in seq_along(node$states)) add(node$states[[j]], st[[j]])
    }
  }
  list(weights = weight_grads, inputs = grads[[1L]])
}

# The distinct layers of a graph, in node order (a layer used twice counts
# once): what get_weights() walks.
graph_layers <- function(graph) {
  out <- list()
  selves <- list()
  for (node in graph$nodes) {
    s <- layer_self(node$layer)
    if (!any(vapply(selves, identical, logical(1), s))) {
      out[[length(out) + 1L]] <- node$layer
      selves[[length(selves) + 1L]] <- s
    }
  }
  out
}

# The weight gradients of graph_backward() summed per distinct layer, in
# the order of `layers`, as one flat list in get_weights() order (zeros for
# a layer no gradient reached).
graph_layer_gradients <- function(graph, layers, weight_grads) {
  selves <- lapply(layers, layer_self)
  per <- vector("list", length(layers))
  for (k in seq_along(graph$nodes)) {
    g <- weight_grads[[k]]
    if (is.null(g)) next
    s <- layer_self(graph$nodes[[k]]$layer)
    i <- which(vapply(selves, identical, logical(1), s))[1L]
    per[[i]] <- if (is.null(per[[i]])) g else Map(`+`, per[[i]], g)
  }
  for (i in seq_along(layers)) {
    if (is.null(per[[i]])) {
      per[[i]] <- lapply(layer_get_weights(selves[[i]]), function(w) w * 0)
    }
  }
  unname(do.call(c, c(list(list()), per)))
}

# Models ------------------------------------------------------------------

# A model's graph: a functional model's own, or the chain of a sequential
# model's layers.
model_graph <- function(self) self$graph %||% chain_graph(self$layers)

check_model_has_layers <- function(self, call) {
  if (length(self$layers) == 0L) {
    abort_gru(
      c("Model {.val {self$config$name}} has no layers.",
        "i" = "Add some: {.code model |> layer_gru(8)}."),
      class = "gru_error_input", call = call
    )
  }
}

# The declared inputs: list(name, shape) each (shape NULL when unknown).
model_input_specs <- function(self) {
  self$input_specs %||% list(list(name = NULL, shape = self$input_shape))
}

# The names of the model's outputs (the layers that produce them).
model_output_names <- function(self) {
  if (!is.null(self$output_names)) return(self$output_names)
  n <- length(self$layers)
  if (n) self$layers[[n]]$name else "output"
}

is_data_list <- function(x) is.list(x) && !is.data.frame(x)

# `x` as a list of arrays, one per model input (a single array for a model
# with one input; a named list is matched to the inputs' names), each
# checked against the declared shape.
model_input_list <- function(self, x, arg = "x", call = rlang::caller_env()) {
  specs <- model_input_specs(self)
  n <- length(specs)
  if (!is_data_list(x)) x <- list(x)
  if (length(x) != n) {
    abort_gru(
      c("{.arg {arg}} holds {length(x)} input array{?s}, but model {.val {self$config$name}} takes {n}.",
        "i" = "Pass a list of {n} arrays, in the order of the model's inputs{if (n > 1) ' (or named by them)'}."),
      class = "gru_error_input", call = call
    )
  }
  spec_names <- vapply(specs, function(s) s$name %||% "", character(1))
  if (n > 1L && !is.null(names(x)) && setequal(names(x), spec_names)) {
    x <- x[spec_names]
  }
  for (i in seq_len(n)) {
    xi <- x[[i]]
    label <- if (n == 1L) arg else paste0(arg, "[[", i, "]]")
    if (!(is.numeric(xi) || is.logical(xi))) {
      abort_gru(
        c("{.arg {label}} must be a numeric array, not {.obj_type_friendly {xi}}."),
        class = "gru_error_input", call = call
      )
    }
    declared <- specs[[i]]$shape
    if (!is.null(declared)) {
      shape <- array_shape(xi)
      fits <- length(declared) == length(shape) &&
        all(is.na(declared[-1L]) | declared[-1L] == shape[-1L])
      if (!fits) {
        abort_gru(
          c("{.arg {label}} has shape {format_shape(shape)}, but model {.val {self$config$name}} takes input of shape {format_shape(declared)}.",
            "i" = "The first axis is the batch; NA means any size."),
          class = "gru_error_shape", call = call
        )
      }
    }
  }
  unname(x)
}

# The first successful call of a sequential model fixes its input shape,
# as building does in Keras (the batch size stays free). Only the feature
# axis is fixed: sequences may have any length.
fix_input_shape <- function(self, x) {
  if (!is.null(self$input_shape) || !is.null(self$input_specs)) return()
  shape <- array_shape(x)
  r <- length(shape)
  self$input_shape <- if (r >= 3L) c(rep(NA_integer_, r - 1L), as.integer(shape[r])) else
    rep(NA_integer_, r)
}

# The forward pass: every node's (first) output and mask, in order, and the
# model's output (a list when it has several). Shapes are checked against
# each layer before it runs, so a model whose layers do not fit fails
# naming the layer and the shapes.
model_forward <- function(self, inputs, training = NULL, mask = NULL,
                          call = rlang::caller_env()) {
  check_self(self, call = call)
  check_model_has_layers(self, call)
  xs <- model_input_list(self, inputs, call = call)
  run <- graph_forward(model_graph(self), xs,
                       masks = if (!is.null(mask)) list(mask),
                       training = training, model_name = self$config$name,
                       call = call)
  fix_input_shape(self, xs[[1L]])
  first <- function(v) v[[1L]]
  list(outputs = lapply(run$values[-1L], first),
       masks = lapply(run$masks[-1L], first),
       output = model_output_value(self, run$outputs),
       output_list = run$outputs, output_masks = run$output_masks)
}

# One output as it is; several as a list named by the output layers.
model_output_value <- function(self, outputs) {
  if (length(outputs) == 1L) return(outputs[[1L]])
  names(outputs) <- if (isTRUE(self$named_outputs)) model_output_names(self)
  outputs
}

# The targets as a list, one per output (a named list is matched to the
# output names).
model_target_list <- function(self, y, n_out) {
  if (n_out == 1L) return(list(y))
  nms <- model_output_names(self)
  if (!is.null(names(y)) && setequal(names(y), nms)) y <- y[nms]
  unname(y)
}

# The loss of each output and its gradient: list(value (the weighted total),
# values, grads, targets, outputs (as double arrays), masks).
outputs_loss <- function(compiled, outputs, output_masks, ys, call) {
  n_out <- length(outputs)
  values <- numeric(n_out)
  grads <- targets <- outs <- masks <- vector("list", n_out)
  for (j in seq_len(n_out)) {
    h <- outputs[[j]]
    h <- array(as.numeric(h), array_shape(h))
    loss <- compiled$losses[[j]]
    tj <- loss_targets(loss, ys[[j]], h, call = call)
    mj <- if (length(dim(h)) == 3L) output_masks[[j]]
    lv <- loss_compute(loss, tj, h, mj)
    w <- compiled$loss_weights[[j]]
    values[j] <- lv$value
    grads[j] <- list(if (w == 1) lv$grad else w * lv$grad)
    targets[j] <- list(tj)
    outs[[j]] <- h
    masks[j] <- list(mj)
  }
  list(value = sum(values * unlist(compiled$loss_weights)), values = values,
       grads = grads, targets = targets, outputs = outs, masks = masks)
}

# The logged values of a batch: loss, then (with several outputs) each
# output's loss, then the metrics, named as Keras names them.
output_logs <- function(self, compiled, total, ol) {
  n_out <- length(ol$outputs)
  nms <- model_output_names(self)
  out <- c(loss = total)
  if (n_out > 1L) out <- c(out, stats::setNames(ol$values, paste0(nms, "_loss")))
  for (j in seq_len(n_out)) {
    m <- batch_metrics(compiled$output_metrics[[j]], compiled$losses[[j]],
                       ol$targets[[j]], ol$outputs[[j]], ol$masks[[j]])
    if (n_out > 1L && length(m)) names(m) <- paste0(nms[j], "_", names(m))
    out <- c(out, m)
  }
  out
}

# The names output_logs() gives, in order.
model_log_names <- function(self, compiled) {
  n_out <- length(compiled$losses)
  nms <- model_output_names(self)
  out <- "loss"
  if (n_out > 1L) out <- c(out, paste0(nms, "_loss"))
  for (j in seq_len(n_out)) {
    m <- names(compiled$output_metrics[[j]])
    if (n_out > 1L && length(m)) m <- paste0(nms[j], "_", m)
    out <- c(out, m)
  }
  out
}

# One training pass over a batch: forward (training mode, caching), the loss
# (data loss plus regularization penalties), and, when `backward`, the
# gradient of the loss for every weight in get_weights() order. Returns
# list(loss, data_loss, logs, output, mask, targets, grads, info, updates),
# `updates` being the layers' state updates, for the training step to
# assign. `y` are targets already shaped by as_target_array() (a list, one
# per output, for several outputs); `compiled` holds the losses and their
# weights.
model_train_pass <- function(self, x, y, compiled, training = TRUE, backward = TRUE,
                             call = rlang::caller_env()) {
  check_self(self, call = call)
  check_model_has_layers(self, call)
  graph <- model_graph(self)
  xs <- model_input_list(self, x, call = call)
  run <- graph_forward(graph, xs, training = training, train = TRUE,
                       model_name = self$config$name, call = call)
  fix_input_shape(self, xs[[1L]])
  ys <- model_target_list(self, y, length(run$outputs))
  ol <- outputs_loss(compiled, run$outputs, run$output_masks, ys, call = call)
  info <- model_weight_info(self)
  reg <- regularization_terms(info)
  total <- ol$value + reg$penalty
  out <- list(loss = total, data_loss = ol$value,
              logs = output_logs(self, compiled, total, ol),
              output = ol$outputs[[1L]], mask = ol$masks[[1L]],
              targets = ol$targets[[1L]], info = info, grads = NULL,
              updates = run$updates)
  if (!backward) return(out)
  b <- graph_backward(graph, run, ol$grads, call = call)
  grads <- graph_layer_gradients(graph, self$layers, b$weights)
  if (length(grads) != length(info)) {
    abort_gru("Internal error: {length(grads)} gradients for {length(info)} weights.",
              class = "gru_error_backend", call = call)
  }
  for (i in seq_along(grads)) {
    w <- info[[i]]$self$weights[[info[[i]]$name]]
    gi <- grads[[i]]
    if (!is.null(reg$grads[[i]])) gi <- gi + reg$grads[[i]]
    grads[[i]] <- array(as.numeric(gi), dim(w) %||% length(w))
  }
  names(grads) <- vapply(info, function(i) i$name, character(1))
  out$grads <- grads
  out
}
