#!/bin/sh
# gru built with clang: installs clang and its OpenMP runtime (apt-get), builds
# gru from a source tarball with clang++ into a temporary library, checks that
# it picks the same CPU kernels as the default (GCC) build, and runs the whole
# test suite on it. CRAN builds the macOS x86_64 binaries and some check
# flavours with clang; before the kernels were compiled for clang's target
# pragmas, a clang build silently ran the 16-byte generic kernels only (~3x
# slower on S2), and no test could see it.
# Usage (as root, from the repository root, after tools/setup.sh):
#   sh tools/check-clang.sh
set -e
cd "$(dirname "$0")/.."
# The real Keras files (other people's, never committed) lie beside the
# checkout; test-load-model.R reads them from here and skips without them.
if [ -d ../shared/keras-files ]; then
  GRU_KERAS_FILES=$(cd ../shared/keras-files && pwd)
  export GRU_KERAS_FILES
fi
export DEBIAN_FRONTEND=noninteractive
work=$(mktemp -d)
# clang++ that compiles and links OpenMP code, else install it.
omp_ok() {
  printf '#include <omp.h>\nint main() { return omp_get_max_threads() > 0 ? 0 : 1; }\n' \
    >"$work/omp.cpp"
  clang++ -fopenmp "$work/omp.cpp" -o "$work/omp" >/dev/null 2>&1 && "$work/omp"
}
if ! command -v clang++ >/dev/null 2>&1 || ! omp_ok; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends clang libomp-dev >/dev/null
  omp_ok || { echo "clang++ cannot build OpenMP code after installing clang libomp-dev"; exit 1; }
fi
version=$(sed -n 's/^Version: *//p' DESCRIPTION)
R CMD build --no-build-vignettes --no-manual . >/dev/null
mv "gru_${version}.tar.gz" "$work/"
# DWARF 4: valgrind 3.19 (test-isa.R) cannot read clang 14's default DWARF 5.
cat > "$work/Makevars" <<EOF
CC = clang
CXX = clang++
CXX17 = clang++
CXXFLAGS = -gdwarf-4 -O2 -Wall
CXX17FLAGS = -gdwarf-4 -O2 -Wall
SHLIB_OPENMP_CXXFLAGS = -fopenmp
EOF
mkdir "$work/lib"
R_MAKEVARS_USER="$work/Makevars" GRU_CUDA=no \
  R CMD INSTALL -l "$work/lib" "$work/gru_${version}.tar.gz" >"$work/install.log" 2>&1 ||
  { tail -n 40 "$work/install.log"; exit 1; }
grep -q 'clang++' "$work/install.log" || { echo "the build did not use clang++"; exit 1; }
gcc_isa=$(Rscript -e 'cat(gru::backend_info()$cpu_kernels)')
clang_isa=$(R_LIBS="$work/lib" Rscript -e 'cat(gru::backend_info()$cpu_kernels)')
echo "CPU kernels: GCC build $gcc_isa, clang build $clang_isa"
[ "$gcc_isa" = "$clang_isa" ] || { echo "the clang build picks other kernels"; exit 1; }
cd tests
NOT_CRAN=true R_LIBS="$work/lib" Rscript -e '
  library(testthat); library(gru)
  res <- as.data.frame(test_dir("testthat", package = "gru", load_package = "installed",
                                reporter = "summary", stop_on_failure = FALSE))
  cat(sprintf("clang build: %d passed, %d failed, %d skipped\n", sum(res$passed),
              sum(res$failed) + sum(res$error), sum(res$skipped)))
  quit(status = if (sum(res$failed) + sum(res$error) > 0) 1 else 0)'
