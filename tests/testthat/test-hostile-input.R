# Hostile and careless input: no crash, no silent wrong answer, a classed
# error for everything. One test per kind of input: objects tampered with
# (by hand or in the file they were read from), user functions that fail or
# return junk, arguments that used to be accepted, broken configs, and the
# messages of set_weights(). The C++ boundary itself is fuzzed in
# test-fuzz-boundary.R.

x <- array(stats::runif(2 * 4 * 3), c(2, 4, 3))

# A built layer and its `self`, to tamper with.
built <- function(layer, input = x) {
  layer(input)
  layer
}

# `layer` after saveRDS() and readRDS(), as an edited file would be read.
round_trip <- function(layer) {
  path <- tempfile(fileext = ".rds")
  on.exit(unlink(path))
  saveRDS(layer, path)
  readRDS(path)
}

test_that("a tampered layer or model is refused before the engine runs", {
  tamper <- function(layer, edit) {
    edit(gru:::layer_self(layer))
    layer
  }
  # A GRU layer: the weights, the config, the state, the type, the format.
  cases <- list(
    kernel_rows = list(function(s) s$weights$kernel <- s$weights$kernel[1:2, ], "gru_error_weights"),
    recurrent_cols = list(function(s) s$weights$recurrent_kernel <- s$weights$recurrent_kernel[, 1:3], "gru_error_weights"),
    bias_1d = list(function(s) s$weights$bias <- as.vector(s$weights$bias), "gru_error_weights"),
    bias_int = list(function(s) storage.mode(s$weights$bias) <- "integer", "gru_error_weights"),
    units = list(function(s) s$config$units <- 50L, "gru_error_weights"),
    units_junk = list(function(s) s$config$units <- "five", "gru_error_input"),
    no_weights = list(function(s) s$weights <- NULL, "gru_error_weights"),
    renamed = list(function(s) names(s$weights) <- c("a", "b", "c"), "gru_error_weights"),
    input_dim = list(function(s) s$input_dim <- -3, "gru_error_input"),
    built = list(function(s) s$built <- NA, "gru_error_input"),
    config = list(function(s) s$config <- "units = 5", "gru_error_input"),
    name = list(function(s) s$config$name <- NULL, "gru_error_input"),
    no_type = list(function(s) s$type <- NULL, "gru_error_input"),
    unknown_type = list(function(s) s$type <- "lstm", "gru_error_input"),
    format = list(function(s) s$format_version <- "garbage", "gru_error_version"),
    rng = list(function(s) s$rng <- "seed", "gru_error_input")
  )
  for (nm in names(cases)) {
    layer <- tamper(built(layer_gru(units = 5, name = "g")), cases[[nm]][[1]])
    expect_error(layer(x), class = cases[[nm]][[2]], info = nm)
    # Read back from a file, the same object is refused the same way.
    expect_error(round_trip(layer)(x), class = cases[[nm]][[2]], info = nm)
  }
  # A stateful layer whose carried state does not fit.
  layer <- tamper(built(layer_gru(units = 5, stateful = TRUE, name = "s")),
                  function(s) s$state <- matrix(0, 2, 3))
  expect_error(layer(x), class = "gru_error_input")
  layer <- tamper(built(layer_gru(units = 5, stateful = TRUE)), function(s) s$batch_size <- "2")
  expect_error(layer(x), class = "gru_error_input")
  # Every path to the engine checks: the training pass, layer_gradients(),
  # a cell, layer_rnn(), a bidirectional layer's wrapped layers.
  bad_kernel <- function(s) s$weights$kernel <- s$weights$kernel[1:2, ]
  layer <- tamper(built(layer_gru(units = 5)), bad_kernel)
  expect_error(layer_gradients(layer, x, matrix(1, 2, 5)), class = "gru_error_weights")
  expect_error(gru:::layer_train_forward(layer, x), class = "gru_error_weights")
  cell <- layer_gru_cell(5, name = "c")
  cell(x[, 1, ])
  tamper(cell, bad_kernel)
  expect_error(cell(x[, 1, ]), class = "gru_error_weights")
  rnn <- built(layer_rnn(cell = layer_gru_cell(5, name = "rc")))
  tamper(gru:::layer_self(rnn)$cell, bad_kernel)
  expect_error(rnn(x), class = "gru_error_weights")
  stack <- built(layer_rnn(cell = list(rnn_cell_gru(4), rnn_cell_gru(3))))
  assign("cells", list(1, 2), envir = gru:::layer_self(gru:::layer_self(stack)$cell))
  expect_error(stack(x), class = "gru_error_input")
  rnn <- built(layer_rnn(cell = layer_gru_cell(5)))
  assign("cell", "a cell", envir = gru:::layer_self(rnn))
  expect_error(rnn(x), class = "gru_error_input")
  bi <- built(layer_bidirectional(layer = layer_gru(units = 3, name = "inner")))
  tamper(gru:::layer_self(bi)$backward_layer, function(s) s$config$units <- 4L)
  expect_error(bi(x), class = "gru_error_weights")
  expect_error(round_trip(bi)(x), class = "gru_error_weights")
  # Dense and embedding layers: a shrunk matrix (an embedding index past
  # its end used to read out of bounds).
  dense <- built(layer_dense(units = 2), matrix(1, 2, 3))
  tamper(dense, function(s) s$weights$kernel <- s$weights$kernel[1:2, , drop = FALSE])
  expect_error(dense(matrix(1, 2, 3)), class = "gru_error_weights")
  emb <- built(layer_embedding(input_dim = 10, output_dim = 3, name = "e"), matrix(1, 1, 2))
  tamper(emb, function(s) s$weights$embeddings <- s$weights$embeddings[1:4, ])
  expect_error(emb(matrix(c(1, 9), 1, 2)), class = "gru_error_weights")
  # A model whose layer list has junk in it, or a damaged layer: predict(),
  # a call, and training (train_on_batch()) refuse it.
  model <- keras_model_sequential(input_shape = c(4, 3), name = "m") |>
    layer_gru(units = 2, name = "mg") |>
    layer_dense(units = 1, name = "md")
  compile(model, optimizer = "sgd", loss = "mse")
  ms <- gru:::model_self(model)
  layers <- ms$layers
  ms$layers <- c(layers, list("a layer"))
  expect_error(predict(model, x), class = "gru_error_input")
  expect_error(model(x), class = "gru_error_input")
  ms$layers <- layers
  tamper(layers[[2]], function(s) s$weights$bias <- numeric())
  expect_error(predict(model, x), class = "gru_error_weights")
  expect_error(train_on_batch(model, x, matrix(0, 2, 1)), class = "gru_error_weights")
  expect_error(round_trip(model)(x), class = "gru_error_weights")
  # The glue refuses what gets past R anyway, as a gru_error_backend.
  layer <- built(layer_gru(units = 2))
  e <- gru:::gru_prepare_call(gru:::layer_self(layer), x)$engine
  e$kernel <- e$kernel[-1]
  cnd <- expect_error(
    gru:::with_backend_errors(gru:::cpp_gru_forward(e, float64 = FALSE, gpu = FALSE),
                              what = "GRU forward pass"),
    class = "gru_error_backend"
  )
  expect_match(conditionMessage(cnd$parent), "`kernel` has 17 elements, but the dims need 18")
  # get_config() works on a layer whose weights are damaged, so that the
  # layer can be recreated; a damaged type or config is refused there too.
  layer <- tamper(built(layer_gru(units = 5, name = "again")), bad_kernel)
  expect_equal(dim(from_config(get_config(layer))(x)), c(2L, 5L))
  tamper(layer, function(s) s$type <- 3)
  expect_error(get_config(layer), class = "gru_error_input")
  ms$layers <- c(layers, list("a layer"))
  expect_error(get_config(model), class = "gru_error_input")
  ms$layers <- layers
  # The layer is unchanged by the refusals: repaired, it runs.
  layer <- built(layer_gru(units = 5, name = "fixed"))
  good <- gru:::layer_self(layer)$weights
  tamper(layer, bad_kernel)
  expect_error(layer(x), class = "gru_error_weights")
  tamper(layer, function(s) s$weights <- good)
  expect_equal(dim(layer(x)), c(2L, 5L))

  layer <- tamper(built(layer_gru(units = 5, name = "g")), bad_kernel)
  expect_snapshot(error = TRUE, round_trip(layer)(x))
  layer <- tamper(built(layer_gru(units = 5, stateful = TRUE, name = "s")),
                  function(s) s$state <- matrix(0, 2, 3))
  expect_snapshot(error = TRUE, layer(x))
  ms$layers <- c(layers, list("a layer"))
  expect_snapshot(error = TRUE, predict(model, x))
})

