test_that("saveRDS()/readRDS() round-trip layers and models in a fresh R session", {
  skip_if_not_installed("callr")
  set.seed(3)
  x <- array(runif(4 * 6 * 2), c(4, 6, 2))
  mask <- matrix(TRUE, 4, 6)
  mask[3, 5:6] <- FALSE
  stateful <- layer_rnn(cell = list(rnn_cell_gru(3), rnn_cell_gru(2)), stateful = TRUE)
  stateful(x)
  objects <- list(
    gru = layer_gru(units = 3, return_sequences = TRUE, go_backwards = TRUE),
    cell = layer_gru_cell(3),
    stateful = stateful,
    bi = layer_bidirectional(layer = layer_gru(units = 2)),
    model = keras_model_sequential(input_shape = c(NA, 2), batch_size = 4) |>
      layer_masking() |>
      layer_gru(units = 3, return_sequences = TRUE, stateful = TRUE) |>
      layer_bidirectional(layer = layer_gru(units = 2)) |>
      layer_dense(1)
  )
  objects$gru(x)
  objects$cell(x[, 1, ])
  objects$bi(x)
  objects$model(x)
  run <- function(obj, x) {
    if (inherits(obj, "gru_model")) return(predict(obj, x))
    if (inherits(obj, "gru_cell")) return(obj(x[, 1, ], list(matrix(0.5, nrow(x), 3))))
    obj(x)
  }
  path <- tempfile(fileext = ".rds")
  on.exit(unlink(path), add = TRUE)
  for (nm in names(objects)) {
    saveRDS(objects[[nm]], path)
    here <- run(objects[[nm]], x)
    there <- callr::r(
      function(path, x, run) {
        library(gru)
        run(readRDS(path), x)
      },
      args = list(path = path, x = x, run = run),
      libpath = .libPaths()
    )
    expect_identical(there, here, label = nm)
  }
})

test_that("objects saved in another object format are refused", {
  layer <- layer_gru(units = 2, name = "g")
  self <- gru:::layer_self(layer)
  self$format_version <- 99L
  path <- tempfile(fileext = ".rds")
  on.exit(unlink(path), add = TRUE)
  saveRDS(layer, path)
  old <- readRDS(path)
  expect_error(old(array(0, c(1, 2, 3))), class = "gru_error_version")
  expect_snapshot(error = TRUE, old(array(0, c(1, 2, 3))))
  model <- keras_model_sequential() |> layer_gru(units = 2)
  assign("format_version", 0L, envir = gru:::model_self(model))
  expect_error(predict(model, array(0, c(1, 2, 3))), class = "gru_error_version")
})

test_that("constraints are exposed and applied on request; losses cover sublayers", {
  layer <- layer_gru(units = 2, kernel_constraint = constraint_nonneg(),
                     recurrent_constraint = constraint_maxnorm(0.1), input_shape = c(NA, 3),
                     kernel_regularizer = regularizer_l2(1))
  expect_identical(names(layer$constraints), c("kernel", "recurrent_kernel", "bias"))
  expect_s3_class(layer$constraints$kernel, "gru_constraint")
  expect_null(layer$constraints$bias)
  layer$apply_constraints()
  w <- layer$get_weights()
  expect_true(all(w$kernel >= 0))
  expect_true(all(sqrt(colSums(w$recurrent_kernel^2)) <= 0.1 + 1e-6))
  bi <- layer_bidirectional(layer = layer)
  expect_length(bi$losses, 2L)
  expect_equal(bi$losses[[1]], sum(w$kernel^2))
  expect_length(bi$constraints, 6L)
  model <- keras_model_sequential(input_shape = c(NA, 3)) |> layer_bidirectional(layer = layer)
  expect_length(model$losses, 2L)
})
