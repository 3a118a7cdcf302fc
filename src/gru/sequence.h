// How every CPU pass walks a sequence (the CPU twin of cuda_layout.h): the
// order of processing steps, the mask of a step and the blocks of the
// dropout masks. The forward pass (forward.cpp) and the training passes
// (backward.cpp) read these facts here rather than each re-deriving them.
//
// - Processing step k runs timestep t = k, or T - 1 - k with go_backwards;
//   a sequence output is written in processing order (Keras' go_backwards
//   output is reversed), and the training workspace is indexed by t.
// - A mask is B x T column-major (R's logical matrix): the B entries of
//   timestep t are contiguous at mask + B t; a zero entry keeps the row's
//   state (and, with zero_output_for_mask, zeroes its output).
// - A dropout mask is 1 or 3 blocks (Spec::dropout_gates and
//   recurrent_dropout_gates) of B x n (n = F for the input's, H for the
//   state's), column-major, reused at every step: one shared by the gates z,
//   r, h (implementation 2) or one per gate (implementation 1).
#ifndef GRU_SEQUENCE_H
#define GRU_SEQUENCE_H

#include <cstddef>

#include "gru.h"

namespace gru {
namespace detail {

// The timestep processing step k runs.
inline long step_time(const Spec& s, long k) {
  return s.go_backwards ? s.timesteps - 1 - k : k;
}

// The first timestep of the chunk of processing steps [k0, k0 + nk): a
// chunk covers the timesteps [that, that + nk) in either direction.
inline long chunk_first_time(const Spec& s, long k0, long nk) {
  return s.go_backwards ? s.timesteps - k0 - nk : k0;
}

// The B mask entries of timestep t, or null without a mask.
inline const int* step_mask(const Spec& s, const int* mask, long t) {
  return mask == nullptr ? nullptr : mask + static_cast<std::size_t>(s.batch) * t;
}

// The block of a mask with `gates` blocks (0, 1 or 3) that gate `gate`
// (0 z, 1 r, 2 h) reads.
inline int dropout_block(int gates, int gate) { return gates == 3 ? gate : 0; }

// The start of that block, blocks of `block_elems` elements.
template <typename T>
const T* dropout_at(const T* m, int gates, int gate, std::size_t block_elems) {
  return m + static_cast<std::size_t>(dropout_block(gates, gate)) * block_elems;
}

}  // namespace detail
}  // namespace gru

#endif  // GRU_SEQUENCE_H
