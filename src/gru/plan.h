// How a CPU forward pass splits its work (src/gru/plan.cpp): a pure
// function of the call's shape, the kernel set's vector width and tile
// height, the element size, the L2 size and the run options, so each rule
// is unit-tested (tests/testthat/test-plan.R, through cpp_forward_plan())
// without running a pass. None of it changes results, only speed.
#ifndef GRU_PLAN_H
#define GRU_PLAN_H

#include "gru.h"

namespace gru {
namespace detail {

struct ForwardPlan {
  int threads = 1;           // the team's size
  bool by_rows = false;      // threads split batch rows (else unit blocks)
  bool sync = false;         // a unit split: threads meet at barriers every step
  bool two_ended = false;    // two threads claim unit blocks from opposite ends
  bool prefetch_u = false;   // the recurrence prefetches its next panel of U
  bool pack_kernel = false;  // the whole input kernel is packed (else slice by slice)
  int chunk_steps = 1;       // timesteps of one chunk's input projection
  bool stage_records = false;  // training: stage a step's records, then move them
};

// `W`, `MR`: the kernel set's units per block and rows per micro-tile;
// `elem_size`: sizeof the compute type; `layer_cache`: the caller keeps
// the packed kernels between calls (PackedWeights).
ForwardPlan plan_forward(const Spec& s, int W, int MR, int elem_size, long l2_bytes,
                         bool layer_cache);

}  // namespace detail
}  // namespace gru

#endif  // GRU_PLAN_H
