#' @include layer-type.R
NULL

#' Gated Recurrent Unit layer (Cho et al. 2014)
#'
#' keras3's `layer_gru()`: the same arguments, defaults, weight layout and
#' numbers, with the whole recurrence running in C++. Weights are created on
#' the first call (or at once when `input_shape` is given). If a GPU is
#' usable, gru was built with cuDNN and the configuration is eligible,
#' `use_cudnn = "auto"` runs the layer with cuDNN; see [backend_info()].
#'
#' The equations, with gate blocks z (update), r (reset), h (candidate) along
#' the `3 * units` axis:
#'
#' * `z = recurrent_activation(x W_z + b_z + h U_z + c_z)`, likewise `r`;
#' * `reset_after = TRUE`: `hh = activation(x W_h + b_h + r * (h U_h + c_h))`,
#'   where `b` is row 1 and `c` row 2 of the `(2, 3 * units)` bias;
#' * `reset_after = FALSE`: `hh = activation(x W_h + (r * h) U_h + b_h)` with
#'   a `(3 * units)` bias;
#' * `h_new = z * h + (1 - z) * hh`.
#'
#' @section Call arguments:
#' The layer is called like a function,
#' `layer(inputs, mask = NULL, training = NULL, initial_state = NULL)`:
#' * `inputs`: a numeric array of shape `(batch, timesteps, features)`.
#' * `mask`: `NULL` or a logical (or 0/1) matrix `(batch, timesteps)`; `FALSE`
#'   marks a step to skip. Any pattern is allowed: at a masked step the state
#'   is carried and the output repeats the previous output (zeros with
#'   `zero_output_for_mask = TRUE`); a fully masked row returns its initial
#'   state.
#' * `training`: `TRUE` applies `dropout` and `recurrent_dropout`; `NULL` or
#'   `FALSE` does not.
#' * `initial_state`: `NULL`, a `(batch, units)` matrix, or a list of one
#'   (keras3 passes a list).
#'
#' @section Memory:
#' On the CPU, a layer keeps its kernels converted to the compute type and
#' packed for the engine between calls, so repeated calls with the same
#' weights (inference, `predict()`) skip that work. This takes
#' `(input_dim + units) * 3 * units` values of the layer's `dtype` (about half
#' the size of R's double copy of the weights in float32), is freed at the
#' first call after the weights change, and is not saved by [saveRDS()].
#'
#' @section Interrupting:
#' A long call on the CPU can be interrupted (Ctrl-C, or Esc in RStudio): the
#' engine checks for an interrupt every 100 ms or so (the forward pass
#' between chunks of timesteps, the training passes at every step) and stops
#' there with R's usual interrupt condition; the layer and its weights are
#' unchanged, and [fit()] keeps the weights of the last finished batch.
#' Calls shorter than 100 ms never check. The cuDNN path does not check.
#'
#' @section Members:
#' `layer$get_weights()`, `layer$set_weights(list(kernel, recurrent_kernel,
#' bias))`, `layer$weights`, `layer$reset_state()` (and keras 2's
#' `layer$reset_states(states = NULL)`), `layer$get_config()`,
#' `layer$count_params()`, `layer$built`, `layer$states`, `layer$losses` and
#' every config entry (`layer$units`, `layer$name`, ...).
#'
#' @param object What to compose the layer with: missing or `NULL` returns
#'   the layer; a numeric array returns the layer applied to it; a
#'   sequential model ([keras_model_sequential()]) gets the layer appended
#'   and is returned.
#' @param units Positive integer, dimensionality of the output space.
#' @param activation Activation for the candidate state: a name from
#'   [gru_activations()], `NULL` (linear) or an R function. Default `"tanh"`.
#' @param recurrent_activation Activation for the gates. Default `"sigmoid"`.
#' @param use_bias Whether the layer uses bias vectors.
#' @param kernel_initializer,recurrent_initializer,bias_initializer
#'   Initializers for the kernel `(input_dim, 3 * units)`, the recurrent
#'   kernel `(units, 3 * units)` and the bias: a name (`"glorot_uniform"`,
#'   `"orthogonal"`, `"zeros"`, ...), an object such as
#'   [initializer_orthogonal()], or a function of `shape`.
#' @param kernel_regularizer,recurrent_regularizer,bias_regularizer
#'   Regularizers for the three weights ([regularizer_l2()] etc. or `NULL`).
#' @param activity_regularizer Regularizer for the layer's output (kept in
#'   the config).
#' @param kernel_constraint,recurrent_constraint,bias_constraint Constraints
#'   for the three weights ([constraint_maxnorm()] etc. or `NULL`).
#' @param dropout Fraction in `[0, 1)` of the input units to drop (with
#'   `training = TRUE`).
#' @param recurrent_dropout Fraction in `[0, 1)` of the recurrent state to
#'   drop in the recurrent products (with `training = TRUE`).
#' @param seed `NULL` or an integer: seeds the layer's own dropout stream, so
#'   its dropout masks are reproducible without touching the session's RNG.
#' @param return_sequences Return the whole output sequence
#'   `(batch, timesteps, units)` rather than the last output.
#' @param return_state Also return the final state: the result is then
#'   `list(output, state)`.
#' @param go_backwards Process the sequence from the last step to the first;
#'   the returned sequence is in processing order.
#' @param stateful Carry the final state of each batch into the next call.
#'   The batch size is then fixed (by `batch_size`, `batch_input_shape` or
#'   the first call); `layer$reset_state()` sets the state to zeros.
#' @param unroll Accepted for compatibility; the C++ loop makes unrolling
#'   unnecessary, and results are the same.
#' @param reset_after GRU convention: `TRUE` applies the reset gate after the
#'   recurrent product (Keras' default, cuDNN compatible), `FALSE` before.
#' @param use_cudnn `"auto"`, `TRUE` or `FALSE`: whether to run on cuDNN.
#'   `TRUE` fails with a `gru_error_cudnn_unavailable` error listing every
#'   reason when cuDNN cannot run.
#' @param ... Keras' standard layer arguments: `name`, `dtype` (`"float32"`,
#'   the default, or `"float64"`), `trainable`, `input_shape`
#'   (`c(timesteps, features)`, timesteps may be `NA`), `batch_size`,
#'   `batch_input_shape`, `input_dim`, `weights` (a list as `set_weights()`
#'   takes), `implementation` (2, the default, shares one dropout mask across
#'   the gates; 1 draws one per gate) and `zero_output_for_mask`. Other names
#'   are an error.
#'
#' @returns A GRU layer (class `gru_layer`) when `object` is missing or
#'   `NULL`; the layer's output when `object` is an array: a
#'   `(batch, units)` matrix, a `(batch, timesteps, units)` array with
#'   `return_sequences`, or `list(output, state)` with `return_state`; the
#'   model when `object` is a sequential model.
#' @family layers
#' @export
#' @examples
#' x <- array(runif(2 * 5 * 3), c(2, 5, 3))
#'
#' # Applied directly, through the pipe:
#' x |> layer_gru(4) |> dim()
#'
#' # As an object, with the whole sequence and the final state:
#' gru <- layer_gru(units = 4, return_sequences = TRUE, return_state = TRUE)
#' res <- gru(x)
#' dim(res[[1]])
#' dim(res[[2]])
#' gru
#'
#' # Weights in Keras' layout:
#' str(gru$get_weights())
layer_gru <- function(object, units, activation = "tanh",
                      recurrent_activation = "sigmoid", use_bias = TRUE,
                      kernel_initializer = "glorot_uniform",
                      recurrent_initializer = "orthogonal",
                      bias_initializer = "zeros", kernel_regularizer = NULL,
                      recurrent_regularizer = NULL, bias_regularizer = NULL,
                      activity_regularizer = NULL, kernel_constraint = NULL,
                      recurrent_constraint = NULL, bias_constraint = NULL,
                      dropout = 0, recurrent_dropout = 0, seed = NULL,
                      return_sequences = FALSE, return_state = FALSE,
                      go_backwards = FALSE, stateful = FALSE, unroll = FALSE,
                      reset_after = TRUE, use_cudnn = "auto", ...) {
  call <- environment()
  if (missing(units) && !missing(object) && is.numeric(object) &&
      is.null(dim(object)) && length(object) == 1L) {
    compose_layer(object, NULL, call = call)
  }
  if (missing(units)) {
    abort_gru(
      c("{.arg units} is missing.", "i" = "Give the number of units, e.g. {.code layer_gru(units = 32)}."),
      class = "gru_error_input", call = call
    )
  }
  config <- gru_config(
    units = units, activation = activation,
    recurrent_activation = recurrent_activation, use_bias = use_bias,
    kernel_initializer = kernel_initializer,
    recurrent_initializer = recurrent_initializer,
    bias_initializer = bias_initializer,
    kernel_regularizer = kernel_regularizer,
    recurrent_regularizer = recurrent_regularizer,
    bias_regularizer = bias_regularizer,
    activity_regularizer = activity_regularizer,
    kernel_constraint = kernel_constraint,
    recurrent_constraint = recurrent_constraint,
    bias_constraint = bias_constraint, dropout = dropout,
    recurrent_dropout = recurrent_dropout, seed = seed,
    return_sequences = return_sequences, return_state = return_state,
    go_backwards = go_backwards, stateful = stateful, unroll = unroll,
    reset_after = reset_after, use_cudnn = use_cudnn, dots = list(...),
    call = call
  )
  layer <- new_gru_layer(config, call = call)
  if (missing(object)) return(layer)
  compose_layer(object, layer, call = call)
}

