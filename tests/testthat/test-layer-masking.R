test_that("masking masks steps whose features all equal mask_value", {
  x <- array(runif(2 * 4 * 3), c(2, 4, 3))
  x[2, 3:4, ] <- -1
  x[1, 2, 1] <- -1
  m <- layer_masking(mask_value = -1)
  mask <- m$compute_mask(x)
  expect_identical(mask, rbind(c(TRUE, TRUE, TRUE, TRUE), c(TRUE, TRUE, FALSE, FALSE)))
  y <- m(x)
  expect_identical(y[2, 3:4, ], matrix(0, 2, 3))
  expect_identical(y[1, , ], x[1, , ])
  # the next recurrent layer uses the mask
  g <- layer_gru(units = 2)
  expect_identical(layer_forward_output(m, g, x), g(x, mask = mask))
  expect_error(m(matrix(0, 2, 3)), class = "gru_error_mask")
  expect_snapshot(error = TRUE, layer_masking(name = "m")(matrix(0, 2, 3)))
})
