# Backpropagation through a model.
#
# Every trainable layer type has two more methods in `layer_methods`:
#
#   train_forward(self, inputs, mask, training, initial_state, call)
#       the forward pass of a training step: list(output, states, mask,
#       cache), where `cache` is what backward needs (for the GRU an
#       external pointer to the C++ engine's workspace, which lives only for
#       the step and is never stored in the layer)
#   backward(self, cache, grad_output, need_inputs, call)
#       list(inputs = dL/d(inputs) or NULL, weights = the gradients of the
#       layer's weights in get_weights() order)
#
# GRU layers, GRU cells (inside layer_rnn()) and bidirectional wrappers
# differentiate on the C++ engine (src/rcpp_train.cpp); dense, dropout
# (R/layer-dropout.R), embedding and masking layers are matrix operations in
# R. A stateful layer starts from its
# carried state, which is a constant of the step (gradients do not flow
# across batches), and carries the new state forward.

layer_train_forward <- function(layer, inputs, mask = NULL, training = TRUE,
                                initial_state = NULL, call = rlang::caller_env()) {
  self <- layer_self(layer)
  check_format_version(self, call = call)
  f <- methods_of(self)$train_forward
  if (is.null(f)) {
    abort_gru(
      c("Layer {.val {self$config$name}} ({methods_of(self)$class_name}) cannot be trained."),
      class = "gru_error_fit", call = call
    )
  }
  f(self, inputs, mask = mask, training = training, initial_state = initial_state,
    call = call)
}

layer_backward <- function(layer, cache, grad_output, need_inputs = TRUE,
                           call = rlang::caller_env()) {
  self <- layer_self(layer)
  methods_of(self)$backward(self, cache, grad_output, need_inputs = need_inputs,
                            call = call)
}

# GRU ---------------------------------------------------------------------

# The engine's training forward pass for a GRU layer or cell (`cfg` as in
# gru_forward()): list(output, states, mask, cache).
gru_train_pass <- function(self, inputs, mask = NULL, training = NULL,
                           initial_state = NULL, call = rlang::caller_env(),
                           cfg = self$config) {
  prep <- gru_prepare_call(self, inputs, mask = mask, training = training,
                           initial_state = initial_state, call = call, cfg = cfg)
  if (is.na(prep$act$code) || is.na(prep$ract$code)) {
    abort_gru(
      c("Layer {.val {cfg$name}} has an R function as an activation, so it cannot be trained.",
        "i" = "Use one of {.fn gru_activations} for {.arg activation} and {.arg recurrent_activation}."),
      class = "gru_error_fit", call = call
    )
  }
  args <- c(prep$engine, list(float64 = identical(cfg$dtype, "float64")))
  res <- with_backend_errors(do.call(cpp_gru_train_forward, args),
                             what = "GRU training forward pass", call = call)
  list(output = res$output, states = list(res$state),
       mask = if (isTRUE(cfg$return_sequences)) mask,
       cache = list(ptr = res$cache, reset_after = isTRUE(cfg$reset_after),
                    bias = !is.null(self$weights$bias)))
}

gru_train_backward <- function(self, cache, grad_output, grad_state = NULL,
                               need_inputs = TRUE, call = rlang::caller_env()) {
  res <- with_backend_errors(
    cpp_gru_train_backward(cache$ptr, as_double_array(grad_output),
                           if (!is.null(grad_state)) as_double_array(grad_state),
                           need_inputs),
    what = "GRU backward pass", call = call
  )
  weights <- list(kernel = res$kernel, recurrent_kernel = res$recurrent_kernel)
  if (cache$bias) {
    weights$bias <- if (cache$reset_after) {
      rbind(res$input_bias, res$recurrent_bias, deparse.level = 0)
    } else {
      res$input_bias
    }
  }
  list(inputs = res$inputs, initial_state = res$initial_state, weights = weights)
}

gru_layer_train_forward <- function(self, inputs, mask = NULL, training = NULL,
                                            initial_state = NULL,
                                            call = rlang::caller_env()) {
  res <- gru_train_pass(self, inputs, mask = mask, training = training,
                        initial_state = initial_state, call = call)
  if (isTRUE(self$config$stateful)) self$state <- res$states[[1L]]
  res
}

gru_layer_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                                       call = rlang::caller_env()) {
  gru_train_backward(self, cache, grad_output, need_inputs = need_inputs, call = call)
}

# Dense -------------------------------------------------------------------

