// Compiles kernels_impl.inc once per instruction set and picks one at run time.
//
// The wide variants are compiled under a target pragma (GCC's
// `#pragma GCC target`, clang's `#pragma clang attribute` applying
// __attribute__((target(...))) to every function of the inclusion), so no -m
// flags are needed in Makevars and the package still loads on any x86-64 (or
// other) CPU: __builtin_cpu_supports() decides at run time. Other compilers
// and non-x86 targets get the generic 16-byte variant only, which the
// compiler maps to SSE2, NEON or scalar code.
//
// clang was once among the "other compilers": a clang build (as CRAN's macOS
// x86_64 binaries are) ran the SSE2 kernels only. S2 (64 x 100 x 64 x 128,
// sequences, 1 thread), a layer call, medians of 30 x 5 calls, 3 alternating
// rounds: clang 14 generic 47.1-57.2 ms, clang 14 AVX-512 11.5-12.0 ms, GCC 12
// AVX-512 11.6-12.3 ms; the two AVX-512 builds' outputs were bit-identical.
// tools/check-clang.sh (CI) checks that a clang build picks the GCC build's
// kernels and passes the tests.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "activations.h"
#include "kernels.h"

#if (defined(__x86_64__) || defined(__i386__)) && \
    ((defined(__GNUC__) && !defined(__clang__)) || (defined(__clang__) && __clang_major__ >= 8))
#define GRU_X86_DISPATCH 1
#else
#define GRU_X86_DISPATCH 0
#endif

#if defined(__SSE__) || GRU_X86_DISPATCH
#include <immintrin.h>  // the streaming stores (vstream)
#endif

// Generic: 16-byte vectors (SSE2 on x86-64), 4 x 3 accumulators.
#define GRU_ISA_NS isa_generic
#define GRU_ISA "generic"
#define GRU_VBYTES 16
#define GRU_MR_F 4
#define GRU_MR_D 4
#include "kernels_impl.inc"

#if GRU_X86_DISPATCH
// AVX2 + FMA: 8 floats per vector, 16 registers: 4 rows x 3 gates.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define GRU_ISA_NS isa_avx2
#define GRU_ISA "avx2"
#define GRU_VBYTES 32
#define GRU_MR_F 4
#define GRU_MR_D 4
#include "kernels_impl.inc"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

// AVX-512F: 16 floats per vector, 32 registers: 8 rows x 3 gates.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
#endif
#define GRU_ISA_NS isa_avx512
#define GRU_ISA "avx512"
#define GRU_VBYTES 64
#define GRU_MR_F 8
#define GRU_MR_D 8
#include "kernels_impl.inc"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif

namespace gru {
namespace detail {

namespace {

// 0 generic, 1 avx2, 2 avx512: the best the CPU has, capped by GRU_ISA.
int best_isa() {
  int best = 0;
#if GRU_X86_DISPATCH
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = 1;
  if (best == 1 && __builtin_cpu_supports("avx512f")) best = 2;
#endif
  const char* cap = std::getenv("GRU_ISA");
  if (cap != nullptr) {
    if (std::strcmp(cap, "generic") == 0) best = 0;
    if (std::strcmp(cap, "avx2") == 0 && best > 1) best = 1;
  }
  return best;
}

}  // namespace


// Each table is built the first time its kernel set is selected, and only
// then: make_kernels() of a wide set is compiled for that set and may itself
// use its instructions (valgrind, which emulates AVX2 but not AVX-512, saw a
// 512-bit store in isa_avx512::make_kernels), so building every table up
// front would stop the process with SIGILL on CPUs without AVX-512.
template <typename T>
const Kernels<T>& select_kernels() {
#if GRU_X86_DISPATCH
  switch (best_isa()) {
    case 2: {
      static const Kernels<T> avx512 = isa_avx512::make_kernels<T>();
      return avx512;
    }
    case 1: {
      static const Kernels<T> avx2 = isa_avx2::make_kernels<T>();
      return avx2;
    }
    default:
      break;
  }
#endif
  static const Kernels<T> generic = isa_generic::make_kernels<T>();
  return generic;
}

template const Kernels<float>& select_kernels<float>();
template const Kernels<double>& select_kernels<double>();

}  // namespace detail
}  // namespace gru
