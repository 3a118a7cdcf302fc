#' @include layer-type.R
NULL

# Merge layers: Keras' Concatenate, Add, Subtract, Multiply, Average,
# Maximum and Minimum. Each takes a list of inputs (n_inputs = "many"), so
# forward() receives a list of arrays and a list of masks, output_shape() a
# list of shapes, and backward() returns a list of input gradients. They
# have no weights; the computation is vectorised R in float64.
#
# Masks follow Keras 3 (>= 3.4, keras-team/keras#19685): an elementwise
# merge returns a mask only when every input has one, their OR; Maximum,
# Minimum and Multiply also use the masks in their values. Concatenate
# concatenates the inputs' masks broadcast over their features (an
# unmasked input counting as all TRUE) along its axis and keeps a position
# where any feature is kept.

#' Concatenate a list of inputs
#'
#' keras3's `layer_concatenate()`: joins its inputs along `axis`. They must
#' have the same shape except along that axis (an unknown size, `NA`, fits
#' any). Called on arrays it returns their concatenation; on symbolic
#' tensors (made with [keras_input()] and layers applied to them) a symbolic
#' tensor, the way two branches of a functional model are joined; with no
#' inputs, the layer.
#'
#' Masks: when any input has one, the output's mask is the inputs' masks
#' (an unmasked input counting as all `TRUE`) concatenated along `axis` and
#' reduced over the feature axis, as Keras 3 computes it: concatenating
#' `(batch, timesteps, features)` arrays along the time axis (`axis = 2`)
#' concatenates their masks; along the features (`axis = -1`) a step is kept
#' where any input keeps it.
#'
#' @section Call arguments:
#' `layer(inputs, mask = NULL, training = NULL)`:
#' * `inputs`: a list of arrays.
#' * `mask`: `NULL`, or a list with one entry per input: `NULL` or a logical
#'   `(batch, timesteps)` matrix (inputs with masks are
#'   `(batch, timesteps, features)` arrays).
#' * `training`: ignored.
#'
#' @param inputs A list of input arrays or symbolic tensors (a single one
#'   counts as a list of one); missing or `NULL` returns the layer.
#' @param ... Unnamed arguments are further inputs, as in keras3
#'   (`layer_concatenate(a, b)`); named ones are `name`, `trainable` and
#'   `dtype`.
#' @param axis The axis to concatenate along, counted as R counts (1 is the
#'   batch axis) or from the end with negative numbers: `-1`, the default,
#'   is the last (feature) axis, `2` the time axis of
#'   `(batch, timesteps, features)` arrays. Configs hold Keras' 0-based
#'   count, as keras3 converts it.
#' @returns The concatenation (an array, or a symbolic tensor for symbolic
#'   inputs); the layer (class `gru_layer`) when `inputs` is missing or
#'   `NULL`.
#' @family merging layers
#' @family layers
#' @export
#' @examples
#' a <- array(1:12, c(2, 3, 2))
#' b <- array(13:24, c(2, 3, 2))
#' dim(layer_concatenate(list(a, b)))           # 2 3 4
#' dim(layer_concatenate(a, b, axis = 2))       # 2 6 2
#'
#' # two GRU branches of a functional model
#' x1 <- keras_input(shape = c(5, 3))
#' x2 <- keras_input(shape = c(7, 2))
#' merged <- layer_concatenate(list(layer_gru(x1, 4), layer_gru(x2, 6)))
#' model <- keras_model(list(x1, x2), layer_dense(merged, 1))
#' summary(model)
layer_concatenate <- function(inputs, ..., axis = -1) {
  call <- rlang::current_env()
  axis <- check_axis(axis, call = call)
  merge_layer("concatenate", if (!missing(inputs)) inputs, list(...),
              "layer_concatenate", list(axis = axis), call = call)
}

