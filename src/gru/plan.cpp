// See plan.h. The rules of the CPU forward pass's work split, with the
// measurements that chose them.
#include "plan.h"

#include <algorithm>

#include "parallel.h"

namespace gru {
namespace detail {

namespace {
// Rows (timesteps x batch) of one chunk's projection.
constexpr long kChunkRows = 1024;
}  // namespace

ForwardPlan plan_forward(const Spec& s, int W, int MR, int elem_size, long l2_bytes,
                         bool layer_cache) {
  const int B = s.batch, Tn = s.timesteps, F = s.input_dim, H = s.units;
  const int NB = (H + W - 1) / W, Hp = NB * W;
  const long N3 = 3L * Hp;
  const long BT = static_cast<long>(B) * Tn;
  ForwardPlan p;
  // Few threads for little work: a step below ~64k multiply-adds is faster
  // alone than split.
  int nt = s.threads;
  if (static_cast<double>(B) * H * 3.0 * Hp < 65536.0) nt = 1;
  if (!kOpenMP) nt = 1;
  // Two ways to split a step. By batch rows (whole micro-tiles per thread):
  // rows never interact, so each thread runs its own recurrence and its own
  // part of every chunk's projection with no synchronisation after the
  // packing; this also keeps a busy machine from stalling every step. By unit
  // blocks, with a barrier per step, when the batch is too small to split.
  // Splitting by rows makes every thread stream all of U each step, so it
  // needs enough rows per thread to reuse it (or a U that fits in cache).
  // When U does not fit in one core's L2 but each thread's share of the unit
  // blocks does, the unit split keeps the shares there across steps: S3 at
  // 2 threads (U 3 MB in float, 1.5 MB per thread, L2 2 MB), alternating in
  // one process, 3 runs x 10-15 calls: median 0.195 -> 0.181 s, 0.193 ->
  // 0.180, 0.203 -> 0.188; H = 448 (2.4 MB) 0.095 -> 0.091 s; H = 384 (1.8
  // MB, fits whole) rows stayed faster (0.061 vs 0.063).
  const int row_tiles = (B + MR - 1) / MR;
  const double u_bytes = static_cast<double>(H) * 3 * Hp * elem_size;
  const double l2 = static_cast<double>(l2_bytes);
  const bool share_fits_l2 =
      u_bytes > l2 && u_bytes / std::max(1, std::min(nt, NB)) <= 0.75 * l2;
  const bool by_rows =
      nt > 1 && row_tiles >= 2 &&
      ((B >= 24 * std::min(nt, row_tiles) && !share_fits_l2) || u_bytes <= 512.0 * 1024);
  if (by_rows) {
    nt = std::min(nt, row_tiles);
  } else {
    nt = std::min(nt, NB);
  }
  const bool sync = nt > 1 && !by_rows;
  // Two threads on a unit split claim blocks from opposite ends (see the
  // step loop); GRU_DYN=0 gives each its fixed half instead (tests: the
  // results are identical).
  const bool two_ended = sync && nt == 2 && s.tuning.two_ended;
  // Whether the recurrence prefetches the next panel of U into L2 while it
  // computes this one. When the panels a thread walks each step do not stay
  // in its L2 (counting half of it: the rest holds projection rows and
  // states), each slice of a panel comes from L3 on the first row tile that
  // reads it, at the pace of the tile, and the core waits; spread over the
  // previous panel's tiles, the fetch overlaps the arithmetic. S4 at 1
  // thread, alternating in one process, 4 rounds x 8 calls: median 0.170 ->
  // 0.156 s in every round; 2 threads 0.091 -> 0.083; S3 at 1 thread 3-12%.
  // GRU_PF=1 or 0 forces it on or off (tests: the results are identical).
  const double walked = by_rows ? u_bytes : u_bytes / std::max(1, nt);
  bool prefetch_u = walked > 0.5 * l2;
  if (s.tuning.prefetch >= 0) prefetch_u = s.tuning.prefetch == 1;

  // Memory: the call may use one B x T x 3H projection buffer beyond its
  // inputs and outputs (issue 4). The packed U (H rows of 3 Hp), the chunk
  // buffer (CR rows) and, when they fit too, the packed input kernel (F
  // rows) share that budget; otherwise the input kernel is packed slice by
  // slice as the projection needs it (24 KB per thread), and the chunk
  // shrinks to what is left (never below one step). Small layers get 1 MB
  // whatever B x T: their fixed costs matter more than their memory.
  const long budget_rows = std::max<long>(BT, (1L << 20) / (N3 * elem_size));
  // With a cache, the packed kernels are the layer's, kept between calls, and
  // the call's own memory is the chunk buffer (as when the input kernel is
  // packed slice by slice).
  const bool pack_k =
      layer_cache || H + F + std::min<long>(BT, kChunkRows) <= budget_rows;
  const long chunk_rows =
      std::min<long>(kChunkRows, budget_rows - H - (pack_k && !layer_cache ? F : 0));
  const int tc =
      static_cast<int>(std::min<long>(Tn, std::max<long>(1, (chunk_rows + B - 1) / B)));
  p.threads = nt;
  p.by_rows = by_rows;
  p.sync = sync;
  p.two_ended = two_ended;
  p.prefetch_u = prefetch_u;
  p.pack_kernel = pack_k;
  p.chunk_steps = tc;
  // Training: where the epilogue writes its records. In place, block by
  // block, each row's 8 records go to 8 places 3H or H apart in the
  // 8 T B H workspace; staged, they go to a padded row in cache and each
  // step's rows move to the workspace as contiguous runs. Alternating
  // processes, 1 thread, training forward (64 x 100 x 64 x H; S3):
  // H 128 in place 11.9-12.1 ms, staged 12.3-12.6; H 256 36-37, 34;
  // H 384 84-85, 59-61; S3 (H 512) 292-299, 223-236 (2 threads 157-159,
  // 126).
  p.stage_records = s.tuning.stage >= 0 ? s.tuning.stage == 1 : H >= 256;
  return p;
}

}  // namespace detail
}  // namespace gru