test_that("user functions that fail or return junk are classed errors naming the argument", {
  bad_fns <- list(
    wrong_length = function(v) v[1],
    null = function(v) NULL,
    string = function(v) as.character(v),
    na = function(v) v * NA,
    transposed = function(v) if (is.matrix(v)) t(v) else rev(v),
    error = function(v) stop("the user's bug")
  )
  m <- matrix(stats::runif(6), 2, 3)
  for (nm in names(bad_fns)) {
    fn <- bad_fns[[nm]]
    # An activation: the GRU's R path, and a dense layer.
    expect_error(layer_gru(units = 3, activation = fn)(x), class = "gru_error_input", info = nm)
    expect_error(layer_gru(units = 3, recurrent_activation = fn)(x), class = "gru_error_input",
                 info = nm)
    if (nm != "transposed") {
      expect_error(layer_dense(units = 2, activation = fn)(m), class = "gru_error_input",
                   info = nm)
    }
    # An initializer gets the shape.
    init <- function(shape) fn(matrix(stats::runif(prod(shape)), shape[1]))
    expect_error(layer_gru(units = 3, kernel_initializer = init)(x),
                 class = "gru_error_input", info = nm)
    expect_error(layer_dense(units = 2, bias_initializer = fn)(m), class = "gru_error_input",
                 info = nm)
    # A constraint gets the weight, a regularizer gives one number (which
    # the first element is).
    layer <- built(layer_gru(units = 3, recurrent_constraint = fn))
    expect_error(layer$apply_constraints(), class = "gru_error_input", info = nm)
    expect_error(apply_constraint(fn, matrix(1, 2, 3)), class = "gru_error_input", info = nm)
    if (nm != "wrong_length") {
      layer <- built(layer_gru(units = 3, bias_regularizer = fn))
      expect_error(layer$losses, class = "gru_error_input", info = nm)
    }
  }
  # The user's own error is the parent.
  cnd <- expect_error(layer_gru(units = 3, activation = bad_fns$error, name = "ua")(x),
                      class = "gru_error_input")
  expect_match(conditionMessage(cnd$parent), "the user's bug")
  expect_error(layer_gru(units = 3, activation = bad_fns$na)(x), class = "gru_error_nonfinite")
  # A regularizer returning two numbers; training through a function
  # regularizer (which has no gradient) is a gru_error_fit.
  layer <- built(layer_gru(units = 3, kernel_regularizer = function(w) c(1, 2)))
  expect_error(layer$losses, class = "gru_error_input")
  model <- keras_model_sequential(input_shape = c(4, 3)) |>
    layer_gru(units = 2, kernel_regularizer = function(w) sum(w^2))
  compile(model, optimizer = "sgd", loss = "mse")
  expect_error(fit(model, x, matrix(0, 2, 2), epochs = 1, verbose = 0), class = "gru_error_fit")
  # Fine functions still work, their results used as they are.
  y <- layer_dense(units = 2, activation = function(v) pmax(v, 0), name = "relu_fn",
                   kernel_initializer = function(shape) matrix(0.5, shape[1], shape[2]))(m)
  expect_equal(y, pmax(m %*% matrix(0.5, 3, 2), 0))

  expect_snapshot(error = TRUE, layer_gru(units = 3, activation = bad_fns$error, name = "ua")(x))
  expect_snapshot(error = TRUE, layer_dense(units = 2, name = "ui",
                                            kernel_initializer = bad_fns$null)(m))
})

