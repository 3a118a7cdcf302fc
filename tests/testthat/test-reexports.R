test_that("%>% and %<-% are there with library(gru) alone", {
  expect_true(all(c("%>%", "%<-%") %in% getNamespaceExports("gru")))
  x <- array(runif(2 * 3 * 2), c(2, 3, 2))
  expect_identical(dim(x %>% layer_gru(4, name = "p")), c(2L, 4L))
  c(out, state) %<-% layer_gru(units = 3, return_state = TRUE)(x)
  expect_identical(out, state)
})
