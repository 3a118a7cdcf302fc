# layer_gradients(): the C++ backpropagation through time against central
# finite differences of the C++ forward pass, in float64. The loss is
# sum(output * R) + sum(state * S) with random R and S, so grad_output = R and
# grad_state = S. Relative error = max |analytic - numeric| / max |numeric|.

# Internals this file uses (the suite also runs outside the namespace).
for (fn in c("layer_self", "draw_dropout_masks", "gru_forward", "gru_layer_gradients",
             "gru_prepare_call", "cpp_gru_train_forward", "cpp_gru_train_backward",
             "cpp_gru_forward", "cpp_activate",
             "cpp_activation_derivative", "activation_codes", "%||%")) {
  assign(fn, get(fn, envir = asNamespace("gru")))
}

# A float64 layer with random, non-trivial weights (biases included), inputs
# scaled by `x_scale`, and the dropout masks drawn once.
gradient_case <- function(..., B = 2L, T = 4L, F = 3L, H = 3L, mask = NULL,
                          initial_state = FALSE, training = FALSE,
                          grad_state = TRUE, x_scale = 1, seed = 1,
                          dtype = "float64") {
  set.seed(seed)
  layer <- layer_gru(units = H, dtype = dtype, input_shape = c(T, F), ...)
  w <- lapply(layer$get_weights(), function(w) {
    w + array(stats::rnorm(length(w), sd = 0.3), dim(w) %||% length(w))
  })
  layer$set_weights(w)
  self <- layer_self(layer)
  x <- array(stats::rnorm(B * T * F, sd = x_scale), c(B, T, F))
  h0 <- if (initial_state) matrix(stats::rnorm(B * H), B, H)
  n_out <- if (isTRUE(layer$return_sequences)) c(B, T, H) else c(B, H)
  list(
    layer = layer, self = self, x = x, h0 = h0, mask = mask,
    training = training,
    drop = draw_dropout_masks(self, training, B, F),
    R = array(stats::rnorm(prod(n_out)), n_out),
    S = if (grad_state) matrix(stats::rnorm(B * H), B, H)
  )
}

case_loss <- function(cs, x = cs$x, h0 = cs$h0) {
  res <- gru_forward(cs$self, x, mask = cs$mask, training = cs$training,
                     initial_state = h0, dropout = cs$drop)
  sum(res$output * cs$R) + if (is.null(cs$S)) 0 else sum(res$states[[1L]] * cs$S)
}

case_gradients <- function(cs) {
  gru_layer_gradients(cs$layer, cs$x, cs$R, grad_state = cs$S, mask = cs$mask,
                      initial_state = cs$h0, training = cs$training,
                      dropout = cs$drop)
}

central_difference <- function(v, f, eps = 1e-6) {
  out <- v
  for (i in seq_along(v)) {
    vp <- v
    vp[i] <- v[i] + eps
    vm <- v
    vm[i] <- v[i] - eps
    out[i] <- (f(vp) - f(vm)) / (2 * eps)
  }
  out
}

# Relative errors of every gradient of a case.
gradient_errors <- function(cs) {
  g <- case_gradients(cs)
  rel <- function(a, b) max(abs(a - b)) / max(1e-8, abs(b))
  errs <- c(inputs = rel(g$inputs, central_difference(cs$x, function(v) case_loss(cs, x = v))))
  if (!is.null(cs$h0)) {
    errs["initial_state"] <- rel(
      g$initial_state, central_difference(cs$h0, function(v) case_loss(cs, h0 = v))
    )
  }
  w <- cs$self$weights
  on.exit(cs$self$weights <- w)
  for (nm in names(w)) {
    num <- central_difference(w[[nm]], function(v) {
      cs$self$weights[[nm]] <- v
      case_loss(cs)
    })
    cs$self$weights <- w
    errs[nm] <- rel(g[[nm]], num)
  }
  expect_setequal(names(g), c("inputs", "initial_state", names(w)))
  errs
}

expect_gradients_match <- function(..., tol = 1e-6) {
  errs <- gradient_errors(gradient_case(...))
  expect_true(all(errs <= tol), info = paste(names(errs), format(errs), collapse = ", "))
  invisible(errs)
}