# Standard Keras layer arguments layer_gru() takes through `...`.
gru_dots <- c("name", "dtype", "trainable", "input_shape", "batch_size",
              "batch_input_shape", "input_dim", "weights", "implementation",
              "zero_output_for_mask")

# Validates every layer_gru() argument once and returns the Keras config.
# `dots` are the extra layer arguments; `weights` and the shape arguments are
# not config entries and come back as attributes.
gru_config <- function(units, activation, recurrent_activation, use_bias,
                       kernel_initializer, recurrent_initializer,
                       bias_initializer, kernel_regularizer,
                       recurrent_regularizer, bias_regularizer,
                       activity_regularizer, kernel_constraint,
                       recurrent_constraint, bias_constraint, dropout,
                       recurrent_dropout, seed, return_sequences, return_state,
                       go_backwards, stateful, unroll, reset_after, use_cudnn,
                       dots, call) {
  dot_names <- names(dots)
  if (length(dots) > 0L && (is.null(dot_names) || any(!nzchar(dot_names)))) {
    abort_gru(
      c("Every argument in {.arg ...} must be named.",
        "i" = "Accepted: {.arg {gru_dots}}."),
      class = "gru_error_unknown_argument", call = call
    )
  }
  unknown <- setdiff(dot_names, gru_dots)
  if (length(unknown) > 0L) {
    abort_gru(
      c("Unknown argument{?s} {.arg {unknown}}.",
        "i" = "{.fn layer_gru} takes its documented arguments and Keras' layer arguments {.arg {gru_dots}}."),
      class = "gru_error_unknown_argument", call = call
    )
  }
  units <- check_positive_whole(units, call = call)
  check_gru_units(units, call = call)
  act <- resolve_activation(activation, call = call)
  ract <- resolve_activation(recurrent_activation, call = call)
  check_bool(use_bias, call = call)
  for (nm in c("return_sequences", "return_state", "go_backwards", "stateful",
               "unroll", "reset_after")) {
    check_bool(get(nm), arg = nm, call = call)
  }
  dropout <- check_rate(dropout, call = call)
  recurrent_dropout <- check_rate(recurrent_dropout, call = call)
  seed <- check_seed(seed, call = call)
  check_use_cudnn(use_cudnn, call = call)

  dtype <- dots$dtype %||% "float32"
  check_choice(dtype, c("float32", "float64"), arg = "dtype", call = call)
  trainable <- dots$trainable %||% TRUE
  check_bool(trainable, arg = "trainable", call = call)
  zero_output_for_mask <- dots$zero_output_for_mask %||% FALSE
  check_bool(zero_output_for_mask, arg = "zero_output_for_mask", call = call)
  implementation <- dots$implementation %||% 2L
  if (!(is.numeric(implementation) && length(implementation) == 1L &&
        implementation %in% c(1, 2))) {
    abort_gru(
      c("{.arg implementation} must be 1 or 2, not {.obj_type_friendly {implementation}}.",
        "i" = "2 (the default) shares one dropout mask across the gates; 1 draws one per gate."),
      class = "gru_error_input", call = call
    )
  }
  name <- dots$name %||% unique_layer_name("gru")
  check_string(name, arg = "name", call = call)

  shape <- check_build_shape(dots, call = call)

  config <- list(
    name = name,
    trainable = trainable,
    dtype = dtype,
    return_sequences = return_sequences,
    return_state = return_state,
    go_backwards = go_backwards,
    stateful = stateful,
    unroll = unroll,
    zero_output_for_mask = zero_output_for_mask,
    units = units,
    activation = if (is.null(act$fn)) act$name else activation,
    recurrent_activation = if (is.null(ract$fn)) ract$name else recurrent_activation,
    use_bias = use_bias,
    kernel_initializer = resolve_initializer(kernel_initializer, call = call),
    recurrent_initializer = resolve_initializer(recurrent_initializer, call = call),
    bias_initializer = resolve_initializer(bias_initializer, call = call),
    kernel_regularizer = resolve_regularizer(kernel_regularizer, call = call),
    recurrent_regularizer = resolve_regularizer(recurrent_regularizer, call = call),
    bias_regularizer = resolve_regularizer(bias_regularizer, call = call),
    activity_regularizer = resolve_regularizer(activity_regularizer, call = call),
    kernel_constraint = resolve_constraint(kernel_constraint, call = call),
    recurrent_constraint = resolve_constraint(recurrent_constraint, call = call),
    bias_constraint = resolve_constraint(bias_constraint, call = call),
    dropout = dropout,
    recurrent_dropout = recurrent_dropout,
    reset_after = reset_after,
    seed = seed,
    implementation = as.integer(implementation),
    use_cudnn = use_cudnn
  )
  if (!is.null(shape$batch_input_shape)) {
    config$batch_input_shape <- shape$batch_input_shape
  }
  attr(config, "weights") <- dots$weights
  config
}