test_that("arguments that used to be accepted are classed errors", {
  layer <- layer_gru(units = 2, name = "a")
  dense <- layer_dense(units = 2)
  m <- matrix(1, 2, 3)
  # training = NA (or any non-flag), in every kind of call.
  for (bad in list(NA, "yes", c(TRUE, FALSE), 1)) {
    expect_error(layer(x, training = bad), class = "gru_error_input")
    expect_error(dense(m, training = bad), class = "gru_error_input")
    expect_error(layer_dropout(rate = 0.5)(m, training = bad), class = "gru_error_input")
    expect_error(layer_gru_cell(2)(m, training = bad), class = "gru_error_input")
  }
  model <- keras_model_sequential(input_shape = c(4, 3)) |> layer_gru(units = 2)
  expect_error(model(x, training = NA), class = "gru_error_input")
  # Counts beyond R's integers, and weights too large to create.
  expect_error(layer_gru(units = 2^31), class = "gru_error_input")
  expect_error(layer_gru(units = 1e9), class = "gru_error_input")
  expect_error(layer_gru_cell(units = 1e9), class = "gru_error_input")
  expect_error(layer_dense(units = 1e10), class = "gru_error_input")
  expect_error(layer_dense(units = 1e9)(m), class = "gru_error_input")
  expect_error(layer_embedding(input_dim = 1e9, output_dim = 1e3)(matrix(1, 1, 1)),
               class = "gru_error_input")
  expect_error(layer_gru(units = 2, seed = 2^31), class = "gru_error_input")
  expect_error(layer_dropout(rate = 0.5, seed = -1e10), class = "gru_error_input")
  expect_error(initializer_orthogonal(seed = 1e12), class = "gru_error_input")
  expect_error(gru_threads(2^31), class = "gru_error_input")
  # Thread settings that are junk are ignored, huge ones capped: with a
  # warning naming the setting, and the call still runs.
  vars <- c("GRU_NUM_THREADS", "OMP_THREAD_LIMIT", "_R_CHECK_LIMIT_CORES_")
  old <- options(gru.threads = NULL)
  old_env <- Sys.getenv(vars, unset = NA)
  on.exit({
    options(old)
    for (v in vars) {
      if (is.na(old_env[[v]])) Sys.unsetenv(v) else do.call(Sys.setenv, as.list(old_env[v]))
    }
  })
  Sys.unsetenv(vars)
  cap <- gru:::max_threads()
  for (value in list("junk", 0, 1e10)) {
    options(gru.threads = value)
    expect_warning(y <- layer(x), class = "gru_warning_threads")
    expect_equal(dim(y), c(2L, 2L))
  }
  expect_identical(suppressWarnings(gru_threads()), cap)
  options(gru.threads = NULL)
  Sys.setenv(GRU_NUM_THREADS = "many")
  expect_warning(layer(x), "GRU_NUM_THREADS", class = "gru_warning_threads")
  Sys.setenv(GRU_NUM_THREADS = "2")
  expect_no_warning(layer(x))
  # Extra positional arguments, unknown names, no inputs.
  expect_error(layer(x, array(1, c(2, 2))), class = "gru_error_input")
  expect_error(dense(m, matrix(1, 2, 1)), class = "gru_error_input")
  expect_error(layer(x, musk = NULL), class = "gru_error_unknown_argument")
  expect_error(layer(), class = "gru_error_input")
  cell <- layer_gru_cell(2)
  expect_error(cell(m, NULL, FALSE, "extra"), class = "gru_error_input")
  expect_error(cell(m, sates = NULL), class = "gru_error_unknown_argument")
  expect_error(from_config(get_config(layer), "GRU", "extra"), class = "gru_error_input")

  expect_snapshot(error = TRUE, layer(x, array(1, c(2, 2))))
  expect_snapshot(error = TRUE, layer_gru(units = 1e9))
  expect_snapshot(error = TRUE, layer_dense(units = 1e9, name = "big")(m))
})

