# Functional models (keras_input(), keras_model()) against the same layers
# called by hand, shared layers, several inputs and outputs, states feeding
# initial_state, training, and Keras' functional configs.

seq_input <- function(b = 5, t = 6, f = 3) array(runif(b * t * f), c(b, t, f))

test_that("a functional chain computes what its layers compute by hand", {
  set.seed(1)
  inp <- keras_input(shape = c(6, 3), name = "x")
  out <- inp %>%
    layer_masking() %>%
    layer_gru(4, return_sequences = TRUE) %>%
    layer_gru(2) %>%
    layer_dense(1)
  model <- keras_model(inp, out)
  expect_s3_class(model, "gru_model")
  expect_length(model$layers, 4L)
  x <- seq_input()
  x[2, 5:6, ] <- 0
  ls <- model$layers
  a <- gru:::layer_forward(ls[[1]], x)
  b <- gru:::layer_forward(ls[[2]], a$output, mask = a$mask)
  c2 <- gru:::layer_forward(ls[[3]], b$output, mask = b$mask)
  by_hand <- ls[[4]](c2$output)
  expect_identical(predict(model, x), by_hand)
  expect_identical(model(x), by_hand)
  # the same model written as a sequential one gives the same numbers
  sq <- keras_model_sequential(input_shape = c(6, 3)) |>
    layer_masking() |> layer_gru(4, return_sequences = TRUE) |>
    layer_gru(2) |> layer_dense(1)
  set_weights(sq, get_weights(model))
  expect_identical(predict(sq, x), by_hand)
  expect_equal(model$output_shape, c(NA, 1L))
  expect_equal(model$input_shape, c(NA, 6L, 3L))
})

test_that("a layer used twice shares its weights and sums their gradients", {
  set.seed(2)
  a <- keras_input(c(6, 3), name = "a")
  b <- keras_input(c(6, 3), name = "b")
  g <- layer_gru(units = 3, name = "shared", dtype = "float64")
  d <- layer_dense(units = 1, name = "head")
  model <- keras_model(list(a, b), list(d(g(a)), d(g(b))))
  expect_length(model$layers, 2L)
  expect_identical(model$count_params(), g$count_params() + d$count_params())
  xa <- seq_input(4)
  xb <- seq_input(4)
  res <- predict(model, list(xa, xb))
  expect_identical(res[[1]], d(g(xa)))
  expect_identical(res[[2]], d(g(xb)))
  # named inputs are matched by name
  expect_identical(predict(model, list(b = xb, a = xa)), res)
  y <- list(matrix(rnorm(4)), matrix(rnorm(4)))
  expect_model_gradients(model, list(xa, xb), y, loss = "mse", tol = 1e-6)
})

test_that("the states of one GRU start another (encoder-decoder) and train", {
  set.seed(3)
  enc_in <- keras_input(c(6, 3), name = "enc")
  dec_in <- keras_input(c(4, 2), name = "dec")
  c(enc_out, state) %<-% layer_gru(units = 5, return_state = TRUE, dtype = "float64",
                                   name = "encoder")(enc_in)
  expect_equal(dim(state), c(NA, 5L))
  dec <- layer_gru(units = 5, return_sequences = TRUE, dtype = "float64",
                   name = "decoder")(dec_in, initial_state = list(state))
  model <- keras_model(list(enc_in, dec_in), layer_dense(dec, 2, name = "head"))
  xe <- seq_input(3, 6, 3)
  xd <- seq_input(3, 4, 2)
  ls <- model$layers
  by_hand <- ls[[1]](xe)
  h <- ls[[2]](xd, initial_state = list(by_hand[[2]]))
  expect_identical(predict(model, list(xe, xd)), ls[[3]](h))
  y <- array(rnorm(3 * 4 * 2), c(3, 4, 2))
  expect_model_gradients(model, list(xe, xd), y, loss = "mse", tol = 1e-6)
})

test_that("a two-input, two-output model trains with a loss and weight per output", {
  set.seed(4)
  a <- keras_input(c(6, 3), name = "a")
  b <- keras_input(c(6, 3), name = "b")
  ha <- layer_gru(a, 8, name = "gru_a")
  hb <- layer_gru(b, 8, name = "gru_b")
  out1 <- layer_dense(ha, 1, name = "sum_a")
  out2 <- layer_dense(hb, 1, name = "sum_b")
  model <- keras_model(list(a, b), list(out1, out2))
  compile(model, optimizer = optimizer_adam(0.02), loss = list("mse", "mae"),
          loss_weights = c(1, 0.5), metrics = "mae")
  xa <- seq_input(64)
  xb <- seq_input(64)
  y <- list(matrix(apply(xa, 1, sum)), matrix(apply(xb, 1, sum)))
  before <- evaluate(model, list(xa, xb), y)
  expect_named(before, c("loss", "sum_a_loss", "sum_b_loss", "sum_a_mae", "sum_b_mae"))
  # the total is the weighted sum of the outputs' losses
  expect_equal(before$loss, before$sum_a_loss + 0.5 * before$sum_b_loss)
  # each output's loss is its own loss of its own predictions
  p <- predict(model, list(xa, xb))
  expect_equal(before$sum_a_loss, mean((p[[1]] - y[[1]])^2))
  expect_equal(before$sum_b_loss, mean(abs(p[[2]] - y[[2]])))
  hist <- fit(model, list(xa, xb), y, epochs = 15, batch_size = 16, verbose = 0)
  after <- evaluate(model, list(xa, xb), y)
  expect_lt(after$loss, before$loss / 2)
  expect_setequal(names(hist$metrics), names(before))
  # targets named by output
  expect_equal(evaluate(model, list(xa, xb), list(sum_b = y[[2]], sum_a = y[[1]])), after)
})

