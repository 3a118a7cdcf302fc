// Status checks and RAII owners for the cuDNN backend (included by cuda.cu only).
//
// Every CUDA or cuDNN call goes through check(status, "callName"), which throws
// gru::Error("callName failed: STATUS_NAME (description)"): the engine never
// aborts and never prints. Destructors release without checking (they must not
// throw, and at process exit the runtime may already be shutting down).
#ifndef GRU_CUDA_CHECK_CUH
#define GRU_CUDA_CHECK_CUH

#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>
#include <string>
#include <utility>

#include "gru.h"

namespace gru {
namespace cuda {
namespace detail {

inline void check(cudaError_t status, const char* call) {
  if (status == cudaSuccess) return;
  throw Error(std::string(call) + " failed: " + cudaGetErrorName(status) + " (" +
              cudaGetErrorString(status) + ")");
}

inline void check(cudnnStatus_t status, const char* call) {
  if (status == CUDNN_STATUS_SUCCESS) return;
  throw Error(std::string(call) + " failed: " + cudnnGetErrorString(status));
}

// Owns one cuDNN descriptor (or handle) created by Create and released by Destroy.
template <typename Handle, cudnnStatus_t (*Create)(Handle*),
          cudnnStatus_t (*Destroy)(Handle)>
class Owned {
 public:
  explicit Owned(const char* create_name) { check(Create(&h_), create_name); }
  ~Owned() {
    if (h_ != nullptr) Destroy(h_);
  }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  Handle get() const { return h_; }

 private:
  Handle h_ = nullptr;
};

using CudnnHandle = Owned<cudnnHandle_t, cudnnCreate, cudnnDestroy>;
using TensorDesc = Owned<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor,
                         cudnnDestroyTensorDescriptor>;
using DropoutDesc = Owned<cudnnDropoutDescriptor_t, cudnnCreateDropoutDescriptor,
                          cudnnDestroyDropoutDescriptor>;
using RNNDesc =
    Owned<cudnnRNNDescriptor_t, cudnnCreateRNNDescriptor, cudnnDestroyRNNDescriptor>;
using RNNDataDesc = Owned<cudnnRNNDataDescriptor_t, cudnnCreateRNNDataDescriptor,
                          cudnnDestroyRNNDataDescriptor>;

// A non-blocking CUDA stream.
class Stream {
 public:
  Stream() {
    check(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking),
          "cudaStreamCreateWithFlags");
  }
  ~Stream() {
    if (s_ != nullptr) cudaStreamDestroy(s_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

// A grow-only device allocation, reused across calls: reserve() reallocates
// only when a call needs more bytes than any call before it.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* reserve(std::size_t bytes, const char* what) {
    if (bytes <= capacity_ && p_ != nullptr) return p_;
    release();
    void* p = nullptr;
    check(cudaMalloc(&p, bytes == 0 ? 1 : bytes), what);
    p_ = p;
    capacity_ = bytes;
    return p_;
  }
  void* get() const { return p_; }
  std::size_t capacity() const { return capacity_; }

 private:
  void release() {
    if (p_ != nullptr) cudaFree(p_);
    p_ = nullptr;
    capacity_ = 0;
  }
  void* p_ = nullptr;
  std::size_t capacity_ = 0;
};

}  // namespace detail
}  // namespace cuda
}  // namespace gru

#endif  // GRU_CUDA_CHECK_CUH