#' Elementwise merge layers
#'
#' keras3's `layer_add()`, `layer_subtract()`, `layer_multiply()`,
#' `layer_average()`, `layer_maximum()` and `layer_minimum()`: the sum, the
#' difference (exactly two inputs: `inputs[[1]] - inputs[[2]]`), the
#' product, the mean, the maximum and the minimum of their inputs, element
#' by element. Called on arrays they return the result; on symbolic tensors
#' (made with [keras_input()] and layers applied to them) a symbolic
#' tensor; with no inputs, the layer.
#'
#' The inputs must have the same batch size; their other axes must match or
#' be 1 (broadcast, as in Keras), and an input with fewer axes gains axes of
#' size 1 after the batch axis: `(batch, features)` merges with
#' `(batch, timesteps, features)` at every timestep. Gradients of a
#' broadcast input are summed over the broadcast axes; at ties,
#' `layer_maximum()` and `layer_minimum()` pass the gradient to the earlier
#' input, as TensorFlow does.
#'
#' Masks, as Keras 3 computes them: the output has a mask only when every
#' input has one, their OR. `layer_maximum()` and `layer_minimum()` take
#' the other inputs' values where an input is masked out, and
#' `layer_multiply()` counts a masked-out value as 1 (and, when every input
#' has a mask, outputs 0 where all are masked out); the others ignore masks
#' in their values.
#'
#' @inheritSection layer_concatenate Call arguments
#' @param inputs A list of input arrays or symbolic tensors (a single one
#'   counts as a list of one); missing or `NULL` returns the layer.
#' @param ... Unnamed arguments are further inputs, as in keras3
#'   (`layer_add(a, b)`); named ones are `name`, `trainable` and `dtype`.
#' @returns The merged inputs (an array, or a symbolic tensor for symbolic
#'   inputs); the layer (class `gru_layer`) when `inputs` is missing or
#'   `NULL`.
#' @family merging layers
#' @family layers
#' @export
#' @examples
#' a <- array(runif(2 * 3 * 4), c(2, 3, 4))
#' b <- array(runif(2 * 3 * 4), c(2, 3, 4))
#' all.equal(layer_add(a, b), a + b)
#' all.equal(layer_subtract(list(a, b)), a - b)
#' all.equal(layer_maximum(a, b), pmax(a, b))
#' # a (batch, features) input broadcasts over the timesteps
#' dim(layer_multiply(a, matrix(2, 2, 4)))
#'
#' input <- keras_input(shape = c(6, 3))
#' forward <- layer_gru(input, 4, return_sequences = TRUE)
#' backward <- layer_gru(input, 4, return_sequences = TRUE, go_backwards = TRUE)
#' model <- keras_model(input, layer_average(forward, backward))
layer_add <- function(inputs, ...) {
  merge_layer("add", if (!missing(inputs)) inputs, list(...), "layer_add",
              call = rlang::current_env())
}

#' @rdname layer_add
#' @export
layer_subtract <- function(inputs, ...) {
  merge_layer("subtract", if (!missing(inputs)) inputs, list(...),
              "layer_subtract", call = rlang::current_env())
}

#' @rdname layer_add
#' @export
layer_multiply <- function(inputs, ...) {
  merge_layer("multiply", if (!missing(inputs)) inputs, list(...),
              "layer_multiply", call = rlang::current_env())
}

#' @rdname layer_add
#' @export
layer_average <- function(inputs, ...) {
  merge_layer("average", if (!missing(inputs)) inputs, list(...),
              "layer_average", call = rlang::current_env())
}

#' @rdname layer_add
#' @export
layer_maximum <- function(inputs, ...) {
  merge_layer("maximum", if (!missing(inputs)) inputs, list(...),
              "layer_maximum", call = rlang::current_env())
}

#' @rdname layer_add
#' @export
layer_minimum <- function(inputs, ...) {
  merge_layer("minimum", if (!missing(inputs)) inputs, list(...),
              "layer_minimum", call = rlang::current_env())
}

merge_dots <- c("name", "trainable", "dtype")

# The layer of `type`, applied to `inputs` and the unnamed `dots` when
# there are any (keras3's rule: a single input is a list of one, and
# unnamed arguments are more inputs).
merge_layer <- function(type, inputs, dots, fn, config = list(), call) {
  nms <- names(dots) %||% rep("", length(dots))
  more <- unname(dots[!nzchar(nms)])
  dots <- check_layer_dots(dots[nzchar(nms)], merge_dots, fn, call = call)
  config <- c(standard_config(type, dots, call), config)
  layer <- new_weightless_layer(type, config, dots, call)
  # A sequential model: its compose_layer() method says why a merge cannot
  # be added.
  if (inherits(inputs, "gru_model")) return(compose_layer(inputs, layer, call = call))
  if (!is.null(inputs) && (is_tensor(inputs) || !is_data_list(inputs))) {
    inputs <- list(inputs)
  }
  inputs <- c(inputs, more)
  if (!length(inputs)) return(layer)
  compose_layer(inputs, layer, call = call)
}

