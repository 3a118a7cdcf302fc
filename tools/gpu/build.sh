#!/bin/sh
# Builds tools/gpu/build/gru_gpu from the package's own engine sources
# (src/gru/forward.cpp, plan.cpp, system.cpp, kernels.cpp, activations.cpp, cuda.cu) with the flags
# src/Makevars uses (OpenMP included).
#
# Reads from the environment:
#   CUDA_HOME      CUDA toolkit root (default /usr/local/cuda); nvcc from there
#   CUDNN_HOME     cuDNN root when it is not inside CUDA_HOME
#   EIGEN_INCLUDE  directory holding Eigen/ ; otherwise tools/gpu/eigen, then
#                  /usr/include/eigen3, then RcppEigen's headers if R is present
#   CXX            host C++ compiler (default g++)
#   NVCC_FLAGS     extra nvcc flags, e.g. -arch=native (default: nvcc's own
#                  default architecture, as the package build uses)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "${here}/../../src/gru" && pwd)
build=${here}/build
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
CUDNN_HOME=${CUDNN_HOME:-${CUDA_HOME}}
NVCC=${NVCC:-${CUDA_HOME}/bin/nvcc}
CXX=${CXX:-g++}
NVCC_FLAGS=${NVCC_FLAGS:-}

eigen=
if [ -n "${EIGEN_INCLUDE:-}" ]; then
  eigen=${EIGEN_INCLUDE}
elif [ -d "${here}/eigen/Eigen" ]; then
  eigen=${here}/eigen
elif [ -d /usr/include/eigen3/Eigen ]; then
  eigen=/usr/include/eigen3
elif command -v Rscript >/dev/null 2>&1; then
  eigen=$(Rscript -e 'cat(system.file("include", package = "RcppEigen"))' 2>/dev/null || true)
fi
if [ -z "${eigen}" ] || [ ! -d "${eigen}/Eigen" ]; then
  echo "build.sh: no Eigen headers found; set EIGEN_INCLUDE to a directory holding Eigen/" >&2
  exit 1
fi
echo "build.sh: nvcc ${NVCC}; Eigen ${eigen}"

inc="-I${CUDA_HOME}/include"
lib="-L${CUDA_HOME}/lib64 -Wl,-rpath,${CUDA_HOME}/lib64"
if [ "${CUDNN_HOME}" != "${CUDA_HOME}" ]; then
  inc="${inc} -I${CUDNN_HOME}/include"
  lib="${lib} -L${CUDNN_HOME}/lib64 -Wl,-rpath,${CUDNN_HOME}/lib64"
fi

mkdir -p "${build}"
set -x
"${NVCC}" -std=c++17 -O2 ${NVCC_FLAGS} -Xcompiler -fpic ${inc} -c "${src}/cuda.cu" -o "${build}/cuda.o"
for f in forward plan system; do
  ${CXX} -std=c++17 -O2 -fpic -fopenmp -Wno-ignored-attributes -I"${eigen}" -c "${src}/${f}.cpp" -o "${build}/${f}.o"
done
${CXX} -std=c++17 -O2 -fpic -fopenmp -I"${eigen}" -c "${src}/kernels.cpp" -o "${build}/kernels.o"
${CXX} -std=c++17 -O2 -fpic -Wno-ignored-attributes -I"${eigen}" -c "${src}/activations.cpp" -o "${build}/activations.o"
${CXX} -std=c++17 -O2 -Wall -I"${src}" ${inc} -c "${here}/gru_gpu.cpp" -o "${build}/gru_gpu.o"
${CXX} -o "${build}/gru_gpu" "${build}/gru_gpu.o" "${build}/forward.o" "${build}/plan.o" "${build}/system.o" "${build}/kernels.o" \
  "${build}/activations.o" "${build}/cuda.o" ${lib} -lcudnn -lcudart -lpthread -fopenmp