# The kernels have 3 * units columns, an R dim (an int): the largest GRU
# has floor((2^31 - 1) / 3) units, and its recurrent kernel alone would
# need exabytes, which is what the message says.
check_gru_units <- function(units, call) {
  max_units <- .Machine$integer.max %/% 3L
  if (units <= max_units) return(invisible(units))
  bytes <- format_bytes(8 * units * 3 * units)
  shape <- format_shape(c(units, 3 * units))
  abort_gru(
    c("{.arg units} = {format(units, scientific = FALSE)} is too large: the recurrent kernel alone would have shape {shape}, {bytes} of memory, and {.code 3 * units} must be at most 2^31 - 1.",
      "i" = "A GRU has at most {max_units} units; check that {.arg units} is what you meant."),
    class = "gru_error_input", call = call
  )
}

check_use_cudnn <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  ok <- (is.logical(x) && length(x) == 1L && !is.na(x)) ||
    identical(x, "auto")
  if (!ok) {
    abort_gru(
      c("{.arg {arg}} must be {.val auto}, `TRUE` or `FALSE`, not {.obj_type_friendly {x}}."),
      class = "gru_error_input", call = call
    )
  }
  invisible(x)
}

# input_shape / batch_size / batch_input_shape / input_dim -> the batch input
# shape c(batch, timesteps, features) with NA for unknown entries.
check_build_shape <- function(dots, call) {
  bis <- dots$batch_input_shape
  if (is.null(bis) && !is.null(dots$input_shape)) {
    bis <- c(dots$batch_size %||% NA, dots$input_shape)
  }
  if (is.null(bis) && !is.null(dots$input_dim)) {
    bis <- c(dots$batch_size %||% NA, NA, dots$input_dim)
  }
  if (is.null(bis) && !is.null(dots$batch_size)) {
    bis <- c(dots$batch_size, NA, NA)
  }
  if (is.null(bis)) return(list())
  bis <- shape_from_list(bis)
  if (!(length(bis) == 3L && is_batch_shape(bis))) {
    abort_gru(
      c("The input shape must be {.code input_shape = c(timesteps, features)} (timesteps may be {.code NA}), or {.code batch_input_shape = c(batch, timesteps, features)}; got ({paste(format(bis), collapse = ', ')}).",
        "i" = "Every known dimension is a positive whole number."),
      class = "gru_error_shape", call = call
    )
  }
  list(batch_input_shape = as.integer(bis))
}