mask_patterns <- list(
  right = matrix(c(TRUE, TRUE, TRUE, FALSE, TRUE, TRUE, FALSE, FALSE), 2, 4, byrow = TRUE),
  left = matrix(c(FALSE, TRUE, TRUE, TRUE, FALSE, FALSE, TRUE, TRUE), 2, 4, byrow = TRUE),
  holes = matrix(c(TRUE, FALSE, TRUE, TRUE, TRUE, TRUE, FALSE, TRUE), 2, 4, byrow = TRUE),
  full_row = matrix(c(FALSE, FALSE, FALSE, FALSE, TRUE, FALSE, TRUE, TRUE), 2, 4, byrow = TRUE)
)

test_that("gradients match finite differences for both reset_after conventions", {
  for (ra in c(TRUE, FALSE)) {
    for (seq in c(TRUE, FALSE)) {
      expect_gradients_match(reset_after = ra, return_sequences = seq)
      expect_gradients_match(reset_after = ra, return_sequences = seq,
                             grad_state = FALSE, seed = 2)
    }
  }
})

test_that("gradients match finite differences with units that fill whole vectors", {
  # H = 20: whole SIMD vectors plus a tail at every width (16 or 8 floats,
  # 8 or 4 doubles), so the fused row kernels run both paths; the defaults
  # (tanh, sigmoid) take them, masks and dropout the branches around them.
  for (ra in c(TRUE, FALSE)) {
    expect_gradients_match(reset_after = ra, return_sequences = TRUE, B = 3L, T = 5L,
                           F = 2L, H = 20L, initial_state = TRUE,
                           mask = matrix(c(TRUE, TRUE, FALSE), 3, 5))
    expect_gradients_match(reset_after = ra, return_sequences = FALSE, B = 3L, T = 5L,
                           F = 2L, H = 20L, dropout = 0.3, recurrent_dropout = 0.3,
                           training = TRUE, seed = 3)
  }
})

test_that("every instruction set gives the same forward pass and gradients", {
  skip_if_not_installed("callr")
  # GRU_ISA caps the kernel set for a process; it is read once, so each set
  # runs in a fresh R session and is compared with this session's choice.
  run <- function(ra, dtype) {
    set.seed(5)
    layer <- gru::layer_gru(units = 21, reset_after = ra, dtype = dtype,
                            return_sequences = TRUE, input_shape = c(6, 5))
    w <- lapply(layer$get_weights(), function(w) w + stats::rnorm(length(w), sd = 0.2))
    layer$set_weights(w)
    x <- array(stats::rnorm(9 * 6 * 5), c(9, 6, 5))
    mask <- matrix(TRUE, 9, 6)
    mask[2, 4:6] <- FALSE
    mask[7, 1] <- FALSE
    go <- array(stats::rnorm(9 * 6 * 21), c(9, 6, 21))
    list(isa = gru::backend_info()$cpu_kernels, output = layer(x, mask = mask),
         grads = gru::layer_gradients(layer, x, go, mask = mask))
  }
  for (ra in c(TRUE, FALSE)) {
    for (dtype in c("float32", "float64")) {
      here <- run(ra, dtype)
      for (isa in c("generic", "avx2")) {
        there <- callr::r(
          function(run, ra, dtype) run(ra, dtype),
          args = list(run = run, ra = ra, dtype = dtype),
          env = c(callr::rcmd_safe_env(), GRU_ISA = isa), libpath = .libPaths()
        )
        # A cap, not a choice: a CPU without AVX2 stays generic.
        sets <- c("generic", "avx2", "avx512")
        expect_identical(there$isa, sets[min(match(c(isa, here$isa), sets))])
        tol <- if (dtype == "float32") 1e-5 else 1e-12
        expect_equal(there[-1], here[-1], tolerance = tol, info = paste(isa, ra, dtype))
      }
    }
  }
})

