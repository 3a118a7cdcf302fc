// An uninitialised, swappable array for large engine buffers (the training
// workspace: 8 T B H elements, 210 MB for the S3 shape), which
// rcpp_train.cpp keeps from one training step to the next.
//
// Why no zero fill and no fresh allocation per step: each page of a fresh
// allocation is faulted in (and zeroed) by the kernel on first touch, which
// perf showed at ~10% of an S3 training forward pass. Reusing the buffer
// removes that after the first step.
//
// Why no huge pages (MADV_HUGEPAGE was tried): on this project's VMs a huge
// page of memory the guest had not touched before took ~20x longer to fault
// in than the same memory in 4 KiB pages (210 MB: 0.7-0.8 s against 0.09 s,
// measured with a C program that kept its mappings), while recycled memory
// was only 2.7x faster (0.038 s against 0.10 s), and the train step itself
// ran no faster with them once the buffer was reused.
#ifndef GRU_BUFFER_H
#define GRU_BUFFER_H

#include <cstddef>
#include <utility>

namespace gru {

template <typename T>
class LargeArray {
 public:
  LargeArray() = default;
  LargeArray(const LargeArray&) = delete;
  LargeArray& operator=(const LargeArray&) = delete;
  ~LargeArray() { release(); }

  // n elements, uninitialised (what was there is freed).
  void allocate(std::size_t n) {
    release();
    if (n == 0) return;
    data_ = new T[n];
    size_ = n;
  }

  void release() {
    delete[] data_;
    data_ = nullptr;
    size_ = 0;
  }

  T* get() const { return data_; }
  std::size_t size() const { return size_; }

  void swap(LargeArray& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
  }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace gru

#endif  // GRU_BUFFER_H
