# Fuzzing the R/C++ boundary. Every cpp_* entry point (R/RcppExports.R) is
# called directly, bypassing the R checks, with seeded random dims, types
# and lengths: valid calls must return, and junk must make the call raise an
# R error. A crash (a read past an array, a cast of the wrong pointer) would
# end the test process; under ASan and UBSan (tools/check-sanitizers.sh) the
# bad reads that do not crash are reported too. The glue's checks are in
# src/rcpp_spec.h.

ns <- asNamespace("gru")
cpp <- function(name) get(name, envir = ns)

# What a call did: "value" or "error" (never anything else: a crash ends
# the process). Coercion warnings of junk arguments are beside the point.
outcome <- function(expr) {
  tryCatch(suppressWarnings({
    force(expr)
    "value"
  }), error = function(e) "error")
}

fuzzed <- c(
  "cpp_gru_forward", "cpp_gru_train_forward",
  "cpp_gru_train_backward", "cpp_train_workspace_new", "cpp_train_workspace_free",
  "cpp_packed_new",
  "cpp_packed_clear", "cpp_packed_bytes", "cpp_last_interrupted_step",
  "cpp_activation_derivative", "cpp_activate", "cpp_all_finite", "cpp_getenv",
  "cpp_cpu_cores", "cpp_in_forked_child", "cpp_backend_info", "cpp_self_memo",
  "cpp_conv1d_forward", "cpp_conv1d_backward", "cpp_gemm_bench", "cpp_conv1d_bench",
  "cpp_forward_plan"
)

test_that("the fuzz covers every cpp_* entry point", {
  expect_setequal(grep("^cpp_", ls(ns), value = TRUE), fuzzed)
})

# Junk for any argument: wrong types, NA, NULL, wrong lengths, huge and
# negative numbers, objects the glue never makes.
junk_values <- function(n) {
  list(
    NULL, NA, NA_real_, NA_integer_, "a", character(), TRUE, c(TRUE, FALSE),
    0L, 1:3, -1, 1e10, 2^31, .Machine$integer.max, -.Machine$integer.max,
    stats::runif(max(0L, n - 1L)), stats::runif(n + 1L), numeric(), c(NaN, Inf),
    list(1, 2), list(), new.env(), function(x) x, quote(x), 1i, as.raw(1),
    matrix(0, 2, 2), cpp("cpp_packed_new")(),
    unserialize(serialize(cpp("cpp_packed_new")(), NULL))
  )
}

# A valid call of the sequence entry points: random small dims (B, T, F, H)
# and options, and arrays of exactly the lengths they imply.
valid_call <- function() {
  d <- sample(1:4, 4, replace = TRUE)
  b <- d[1]
  t <- d[2]
  f <- d[3]
  h <- d[4]
  reset_after <- sample(c(TRUE, FALSE), 1)
  bias <- sample(c(TRUE, FALSE), 1)
  gates <- sample(c(0L, 1L, 3L), 2, replace = TRUE)
  list(
    x = stats::runif(b * t * f), dims = as.integer(d),
    kernel = stats::runif(f * 3 * h) - 0.5,
    recurrent_kernel = stats::runif(h * 3 * h) - 0.5,
    input_bias = if (bias) stats::runif(3 * h),
    recurrent_bias = if (bias && reset_after) stats::runif(3 * h),
    mask = if (sample(c(TRUE, FALSE), 1)) stats::runif(b * t) > 0.3,
    initial_state = if (sample(c(TRUE, FALSE), 1)) stats::runif(b * h),
    dropout_mask = if (gates[1] > 0) stats::runif(gates[1] * b * f),
    recurrent_dropout_mask = if (gates[2] > 0) stats::runif(gates[2] * b * h),
    options = list(
      activation = sample(0:16, 1), recurrent_activation = sample(0:16, 1),
      reset_after = reset_after, go_backwards = sample(c(TRUE, FALSE), 1),
      return_sequences = sample(c(TRUE, FALSE), 1),
      zero_output_for_mask = sample(c(TRUE, FALSE), 1),
      dropout_gates = gates[1], recurrent_dropout_gates = gates[2],
      threads = sample(1:2, 1)
    )
  )
}

array_args <- c("x", "kernel", "recurrent_kernel", "input_bias", "recurrent_bias",
                "mask", "initial_state", "dropout_mask", "recurrent_dropout_mask")