unique_layer_name <- function(prefix) {
  n <- the$name_counts[[prefix]] %||% 0L
  the$name_counts[[prefix]] <- n + 1L
  if (n == 0L) prefix else paste0(prefix, "_", n)
}

new_gru_layer <- function(config, call) {
  weights <- attr(config, "weights")
  attr(config, "weights") <- NULL
  layer <- new_layer("gru", config)
  self <- layer_self(layer)
  bis <- config$batch_input_shape
  if (!is.null(bis)) {
    if (!is.na(bis[1L])) self$batch_size <- bis[1L]
    if (!is.na(bis[3L])) gru_build(self, bis[3L], call = call)
  }
  if (!is.null(weights)) layer_set_weights(self, weights, call = call)
  layer
}

gru_initializer_keys <- c(kernel = "kernel_initializer",
                          recurrent_kernel = "recurrent_initializer",
                          bias = "bias_initializer")

gru_weight_shapes <- function(self, input_dim) {
  h <- self$config$units
  shapes <- list(kernel = c(input_dim, 3L * h), recurrent_kernel = c(h, 3L * h))
  if (isTRUE(self$config$use_bias)) {
    shapes$bias <- if (isTRUE(self$config$reset_after)) c(2L, 3L * h) else 3L * h
  }
  lapply(shapes, as.integer)
}

gru_build <- function(self, input_dim, call = NULL) {
  shapes <- gru_weight_shapes(self, input_dim)
  self$weights <- build_weights(self, shapes, gru_initializer_keys, call = call)
  self$input_dim <- as.integer(input_dim)
  self$built <- TRUE
  invisible(self)
}

# The GRU forward pass behind a layer call: validates the call's arguments,
# builds on first use, picks the backend and runs the engine. `dropout`
# (internal) replaces the drawn dropout masks with given ones (a list as
# draw_dropout_masks() returns), so a caller can rerun with the same masks.
# `cfg` is the layer's config; layer_rnn() and cells pass their cell's
# config with the sequence options of the call added.
gru_forward <- function(self, inputs, mask = NULL, training = NULL,
                        initial_state = NULL, dropout = NULL,
                        call = rlang::caller_env(), cfg = self$config) {
  prep <- gru_prepare_call(self, inputs, mask = mask, training = training,
                           initial_state = initial_state, dropout = dropout,
                           call = call, cfg = cfg)
  plan <- prep$plan
  if (!plan$native) {
    if (!plan$cpu_only) gru_call_backend(cfg, prep, call)
    res <- gru_forward_r(inputs, self$weights, cfg, prep$act, prep$ract,
                         prep$mask, prep$h0, prep$drop, call = call)
  } else {
    e <- prep$engine
    gpu <- !plan$cpu_only && identical(gru_call_backend(cfg, prep, call), "cuda")
    res <- with_backend_errors(
      cpp_gru_forward(e, float64 = plan$float64, gpu = gpu, packed = plan$packed),
      what = if (gpu) "cuDNN GRU forward pass" else "GRU forward pass",
      call = call
    )
  }
  if (plan$stateful) self$state <- res$state
  out_mask <- if (plan$return_sequences) mask
  list(output = res$output, states = list(res$state), mask = out_mask)
}