# The positive index of R axis `axis` in an array of rank `rank`, or NA when
# it is out of range.
resolve_axis <- function(axis, rank) {
  k <- ifelse(axis < 0L, rank + 1L + axis, axis)
  ifelse(k >= 1L & k <= rank, as.integer(k), NA_integer_)
}

# Shapes ------------------------------------------------------------------

# Why a list of input shapes cannot be merged, or NULL.
merge_shapes_problem <- function(self, shapes) {
  if (!is.list(shapes)) {
    return("it merges a list of inputs, so it needs several tensors, not one")
  }
  n <- length(shapes)
  if (n == 0L) return("it needs at least one input")
  if (self$type == "subtract" && n != 2L) {
    return(sprintf("a Subtract layer takes exactly 2 inputs, not %d", n))
  }
  if (any(lengths(shapes) < 2L)) return("every input needs a batch and a feature axis")
  batches <- unique(stats::na.omit(vapply(shapes, function(s) as.numeric(s[1L]), numeric(1))))
  if (length(batches) > 1L) {
    return("they have different batch sizes")
  }
  NULL
}

# The output shape of an elementwise merge: the batch axis, then the other
# axes broadcast (aligned from the end; 1 broadcasts, NA is unknown), or a
# string saying why the shapes do not fit (Keras' Merge.compute_output_shape).
elementwise_output_shape <- function(self, shapes) {
  problem <- merge_shapes_problem(self, shapes)
  if (!is.null(problem)) return(problem)
  batch <- stats::na.omit(vapply(shapes, function(s) as.integer(s[1L]), integer(1)))
  out <- shapes[[1L]][-1L]
  for (s in shapes[-1L]) {
    s <- s[-1L]
    if (length(s) > length(out)) {
      tmp <- out
      out <- s
      s <- tmp
    }
    lead <- out[seq_len(length(out) - length(s))]
    tail <- out[length(lead) + seq_along(s)]
    merged <- ifelse(is.na(tail) | is.na(s), NA_integer_,
                     ifelse(tail == 1L, s, ifelse(s == 1L, tail, tail)))
    if (any(!is.na(tail) & !is.na(s) & tail != 1L & s != 1L & tail != s)) {
      return("their axes after the batch axis must match or be 1 (which broadcasts)")
    }
    out <- as.integer(c(lead, merged))
  }
  c(if (length(batch)) batch[1L] else NA_integer_, out)
}

# Concatenate's output shape (the first input's, with the sizes along the
# axis summed), or why the shapes do not fit.
concatenate_output_shape <- function(self, shapes) {
  problem <- merge_shapes_problem(self, shapes)
  if (!is.null(problem)) return(problem)
  ranks <- unique(lengths(shapes))
  if (length(ranks) > 1L) {
    return("they have different numbers of axes")
  }
  axis <- self$config$axis
  k <- resolve_axis(axis, ranks)
  if (is.na(k)) {
    return(sprintf("its axis %d is out of range for inputs with %d axes", axis, ranks))
  }
  others <- do.call(rbind, lapply(shapes, function(s) s[-k]))
  clash <- apply(others, 2L, function(v) length(unique(stats::na.omit(v))) > 1L)
  if (any(clash)) {
    return(sprintf("they differ on an axis other than the concatenation axis (%d)", axis))
  }
  out <- shapes[[1L]]
  sizes <- vapply(shapes, function(s) as.integer(s[k]), integer(1))
  out[k] <- if (anyNA(sizes)) NA_integer_ else sum(sizes)
  as.integer(out)
}

# Inputs and masks --------------------------------------------------------