# The arguments of each sequence entry point, from a valid call.
forward_args <- function(v, float64 = TRUE) {
  c(v, list(float64 = float64, gpu = FALSE, packed = NULL))
}
train_args <- function(v, float64 = TRUE) c(v, list(float64 = float64))

sequence_entry_points <- list(
  cpp_gru_forward = forward_args,
  cpp_gru_train_forward = train_args
)

# Calls a sequence entry point with a flat argument list: the call's
# description (the `engine` list gru_prepare_call() builds, which the glue
# parses once: parse_call(), src/rcpp_spec.h) and the pass's own arguments.
engine_fields <- c(array_args[1], "dims", array_args[-1], "options")
call_entry <- function(name, args) {
  engine <- args[intersect(engine_fields, names(args))]
  rest <- args[setdiff(names(args), engine_fields)]
  do.call(cpp(name), c(list(engine = engine), rest))
}

# The length each array argument must have for dims `d` (B, T, F, H); the
# dropout masks for one gate block (absent ones must be NULL).
want_lengths <- function(v, d = v$dims) {
  b <- d[1]
  t <- d[2]
  f <- d[3]
  h <- d[4]
  gates <- c(v$options$dropout_gates, v$options$recurrent_dropout_gates)
  c(x = b * t * f, kernel = f * 3 * h, recurrent_kernel = h * 3 * h,
    input_bias = 3 * h, recurrent_bias = 3 * h, mask = b * t, initial_state = b * h,
    dropout_mask = max(1, gates[1]) * b * f,
    recurrent_dropout_mask = max(1, gates[2]) * b * h)
}

# An array argument of `n` values changed so that it cannot fit the dims:
# one value more or less, integers or a character vector.
misfit <- function(n) {
  switch(sample(4, 1),
         stats::runif(n + 1L),
         stats::runif(max(0L, n - 1L)),
         rep(1L, n),
         rep("1", n))
}

test_that("valid random calls of the sequence entry points return", {
  gru:::with_seed(20240601, {
    for (name in names(sequence_entry_points)) {
      for (i in 1:60) {
        args <- sequence_entry_points[[name]](valid_call(), float64 = i %% 2 == 0)
        expect_identical(outcome(call_entry(name, args)), "value",
                         info = paste(name, i, deparse(args$dims)))
      }
    }
  })
})

test_that("an array that does not fit its dims is an error in every sequence entry point", {
  gru:::with_seed(20240602, {
    for (name in names(sequence_entry_points)) {
      for (i in 1:80) {
        v <- valid_call()
        arg <- sample(array_args, 1)
        # An optional array may be absent; it is made present and wrong.
        v[arg] <- list(misfit(want_lengths(v)[[arg]]))
        args <- sequence_entry_points[[name]](v, float64 = i %% 2 == 0)
        expect_identical(outcome(call_entry(name, args)), "error",
                         info = paste(name, arg, i))
      }
    }
  })
})

test_that("a call description that is not the engine list is an error", {
  gru:::with_seed(20240608, {
    for (name in names(sequence_entry_points)) {
      f <- function(engine) {
        do.call(cpp(name), c(list(engine = engine), sequence_entry_points[[name]](list())))
      }
      v <- valid_call()
      expect_identical(outcome(f(v)), "value")
      for (junk in junk_values(3)) expect_identical(outcome(f(junk)), "error")
      for (field in names(v)) {
        expect_identical(outcome(f(v[setdiff(names(v), field)])), "error", info = field)
        expect_identical(outcome(f(c(v, v[field]))), "error", info = field)
      }
      expect_identical(outcome(f(c(v, list(extra = 1)))), "error")
      expect_identical(outcome(f(unname(v))), "error")
      expect_identical(outcome(f(rev(v))), "value")  # by name, in any order
    }
  })
})