# The backend of one call. Without a usable GPU, "auto" means the CPU
# whatever cuDNN's eligibility, so the rules are only evaluated when they can
# matter (use_cudnn = TRUE still fails listing every reason); a call whose
# plan says `cpu_only` (the same test) need not ask.
gru_call_backend <- function(cfg, prep, call) {
  if (backend_is_cpu_only(cfg$use_cudnn)) return("cpu")
  choose_backend(
    use_cudnn = cfg$use_cudnn,
    reasons = cudnn_ineligibility(cfg, prep$training, prep$mask),
    info = backend_facts(),
    call = call
  )
}

# TRUE when a layer with this `use_cudnn` runs on the CPU whatever the call:
# FALSE, or "auto" without a usable GPU.
backend_is_cpu_only <- function(use_cudnn) {
  isFALSE(use_cudnn) || !isTRUE(use_cudnn) && !cuda_is_available()
}

# Checks a layer call's arguments, builds the layer on first use, draws the
# dropout masks (unless `dropout` gives them) and returns what the engine
# entry points take: list(b, n_steps, features, mask, training, h0, drop,
# act, ract, plan, engine), where `engine` is the call's description that
# cpp_gru_forward() and cpp_gru_train_forward() take (parsed once in C++:
# parse_call(), src/rcpp_spec.h) and `plan` is gru_engine_plan().
gru_prepare_call <- function(self, inputs, mask = NULL, training = NULL,
                             initial_state = NULL, dropout = NULL,
                             call = rlang::caller_env(), cfg = self$config) {
  check_sequence_input(inputs, arg = "inputs", call = call)
  d <- dim(inputs)
  b <- d[1L]
  n_steps <- d[2L]
  features <- d[3L]
  if (!self$built) gru_build(self, features, call = call)
  if (features != self$input_dim) {
    abort_gru(
      c("{.arg inputs} has {features} feature{?s} (its last dimension), but layer {.val {cfg$name}} was built for {self$input_dim}.",
        "i" = "Input shape is (batch, timesteps, features); create a new layer for other feature sizes."),
      class = "gru_error_shape", call = call
    )
  }
  plan <- gru_engine_plan(self, cfg)
  if (plan$stateful) check_stateful_batch(self, b, cfg$name, call)
  if (!is.null(mask)) mask <- check_mask(mask, b, n_steps, call = call)
  check_training(training, call = call)
  training <- isTRUE(training)
  h0 <- NULL
  if (!is.null(initial_state)) {
    if (is.list(initial_state) && !is.data.frame(initial_state)) {
      if (length(initial_state) != 1L) {
        abort_gru(
          c("{.arg initial_state} must be one (batch, units) matrix or a list of one, not a list of {length(initial_state)}.",
            "i" = "A GRU has a single state."),
          class = "gru_error_shape", call = call
        )
      }
      initial_state <- initial_state[[1L]]
    }
    h0 <- check_state(initial_state, b, cfg$units, arg = "initial_state", call = call)
  } else if (plan$stateful) {
    h0 <- self$state
  }

  drop <- if (is.null(dropout)) draw_dropout_masks(self, training, b, features) else dropout
  if (!is.double(inputs)) inputs <- array(as.double(inputs), d)
  options <- plan$options
  options$dropout_gates <- drop$input_gates
  options$recurrent_dropout_gates <- drop$recurrent_gates
  options$threads <- current_threads()
  engine <- list(
    x = inputs,
    dims = c(d, plan$units),
    kernel = plan$kernel,
    recurrent_kernel = plan$recurrent_kernel,
    input_bias = plan$input_bias,
    recurrent_bias = plan$recurrent_bias,
    mask = mask,
    initial_state = if (is.null(h0)) NULL else as.double(h0),
    dropout_mask = drop$input,
    recurrent_dropout_mask = drop$recurrent,
    options = options
  )
  list(b = b, n_steps = n_steps, features = features, mask = mask,
       training = training, h0 = h0, drop = drop, act = plan$act,
       ract = plan$ract, plan = plan, engine = engine)
}

