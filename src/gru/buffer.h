// An uninitialised array for large, short-lived engine buffers (the training
// workspace: 8 T B H elements, 210 MB for the S3 shape).
//
// Each page of a fresh allocation is faulted in by the kernel on first touch.
// With 4 KiB pages that is ~50,000 faults for S3's workspace on every training
// step, and the profile showed them (page faults, page-table locks, cgroup
// accounting) at ~10% of a training forward pass. On Linux, allocations of
// 2 MiB or more are mapped directly and marked MADV_HUGEPAGE, so systems whose
// transparent huge pages are in "madvise" mode (Debian's default) fault them
// in 2 MiB at a time. Elsewhere, or if mmap fails, it is plain new[].
#ifndef GRU_BUFFER_H
#define GRU_BUFFER_H

#include <cstddef>
#include <new>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace gru {

template <typename T>
class LargeArray {
 public:
  LargeArray() = default;
  explicit LargeArray(std::size_t n) { allocate(n); }
  LargeArray(const LargeArray&) = delete;
  LargeArray& operator=(const LargeArray&) = delete;
  ~LargeArray() { release(); }

  void allocate(std::size_t n) {
    release();
    if (n == 0) return;
    size_ = n;
    const std::size_t bytes = n * sizeof(T);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (bytes >= kHuge) {
      // Whole huge pages, starting on a huge-page boundary (the mapping
      // gets one spare huge page to align within).
      const std::size_t len = (bytes + kHuge - 1) / kHuge * kHuge;
      void* p = mmap(nullptr, len + kHuge, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p != MAP_FAILED) {
        char* base = static_cast<char*>(p);
        char* aligned = base + (kHuge - reinterpret_cast<std::size_t>(base) % kHuge) % kHuge;
        madvise(aligned, len, MADV_HUGEPAGE);  // advisory: failure means small pages
        base_ = p;
        mapped_ = len + kHuge;
        data_ = reinterpret_cast<T*>(aligned);
        return;
      }
    }
#endif
    data_ = new T[n];
  }

  void release() {
    size_ = 0;
    if (data_ == nullptr) return;
#if defined(__linux__)
    if (mapped_ != 0) {
      munmap(base_, mapped_);
      base_ = nullptr;
      data_ = nullptr;
      mapped_ = 0;
      return;
    }
#endif
    delete[] data_;
    data_ = nullptr;
  }

  T* get() const { return data_; }
  std::size_t size() const { return size_; }

  void swap(LargeArray& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(base_, o.base_);
    std::swap(mapped_, o.mapped_);
    std::swap(size_, o.size_);
  }

 private:
  static constexpr std::size_t kHuge = std::size_t(2) << 20;
  T* data_ = nullptr;
  void* base_ = nullptr;  // the mapping, when mapped_ != 0
  std::size_t mapped_ = 0;
  std::size_t size_ = 0;  // elements allocated
};

}  // namespace gru

#endif  // GRU_BUFFER_H