test_that("gradients match finite differences for every activation", {
  acts <- setdiff(gru_activations(), c("swish", "hard_swish"))
  for (a in acts) {
    expect_gradients_match(activation = a, return_sequences = TRUE)
    expect_gradients_match(recurrent_activation = a, reset_after = FALSE)
  }
  # Large inputs reach the flat and clipped parts of the piecewise ones
  # (random points, so never exactly at a kink).
  for (a in c("relu", "relu6", "hard_sigmoid", "hard_sigmoid_keras2", "hard_silu")) {
    expect_gradients_match(activation = a, recurrent_activation = a, x_scale = 6,
                           return_sequences = TRUE, seed = 3)
  }
})

test_that("activation derivatives match finite differences and TF's kinks", {
  u <- c(-7.3, -4.1, -2.2, -0.7, -0.05, 0.3, 1.9, 2.6, 4.4, 6.8)
  for (a in setdiff(gru_activations(), c("swish", "hard_swish"))) {
    code <- activation_codes[[a]]
    num <- central_difference(u, function(v) sum(cpp_activate(v, code, TRUE)))
    # central_difference() perturbs one entry at a time, so this is f'(u).
    expect_equal(cpp_activation_derivative(u, code), num, tolerance = 1e-7, info = a)
  }
  d <- function(a, x) cpp_activation_derivative(x, activation_codes[[a]])
  expect_equal(d("relu", c(-1, 0, 1)), c(0, 0, 1))
  expect_equal(d("relu6", c(0, 6, 3)), c(0, 0, 1))
  expect_equal(d("hard_sigmoid", c(-3, 3)), c(0, 0))
  expect_equal(d("elu", 0), 1)
})

test_that("gradients match finite differences under masks of any pattern", {
  for (nm in names(mask_patterns)) {
    m <- mask_patterns[[nm]]
    expect_gradients_match(mask = m, return_sequences = TRUE)
    expect_gradients_match(mask = m, return_sequences = FALSE, reset_after = FALSE,
                           initial_state = TRUE)
    expect_gradients_match(mask = m, return_sequences = TRUE, initial_state = TRUE,
                           zero_output_for_mask = TRUE)
    expect_gradients_match(mask = m, return_sequences = TRUE, go_backwards = TRUE,
                           initial_state = TRUE)
  }
})

test_that("gradients match finite differences for go_backwards and initial_state", {
  for (seq in c(TRUE, FALSE)) {
    expect_gradients_match(go_backwards = TRUE, return_sequences = seq)
    expect_gradients_match(initial_state = TRUE, return_sequences = seq)
    expect_gradients_match(go_backwards = TRUE, initial_state = TRUE,
                           return_sequences = seq, reset_after = FALSE)
  }
  expect_gradients_match(return_state = TRUE, initial_state = TRUE)
})

test_that("gradients match finite differences without a bias", {
  expect_gradients_match(use_bias = FALSE)
  expect_gradients_match(use_bias = FALSE, reset_after = FALSE, return_sequences = TRUE)
})

test_that("gradients match finite differences with dropout masks", {
  for (impl in c(1, 2)) {
    for (ra in c(TRUE, FALSE)) {
      expect_gradients_match(dropout = 0.3, recurrent_dropout = 0.4, training = TRUE,
                             implementation = impl, reset_after = ra,
                             return_sequences = TRUE, initial_state = TRUE)
      expect_gradients_match(dropout = 0.3, training = TRUE, implementation = impl,
                             reset_after = ra, seed = 2)
      expect_gradients_match(recurrent_dropout = 0.3, training = TRUE,
                             implementation = impl, reset_after = ra, seed = 3)
    }
  }
  cs <- gradient_case(dropout = 0.3, recurrent_dropout = 0.4, training = TRUE,
                      implementation = 1)
  expect_length(cs$drop$input, 3 * 2 * 3)
  expect_true(any(cs$drop$input == 0) && any(cs$drop$recurrent == 0))
})