# What a call's engine arguments take from the config and the weights alone:
# list(config, weights, act, ract, native, float64, stateful,
# return_sequences, cpu_only, units, kernel, recurrent_kernel, input_bias,
# recurrent_bias, options), `options` without the per-call dropout gates and
# thread count. Building it costs ~10 us, a tenth of a small layer call, so
# it is memoised per layer for the layer's own config:
# * The memo is used only while `self$config` and `self$weights` are the very
#   objects it was built from (rlang::is_reference(), a pointer comparison).
#   It holds them, so copy-on-modify guarantees they are never changed in
#   place: set_weights(), an optimizer step, a constraint, a rebuild or
#   `layer$name <-` all bind new objects and the next call rebuilds the memo.
#   (Until then it keeps the replaced weights alive: one extra copy at most.)
# * It lives in a weak reference keyed on `self` (`self$engine_plan`, whose
#   value is an environment holding the plan), so it dies with the layer,
#   and saveRDS() writes it empty: a saved layer holds no second copy of its
#   weights, and a read one rebuilds the plan on its first call.
# * Its `packed` is the layer's packed kernels (packed_kernels()), so a
#   memo hit costs no second lookup.
# Calls with another config (cells, layer_rnn(), which add sequence options
# per call) build the plan without storing it; their `packed` comes from
# the same packed_kernels(), so cells keep their packing too.
gru_engine_plan <- function(self, cfg) {
  # is_reference() and wref_value() are imported: each `rlang::` costs ~1 us.
  own <- is_reference(cfg, self$config)
  if (own) {
    ref <- self$engine_plan
    plan <- if (!is.null(ref)) wref_value(ref)$plan
    if (!is.null(plan) && is_reference(plan$weights, self$weights) &&
        is_reference(plan$config, cfg)) {
      return(plan)
    }
  }
  act <- memo_activation(cfg$activation)
  ract <- memo_activation(cfg$recurrent_activation)
  w <- self$weights
  bias <- w$bias
  reset_after <- isTRUE(cfg$reset_after)
  plan <- list(
    config = cfg,
    weights = w,
    act = act,
    ract = ract,
    native = !is.na(act$code) && !is.na(ract$code),
    float64 = identical(cfg$dtype, "float64"),
    stateful = isTRUE(cfg$stateful),
    return_sequences = isTRUE(cfg$return_sequences),
    # GPUs do not come and go in a session (see backend_facts()).
    cpu_only = backend_is_cpu_only(cfg$use_cudnn),
    units = as.integer(cfg$units),
    kernel = as_double_array(w$kernel),
    recurrent_kernel = as_double_array(w$recurrent_kernel),
    input_bias = if (is.null(bias)) NULL else
      if (reset_after) as.double(bias[1L, ]) else as.double(bias),
    recurrent_bias = if (!is.null(bias) && reset_after) as.double(bias[2L, ]),
    options = list(
      activation = act$code,
      recurrent_activation = ract$code,
      reset_after = reset_after,
      go_backwards = isTRUE(cfg$go_backwards),
      return_sequences = isTRUE(cfg$return_sequences),
      zero_output_for_mask = isTRUE(cfg$zero_output_for_mask),
      dropout_gates = 0L,
      recurrent_dropout_gates = 0L,
      threads = 1L
    ),
    packed = packed_kernels(self)
  )
  if (own) {
    # In an environment: new_weakref() copies a list value.
    memo <- new.env(parent = emptyenv())
    memo$plan <- plan
    self$engine_plan <- rlang::new_weakref(self, memo)
  }
  plan
}

# The CPU engine's packed copy of a layer's kernels (an external pointer to
# PackedWeights, src/gru/gru.h, empty until the first CPU call fills it), so
# repeated calls with the same weights skip converting and packing them:
# ~6% of an S4 call (the whole of what onnxruntime does once per session),
# most of a small cell's step. It costs (F + H) x 3H values of the compute
# type (S4: 24 MB in float32, against 50 MB for the weights in double).
# Memoised on the weights alone, whatever the config: the packing depends on
# nothing else that the engine does not check itself (compute type, kernel
# width, shapes). Like the plan memo, it holds the weights it was made for,
# is compared by reference, and lives in a weak reference that saveRDS()
# writes empty; new weights free the old panels at once rather than when R
# next collects garbage (they live outside R's heap).
packed_kernels <- function(self) {
  ref <- self$packed_memo
  memo <- if (!is.null(ref)) wref_value(ref)
  if (!is.null(memo)) {
    if (is_reference(memo$weights, self$weights)) return(memo$packed)
    cpp_packed_clear(memo$packed)
  }
  memo <- new.env(parent = emptyenv())
  memo$weights <- self$weights
  memo$packed <- cpp_packed_new()
  self$packed_memo <- rlang::new_weakref(self, memo)
  memo$packed
}

# A stateful layer's batch size is fixed by its first call (or batch_size);
# another batch size is an error.
check_stateful_batch <- function(self, b, name, call) {
  if (is.null(self$batch_size)) self$batch_size <- b
  if (b != self$batch_size) {
    abort_gru(
      c("Stateful layer {.val {name}} has a fixed batch size of {self$batch_size}, but {.arg inputs} has {b} row{?s}.",
        "i" = "Feed batches of {self$batch_size} rows, or create the layer with another {.arg batch_size}."),
      class = "gru_error_stateful_batch", call = call
    )
  }
  invisible(b)
}

