#!/bin/sh
# Builds the GPU driver and runs everything: conformance fixtures, random
# CPU-vs-cuDNN comparisons, the host emulation, error contracts, timings,
# the leak check and torch's timings. Results go to the directory given as
# the first argument (default: $OUT if set, else tools/gpu/results), with a
# summary in summary.md. Exit status 1 if any part FAILed.
#
# Environment: as build.sh (CUDA_HOME, CUDNN_HOME, EIGEN_INCLUDE, CXX,
# NVCC_FLAGS), plus BENCH_RUNS (default 25), CPU_RUNS (default 5),
# CPU_THREADS (default 1), LEAK_CALLS (default 5000), RANDOM_CASES (default 200).
set -u
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-${OUT:-${here}/results}}
mkdir -p "${out}"
drv=${here}/build/gru_gpu
status=0

echo "# gru GPU driver results, $(date -u '+%Y-%m-%d %H:%M UTC')" > "${out}/summary.md"
echo "== build"
if ! sh "${here}/build.sh" > "${out}/build.log" 2>&1; then
  tail -30 "${out}/build.log"
  echo "build failed; see ${out}/build.log" | tee -a "${out}/summary.md"
  exit 1
fi
python3 "${here}/convert_fixtures.py" "${here}/../../tests/testthat/fixtures" \
  "${here}/build/cases.txt" > "${out}/convert.log" 2>&1 || status=1
(nvidia-smi || true) > "${out}/nvidia-smi.txt" 2>&1

run_part () {
  name=$1
  shift
  echo "== ${name}"
  "${drv}" "$@" > "${out}/${name}.txt" 2>&1 || status=1
  grep -c '^PASS' "${out}/${name}.txt" | sed "s/^/${name}: PASS /" >> "${out}/summary.md"
  grep '^FAIL\|^SKIP\|^#' "${out}/${name}.txt" >> "${out}/summary.md"
}
run_part conformance conformance "${here}/build/cases.txt"
run_part random random "${RANDOM_CASES:-200}"
run_part emulate emulate 2000
run_part errors errors
run_part leak leak "${LEAK_CALLS:-5000}"
echo "== bench"
"${drv}" bench "${BENCH_RUNS:-25}" "${CPU_RUNS:-5}" "${CPU_THREADS:-1}" \
  > "${out}/bench.txt" 2>&1 || status=1
echo "== torch"
python3 "${here}/torch_gru.py" "${BENCH_RUNS:-25}" > "${out}/torch.txt" 2>&1 || status=1

{
  echo
  echo "## gru (cuDNN backend and CPU path)"
  cat "${out}/bench.txt"
  echo
  echo "## torch.nn.GRU"
  cat "${out}/torch.txt"
} >> "${out}/summary.md"
cat "${out}/summary.md"
exit ${status}