test_that("the training forward pass returns what the forward pass returns", {
  for (ra in c(TRUE, FALSE)) {
    cs <- gradient_case(reset_after = ra, return_sequences = TRUE, go_backwards = TRUE,
                        mask = mask_patterns$holes, initial_state = TRUE,
                        dropout = 0.2, recurrent_dropout = 0.2, training = TRUE)
    prep <- gru_prepare_call(cs$self, cs$x, mask = cs$mask, training = TRUE,
                             initial_state = cs$h0, dropout = cs$drop)
    res <- cpp_gru_train_forward(prep$engine, float64 = TRUE)
    fwd <- cpp_gru_forward(prep$engine, float64 = TRUE, gpu = FALSE)
    expect_equal(res$output, fwd$output, tolerance = 1e-14)
    expect_equal(res$state, fwd$state, tolerance = 1e-14)
    # No upstream gradient, no gradient.
    g <- cpp_gru_train_backward(res$cache, NULL, NULL, TRUE)
    expect_true(all(g$kernel == 0) && all(g$inputs == 0))
  }
})

test_that("the training step's forward pass returns what the forward pass returns", {
  # cpp_gru_train_forward() (what fit() and layer_gradients() run) writes its
  # output straight into R's double vectors, and cpp_gru_train_backward()
  # reads R's double output gradient in place; layer_gradients() returns
  # exactly those gradients, in Keras' layout.
  train_forward <- get("cpp_gru_train_forward", envir = asNamespace("gru"))
  train_backward <- get("cpp_gru_train_backward", envir = asNamespace("gru"))
  for (dtype in c("float32", "float64")) {
    for (seq in c(TRUE, FALSE)) {
      cs <- gradient_case(return_sequences = seq, dtype = dtype, B = 5L, T = 6L, F = 3L,
                          H = 19L, mask = matrix(c(TRUE, TRUE, FALSE, TRUE, FALSE), 5, 6),
                          zero_output_for_mask = TRUE, initial_state = TRUE)
      prep <- gru_prepare_call(cs$self, cs$x, mask = cs$mask, initial_state = cs$h0)
      f64 <- dtype == "float64"
      res <- train_forward(prep$engine, float64 = f64)
      fwd <- cpp_gru_forward(prep$engine, float64 = f64, gpu = FALSE)
      tol <- if (f64) 1e-14 else 1e-6
      expect_equal(res$output, fwd$output, tolerance = tol)
      expect_equal(res$state, fwd$state, tolerance = tol)
      expect_identical(dim(res$output), dim(fwd$output))
      g <- train_backward(res$cache, cs$R, as.double(cs$S), TRUE)
      ref <- gru_layer_gradients(cs$layer, cs$x, cs$R, grad_state = cs$S, mask = cs$mask,
                                 initial_state = cs$h0)
      for (nm in c("inputs", "initial_state", "kernel", "recurrent_kernel")) {
        expect_identical(g[[nm]], ref[[nm]], label = paste(dtype, seq, nm))
      }
      expect_identical(rbind(g$input_bias, g$recurrent_bias, deparse.level = 0), ref$bias)
      expect_identical(dim(g$kernel), dim(cs$self$weights$kernel))
    }
  }
})

test_that("the training backward pass checks its gradients' type and length", {
  # fit() passes double arrays uncopied, so the engine checks what it reads.
  train_forward <- get("cpp_gru_train_forward", envir = asNamespace("gru"))
  train_backward <- get("cpp_gru_train_backward", envir = asNamespace("gru"))
  cs <- gradient_case(return_sequences = TRUE, B = 3L, T = 4L, F = 2L, H = 5L)
  prep <- gru_prepare_call(cs$self, cs$x)
  fresh <- function() train_forward(prep$engine, float64 = TRUE)$cache
  expect_error(train_backward(fresh(), as.double(cs$R)[-1], NULL, TRUE),
               "`grad_output` has 59 elements, but the dims need 60", fixed = TRUE)
  expect_error(train_backward(fresh(), as.integer(cs$R), NULL, TRUE),
               "`grad_output` must be a double vector, not type 'integer'", fixed = TRUE)
  expect_error(train_backward(fresh(), cs$R, rep(0, 14), TRUE),
               "`grad_state` has 14 elements, but the dims need 15", fixed = TRUE)
  # an array (dims kept) gives what its values as a plain vector give
  expect_identical(train_backward(fresh(), array(as.double(cs$R), c(3, 4, 5)), NULL, TRUE),
                   train_backward(fresh(), as.double(cs$R), NULL, TRUE))
})

