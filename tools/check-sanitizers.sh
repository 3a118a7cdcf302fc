#!/bin/sh
# gru under AddressSanitizer and UndefinedBehaviorSanitizer: builds gru from a
# source tarball with -fsanitize=address,undefined (GCC) into a temporary
# library and runs the test suite with the sanitizer runtimes preloaded into
# R, so every heap access of the engine (R's vectors included: R allocates
# them with malloc) is checked, and any undefined behaviour stops the run.
# test-isa.R is left out: it runs child R processes under valgrind, which
# cannot run with ASan preloaded. Leak detection is off: R does not free
# everything at exit.
# Usage (from the repository root, after tools/setup.sh):
#   sh tools/check-sanitizers.sh
set -e
cd "$(dirname "$0")/.."
# The real Keras files (other people's, never committed) lie beside the
# checkout; test-load-model.R reads them from here and skips without them.
if [ -d ../shared/keras-files ]; then
  GRU_KERAS_FILES=$(cd ../shared/keras-files && pwd)
  export GRU_KERAS_FILES
fi
work=$(mktemp -d)
version=$(sed -n 's/^Version: *//p' DESCRIPTION)
R CMD build --no-build-vignettes --no-manual . >/dev/null
mv "gru_${version}.tar.gz" "$work/"
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
cat > "$work/Makevars" <<EOF
CXXFLAGS = $flags
CXX17FLAGS = $flags
LDFLAGS = -fsanitize=address,undefined
EOF
mkdir "$work/lib"
# --no-test-load: the load test would run without the preloaded runtimes.
R_MAKEVARS_USER="$work/Makevars" GRU_CUDA=no \
  R CMD INSTALL --no-test-load -l "$work/lib" "$work/gru_${version}.tar.gz" \
  >"$work/install.log" 2>&1 || { tail -n 40 "$work/install.log"; exit 1; }
asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)
cd tests
LD_PRELOAD="$asan $ubsan" ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
  NOT_CRAN=true R_LIBS="$work/lib" Rscript -e '
  maps <- readLines("/proc/self/maps")
  stopifnot(any(grepl("libasan", maps)), any(grepl("libubsan", maps)))
  library(testthat); library(gru)
  res <- as.data.frame(test_dir("testthat", package = "gru", load_package = "installed",
                                reporter = "summary", filter = "^isa$",
                                invert = TRUE, stop_on_failure = FALSE))
  cat(sprintf("sanitizers: %d passed, %d failed, %d skipped\n", sum(res$passed),
              sum(res$failed) + sum(res$error), sum(res$skipped)))
  quit(status = if (sum(res$failed) + sum(res$error) > 0) 1 else 0)'