test_that("dims that claim more than the arrays hold are errors, before any allocation", {
  gru:::with_seed(20240603, {
    claims <- list(c(1e6, 1e6, 1e6, 1e6), c(2^31 - 1, 1, 1, 1), c(1, 1, 1, 2^31 - 1),
                   c(1, 1, 1, 715827000), c(65536, 32769, 1, 1), c(0, 1, 1, 1),
                   c(-1, 2, 3, 4), c(NA, 1, 1, 1), c(1, 2, 3), 1:5, numeric())
    for (name in names(sequence_entry_points)) {
      for (claim in claims) {
        args <- sequence_entry_points[[name]](valid_call())
        args$dims <- claim
        expect_identical(outcome(call_entry(name, args)), "error",
                         info = paste(name, deparse(claim)))
      }
      # A valid call told other dims: an error unless every array it
      # holds still has the length they need.
      for (i in 1:40) {
        v <- valid_call()
        args <- sequence_entry_points[[name]](v)
        args$dims <- sample(1:4, 4, replace = TRUE)
        present <- intersect(array_args, names(Filter(Negate(is.null), args)))
        fits <- identical(want_lengths(v, args$dims)[present],
                          want_lengths(v)[present])
        expect_identical(outcome(call_entry(name, args)), if (fits) "value" else "error",
                         info = paste(name, i))
      }
    }
  })
})

test_that("junk in any argument of the sequence entry points returns or errors", {
  gru:::with_seed(20240604, {
    for (name in names(sequence_entry_points)) {
      for (i in 1:250) {
        v <- valid_call()
        args <- sequence_entry_points[[name]](v)
        # One to three arguments (or option entries) replaced by junk.
        for (k in seq_len(sample(3, 1))) {
          junk <- junk_values(length(v$x))
          value <- junk[[sample(length(junk), 1)]]
          if (sample(4, 1) == 1 && length(names(args$options))) {
            opt <- sample(names(args$options), 1)
            args$options[opt] <- list(value)
          } else {
            arg <- sample(names(args), 1)
            args[arg] <- list(value)
          }
        }
        expect_true(outcome(call_entry(name, args)) %in% c("value", "error"),
                    info = paste(name, i))
      }
    }
  })
})

test_that("the training backward pass refuses junk caches and gradients", {
  gru:::with_seed(20240605, {
    train_forward <- cpp("cpp_gru_train_forward")
    train_backward <- cpp("cpp_gru_train_backward")
    for (i in 1:60) {
      v <- valid_call()
      res <- train_forward(v, float64 = i %% 2 == 0)
      d <- v$dims
      n_out <- d[1] * d[4] * if (v$options$return_sequences) d[2] else 1
      bad <- junk_values(n_out)
      g_out <- bad[[sample(length(bad), 1)]]
      g_state <- bad[[sample(length(bad), 1)]]
      fits <- function(g, n) is.null(g) || is.double(g) && length(g) == n
      got <- outcome(train_backward(res$cache, g_out, g_state, TRUE))
      want <- if (fits(g_out, n_out) && fits(g_state, d[1] * d[4])) "value" else "error"
      expect_identical(got, want, info = i)
      # A cache is consumed once (or, after a refused call, still whole).
      if (identical(got, "value")) {
        expect_identical(outcome(train_backward(res$cache, NULL, NULL, TRUE)), "error")
      } else {
        expect_identical(outcome(train_backward(res$cache, NULL, NULL, FALSE)), "value")
      }
      cache <- bad[[sample(length(bad), 1)]]
      expect_identical(outcome(train_backward(cache, NULL, NULL, TRUE)), "error")
      expect_true(outcome(train_backward(res$cache, NULL, NULL, bad[[sample(length(bad), 1)]])) %in%
                    c("value", "error"))
    }
    # A cache read back from a file holds no address; a packed-weights
    # pointer is not a cache, nor is a cache a packed-weights pointer.
    v <- valid_call()
    res <- call_entry("cpp_gru_train_forward", train_args(v))
    expect_identical(outcome(train_backward(unserialize(serialize(res$cache, NULL)),
                                            NULL, NULL, TRUE)), "error")
    expect_identical(outcome(train_backward(cpp("cpp_packed_new")(), NULL, NULL, TRUE)), "error")
    expect_identical(outcome(cpp("cpp_gru_forward")(v, TRUE, FALSE, packed = res$cache)),
                     "error")
    # fit()'s workspace: lent to a step and handed back, freed, lent again;
    # any other pointer, or junk, is refused where a workspace is asked for.
    ws <- cpp("cpp_train_workspace_new")()
    for (i in 1:2) {
      res <- train_forward(v, TRUE, workspace = ws)
      expect_identical(outcome(train_backward(res$cache, NULL, NULL, TRUE)), "value")
    }
    expect_identical(outcome(cpp("cpp_train_workspace_free")(ws)), "value")
    res <- train_forward(v, TRUE, workspace = ws)
    expect_identical(outcome(train_backward(res$cache, NULL, NULL, TRUE)), "value")
    for (bad in list(res$cache, cpp("cpp_packed_new")(), 1, "a",
                     unserialize(serialize(ws, NULL)))) {
      expect_identical(outcome(train_forward(v, TRUE, workspace = bad)),
                       "error")
      expect_identical(outcome(cpp("cpp_train_workspace_free")(bad)), "error")
    }
  })
})