# The inputs of a call as double arrays (a vector is one row), checked.
check_merge_inputs <- function(self, inputs, call) {
  if (!is_data_list(inputs) || is_tensor(inputs)) {
    abort_gru(
      c("{.arg inputs} of merge layer {.val {self$config$name}} must be a list of arrays, not {.obj_type_friendly {inputs}}.",
        "i" = "For example {.code layer(list(a, b))}."),
      class = "gru_error_input", call = call
    )
  }
  lapply(seq_along(inputs), function(i) {
    x <- inputs[[i]]
    if (!(is.numeric(x) || is.logical(x)) || is.object(x) && !is.array(x)) {
      abort_gru(
        c("{.arg inputs[[{i}]]} must be a numeric array, not {.obj_type_friendly {x}}.",
          "i" = "Give all inputs as arrays, or all as symbolic tensors."),
        class = "gru_error_input", call = call
      )
    }
    check_finite(x, arg = paste0("inputs[[", i, "]]"), call = call)
    array(as.numeric(x), array_shape(x))
  })
}

# The masks of a call: NULL, or a list of one NULL or (batch, timesteps)
# logical matrix per input (inputs with masks have a time axis).
check_merge_masks <- function(mask, xs, call) {
  n <- length(xs)
  if (is.null(mask)) return(vector("list", n))
  if (!is.list(mask) || length(mask) != n) {
    abort_gru(
      c("{.arg mask} of a merge layer must be {.code NULL} or a list of {n} masks, one per input (each {.code NULL} or a (batch, timesteps) matrix).",
        "i" = "For example {.code mask = list(m1, NULL)}."),
      class = c("gru_error_mask", "gru_error_input"), call = call
    )
  }
  lapply(seq_len(n), function(i) {
    m <- mask[[i]]
    if (is.null(m)) return(NULL)
    d <- dim(xs[[i]])
    if (length(d) != 3L) {
      abort_gru(
        c("{.arg mask[[{i}]]} is given, but {.arg inputs[[{i}]]} has shape {format_shape(d)}, without a time axis.",
          "i" = "Masks belong to (batch, timesteps, features) inputs; use {.code NULL} for the others."),
        class = c("gru_error_mask", "gru_error_shape"), call = call
      )
    }
    check_mask(m, d[1L], d[2L], call = call)
  })
}

# A (batch, timesteps) mask as a logical array of its input's shape `d`.
full_mask <- function(m, d) {
  if (is.null(m)) return(NULL)
  array(rep_len(as.vector(m), prod(d)), d)
}

# A full mask reduced over the last axis: the (batch, timesteps) mask.
last_axis_any <- function(m, d) {
  n <- length(d)
  matrix(rowSums(matrix(m, ncol = d[n])) > 0, d[1L], d[2L])
}

# Shape of `x` with axes of size 1 after the batch axis up to rank `rank`
# (Keras expands lower-rank inputs at axis 1).
expand_shape <- function(d, rank) {
  as.integer(c(d[1L], rep(1L, rank - length(d)), d[-1L]))
}

broadcast_to <- function(x, from, to) {
  if (identical(as.integer(from), as.integer(to))) return(as.vector(x))
  as.vector(x)[broadcast_index(from, to)]
}

# The gradient of a broadcast input: `g` (of shape `to`) summed over the
# broadcast axes, in the input's own shape `d`.
unbroadcast <- function(g, from, to, d) {
  if (!identical(as.integer(from), as.integer(to))) {
    g <- as.numeric(rowsum(as.numeric(g), broadcast_index(from, to)))
  }
  array(g, d)
}

# Forward and backward ----------------------------------------------------

merge_forward <- function(self, inputs, mask = NULL, training = NULL,
                          initial_state = NULL, call = rlang::caller_env()) {
  res <- merge_train_forward(self, inputs, mask = mask, call = call)
  res$cache <- NULL
  res
}

merge_train_forward <- function(self, inputs, mask = NULL, training = NULL,
                                initial_state = NULL, call = rlang::caller_env()) {
  xs <- check_merge_inputs(self, inputs, call)
  masks <- check_merge_masks(mask, xs, call)
  dims <- lapply(xs, dim)
  out <- methods_of(self)$output_shape(self, dims)
  if (is.character(out)) {
    abort_gru(
      c("Layer {.val {self$config$name}} cannot merge inputs of shape {format_shapes(dims)}: {out}.",
        "i" = "Check the shapes of the layers that feed it."),
      class = "gru_error_shape", call = call
    )
  }
  if (self$type == "concatenate") return(concatenate_forward(self, xs, masks, dims, out))
  elementwise_forward(self, xs, masks, dims, out)
}

