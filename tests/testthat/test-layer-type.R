# The layer-type protocol: new_layer_type() validates its slots and fills
# the defaults every generic helper relies on.

test_that("every registered type has every slot, and unknown slots are refused", {
  types <- mget(ls(gru:::layer_types), envir = gru:::layer_types)
  expect_true(all(c("GRU", "GRUCell", "RNN", "Bidirectional", "Dense", "Embedding",
                    "Masking", "Dropout", "StackedRNNCells", "Sequential",
                    "Functional") %in% gru:::known_class_names()))
  for (t in types) {
    expect_s3_class(t, "gru_layer_type")
    expect_true(is.function(t$from_config), info = t$class_name)
    if (t$kind != "model") {
      for (slot in c("get_weights", "set_weights", "is_built", "sublayers",
                     "regularized", "constrained", "n_outputs", "train_forward",
                     "backward", "get_config")) {
        expect_true(is.function(t[[slot]]), info = paste(t$class_name, slot))
      }
      expect_identical(gru:::layer_type_by_class(t$class_name), t)
    }
  }
  expect_error(gru:::new_layer_type("x", "X", forward = identity, bogus = 1),
               "Unknown layer-type slot")
  expect_error(gru:::new_layer_type("x", "X", format = identity), "lacks slot")
  expect_error(gru:::new_layer_type("x", "X", format = identity, forward = identity,
                                    output_shape = 3, constructor = identity),
               "must be a function")
})

test_that("a type defined outside the package works through the generic code", {
  # An identity-like layer that doubles its input, written only with the
  # protocol: models, training and configs need nothing else.
  t <- gru:::new_layer_type(
    type = "test_double", class_name = "TestDouble",
    forward = function(self, inputs, mask = NULL, training = NULL,
                       initial_state = NULL, call = NULL) {
      list(output = inputs * 2, states = list(), mask = mask)
    },
    train_forward = function(self, inputs, mask = NULL, training = NULL,
                             initial_state = NULL, call = NULL) {
      list(output = inputs * 2, states = list(), mask = mask, cache = NULL)
    },
    backward = function(self, cache, grad_output, need_inputs = TRUE, call = NULL) {
      list(inputs = grad_output * 2, weights = list())
    },
    output_shape = function(self, shape) shape,
    format = function(self) "<double>",
    from_config = function(config, call) {
      gru:::new_layer("test_double", list(name = config$name, trainable = TRUE))
    }
  )
  gru:::register_layer_type(t)
  on.exit({
    rm("test_double", envir = gru:::layer_types)
    rm("TestDouble", envir = gru:::layer_type_ids)
  })
  dbl <- gru:::new_layer("test_double", list(name = "dbl", trainable = TRUE))
  expect_identical(get_weights(dbl), list())
  expect_false(dbl$built)
  set.seed(1)
  model <- keras_model_sequential(input_shape = c(4, 2)) |>
    layer_gru(3, dtype = "float64")
  model$add(dbl)
  model <- model |> layer_dense(1)
  x <- array(runif(5 * 4 * 2), c(5, 4, 2))
  ls <- model$layers
  expect_identical(predict(model, x), ls[[3]](ls[[1]](x) * 2))
  expect_model_gradients(model, x, matrix(rnorm(5)), loss = "mse")
  cfg <- get_config(model)
  expect_identical(cfg$layers[[3]]$class_name, "TestDouble")
})