# A mask: NULL, or a logical / 0-1 (batch, timesteps) matrix.
check_mask <- function(mask, b, n_steps, call) {
  if (is.null(mask)) return(NULL)
  if (!(is.logical(mask) || is.numeric(mask))) {
    abort_gru(
      c("{.arg mask} must be a logical (batch, timesteps) matrix, not {.obj_type_friendly {mask}}.",
        "i" = "{.code TRUE} keeps a step, {.code FALSE} skips it."),
      class = "gru_error_input", call = call
    )
  }
  d <- dim(mask)
  if (length(d) == 3L && d[3L] == 1L) d <- d[1:2]
  if (!identical(as.integer(d), as.integer(c(b, n_steps)))) {
    have <- if (is.null(dim(mask))) paste0("a vector of length ", length(mask)) else
      paste0("shape (", paste(dim(mask), collapse = ", "), ")")
    abort_gru(
      c("{.arg mask} must have shape ({b}, {n_steps}) to match {.arg inputs}' (batch, timesteps), not {have}.",
        "i" = "One value per batch row and timestep: {.code TRUE} keeps the step."),
      class = c("gru_error_mask", "gru_error_shape"), call = call
    )
  }
  if (anyNA(mask)) {
    abort_gru(
      c("{.arg mask} must not contain NA (at {first_nonfinite(mask)}).",
        "i" = "Use {.code TRUE} to keep a step and {.code FALSE} to skip it."),
      class = "gru_error_input", call = call
    )
  }
  if (is.numeric(mask) && !all(mask %in% c(0, 1))) {
    abort_gru(
      c("A numeric {.arg mask} must hold only 0 and 1.",
        "i" = "Convert it with {.code mask != 0} if that is what you mean."),
      class = "gru_error_input", call = call
    )
  }
  matrix(as.logical(mask), b, n_steps)
}

check_state <- function(state, b, units, arg, call) {
  if (!is.numeric(state)) {
    abort_gru(
      c("{.arg {arg}} must be a numeric ({b}, {units}) matrix, not {.obj_type_friendly {state}}."),
      class = "gru_error_input", call = call
    )
  }
  d <- dim(state)
  if (is.null(d) && b == 1L && length(state) == units) d <- c(1L, units)
  if (!identical(as.integer(d), as.integer(c(b, units)))) {
    have <- if (is.null(dim(state))) paste0("a vector of length ", length(state)) else
      paste0("shape (", paste(dim(state), collapse = ", "), ")")
    abort_gru(
      c("{.arg {arg}} must have shape ({b}, {units}), (batch, units), not {have}.",
        "i" = "One state row per batch row."),
      class = "gru_error_shape", call = call
    )
  }
  check_finite(state, arg = arg, call = call)
  matrix(as.numeric(state), b, units)
}

# Dropout masks for one call: Keras draws one mask per call and reuses it at
# every step, scaled by 1 / (1 - rate). implementation 2 shares one mask
# across the three gates, implementation 1 draws one per gate.
draw_dropout_masks <- function(self, training, b, features) {
  cfg <- self$config
  out <- no_dropout_masks
  if (!training || (cfg$dropout == 0 && cfg$recurrent_dropout == 0)) return(out)
  gates <- if (identical(cfg$implementation, 1L)) 3L else 1L
  draw <- function(n, rate) (stats::runif(n) >= rate) / (1 - rate)
  with_layer_rng(self, {
    if (cfg$dropout > 0) {
      out$input <- draw(gates * b * features, cfg$dropout)
      out$input_gates <- gates
    }
    if (cfg$recurrent_dropout > 0) {
      out$recurrent <- draw(gates * b * cfg$units, cfg$recurrent_dropout)
      out$recurrent_gates <- gates
    }
  })
  out
}

no_dropout_masks <- list(input = NULL, recurrent = NULL, input_gates = 0L,
                         recurrent_gates = 0L)

# Evaluates `expr` on the layer's own random stream when it has a seed (the
# stream starts at set.seed(seed) and advances with every call), else on the
# session's stream.
with_layer_rng <- function(self, expr) {
  seed <- self$config$seed
  if (is.null(seed)) return(invisible(expr))
  self$rng <- with_private_rng(self$rng %||% seed, expr)$state
  invisible(NULL)
}

# The sequence options a recurrent layer's print shows (GRU layers, layer_rnn()).
sequence_flags <- function(cfg) {
  c(
    if (isTRUE(cfg$return_sequences)) "return_sequences",
    if (isTRUE(cfg$return_state)) "return_state",
    if (isTRUE(cfg$go_backwards)) "go_backwards",
    if (isTRUE(cfg$stateful)) "stateful"
  )
}