test_that("the packed-weights entry points take only their own pointers", {
  gru:::with_seed(20240606, {
    p <- cpp("cpp_packed_new")()
    v <- valid_call()
    args <- forward_args(v, FALSE)
    args$packed <- p
    expect_identical(outcome(call_entry("cpp_gru_forward", args)), "value")
    expect_gt(cpp("cpp_packed_bytes")(p), 0)
    expect_identical(outcome(cpp("cpp_packed_clear")(p)), "value")
    expect_identical(cpp("cpp_packed_bytes")(p), 0)
    expect_identical(cpp("cpp_packed_bytes")(NULL), 0)
    # Everything else, a pointer read back from a file included, is refused.
    junk <- Filter(Negate(is.null), junk_values(3))
    live <- vapply(junk, function(j) identical(outcome(cpp("cpp_packed_bytes")(j)), "value"),
                   logical(1))
    expect_identical(sum(live), 1L)  # the fresh cpp_packed_new() among the junk
    for (value in junk[!live]) {
      expect_identical(outcome(cpp("cpp_packed_bytes")(value)), "error")
      expect_identical(outcome(cpp("cpp_packed_clear")(value)), "error")
      args$packed <- value
      expect_identical(outcome(call_entry("cpp_gru_forward", args)), "error")
    }
  })
})

test_that("the small entry points return or error on junk", {
  gru:::with_seed(20240607, {
    for (i in 1:100) {
      junk <- junk_values(sample(0:5, 1))
      x <- junk[[sample(length(junk), 1)]]
      code <- junk[[sample(length(junk), 1)]]
      flag <- junk[[sample(length(junk), 1)]]
      expect_true(outcome(cpp("cpp_activation_derivative")(x, code)) %in% c("value", "error"))
      expect_true(outcome(cpp("cpp_activate")(x, code, flag)) %in% c("value", "error"))
      expect_true(outcome(cpp("cpp_all_finite")(x)) %in% c("value", "error"))
      expect_true(outcome(cpp("cpp_getenv")(x)) %in% c("value", "error"))
    }
    # Codes outside the table, non-doubles and non-strings are errors.
    for (code in c(-1L, 17L, NA_integer_, .Machine$integer.max)) {
      expect_identical(outcome(cpp("cpp_activate")(c(0.5, 1), code, TRUE)), "error")
      expect_identical(outcome(cpp("cpp_activation_derivative")(c(0.5, 1), code)), "error")
    }
    expect_identical(outcome(cpp("cpp_all_finite")(1:3)), "error")
    expect_identical(cpp("cpp_all_finite")(c(1, 2)), TRUE)
    expect_identical(outcome(cpp("cpp_getenv")(list("PATH"))), "error")
    expect_identical(cpp("cpp_getenv")(NA_character_), "")
    # check_self()'s memo lookup: any junk self, memo or names is a miss
    # (NULL) or an error.
    layer <- layer_gru(units = 2)
    layer(array(0, c(1, 2, 3)))  # builds it after the check: the memo is stale
    layer(array(0, c(1, 2, 3)))
    self <- gru:::layer_self(layer)
    names <- gru:::self_check_bindings
    expect_true(is.environment(cpp("cpp_self_memo")(self, names)))
    for (i in 1:60) {
      junk <- junk_values(sample(0:3, 1))
      s <- if (i %% 3 == 0) new.env() else self
      n <- if (i %% 2 == 0) junk[[sample(length(junk), 1)]] else names
      if (i %% 5 == 0) assign("self_check", junk[[sample(length(junk), 1)]], envir = s)
      res <- outcome(cpp("cpp_self_memo")(if (i %% 7 == 0) junk[[1 + i %% length(junk)]] else s, n))
      expect_true(res %in% c("value", "error"))
    }
    # The entry points without arguments.
    expect_gte(cpp("cpp_cpu_cores")(), 1L)
    expect_type(cpp("cpp_in_forked_child")(), "logical")
    expect_type(cpp("cpp_backend_info")(), "list")
    expect_type(cpp("cpp_last_interrupted_step")(), "double")
  })
})