# Add, Subtract, Average, Multiply, Maximum, Minimum on the inputs
# broadcast to the output shape. The cache holds what backward needs: the
# shapes, and Multiply's factors or Maximum's and Minimum's source index
# (which input each output element is).
elementwise_forward <- function(self, xs, masks, dims, out) {
  rank <- length(out)
  from <- lapply(dims, expand_shape, rank = rank)
  xb <- Map(broadcast_to, xs, from, list(out))
  fm <- Map(function(m, d, f) {
    if (!is.null(m)) broadcast_to(full_mask(m, d), f, out)
  }, masks, dims, from)
  all_masked <- all(!vapply(fm, is.null, logical(1)))
  om <- if (all_masked) Reduce(`|`, fm)
  cache <- list(dims = dims, from = from, out = out)
  y <- switch(
    self$type,
    add = Reduce(`+`, xb),
    subtract = xb[[1L]] - xb[[2L]],
    average = Reduce(`+`, xb) / length(xb),
    multiply = {
      factors <- Map(function(x, m) if (is.null(m)) x else ifelse(m, x, 1), xb, fm)
      y <- Reduce(`*`, factors)
      if (all_masked) y[!om] <- 0
      cache$factors <- factors
      cache$fm <- fm
      cache$om <- om
      y
    },
    maximum = ,
    minimum = {
      pick <- pick_extreme(xb, fm, self$type == "maximum")
      cache$src <- pick$src
      pick$y
    }
  )
  list(output = array(y, out), states = list(),
       mask = if (all_masked && rank == 3L) last_axis_any(om, out),
       cache = cache)
}

# Keras' Maximum / Minimum (Merge._apply_merge_op_and_or_mask): folds the
# inputs pairwise; where the next input is masked out it takes the result
# so far, where the result so far is masked out it takes the next input,
# and ties keep the result so far (TensorFlow gives it the gradient).
# Returns the values and, per element, which input they are.
pick_extreme <- function(xb, fm, maximum) {
  y <- xb[[1L]]
  src <- rep(1L, length(y))
  om <- fm[[1L]]
  for (i in seq_along(xb)[-1L]) {
    x <- xb[[i]]
    xsrc <- rep(i, length(x))
    m <- fm[[i]]
    if (!is.null(m)) {
      x[!m] <- y[!m]
      xsrc[!m] <- src[!m]
    }
    if (!is.null(om)) {
      y[!om] <- x[!om]
      src[!om] <- xsrc[!om]
    }
    om <- if (!is.null(m) && !is.null(om)) om | m
    take <- if (maximum) x > y else x < y
    y[take] <- x[take]
    src[take] <- xsrc[take]
  }
  list(y = y, src = src)
}

elementwise_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                                 call = rlang::caller_env()) {
  if (!need_inputs) return(list(inputs = NULL, weights = list()))
  g <- as.numeric(grad_output)
  n <- length(cache$dims)
  full <- switch(
    self$type,
    add = rep(list(g), n),
    subtract = list(g, -g),
    average = rep(list(g / n), n),
    multiply = {
      if (!is.null(cache$om)) g[!cache$om] <- 0
      f <- cache$factors
      # Products of the factors before and after each input (no division,
      # so zeros are fine).
      before <- Reduce(`*`, f, accumulate = TRUE)
      after <- Reduce(`*`, f, accumulate = TRUE, right = TRUE)
      lapply(seq_len(n), function(i) {
        gi <- g
        if (i > 1L) gi <- gi * before[[i - 1L]]
        if (i < n) gi <- gi * after[[i + 1L]]
        m <- cache$fm[[i]]
        if (!is.null(m)) gi[!m] <- 0
        gi
      })
    },
    maximum = ,
    minimum = lapply(seq_len(n), function(i) g * (cache$src == i))
  )
  list(inputs = Map(unbroadcast, full, cache$from, list(cache$out), cache$dims),
       weights = list())
}

