test_that("keras3 functions gru lacks raise a classed error naming them", {
  expect_error(layer_lstm(units = 4), "layer_lstm", class = "gru_error_unsupported")
  expect_snapshot(error = TRUE, optimizer_nadam())
  ns <- asNamespace("gru")
  for (nm in gru:::keras3_unsupported) {
    expect_true(nm %in% getNamespaceExports("gru"), info = nm)
    expect_error(get(nm, ns)(), class = "gru_error_unsupported", info = nm)
  }
  # no stub shadows a function gru defines for real
  stub_body <- body(gru:::unsupported_stub("x"))
  real <- setdiff(getNamespaceExports("gru"), gru:::keras3_unsupported)
  for (nm in real) {
    f <- get(nm, ns)
    if (is.function(f)) expect_false(identical(body(f), stub_body), info = nm)
  }
})