test_that("broken configs are gru_error_config naming the key path", {
  cfg <- get_config(layer_gru(units = 3, name = "g"))
  expect_error(from_config(cfg, class_name = ""), class = "gru_error_config")
  expect_error(from_config(cfg, class_name = NA_character_), class = "gru_error_config")
  expect_error(from_config(list(class_name = "", config = cfg)), class = "gru_error_config")
  bad <- cfg
  bad$kernel_initializer <- list(class_name = "GlorotUniform", config = list(seed = NULL, bogus = 1))
  expect_error(from_config(bad), class = "gru_error_config")
  bad$kernel_initializer <- list(class_name = "GlorotUniform", config = list(1))
  expect_error(from_config(bad), class = "gru_error_config")
  bad <- cfg
  bad$bias_regularizer <- list(class_name = "L2", config = list(l2 = 0.1, l1 = 1))
  expect_error(from_config(bad), class = "gru_error_config")
  for (shape in list(list(NULL, list(5, 6), 3), list(NULL, "5", 3), c("2", "5", "3"),
                     list(NULL, 5), list(NULL, 2.5, 3))) {
    bad <- cfg
    bad$batch_input_shape <- shape
    expect_error(from_config(bad), class = "gru_error_config")
  }
  # A sequential model's layer list: junk entries, a broken nested layer, a
  # broken input shape; each names where in the config it is.
  model <- keras_model_sequential(input_shape = c(4, 3), name = "m") |>
    layer_bidirectional(layer = layer_gru(units = 2, name = "inner"), name = "bi") |>
    layer_dense(units = 1, name = "d")
  mc <- get_config(model)
  expect_equal(length(from_config(mc)$layers), 2L)
  # Each case edits the config; the error names where the edit is.
  cases <- list(
    "config$layers[[3]]" = function(c) { c$layers[[3]] <- 5; c },
    "config$layers" = function(c) { c$layers <- "layers"; c },
    "config$layers[[3]]" = function(c) { c$layers[[3]]$config$units <- -1; c },
    "config$layers[[3]]" = function(c) { c$layers[[3]]$config$bogus <- 1; c },
    "config$layers[[2]]$config$layer" = function(c) {
      c$layers[[2]]$config$layer$config$units <- "two"
      c
    },
    "config$layers[[2]]$config$layer" = function(c) { c$layers[[2]]$config$layer <- list(1); c },
    "config$layers[[1]]$config$batch_input_shape" = function(c) {
      c$layers[[1]]$config$batch_input_shape <- list(NULL, list(4), 3)
      c
    },
    "config$layers[[2]]" = function(c) { c$layers[[2]]$class_name <- ""; c }
  )
  for (i in seq_along(cases)) {
    cnd <- expect_error(from_config(cases[[i]](mc)), class = "gru_error_config", info = i)
    expect_match(conditionMessage(cnd), names(cases)[i], fixed = TRUE, info = i)
  }
  # A stacked-cell RNN and a stack's cells.
  rnn <- layer_rnn(cell = list(rnn_cell_gru(2), rnn_cell_gru(3)), name = "r")
  rc <- get_config(rnn)
  rc$cell$config$cells[[2]] <- "cell"
  cnd <- expect_error(from_config(rc), class = "gru_error_config")
  expect_match(conditionMessage(cnd), "config$cell$config$cells[[2]]", fixed = TRUE)

  bad <- mc
  bad$layers[[2]]$config$layer$config$units <- "two"
  expect_snapshot(error = TRUE, from_config(bad))
  bad <- cfg
  bad$kernel_initializer <- list(class_name = "GlorotUniform", config = list(seed = NULL, bogus = 1))
  expect_snapshot(error = TRUE, from_config(bad))
})

