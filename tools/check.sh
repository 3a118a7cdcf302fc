#!/bin/sh
# The whole test suite: builds the source tarball and runs
# R CMD check --as-cran on it, which installs the package (configure picks
# CUDA + cuDNN or the CPU backend) and runs every test in tests/testthat,
# conformance cases included. Fails on any ERROR or WARNING, and ends with a
# one-line count of the tests.
# Usage (from the repository root, after tools/setup.sh): sh tools/check.sh
set -e
cd "$(dirname "$0")/.."
# The real Keras files (other people's, never committed) lie beside the
# checkout; test-load-model.R reads them from here and skips without them.
if [ -d ../shared/keras-files ]; then
  GRU_KERAS_FILES=$(cd ../shared/keras-files && pwd)
  export GRU_KERAS_FILES
fi
version=$(sed -n 's/^Version: *//p' DESCRIPTION)
out=$(mktemp -d)
R CMD build --no-manual . >/dev/null
mv "gru_${version}.tar.gz" "$out/"
cd "$out"
# No internet here: do not ask CRAN or a time server.
status=0
_R_CHECK_CRAN_INCOMING_REMOTE_=false _R_CHECK_FUTURE_FILE_TIMESTAMPS_=false \
  R CMD check --as-cran --no-manual "gru_${version}.tar.gz" || status=$?
log=gru.Rcheck/00check.log
rout=gru.Rcheck/tests/testthat.Rout
[ -f "$rout" ] || rout=gru.Rcheck/tests/testthat.Rout.fail
if [ -f "$rout" ]; then
  line=$(grep -E '\[ FAIL [0-9]+ \| WARN [0-9]+ \| SKIP [0-9]+ \| PASS [0-9]+ \]' "$rout" | tail -n 1)
  fail=$(echo "$line" | sed -E 's/.*FAIL ([0-9]+).*/\1/')
  skip=$(echo "$line" | sed -E 's/.*SKIP ([0-9]+).*/\1/')
  pass=$(echo "$line" | sed -E 's/.*PASS ([0-9]+).*/\1/')
  [ -n "$line" ] || { echo "no testthat summary in $rout"; tail -n 40 "$rout"; status=1; }
fi
if [ "$status" -ne 0 ] || grep -q '^\* .*\.\.\. *ERROR' "$log"; then
  echo "R CMD check failed: see $out/$log"
  [ -f "$rout" ] && tail -n 60 "$rout"
  exit 1
fi
if grep -q 'WARNING' "$log"; then
  echo "R CMD check reported a WARNING:"
  grep -A 15 'WARNING' "$log"
  exit 1
fi
echo "R CMD check: 0 errors, 0 warnings ($(grep -c '\.\.\. NOTE' "$log" || true) notes)"
echo "${pass:-0} passed, ${fail:-0} failed, ${skip:-0} skipped"
[ "${fail:-0}" -eq 0 ]