dense_train_forward <- function(self, inputs, mask = NULL,
                                              training = NULL, initial_state = NULL,
                                              call = rlang::caller_env()) {
  cfg <- self$config
  if (is.function(cfg$activation)) {
    abort_gru(
      c("Layer {.val {cfg$name}} has an R function as an activation, so it cannot be trained.",
        "i" = "Use a named activation."),
      class = "gru_error_fit", call = call
    )
  }
  d <- dim(inputs) %||% c(1L, length(inputs))
  n <- length(d)
  if (!self$built) dense_build(self, d[n])
  x <- matrix(as.numeric(inputs), ncol = d[n])
  z <- x %*% self$weights$kernel
  if (!is.null(self$weights$bias)) z <- z + rep(self$weights$bias, each = nrow(z))
  y <- apply_dense_activation(cfg$activation, z)
  list(output = array(y, c(d[-n], cfg$units)), states = list(),
       mask = if (n == 3L) mask, cache = list(x = x, z = z, y = y, dim = d))
}

dense_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                                         call = rlang::caller_env()) {
  act <- self$config$activation
  g <- matrix(as.numeric(grad_output), ncol = self$config$units)
  dz <- if (identical(act, "softmax")) {
    cache$y * (g - rowSums(g * cache$y))
  } else if (identical(act, "linear")) {
    g
  } else {
    code <- resolve_activation(act)$code
    g * cpp_activation_derivative(as.numeric(cache$z), code)
  }
  weights <- list(kernel = crossprod(cache$x, dz))
  if (!is.null(self$weights$bias)) weights$bias <- colSums(dz)
  d <- cache$dim
  list(inputs = if (need_inputs) array(tcrossprod(dz, self$weights$kernel), d),
       weights = weights)
}

# Embedding ---------------------------------------------------------------

embedding_train_forward <- function(self, inputs, mask = NULL,
                                                  training = NULL,
                                                  initial_state = NULL,
                                                  call = rlang::caller_env()) {
  res <- embedding_forward(self, inputs, mask = mask, call = call)
  res$cache <- list(index = as.vector(inputs) + 1L)
  res
}

# Rows of the embedding matrix get the sum of the output gradients at the
# positions that looked them up; indices are not differentiable.
embedding_backward <- function(self, cache, grad_output,
                                             need_inputs = TRUE,
                                             call = rlang::caller_env()) {
  cfg <- self$config
  g <- matrix(as.numeric(grad_output), ncol = cfg$output_dim)
  sums <- rowsum(g, cache$index, reorder = TRUE)
  de <- matrix(0, cfg$input_dim, cfg$output_dim)
  de[as.integer(rownames(sums)), ] <- sums
  list(inputs = NULL, weights = list(embeddings = de))
}

# Masking -----------------------------------------------------------------

masking_train_forward <- function(self, inputs, mask = NULL,
                                                training = NULL, initial_state = NULL,
                                                call = rlang::caller_env()) {
  res <- masking_forward(self, inputs, mask = mask, call = call)
  res$cache <- list(keep = as.vector(res$mask), dim = dim(inputs))
  res
}

masking_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                                           call = rlang::caller_env()) {
  list(inputs = if (need_inputs) {
    array(as.numeric(grad_output) * cache$keep, cache$dim)
  }, weights = list())
}

# Models ------------------------------------------------------------------

# The model's weights as a flat list in get_weights() order, each with what
# training needs: the leaf layer's `self` and weight name (where to assign),
# a key for the optimizer's slots, its regularizer and constraint, and
# whether it is trainable (the layer, every layer holding it and the model
# are trainable).
model_weight_info <- function(self) {
  leaf <- function(layer, trainable) {
    s <- layer_self(layer)
    trainable <- trainable && !isFALSE(s$config$trainable)
    subs <- layer_sublayers(s)
    if (length(subs)) {
      return(do.call(c, c(list(list()), lapply(subs, leaf, trainable = trainable))))
    }
    if (!isTRUE(s$built) || length(s$weights) == 0L) return(list())
    regs <- methods_of(s)$regularized(s)
    cons <- layer_constraints(s)
    lapply(names(s$weights), function(nm) {
      list(self = s, name = nm, key = paste0(s$config$name, "/", nm),
           regularizer = if (nm %in% names(regs)) s$config[[regs[[nm]]]],
           constraint = cons[[nm]], trainable = trainable)
    })
  }
  model_trainable <- !isFALSE(self$config$trainable)
  do.call(c, c(list(list()), lapply(self$layers, leaf, trainable = model_trainable)))
}