# The inputs joined along the axis: each becomes a matrix with the axis as
# its columns (moved last by aperm() unless it is last), the matrices are
# bound and the result is moved back.
concatenate_forward <- function(self, xs, masks, dims, out) {
  rank <- length(out)
  k <- resolve_axis(self$config$axis, rank)
  y <- bind_axis(xs, k)
  out_mask <- NULL
  if (!all(vapply(masks, is.null, logical(1)))) {
    fm <- Map(function(m, d) if (is.null(m)) array(TRUE, d) else full_mask(m, d), masks, dims)
    fm <- bind_axis(fm, k)
    out_mask <- if (rank == 3L) last_axis_any(fm, dim(fm))
  }
  list(output = y, states = list(), mask = out_mask,
       cache = list(dims = dims, axis = k, out = out))
}

bind_axis <- function(xs, k) {
  d <- dim(xs[[1L]])
  rank <- length(d)
  perm <- c(setdiff(seq_len(rank), k), k)
  last <- k == rank
  parts <- lapply(xs, function(x) {
    matrix(if (last) x else aperm(x, perm), ncol = dim(x)[k])
  })
  y <- array(do.call(cbind, parts), c(d[-k], sum(vapply(xs, function(x) dim(x)[k], integer(1)))))
  if (last) y else aperm(y, order(perm))
}

concatenate_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                                 call = rlang::caller_env()) {
  if (!need_inputs) return(list(inputs = NULL, weights = list()))
  k <- cache$axis
  g <- array(as.numeric(grad_output), cache$out)
  rank <- length(cache$out)
  perm <- c(setdiff(seq_len(rank), k), k)
  last <- k == rank
  gm <- matrix(if (last) g else aperm(g, perm), ncol = dim(g)[k])
  sizes <- vapply(cache$dims, function(d) d[k], integer(1))
  ends <- cumsum(sizes)
  grads <- lapply(seq_along(sizes), function(i) {
    d <- cache$dims[[i]]
    part <- array(gm[, ends[i] - sizes[i] + seq_len(sizes[i])], c(d[-k], sizes[i]))
    if (last) part else aperm(part, order(perm))
  })
  list(inputs = grads, weights = list())
}

# Types -------------------------------------------------------------------

merge_format <- function(self) {
  cfg <- self$config
  what <- switch(self$type,
                 concatenate = sprintf("concatenates along axis %d", cfg$axis),
                 add = "adds", subtract = "subtracts", multiply = "multiplies",
                 average = "averages", maximum = "takes the maximum",
                 minimum = "takes the minimum")
  sprintf("<%s layer \"%s\"> %s its inputs", self$type, cfg$name, what)
}

merge_layer_type <- function(type, class_name, constructor) {
  slots <- list(
    type = type, class_name = class_name,
    n_inputs = "many",
    forward = merge_forward,
    train_forward = merge_train_forward,
    backward = elementwise_backward,
    format = merge_format,
    output_shape = elementwise_output_shape,
    constructor = constructor, constructor_dots = merge_dots
  )
  if (type == "concatenate") {
    slots$backward <- concatenate_backward
    slots$output_shape <- concatenate_output_shape
    # axis as Keras counts it (from 0), as keras3 writes it.
    slots$get_config <- function(self, cfg) {
      cfg$axis <- as.integer(axis_to_keras(cfg$axis))
      cfg
    }
    slots$from_config <- function(config, call) {
      if (is.numeric(config$axis)) config$axis <- axis_from_keras(config$axis)
      args <- config_args(config, constructor, extra = merge_dots,
                          class_name = class_name, call = call)
      do.call(constructor, args)
    }
  }
  do.call(new_layer_type, slots)
}

register_layer_type(merge_layer_type("concatenate", "Concatenate", layer_concatenate))
register_layer_type(merge_layer_type("add", "Add", layer_add))
register_layer_type(merge_layer_type("subtract", "Subtract", layer_subtract))
register_layer_type(merge_layer_type("multiply", "Multiply", layer_multiply))
register_layer_type(merge_layer_type("average", "Average", layer_average))
register_layer_type(merge_layer_type("maximum", "Maximum", layer_maximum))
register_layer_type(merge_layer_type("minimum", "Minimum", layer_minimum))
