test_that("a layer's losses are its regularization penalties", {
  layer <- layer_gru(units = 2, kernel_regularizer = regularizer_l2(0.1),
                     recurrent_regularizer = regularizer_l1(0.01),
                     bias_regularizer = "l1_l2", input_shape = c(NA, 3))
  w <- layer$get_weights()
  losses <- layer$losses
  expect_length(losses, 3L)
  expect_equal(losses[[1]], 0.1 * sum(w$kernel^2))
  expect_equal(losses[[2]], 0.01 * sum(abs(w$recurrent_kernel)))
  expect_equal(losses[[3]], 0)
  expect_length(layer_gru(units = 2, input_shape = c(NA, 3))$losses, 0L)
})

test_that("constraints project weights as Keras does", {
  w <- matrix(c(3, 4, 0.3, 0.4), 2)
  out <- apply_constraint(constraint_maxnorm(1), w)
  expect_equal(sqrt(colSums(out^2)), c(1, 0.5), tolerance = 1e-6)
  expect_equal(apply_constraint(constraint_nonneg(), c(-1, 2)), c(0, 2))
  un <- apply_constraint(constraint_unitnorm(), w)
  expect_equal(sqrt(colSums(un^2)), c(1, 1), tolerance = 1e-6)
  mm <- apply_constraint(constraint_minmaxnorm(1, 2), w)
  expect_equal(sqrt(colSums(mm^2)), c(2, 1), tolerance = 1e-6)
  expect_identical(apply_constraint(NULL, w), w)
  expect_output(print(constraint_maxnorm()), "MaxNorm")
  expect_output(print(regularizer_l2()), "L2")
  expect_error(regularizer_l1(-1), class = "gru_error_input")
})