# The regularization penalty and its gradient for each weight (NULL where
# the weight has no regularizer).
regularization_terms <- function(info) {
  total <- 0
  grads <- vector("list", length(info))
  for (i in seq_along(info)) {
    reg <- info[[i]]$regularizer
    if (is.null(reg)) next
    w <- info[[i]]$self$weights[[info[[i]]$name]]
    total <- total + regularization_penalty(reg, w)
    l1 <- reg$config$l1 %||% 0
    l2 <- reg$config$l2 %||% 0
    grads[[i]] <- l1 * sign(w) + 2 * l2 * w
  }
  list(penalty = total, grads = grads)
}

# One training pass over a batch: forward (training mode, caching), the loss
# (data loss plus regularization penalties), and, when `backward`, the
# gradient of the loss for every weight in get_weights() order. Returns
# list(loss, output, mask, y, grads, info). `y` are targets already shaped
# by as_target_array(); `loss` a loss object.
model_train_pass <- function(self, x, y, loss, training = TRUE, backward = TRUE,
                             call = rlang::caller_env()) {
  layers <- self$layers
  n <- length(layers)
  if (n == 0L) {
    abort_gru(
      c("Model {.val {self$config$name}} has no layers.",
        "i" = "Add some: {.code model |> layer_gru(8)}."),
      class = "gru_error_input", call = call
    )
  }
  caches <- vector("list", n)
  h <- x
  mask <- NULL
  for (i in seq_len(n)) {
    in_shape <- dim(h) %||% c(1L, length(h))
    out_shape <- layer_output_shape(layers[[i]], in_shape)
    if (is.character(out_shape)) abort_chain(self, layers[[i]], i, in_shape, out_shape, call = call)
    res <- layer_train_forward(layers[[i]], h, mask = mask, training = training, call = call)
    caches[[i]] <- res$cache
    h <- res$output
    mask <- res$mask
  }
  if (is.null(self$input_shape)) {
    shape <- dim(x) %||% c(1L, length(x))
    r <- length(shape)
    self$input_shape <- if (r >= 3L) c(rep(NA_integer_, r - 1L), as.integer(shape[r])) else
      rep(NA_integer_, r)
  }
  h <- array(as.numeric(h), dim(h) %||% c(1L, length(h)))
  targets <- loss_targets(loss, y, h, call = call)
  out_mask <- if (length(dim(h)) == 3L) mask
  lv <- loss_compute(loss, targets, h, out_mask)
  info <- model_weight_info(self)
  reg <- regularization_terms(info)
  out <- list(loss = lv$value + reg$penalty, data_loss = lv$value, output = h,
              mask = out_mask, targets = targets, info = info, grads = NULL)
  if (!backward) return(out)
  g <- lv$grad
  grads <- vector("list", n)
  for (i in rev(seq_len(n))) {
    b <- layer_backward(layers[[i]], caches[[i]], g, need_inputs = i > 1L, call = call)
    grads[[i]] <- b$weights
    g <- b$inputs
  }
  grads <- unname(do.call(c, c(list(list()), grads)))
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

# Applies one optimizer update to the trainable weights, then their
# constraints. Every new weight (and the optimizer's new state) is computed
# first and assigned afterwards with interrupts suspended, so an interrupt
# leaves the model with the weights of a finished batch.
model_apply_gradients <- function(self, info, grads) {
  idx <- which(vapply(info, function(i) i$trainable, logical(1)))
  if (!length(idx)) return(invisible(self))
  weights <- lapply(info[idx], function(i) i$self$weights[[i$name]])
  keys <- vapply(info[idx], function(i) i$key, character(1))
  res <- optimizer_update(self$compiled$optimizer, keys, weights, grads[idx])
  new <- Map(function(w, old, i) {
    w <- array(w, dim(old) %||% length(old))
    if (!is.null(i$constraint)) {
      w <- array(apply_constraint(i$constraint, w), dim(old) %||% length(old))
    }
    if (is.null(dim(old))) as.numeric(w) else w
  }, res$weights, weights, info[idx])
  suspendInterrupts({
    for (k in seq_along(idx)) {
      i <- info[[idx[k]]]
      i$self$weights[[i$name]] <- new[[k]]
    }
    self$compiled$optimizer <- res$optimizer
  })
  invisible(self)
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
