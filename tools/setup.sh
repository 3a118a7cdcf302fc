#!/bin/sh
# Installs everything gru needs from Debian's packages, installs gru from this
# source tree, and runs the demo on built-in data (datasets::sunspot.month).
# Usage (as root, from the repository root): sh tools/setup.sh
# valgrind is for the tests only: test-isa.R runs gru on valgrind's emulated
# CPU, which has AVX2 but not AVX-512, to prove that gru runs on such CPUs.
set -e
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  r-base-dev r-cran-rcpp r-cran-rcppeigen r-cran-cli r-cran-rlang \
  r-cran-testthat r-cran-jsonlite r-cran-zeallot r-cran-magrittr r-cran-generics r-cran-callr \
  r-cran-hdf5r r-cran-zip r-cran-knitr r-cran-rmarkdown r-cran-future r-cran-progressr \
  r-cran-withr \
  pandoc qpdf tidy devscripts valgrind >/dev/null
R CMD INSTALL --preclean .
Rscript -e 'demo("sunspots", package = "gru", ask = FALSE, echo = FALSE)'
