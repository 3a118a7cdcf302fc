# Every shared conformance case, in float32 and float64, at its tolerance.

test_that("the fixtures are all there", {
  expect_gte(length(fixture_paths()), 49L)
})

for (path in fixture_paths()) {
  case <- read_case(path)
  for (dtype in c("float32", "float64")) {
    test_that(paste(case$id, dtype), {
      worst <- run_case(case, case_layer(case, dtype))
      expect_lte(worst, case$tolerance)
    })
  }
}

test_that("stateful cases also hold through the keras3 spelling reset_state()", {
  case <- read_case(test_path("fixtures", "raT_stateful.json"))
  layer <- case_layer(case)
  calls <- case_calls(case)
  for (cl in calls) {
    if (identical(cl$action, "reset_states")) {
      layer$reset_state()
      next
    }
    out <- layer(nested_to_array(cl$inputs))
    expect_lte(max(abs(out - case_expected(cl)$output)), case$tolerance)
  }
})
