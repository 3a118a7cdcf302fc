# Evaluates `expr` with environment variable `name` set to `value` (NA:
# unset), then restores what was there. The engines read their switches
# (GRU_ISA, GRU_PF, GRU_DB, GRU_DYN, GRU_STAGE) on every call, so tests
# flip them around single calls.
with_env_var <- function(name, value, expr) {
  set <- function(v) {
    if (is.na(v)) Sys.unsetenv(name) else do.call(Sys.setenv, stats::setNames(list(v), name))
  }
  old <- Sys.getenv(name, unset = NA)
  set(value)
  on.exit(set(old))
  force(expr)
}