# Conv1D's entry points: a valid call of random small sizes, then each
# argument replaced by junk or the spec by sizes that do not fit.
conv_call <- function() {
  b <- sample(1:3, 1); t <- sample(3:7, 1); ch <- sample(1:3, 1); f <- sample(1:3, 1)
  k <- sample(1:3, 1); stride <- sample(1:2, 1); dil <- if (stride == 1) sample(1:2, 1) else 1L
  span <- (k - 1L) * dil + 1L
  pad <- sample(c(0L, span - 1L), 1)
  out <- (t + pad - span) %/% stride + 1L
  list(x = stats::runif(b * t * ch),
       spec = as.integer(c(b, t, ch, f, k, stride, dil, pad, out)),
       kernel = stats::runif(k * ch * f), bias = stats::runif(f), out = b * out * f)
}

test_that("the conv1d entry points return on valid calls and raise errors on junk", {
  gru:::with_seed(20240610, {
    fwd <- cpp("cpp_conv1d_forward")
    bwd <- cpp("cpp_conv1d_backward")
    for (i in 1:40) {
      v <- conv_call()
      f64 <- i %% 2 == 0
      expect_identical(outcome(fwd(v$x, v$spec, v$kernel, v$bias, 0L, FALSE, 1L, f64)), "value")
      expect_identical(outcome(bwd(v$x, v$spec, v$kernel, stats::runif(v$out), TRUE, TRUE,
                                   1L, f64)), "value")
      bad <- v$spec
      k <- sample(9, 1)
      bad[k] <- sample(c(-1L, 0L, NA_integer_, .Machine$integer.max), 1)
      if (k == 8L && !is.na(bad[k]) && bad[k] == 0L) bad[k] <- -1L
      expect_identical(outcome(fwd(v$x, bad, v$kernel, v$bias, 0L, FALSE, 1L, f64)), "error",
                       info = paste(i, deparse(bad)))
      # junk of the right type and length would be a valid array: left out
      fits <- function(j, n) is.double(j) && length(j) == n
      for (j in junk_values(length(v$x))) {
        if (!fits(j, length(v$x))) {
          expect_identical(outcome(fwd(j, v$spec, v$kernel, v$bias, 0L, FALSE, 1L, f64)), "error")
        }
        if (!fits(j, length(v$kernel))) {
          expect_identical(outcome(bwd(v$x, v$spec, j, stats::runif(v$out), TRUE, TRUE, 1L, f64)),
                           "error")
        }
      }
    }
    expect_identical(outcome(cpp("cpp_gemm_bench")(matrix(1, 2, 3), matrix(1, 2, 2), 1L, 1L, FALSE)),
                     "error")
    expect_identical(outcome(cpp("cpp_gemm_bench")(matrix(1, 2, 2), matrix(1, 2, 2), -5L, 1L, FALSE)),
                     "error")
    v <- conv_call()
    expect_identical(outcome(cpp("cpp_conv1d_bench")(v$x, v$spec, v$kernel, v$bias, 0L, 1L, FALSE)),
                     "error")
  })
})

test_that("cpp_forward_plan() returns a plan or an error for junk", {
  gru:::with_seed(20261203, {
    for (i in 1:80) {
      v <- valid_call()
      junk <- junk_values(sample(0:4, 1))
      args <- list(v$dims, v$options, 16L, 14L, 4L, 2^21, FALSE)
      if (i %% 2 == 0) args[[1 + i %% 7]] <- junk[[sample(length(junk), 1)]]
      res <- outcome(do.call(cpp("cpp_forward_plan"), args))
      expect_true(res %in% c("value", "error"))
      if (i %% 2 == 1) expect_identical(res, "value")
    }
    v <- valid_call()
    for (bad in list(list(width = 0L), list(tile_rows = 65L), list(elem_size = 2L),
                     list(l2_bytes = NaN))) {
      args <- utils::modifyList(list(dims = v$dims, options = v$options, width = 16L,
                                     tile_rows = 14L, elem_size = 4L, l2_bytes = 2^21,
                                     layer_cache = FALSE), bad)
      expect_identical(outcome(do.call(cpp("cpp_forward_plan"), args)), "error")
    }
  })
})