test_that("summary() shows the inputs and what each layer is connected to", {
  a <- keras_input(c(6, 3), name = "left")
  g <- layer_gru(units = 3, name = "enc")
  model <- keras_model(a, layer_dense(g(a), 2, name = "out"), name = "tiny")
  s <- summary(model)
  expect_identical(s$layer, c("left", "enc", "out"))
  expect_identical(s$type, c("InputLayer", "GRU", "Dense"))
  expect_identical(s$connected, c("-", "left[0][0]", "enc[0][0]"))
  expect_identical(s$params, c(0L, 3L * (3L * 3L + 3L * 3L + 2L * 3L), 3L * 2L + 2L))
  expect_snapshot(print(model))
})

test_that("configs round-trip, and Keras 2 and Keras 3 functional JSON build the model", {
  set.seed(5)
  a <- keras_input(c(6, 3), name = "a")
  c(o, s) %<-% layer_gru(units = 4, return_state = TRUE, name = "g")(a)
  model <- keras_model(a, list(layer_dense(o, 1, name = "d1"), layer_dense(s, 2, name = "d2")))
  cfg <- get_config(model)
  expect_identical(attr(cfg, "class_name"), "Functional")
  expect_identical(cfg$input_layers, list(list("a", 0L, 0L)))
  expect_identical(cfg$output_layers, list(list("d1", 0L, 0L), list("d2", 0L, 0L)))
  g_node <- cfg$layers[[2]]$inbound_nodes[[1]]
  expect_identical(g_node$args[[1]]$config$keras_history, list("a", 0L, 0L))
  d2_node <- cfg$layers[[4]]$inbound_nodes[[1]]
  expect_identical(d2_node$args[[1]]$config$keras_history, list("g", 0L, 1L))
  copy <- from_config(cfg)
  set_weights(copy, get_weights(model))
  x <- seq_input()
  expect_identical(predict(copy, x), predict(model, x))
  expect_identical(get_config(copy), cfg)
  # through JSON, as a Keras file would carry it
  json <- jsonlite::toJSON(unclass(cfg), auto_unbox = TRUE, null = "null", na = "null")
  back <- from_config(jsonlite::fromJSON(json, simplifyVector = FALSE), class_name = "Functional")
  set_weights(back, get_weights(model))
  expect_identical(predict(back, x), predict(model, x))

  k2 <- jsonlite::fromJSON(test_path("fixtures", "configs", "keras2_functional.json"),
                           simplifyVector = FALSE)
  m2 <- from_config(k2)
  expect_identical(vapply(m2$layers, function(l) l$name, ""),
                   c("encoder", "decoder", "head_seq", "head_last"))
  expect_identical(m2$outputs, c("head_seq", "head_last"))
  # the decoder starts from the encoder's state (Keras 2 lists it as a
  # second inbound tensor)
  xe <- seq_input(2, 6, 3)
  xd <- seq_input(2, 4, 2)
  p <- predict(m2, list(xe, xd))
  enc <- get_layer(m2, "encoder")(xe)
  expect_identical(p[[1]], get_layer(m2, "head_seq")(get_layer(m2, "decoder")(xd, initial_state = list(enc[[2]]))))
  expect_identical(p[[2]], get_layer(m2, "head_last")(enc[[1]]))

  k3 <- jsonlite::fromJSON(test_path("fixtures", "configs", "keras3_functional.json"),
                           simplifyVector = FALSE)
  m3 <- from_config(k3)
  expect_length(m3$layers, 3L)   # the shared GRU once
  xl <- seq_input(2)
  xr <- seq_input(2)
  p3 <- predict(m3, list(xl, xr))
  sh <- get_layer(m3, "shared")
  expect_identical(p3[[2]], get_layer(m3, "out_right")(sh(xr)))
  expect_identical(get_config(m3)$layers[[3]]$inbound_nodes[[2]]$args[[1]]$config$keras_history,
                   list("right", 0L, 0L))
})

test_that("bad functional graphs and inputs are classed errors", {
  a <- keras_input(c(6, 3), name = "a")
  b <- keras_input(c(6, 3), name = "b")
  out <- layer_gru(b, 2)
  expect_error(keras_model(a, out), class = "gru_error_input")
  expect_error(keras_model(a, 3), class = "gru_error_input")
  expect_error(keras_model(out, out), class = "gru_error_input")
  expect_error(keras_input(), class = "gru_error_input")
  expect_error(keras_input(c(2, 3), sparse = TRUE), class = "gru_error_unsupported")
  expect_error(layer_input(c(2, 3), ragged = TRUE), class = "gru_error_unsupported")
  flat <- layer_gru(a, 2, name = "flat")
  expect_error(layer_gru(flat, 2), class = "gru_error_shape")
  model <- keras_model(a, flat)
  expect_error(predict(model, list(seq_input(), seq_input())), class = "gru_error_input")
  expect_error(predict(model, seq_input(f = 4)), class = "gru_error_shape")
  expect_error(model |> layer_dense(1), class = "gru_error_input")
  m2 <- keras_model(list(a, b), list(layer_gru(a, 2), layer_gru(b, 2)))
  compile(m2, loss = "mse")
  expect_error(fit(m2, list(seq_input()), list(matrix(0, 5, 2), matrix(0, 5, 2))),
               class = "gru_error_input")
  expect_error(compile(m2, loss = list("mse", "mae", "mse")), class = "gru_error_input")
  expect_snapshot(error = TRUE, keras_model(a, out))
  expect_snapshot(error = TRUE, layer_gru(flat, 2, name = "second"))
  bad <- get_config(model)
  bad$layers[[2]]$inbound_nodes[[1]]$args[[1]]$config$keras_history <- list("nope", 0L, 0L)
  expect_error(from_config(bad), class = "gru_error_config")
})