test_that("set_weights() names the layer, its weight and the model's index", {
  model <- keras_model_sequential(input_shape = c(4, 3), name = "m") |>
    layer_gru(units = 2, return_sequences = TRUE, name = "first") |>
    layer_bidirectional(layer = layer_gru(units = 3, name = "inner"), name = "bi") |>
    layer_dense(units = 1, name = "head")
  w <- get_weights(model)
  before <- w
  bad <- w
  bad[[8]] <- matrix(0, 2, 2)
  cnd <- expect_error(set_weights(model, bad), class = "gru_error_weights")
  expect_identical(cnd$weight_index, 8L)
  expect_identical(cnd$weight_leaf_index, 2L)
  expect_identical(cnd$weight_name, "recurrent_kernel")
  expect_identical(cnd$weight_layer, "backward_inner")
  expect_match(conditionMessage(cnd), "Weight 8 of model \"m\" is weight 2", fixed = TRUE)
  # All or nothing: the model keeps its weights.
  expect_identical(get_weights(model), before)
  bi <- model$layers[[2]]
  wb <- get_weights(bi)
  wb[[4]][1] <- NA
  cnd <- expect_error(bi$set_weights(wb), class = "gru_error_weights")
  expect_match(conditionMessage(cnd), "Weight 4 of layer \"bi\" is weight 1", fixed = TRUE)
  bad <- w
  bad[[10]] <- "bias"
  cnd <- expect_error(set_weights(model, bad), class = "gru_error_weights")
  expect_identical(cnd$weight_layer, "head")
  expect_error(model$layers[[1]]$set_weights(list()), class = "gru_error_weights")

  bad <- w
  bad[[8]] <- matrix(0, 2, 2)
  expect_snapshot(error = TRUE, set_weights(model, bad))
})
