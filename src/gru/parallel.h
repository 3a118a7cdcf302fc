// OpenMP in one place, in the style of data.table's myomp.h: every engine
// file includes this header and writes its `#pragma omp` lines and omp_*
// calls unguarded. Built with OpenMP (R's SHLIB_OPENMP_CXXFLAGS), they are
// OpenMP's; built without it (a compiler R configured with no OpenMP flag),
// the pragmas are ignored and the functions below describe a team of one,
// so every parallel region runs once, on the calling thread, as thread 0 of
// 1. Nothing else in src/ tests _OPENMP.
#ifndef GRU_PARALLEL_H
#define GRU_PARALLEL_H

#ifdef _OPENMP
#include <omp.h>
#else
inline int omp_get_thread_num() { return 0; }
inline int omp_get_num_threads() { return 1; }
inline int omp_get_num_procs() { return 1; }
#endif

namespace gru {
namespace detail {

// Whether parallel regions can run more than one thread.
#ifdef _OPENMP
constexpr bool kOpenMP = true;
#else
constexpr bool kOpenMP = false;
#endif

}  // namespace detail
}  // namespace gru

#endif  // GRU_PARALLEL_H
