# Backpropagation through a model.
#
# Every trainable layer type has the slots train_forward and backward (see
# R/layer-type.R): GRU layers, GRU cells (inside layer_rnn()) and
# bidirectional wrappers differentiate on the C++ engine
# (src/rcpp_train.cpp); dense, dropout, embedding and masking layers are
# matrix operations in R, each in its type's file.

layer_train_forward <- function(layer, inputs, mask = NULL, training = TRUE,
                                initial_state = NULL, call = rlang::caller_env()) {
  self <- layer_self(layer)
  check_self(self, call = call)
  check_training(training, call = call)
  methods_of(self)$train_forward(self, inputs, mask = mask, training = training, initial_state = initial_state,
    call = call)
}

layer_backward <- function(layer, cache, grad_output, need_inputs = TRUE,
                           call = rlang::caller_env(), grad_states = NULL) {
  self <- layer_self(layer)
  m <- methods_of(self)
  if (length(grad_states) && !m$state_gradients) {
    abort_gru(
      c("Layer {.val {self$config$name}} ({m$class_name}) cannot be trained through its state outputs.",
        "i" = "Compute the loss from its main output only."),
      class = "gru_error_fit", call = call
    )
  }
  if (m$state_gradients) {
    return(m$backward(self, cache, grad_output, need_inputs = need_inputs,
                      call = call, grad_states = grad_states))
  }
  m$backward(self, cache, grad_output, need_inputs = need_inputs, call = call)
}

# Models ------------------------------------------------------------------

# The model's weights as a flat list in get_weights() order, each with what
# training needs: the leaf layer's `self` and weight name (where to assign),
# a key for the optimizer's slots, its regularizer and constraint, and
# whether it is trainable (the layer, every layer holding it and the model
# are trainable, and the weight is not one of its type's
# non_trainable_weights).
model_weight_info <- function(self) {
  leaf <- function(layer, trainable) {
    s <- layer_self(layer)
    trainable <- trainable && !isFALSE(s$config$trainable)
    subs <- layer_sublayers(s)
    if (length(subs)) {
      return(do.call(c, c(list(list()), lapply(subs, leaf, trainable = trainable))))
    }
    if (!isTRUE(s$built) || length(s$weights) == 0L) return(list())
    m <- methods_of(s)
    regs <- m$regularized(s)
    cons <- layer_constraints(s)
    state <- m$non_trainable_weights(s)
    con_keys <- m$constrained(s)
    lapply(names(s$weights), function(nm) {
      list(self = s, name = nm, key = paste0(s$config$name, "/", nm),
           regularizer = if (nm %in% names(regs)) s$config[[regs[[nm]]]],
           regularizer_key = if (nm %in% names(regs)) regs[[nm]],
           constraint = cons[[nm]],
           constraint_key = if (nm %in% names(con_keys)) con_keys[[nm]],
           trainable = trainable && !nm %in% state)
    })
  }
  model_trainable <- !isFALSE(self$config$trainable)
  do.call(c, c(list(list()), lapply(self$layers, leaf, trainable = model_trainable)))
}

# The regularization penalty and its gradient for each weight (NULL where
# the weight has no regularizer). A regularizer given as an R function has
# no gradient gru can compute.
regularization_terms <- function(info, call = NULL) {
  total <- 0
  grads <- vector("list", length(info))
  for (i in seq_along(info)) {
    reg <- info[[i]]$regularizer
    if (is.null(reg)) next
    layer <- info[[i]]$self$config$name
    if (is.function(reg)) {
      abort_gru(
        c("Layer {.val {layer}} has an R function as {.arg {info[[i]]$regularizer_key}}, so it cannot be trained: gru has no gradient for it.",
          "i" = "Use {.fn regularizer_l1}, {.fn regularizer_l2} or {.fn regularizer_l1_l2}; an R function works for {.code layer$losses} only."),
        class = "gru_error_fit", call = call
      )
    }
    w <- info[[i]]$self$weights[[info[[i]]$name]]
    total <- total + regularization_penalty(reg, w, arg = info[[i]]$regularizer_key,
                                            layer = layer, call = call)
    l1 <- reg$config$l1 %||% 0
    l2 <- reg$config$l2 %||% 0
    grads[[i]] <- l1 * sign(w) + 2 * l2 * w
  }
  list(penalty = total, grads = grads)
}

# Applies one optimizer update to the trainable weights, then their
# constraints, and assigns the state `updates` of the training pass (see
# graph_forward()). Every new weight (and the optimizer's new state) is
# computed first and assigned afterwards with interrupts suspended, so an
# interrupt leaves the model with the weights of a finished batch.
model_apply_gradients <- function(self, info, grads, updates = list()) {
  idx <- which(vapply(info, function(i) i$trainable, logical(1)))
  new <- list()
  res <- NULL
  if (length(idx)) {
    weights <- lapply(info[idx], function(i) i$self$weights[[i$name]])
    keys <- vapply(info[idx], function(i) i$key, character(1))
    res <- optimizer_update(self$compiled$optimizer, keys, weights, grads[idx])
    new <- Map(function(w, old, i) {
      w <- array(w, dim(old) %||% length(old))
      if (!is.null(i$constraint)) {
        w <- array(constrain_weight(i$constraint, w, arg = i$constraint_key,
                                    layer = i$self$config$name),
                   dim(old) %||% length(old))
        if (!all(is.finite(w))) {
          abort_gru(
            c("The constraint of weight {.field {i$key}} made it non-finite (NA, NaN or Inf); training stopped before this batch changed any weight.",
              "i" = "Check the constraint (a function given as a constraint must return finite values)."),
            class = c("gru_error_nonfinite", "gru_error_fit"), call = NULL
          )
        }
      }
      if (is.null(dim(old))) as.numeric(w) else w
    }, res$weights, weights, info[idx])
  }
  suspendInterrupts({
    for (k in seq_along(idx)) {
      i <- info[[idx[k]]]
      i$self$weights[[i$name]] <- new[[k]]
    }
    if (!is.null(res)) self$compiled$optimizer <- res$optimizer
    assign_state_updates(updates)
  })
  invisible(self)
}

# Assigns the state updates of a training pass (see R/layer-type.R).
assign_state_updates <- function(updates) {
  for (u in updates) {
    for (nm in names(u$values)) u$self$weights[[nm]] <- u$values[[nm]]
  }
}

# The carried states of the model's stateful layers, and their restoration
# (gradients() leaves states as it found them).
snapshot_states <- function(self) {
  walk <- function(layer) {
    s <- layer_self(layer)
    list(self = s, state = s$state, batch_size = s$batch_size,
         subs = lapply(layer_sublayers(s), walk))
  }
  lapply(self$layers, walk)
}

restore_states <- function(snap) {
  for (x in snap) {
    x$self$state <- x$state
    x$self$batch_size <- x$batch_size
    restore_states(x$subs)
  }
}

# Whether the model has a stateful layer, and that layer's fixed batch size
# (NULL when not yet known).
model_stateful <- function(self) {
  found <- FALSE
  size <- NULL
  walk <- function(layer) {
    s <- layer_self(layer)
    if (isTRUE(s$config$stateful)) {
      found <<- TRUE
      size <<- size %||% s$batch_size %||% s$config$batch_input_shape[1L]
    }
    for (l in layer_sublayers(s)) walk(l)
  }
  for (l in self$layers) walk(l)
  if (!is.null(size) && is.na(size)) size <- NULL
  if (is.null(size) && found && !is.null(self$input_shape) && !is.na(self$input_shape[1L])) {
    size <- self$input_shape[1L]
  }
  list(stateful = found, batch_size = size)
}