test_that("float32 gradients agree with float64", {
  for (ra in c(TRUE, FALSE)) {
    args <- list(reset_after = ra, return_sequences = TRUE, initial_state = TRUE,
                 mask = matrix(c(TRUE, FALSE, TRUE), 3, 6), B = 3L, T = 6L,
                 F = 4L, H = 5L)
    g64 <- case_gradients(do.call(gradient_case, args))
    g32 <- case_gradients(do.call(gradient_case, c(args, dtype = "float32")))
    for (nm in names(g64)) {
      rel <- max(abs(g32[[nm]] - g64[[nm]])) / max(abs(g64[[nm]]))
      expect_lt(rel, 1e-4, label = nm)
    }
  }
})

test_that("layer_gradients() returns gradients shaped like what they belong to", {
  set.seed(4)
  x <- array(stats::rnorm(2 * 5 * 3), c(2, 5, 3))
  layer <- layer_gru(units = 4, return_sequences = TRUE)
  g <- layer_gradients(layer, x, grad_output = array(1, c(2, 5, 4)))
  expect_named(g, c("inputs", "initial_state", "kernel", "recurrent_kernel", "bias"))
  expect_equal(dim(g$inputs), c(2L, 5L, 3L))
  expect_equal(dim(g$initial_state), c(2L, 4L))
  expect_equal(lapply(g[3:5], dim), lapply(layer$get_weights(), dim))
  expect_true(layer$built)

  layer2 <- layer_gru(units = 4, reset_after = FALSE, use_bias = FALSE)
  g2 <- layer_gradients(layer2, x, grad_output = NULL, grad_state = matrix(1, 2, 4))
  expect_named(g2, c("inputs", "initial_state", "kernel", "recurrent_kernel"))
  layer3 <- layer_gru(units = 4, reset_after = FALSE)
  g3 <- layer_gradients(layer3, x, grad_output = matrix(1, 2, 4))
  expect_length(g3$bias, 12L)
  expect_null(dim(g3$bias))
})

test_that("a stateful layer differentiates from its carried state and keeps it", {
  set.seed(5)
  x <- array(stats::rnorm(2 * 3 * 3), c(2, 3, 3))
  layer <- layer_gru(units = 2, stateful = TRUE, dtype = "float64")
  layer(x)
  state <- layer$states[[1L]]
  g <- layer_gradients(layer, x, grad_output = matrix(1, 2, 2))
  expect_equal(layer$states[[1L]], state)
  g_explicit <- layer_gradients(layer, x, grad_output = matrix(1, 2, 2),
                                initial_state = state)
  expect_equal(g, g_explicit)
})

test_that("layer_gradients() rejects bad arguments with classed errors", {
  x <- array(stats::runif(2 * 3 * 4), c(2, 3, 4))
  layer <- layer_gru(units = 2)
  expect_error(layer_gradients("gru", x, matrix(0, 2, 2)), class = "gru_error_input")
  expect_error(layer_gradients(layer, x), class = "gru_error_input")
  expect_error(layer_gradients(layer, x, matrix(0, 2, 3)), class = "gru_error_shape")
  expect_error(layer_gradients(layer, x, "a"), class = "gru_error_input")
  expect_error(layer_gradients(layer, x, matrix(NA_real_, 2, 2)), class = "gru_error_input")
  expect_error(layer_gradients(layer, x, matrix(0, 2, 2), grad_state = matrix(0, 3, 2)),
               class = "gru_error_shape")
  expect_error(layer_gradients(layer, x[, , 1], matrix(0, 2, 2)), class = "gru_error_shape")
  expect_error(layer_gradients(layer, x, matrix(0, 2, 2), training = "yes"),
               class = "gru_error_input")
  custom <- layer_gru(units = 2, activation = function(v) v, name = "custom")
  expect_error(layer_gradients(custom, x, matrix(0, 2, 2)), class = "gru_error_input")
  expect_snapshot(error = TRUE, layer_gradients(layer, x, matrix(0, 2, 3)))
  expect_snapshot(error = TRUE, layer_gradients(list(), x, matrix(0, 2, 2)))
  expect_snapshot(error = TRUE, layer_gradients(custom, x, matrix(0, 2, 2)))
})
