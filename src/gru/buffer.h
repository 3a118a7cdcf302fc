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
#include <cstdint>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace gru {

// Faults in part `part` of `parts` of the whole pages of [p, p + bytes) at
// once, before an engine writes them, for blocks of 1 MiB or more (a
// sequence output). R's large output vectors are fresh mappings on every
// call (glibc re-maps same-size blocks), so their pages fault one by one as
// the output is written: ~1600 faults, ~3.5 ms of an S2 call on this
// project's VMs. MADV_POPULATE_WRITE (Linux 5.14+) maps them in one call
// per thread without a trap per page (52 MB: 20 ms against 28 touched page
// by page, one thread). Alternating in one process, S2 took 0.926 / 0.953 x
// the time at 1 thread (7 of 10, 10 of 12 rounds faster), 0.946 / 0.984 at
// 2; S3 at 2 threads 0.993 / 0.951, S4 at 2 threads 0.985. Elsewhere, or on
// older kernels (EINVAL), nothing happens and the writes fault as before.
inline void populate_pages(void* p, std::size_t bytes, int part, int parts) {
#if defined(__linux__)
  if (bytes < (std::size_t(1) << 20) || parts < 1) return;
  const std::uintptr_t page = 4096;
  const std::uintptr_t start = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t lo = (start + page - 1) & ~(page - 1);
  const std::uintptr_t hi = (start + bytes) & ~(page - 1);
  if (hi <= lo) return;
  const std::uintptr_t pages = (hi - lo) / page;
  const std::uintptr_t a = lo + pages * part / parts * page;
  const std::uintptr_t b = lo + pages * (part + 1) / parts * page;
  if (b > a) madvise(reinterpret_cast<void*>(a), b - a, 23 /* MADV_POPULATE_WRITE */);
#else
  (void)p;
  (void)bytes;
  (void)part;
  (void)parts;
#endif
}

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