gru_format <- function(self) {
  cfg <- self$config
  flags <- c(
    sequence_flags(cfg),
    if (!isTRUE(cfg$use_bias)) "no bias",
    if (cfg$dropout > 0) paste0("dropout ", cfg$dropout),
    if (cfg$recurrent_dropout > 0) paste0("recurrent_dropout ", cfg$recurrent_dropout)
  )
  act_name <- function(a) if (is.function(a)) "<function>" else a
  head <- sprintf("<gru layer \"%s\"> %d units, %s/%s, reset_after = %s, %s",
                  cfg$name, cfg$units, act_name(cfg$activation),
                  act_name(cfg$recurrent_activation), cfg$reset_after, cfg$dtype)
  lines <- c(head, if (length(flags)) paste0("  ", paste(flags, collapse = ", ")))
  if (self$built) {
    shapes <- vapply(self$weights, function(w) {
      d <- if (is.null(dim(w))) length(w) else dim(w)
      paste0("(", paste(d, collapse = ", "), ")")
    }, character(1))
    lines <- c(lines, sprintf("  built for %d input features: %s params; %s",
                              self$input_dim,
                              format(layer_count_params(self, NULL), big.mark = ","),
                              paste(names(shapes), shapes, collapse = ", ")))
  } else {
    lines <- c(lines, "  not built (weights are created on the first call)")
  }
  lines
}

# The training workspace the GRU steps of the running fit() borrow (NULL
# outside fit(): each step allocates its own); fit() sets it for its run
# and restores the outer one on exit. Returns the previous one.
set_train_workspace <- function(workspace) {
  old <- the$train_workspace
  the$train_workspace <- workspace
  invisible(old)
}

# The engine's training forward pass for a GRU layer or cell (`cfg` as in
# gru_forward()): list(output, states, mask, cache), where `cache` holds an
# external pointer to the C++ engine's workspace, which lives only for the
# step and is never stored in the layer.
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
  res <- with_backend_errors(cpp_gru_train_forward(prep$engine,
                                                   float64 = identical(cfg$dtype, "float64"),
                                                   workspace = the$train_workspace),
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

# A stateful layer starts from its carried state, which is a constant of
# the step (gradients do not flow across batches), and carries the new
# state forward.
gru_layer_train_forward <- function(self, inputs, mask = NULL, training = NULL,
                                    initial_state = NULL,
                                    call = rlang::caller_env()) {
  res <- gru_train_pass(self, inputs, mask = mask, training = training,
                        initial_state = initial_state, call = call)
  if (isTRUE(self$config$stateful)) self$state <- res$states[[1L]]
  res
}

gru_layer_backward <- function(self, cache, grad_output, need_inputs = TRUE,
                               call = rlang::caller_env(), grad_states = NULL) {
  gru_train_backward(self, cache, grad_output,
                     grad_state = if (length(grad_states)) grad_states[[1L]],
                     need_inputs = need_inputs, call = call)
}

gru_regularized <- function(self) {
  c(kernel = "kernel_regularizer", recurrent_kernel = "recurrent_regularizer",
    bias = "bias_regularizer")
}

gru_constrained <- function(self) {
  c(kernel = "kernel_constraint", recurrent_kernel = "recurrent_constraint",
    bias = "bias_constraint")
}

gru_weight_layout_hint <- function(self) {
  bias <- if (isTRUE(self$config$reset_after)) "(2, 3 * units)" else "(3 * units)"
  paste0("Weights follow Keras' layout: kernel (input_dim, 3 * units), recurrent_kernel (units, 3 * units), bias ", bias, ".")
}

gru_kernel_columns <- function(self) 3L * self$config$units

# The output shape for an input shape c(batch, timesteps, features) (NA =
# unknown), or a string saying why the input does not fit. Models use it to
# check that layers chain.
gru_output_shape <- function(self, shape) {
  cfg <- self$config
  if (length(shape) != 3L) {
    return("it needs 3-D input (batch, timesteps, features)")
  }
  if (self$built && !is.na(shape[3L]) && shape[3L] != self$input_dim) {
    return(paste0("it was built for ", self$input_dim, " input features"))
  }
  out_units <- rnn_output_units(self)
  if (isTRUE(cfg$return_sequences)) c(shape[1:2], out_units) else c(shape[1L], out_units)
}

rnn_output_units <- function(self) self$config$units

register_layer_type(new_layer_type(
  type = "gru", class_name = "GRU",
  forward = gru_forward,
  gradients = gru_backward,
  train_forward = gru_layer_train_forward,
  backward = gru_layer_backward,
  state_gradients = TRUE,
  weight_shapes = gru_weight_shapes,
  build = gru_build,
  format = gru_format,
  regularized = gru_regularized,
  constrained = gru_constrained,
  output_shape = gru_output_shape,
  build_shape = function(self, shape) {
    if (!self$built && !is.na(shape[3L])) gru_build(self, shape[3L])
  },
  recurrent = TRUE,
  weight_layout_hint = gru_weight_layout_hint,
  kernel_columns = gru_kernel_columns,
  constructor = layer_gru, constructor_dots = gru_dots
))
