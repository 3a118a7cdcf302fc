// The CPU forward pass: Keras 3's generic GRU path, blocked for the cache and
// vectorized by the per-ISA kernels of kernels.cpp. Inference (forward_cpu)
// and training (forward_train, backward.h) run this one step body; they
// differ only in the epilogue's policy: the training one also records each
// step's gates, derivatives and states in the caller's workspace.
//
// One call:
//   1. packs the recurrent kernel (H x 3H) and the input kernel (F x 3H) into
//      gate panels (see kernels.h), converting to the compute type T, unless
//      the caller's PackedWeights (gru.h) already holds them;
//   2. walks the sequence in chunks of timesteps; for each chunk it computes
//      the input projection XP = dropout(x) K + input_bias as one blocked
//      matrix product (rows = the chunk's timesteps x batch), then runs the
//      chunk's steps: per unit block, the micro-tile product h U of the
//      block's panel, then the fused gate arithmetic and state update.
// The chunk buffer (about 1024 rows x 3H) is reused, so memory stays
// O(weights + B H) however long the sequence, and nothing is allocated per
// step.
//
// Threads split the unit blocks of each step (each thread keeps its part of U
// hot in its own cache) and the row blocks of each chunk's projection. Every
// output element is computed by the same operations in the same order
// whatever the thread count, so results do not depend on it.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <limits>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "parallel.h"

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "backward.h"
#include "buffer.h"
#include "gru.h"
#include "interrupt.h"
#include "kernels.h"
#include "packing.h"
#include "plan.h"
#include "sequence.h"

namespace gru {

namespace {

using detail::EpilogueArgs;
using detail::Buffer;
using detail::Kernels;
using detail::pack_panels;
using detail::pack_slice;

// Rows of the projection handled together (packed A block: 1024 rows x 128
// floats, 512 KB, in L2) and the reduction depth of one pass over it. The
// loop runs slice of K by slice, each 24 KB slice of a gate panel once per
// block of rows: the input kernel (12.6 MB for S4) is then read once per
// chunk, not once per 128 rows from L3.
// A depth of 128 keeps one gate panel's slice (128 x 3W: 24 KB in float with
// AVX-512) in L1 next to the A rows, so the panel is read from L2 once per
// block of rows instead of once per micro-tile.
// Third pass: 256 deep (A block 1 MB, a panel slice 48 KB): the chunk
// buffer's read-modify-write per slice halves, which mattered more than the
// panel slice's L1 residency (S4 at 1 thread, A/B alternating, 6 pairs:
// cpu 238 -> 227 ms median, 228 -> 215 ms best; load 3-4.6 on 2 cores).
constexpr int kMC = 1024;
constexpr int kKC = 256;
// Reduction depth of one pass of the recurrent product (same reasoning: the
// slice of U's panel stays in L1 across the row tiles of a step).
constexpr int kRC = 128;

#define GRU_BARRIER() \
  do {                \
    _Pragma("omp barrier") \
  } while (0)

// T: the compute type; S: the inputs' type; O: the outputs' type (double
// for R's arrays whatever T: the output moves convert as they go, so no
// second pass widens a float result). workspace: null for inference, else
// the training workspace (backward.h) the step records into.
template <typename T, typename S, typename O>
void forward_impl(const Spec& s, const Weights<S>& w, const Inputs<S>& in,
                  const Outputs<O>& out, PackedWeights* cache, T* workspace = nullptr) {
  validate(s);
  const Kernels<T>& kern = detail::select_kernels<T>();
  const bool train = workspace != nullptr;
  const detail::TrainBlocks<T> rec(s, workspace);
  const auto epilogue = train ? kern.epilogue_train : kern.epilogue;
  const int B = s.batch, Tn = s.timesteps, F = s.input_dim, H = s.units;
  const int W = kern.W, MR = kern.MR, W3 = 3 * W;
  const int NB = (H + W - 1) / W, Hp = NB * W;
  const long N3 = 3L * Hp;
  const long BT = static_cast<long>(B) * Tn;

  const detail::ForwardPlan plan = detail::plan_forward(
      s, W, MR, static_cast<int>(sizeof(T)), l2_cache_bytes(), cache != nullptr);
  const int nt = plan.threads;
  const bool by_rows = plan.by_rows, sync = plan.sync, two_ended = plan.two_ended;
  const bool prefetch_u = plan.prefetch_u, pack_k = plan.pack_kernel;
  const int tc = plan.chunk_steps;
  const int row_tiles = (B + MR - 1) / MR;
  std::atomic<int> claims[2];
  claims[0].store(0);
  claims[1].store(0);
  // --- buffers, all allocated before the loop ---------------------------
  // The kernels' panels: the caller's cache when it holds these very arrays
  // packed for this type and width, else packed below (into the cache when
  // there is one, so the next call skips it).
  const bool cached = cache != nullptr && cache->elem_size == static_cast<int>(sizeof(T)) &&
                      cache->width == W && cache->input_dim == F && cache->units == H &&
                      cache->kernel_src == w.kernel &&
                      cache->recurrent_src == w.recurrent_kernel;
  const size_t up_n = static_cast<size_t>(NB) * H * W3, kp_n = static_cast<size_t>(NB) * F * W3;
  if (cache != nullptr && !cached) {
    cache->clear();
    Buffer<T> cu(up_n), ck(kp_n);
    cache->recurrent = cu.release();
    cache->kernel = ck.release();
    cache->nbytes = (up_n + kp_n) * sizeof(T);
  }
  Buffer<T> up(cache != nullptr ? 0 : up_n);
  T* const upp = cache != nullptr ? static_cast<T*>(cache->recurrent) : up.get();
  Buffer<T> kp(pack_k && cache == nullptr ? kp_n : 0);  // input kernel panels
  T* const kpp = cache != nullptr ? static_cast<T*>(cache->kernel) : kp.get();
  std::vector<T> bias_in(N3, T(0)), bias_rec(N3, T(0));
  bool has_rec_bias = false;
  for (int g = 0; g < 3; ++g) {
    for (int j = 0; j < H; ++j) {
      const long p = static_cast<long>(j / W) * W3 + g * W + j % W;
      if (w.input_bias != nullptr) bias_in[p] = T(w.input_bias[g * H + j]);
      if (s.reset_after && w.recurrent_bias != nullptr) {
        bias_rec[p] = T(w.recurrent_bias[g * H + j]);
        has_rec_bias = true;
      }
    }
  }
  // The chunk's projection, block-major: block c of row r at
  // xp[(c * CR + r) * 3W], so a step streams each block's rows contiguously
  // (row-major rows 3 Hp apart defeat the prefetcher: the epilogue stalled
  // on L3 misses) and the output transpose reads contiguous memory.
  const long CR = static_cast<long>(tc) * B;
  Buffer<T> xp(static_cast<size_t>(CR) * N3);
  const size_t bh = static_cast<size_t>(B) * Hp;
  Buffer<T> h0(bh), h1(bh);
  const int rdg = s.recurrent_dropout_gates;
  Buffer<T> hd0(rdg * bh), hd1(rdg * bh), rmask(rdg * bh);
  Buffer<T> zbuf(s.reset_after ? 0 : bh), rhbuf(s.reset_after ? 0 : bh);
  // Training with plan.stage_records: the epilogue records a step's rows in
  // a padded staging row (g 3 Hp, d 3 Hp, c Hp, s Hp), two steps' worth,
  // and each step's rows are then moved to the workspace as contiguous runs
  // (S3 at 1 thread: 274 ms recorded in place, 206 with the same writes
  // kept in cache, inference 188). Otherwise it writes the workspace rows.
  const bool staged = train && plan.stage_records;
  const long srs = 8L * Hp;  // staging row stride
  Buffer<T> stage(staged ? 2 * static_cast<size_t>(B) * srs : 0);
  // The last step's output without return_sequences, in T when O is not T
  // (the epilogue writes T); converted after the loop.
  constexpr bool same_out = std::is_same<T, O>::value;
  Buffer<T> last(!s.return_sequences && !same_out ? static_cast<size_t>(B) * H : 0);
  const int nmc_max = static_cast<int>((std::min<long>(kMC, CR) + MR - 1) / MR * MR);
  const int kc_max = std::min(F, kKC);
  Buffer<T> apack(static_cast<size_t>(nt) * nmc_max * kc_max);
  Buffer<T> kslices(pack_k ? 0 : static_cast<size_t>(nt) * kc_max * W3);
  // Per thread: the products of one step, either one row tile x all its
  // blocks (a small batch) or all its row tiles x one block.
  const int tile_rows_max = std::max(NB, row_tiles) * MR;
  Buffer<T> tiles(static_cast<size_t>(nt) * tile_rows_max * W3);

  // Initial state, recurrent dropout masks: row-major B x Hp, zero padded.
  for (int b = 0; b < B; ++b) {
    for (int j = 0; j < Hp; ++j) {
      const size_t p = static_cast<size_t>(b) * Hp + j;
      h0[p] = (j < H && in.initial_state != nullptr)
                  ? T(in.initial_state[b + static_cast<size_t>(B) * j])
                  : T(0);
      for (int g = 0; g < rdg; ++g) {
        rmask[g * bh + p] =
            j < H ? T(in.recurrent_dropout_mask[g * static_cast<size_t>(B) * H + b +
                                                static_cast<size_t>(B) * j])
                  : T(0);
        hd0[g * bh + p] = h0[p] * rmask[g * bh + p];
      }
    }
  }

  // Interrupt polling (see InterruptCheck in gru.h). Only the calling
  // thread writes stop_at, once, at the start of chunk k0 and to k0: the
  // pass stops before that chunk's recurrence. Threads that meet at barriers
  // (sync) read it after the chunk's projection barrier, which the store
  // precedes, so all see it there and leave together (a later store, for a
  // later chunk, never stops an earlier one); threads that run alone (by
  // rows) read it at each chunk's start and just leave.
  constexpr long kNoStop = std::numeric_limits<long>::max();
  std::atomic<long> stop_at{kNoStop};
  detail::InterruptFlag interrupt(s);

#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int tid = omp_get_thread_num();
    const int nth = omp_get_num_threads();
    // This thread's unit blocks [cb0, cb1) and batch rows [rb0, rb1).
    int cb0 = 0, cb1 = NB, rb0 = 0, rb1 = B;
    if (by_rows) {
      rb0 = static_cast<int>(static_cast<long>(row_tiles) * tid / nth) * MR;
      rb1 = std::min(B, static_cast<int>(static_cast<long>(row_tiles) * (tid + 1) / nth) * MR);
    } else {
      cb0 = static_cast<int>(static_cast<long>(NB) * tid / nth);
      cb1 = static_cast<int>(static_cast<long>(NB) * (tid + 1) / nth);
    }
    // This thread's share of the sequence output's pages, faulted in at once
    // (see populate_pages).
    if (s.return_sequences) {
      populate_pages(out.output, static_cast<size_t>(BT) * H * sizeof(O), tid, nth);
    }
    T* ap = apack.get() + static_cast<size_t>(tid) * nmc_max * kc_max;
    T* kslice = pack_k ? nullptr : kslices.get() + static_cast<size_t>(tid) * kc_max * W3;
    T* tile = tiles.get() + static_cast<size_t>(tid) * tile_rows_max * W3;

    if (!cached) {
      const int pc0 = static_cast<int>(static_cast<long>(NB) * tid / nth);
      const int pc1 = static_cast<int>(static_cast<long>(NB) * (tid + 1) / nth);
      pack_panels<T, S>(w.recurrent_kernel, H, H, W, pc0, pc1, upp);
      if (pack_k) pack_panels<T, S>(w.kernel, F, H, W, pc0, pc1, kpp);
      if (nt > 1) GRU_BARRIER();
    }

    long round = 0;  // passes of the recurrence so far (see two_ended)
    T* hcur = h0.get();
    T* hnext = h1.get();
    T* hdcur = hd0.get();
    T* hdnext = hd1.get();
    const int passes = s.dropout_gates == 3 ? 3 : 1;
    // Projection micro-tiles. A thread owning the whole batch tiles the
    // chunk's rows as one contiguous range (so a batch of one still fills
    // MR-row tiles); otherwise each timestep's rows [rb0, rb1) are tiled.
    const bool flat = rb0 == 0 && rb1 == B;
    const int ptiles = (rb1 - rb0 + MR - 1) / MR;
    const int tiles_per_block = std::max(1, kMC / MR);

    for (int k0 = 0; k0 < Tn; k0 += tc) {
      if (tid == 0 && stop_at.load() == kNoStop) {
        interrupt.poll();
        if (interrupt.stopped()) stop_at.store(k0);
      }
      if (!sync && k0 >= stop_at.load()) break;
      const int nk = std::min(tc, Tn - k0);
      // Original timesteps of this chunk: [tlo, tlo + nk).
      const int tlo = static_cast<int>(detail::chunk_first_time(s, k0, nk));

      // --- input projection of the chunk ------------------------------
      const long crows = static_cast<long>(nk) * B;
      long q0 = 0, q1 = flat ? (crows + MR - 1) / MR : static_cast<long>(nk) * ptiles;
      // Tile q: its first row in the chunk buffer and its height.
      auto tile_rows = [&](long q, long* lr, int* m) {
        if (flat) {
          *lr = q * MR;
          *m = static_cast<int>(std::min<long>(MR, crows - *lr));
        } else {
          const int bt = rb0 + static_cast<int>(q % ptiles) * MR;
          *lr = (q / ptiles) * B + bt;
          *m = std::min(MR, rb1 - bt);
        }
      };
      if (sync) {
        const long nq = q1;
        q0 = nq * tid / nth;
        q1 = nq * (tid + 1) / nth;
      }
      for (int pass = 0; pass < passes; ++pass) {
        const S* dm = s.dropout_gates == 0
                          ? nullptr
                          : detail::dropout_at(in.dropout_mask, s.dropout_gates, pass,
                                               static_cast<size_t>(B) * F);
        const int g0 = passes == 3 ? pass : 0;
        const int ng = passes == 3 ? 1 : 3;
        for (int kc0 = 0; kc0 < F; kc0 += kKC) {
          const int kc = std::min(kKC, F - kc0);
          for (long qb = q0; qb < q1; qb += tiles_per_block) {
            const int ntile = static_cast<int>(std::min<long>(tiles_per_block, q1 - qb));
            // Pack A: tile, then k, then MR rows; x (times the dropout mask
            // of this pass, broadcast over timesteps) in the compute type.
            for (int tl = 0; tl < ntile; ++tl) {
              long lr;
              int m;
              tile_rows(qb + tl, &lr, &m);
              const long gr = static_cast<long>(tlo) * B + lr;  // row of x
              T* a = ap + static_cast<size_t>(tl) * kc * MR;
              if constexpr (std::is_same<S, double>::value) {
                if (dm == nullptr) {  // R's doubles: the kernel's converting pack
                  kern.pack_x(in.x + gr + BT * kc0, BT, m, kc, MR, a);
                  continue;
                }
              }
              for (int f = kc0; f < kc0 + kc; ++f) {
                const S* xc = in.x + gr + BT * f;
                T* af = a + static_cast<size_t>(f - kc0) * MR;
                if (dm == nullptr) {
                  for (int i = 0; i < m; ++i) af[i] = T(xc[i]);
                } else {
                  const S* dmf = dm + static_cast<size_t>(B) * f;
                  // In T, as Keras multiplies its float32 inputs and mask
                  // (and as the training pass, which reads T inputs, does).
                  for (int i = 0; i < m; ++i) af[i] = T(xc[i]) * T(dmf[(gr + i) % B]);
                }
                for (int i = m; i < MR; ++i) af[i] = T(0);
              }
            }
            for (int c = 0; c < NB; ++c) {
              const T* bp;
              if (pack_k) {
                bp = kpp + (static_cast<size_t>(c) * F + kc0) * W3;
              } else {
                pack_slice<T, S>(w.kernel, F, H, W, c, kc0, kc, kslice);
                bp = kslice;
              }
              for (int tl = 0; tl < ntile; ++tl) {
                long lr;
                int m;
                tile_rows(qb + tl, &lr, &m);
                kern.tile(m, g0, ng, kc, ap + static_cast<size_t>(tl) * kc * MR, 1, MR,
                          bp, xp.get() + (c * CR + lr) * W3, W3,
                          bias_in.data() + c * W3, kc0 > 0);
              }
            }
          }
        }
      }
      if (sync) {
        GRU_BARRIER();
        if (k0 >= stop_at.load()) break;
      }

      // --- the recurrence over the chunk --------------------------------
      for (int kk = 0; kk < nk; ++kk) {
        const int k = k0 + kk;
        const int t = static_cast<int>(detail::step_time(s, k));
        T* xpt = xp.get() + static_cast<long>(t - tlo) * B * W3;
        EpilogueArgs<T> e;
        e.batch = B;
        e.units = H;
        e.hp = Hp;
        e.xp_stride = W3;
        e.xp_bstride = CR * W3;
        e.hprev = hcur;
        e.hnext = hnext;
        e.zbuf = zbuf.get();
        e.rhbuf = rhbuf.get();
        e.ndrop = rdg;
        for (int g = 0; g < rdg; ++g) {
          e.hd[g] = hdnext + g * bh;
          e.dmask[g] = rmask.get() + g * bh;
        }
        e.mask = detail::step_mask(s, in.mask, t);
        if (s.return_sequences) {
          e.out_xp = true;  // moved to out.output after the chunk
        } else if (k == Tn - 1) {
          if constexpr (same_out) {
            e.out = out.output;
          } else {
            e.out = last.get();
          }
          e.out_stride = B;
        }
        e.zero_output_for_mask = s.zero_output_for_mask;
        e.act = s.activation;
        e.ract = s.recurrent_activation;
        if (staged) {
          T* base = stage.get() + (k & 1) * B * srs;
          e.rec_g = base;
          e.rec_d = base + 3 * Hp;
          e.rec_c = base + 6 * Hp;
          e.rec_s = base + 7 * Hp;
          e.rec_rs = e.rec_rs1 = srs;
          e.rec_gs = Hp;
        } else if (train) {
          const size_t row = static_cast<size_t>(t) * B;
          e.rec_g = rec.g_row(row);
          e.rec_d = rec.d_row(row);
          e.rec_c = rec.c_row(row);
          e.rec_s = rec.s_row(row);
          e.rec_rs = 3L * H;
          e.rec_rs1 = e.rec_gs = H;
          e.rec_stream = true;
        }
        // The state each gate's product reads.
        const T* a_of[3];
        for (int g = 0; g < 3; ++g) {
          a_of[g] = rdg == 0 ? hcur : hdcur + detail::dropout_block(rdg, g) * bh;
        }
        e.hsrc2 = a_of[2];

        const int ng1 = s.reset_after ? 3 : 2;
        const long tstride = static_cast<long>(MR) * W3;
        // One row tile (a small batch): all blocks' products first, then one
        // epilogue over them. Otherwise block by block, so each panel of U
        // stays in cache across the row tiles.
        const bool one_tile = rb1 - rb0 <= MR;
        // Products over the reduction slice [kb, kb + kc) of h U for block c,
        // rows [b0, b0 + m), added to dst unless kb == 0.
        auto products = [&](int c, int b0, int m, T* dst, int kb, int kc, const char* pf,
                            int pf_lines) {
          const T* panel = upp + (static_cast<size_t>(c) * H + kb) * W3;
          const long aoff = static_cast<long>(b0) * Hp + kb;
          const T* rb = has_rec_bias && kb == 0 ? bias_rec.data() + c * W3 : nullptr;
          for (int g = 0; g < (rdg == 3 ? ng1 : 1); ++g) {
            const int g0 = rdg == 3 ? g : 0, ng = rdg == 3 ? 1 : ng1;
            if (pf_lines > 0 && g == 0) {
              kern.tile_pf(m, g0, ng, kc, a_of[g] + aoff, Hp, 1, panel, dst, W3, rb, kb > 0,
                           pf, pf_lines);
            } else {
              kern.tile(m, g0, ng, kc, a_of[g] + aoff, Hp, 1, panel, dst, W3, rb, kb > 0);
            }
          }
        };
        auto candidate = [&](int c, int b0, int m, T* dst, int kb, int kc) {
          const T* panel = upp + (static_cast<size_t>(c) * H + kb) * W3;
          kern.tile(m, 2, 1, kc, rhbuf.get() + static_cast<long>(b0) * Hp + kb, Hp, 1,
                    panel, dst, W3, nullptr, kb > 0);
        };
        auto finish = [&](int phase, int c, int nblocks, int b0, int m, const T* src) {
          e.phase = phase;
          e.m = m;
          e.b0 = b0;
          e.block = c;
          e.nblocks = nblocks;
          e.tile = src;
          e.tile_stride = tstride;
          e.xp = xpt + (b0 + c * CR) * W3;
          epilogue(e);
        };
        const int phase1 = s.reset_after ? 0 : 1;
        for (int pass = 0; pass < (s.reset_after ? 1 : 2); ++pass) {
          if (pass == 1) {
            // The candidate reads r * h of every unit: wait for all blocks.
            if (sync) GRU_BARRIER();
          }
          // Every thread is past the barrier that ended the previous round,
          // so the other counter is free to reset for the next one.
          if (two_ended && tid == 0) claims[(round + 1) & 1].store(0, std::memory_order_relaxed);
          const int phase = pass == 0 ? phase1 : 2;
          if (one_tile && rb1 - rb0 == 1 && (rdg != 3 || pass == 1)) {
            // One row (a batch of one): all its blocks' products in one
            // kernel call, sharing each broadcast of the state (S1: 100
            // steps of 1 x 64 by 64 x 192; see row_panels). Pass 1 is
            // reset_after = FALSE's candidate, (r h) U_h.
            const T* a = pass == 0 ? a_of[0] : rhbuf.get();
            kern.row_panels(cb1 - cb0, pass == 0 ? 0 : 2, pass == 0 ? ng1 : 1, H,
                            a + static_cast<long>(rb0) * Hp,
                            upp + static_cast<size_t>(cb0) * H * W3,
                            static_cast<long>(H) * W3, tile, tstride,
                            pass == 0 && has_rec_bias ? bias_rec.data() + cb0 * W3 : nullptr);
            finish(phase, cb0, cb1 - cb0, rb0, 1, tile);
          } else if (one_tile) {
            const int m = rb1 - rb0;
            for (int c = cb0; c < cb1; ++c) {
              T* dst = tile + (c - cb0) * tstride;
              if (pass == 0) {
                products(c, rb0, m, dst, 0, H, nullptr, 0);
              } else {
                candidate(c, rb0, m, dst, 0, H);
              }
            }
            finish(phase, cb0, cb1 - cb0, rb0, m, tile);
          } else {
            // Block by block; within a block, slice by slice of the
            // reduction over all row tiles, then the epilogues.
            // The next block's panel (the first one's for the next step),
            // spread over this block's tiles, at most one line per k.
            const int nrt = (rb1 - rb0 + MR - 1) / MR;
            const long calls = prefetch_u ? static_cast<long>((H + kRC - 1) / kRC) * nrt : 0;
            auto block = [&](int c, int c_next) {
              const detail::PrefetchSpread next(upp + static_cast<size_t>(c_next) * H * W3,
                                                static_cast<long>(H) * W3 * sizeof(T), calls);
              for (int kb = 0; kb < H; kb += kRC) {
                const int kc = std::min(kRC, H - kb);
                for (int b0 = rb0; b0 < rb1; b0 += MR) {
                  const int m = std::min(MR, rb1 - b0);
                  T* dst = tile + static_cast<long>(b0 - rb0) * W3;
                  if (pass == 0) {
                    const long j = static_cast<long>(kb / kRC) * nrt + (b0 - rb0) / MR;
                    const int n = next.lines(j, kc);
                    products(c, b0, m, dst, kb, kc, n > 0 ? next.at(j) : nullptr, n);
                  } else {
                    candidate(c, b0, m, dst, kb, kc);
                  }
                }
              }
              for (int b0 = rb0; b0 < rb1; b0 += MR) {
                finish(phase, c, 1, b0, std::min(MR, rb1 - b0),
                       tile + static_cast<long>(b0 - rb0) * W3);
              }
            };
            if (two_ended) {
              // Two threads claim the step's blocks from opposite ends: the
              // first from block 0 up, the second from the last block
              // down, one shared count of claims keeping them apart. Each
              // thread gets its usual half (and keeps its panels of U in
              // its L2) while the two run at one speed; when one vCPU is
              // slowed (a busy host), the other takes blocks from the
              // middle instead of waiting at the barrier. Timers in a
              // scratch build put one thread's barrier waits at 20-50 ms of
              // S3's ~180 ms call in some processes (which thread varied
              // from process to process). Alternating in one process, 2
              // threads, 10-12 rounds of 3 calls each, paired time ratio
              // (this / fixed halves) and rounds faster: S3 0.93 (8 of 10),
              // 10 of 12, 1.002 (5 of 12), 0.984 (8 of 12); S4 0.97 (8 of
              // 10), 8 of 12, 0.984 (11 of 12).
              std::atomic<int>& claimed = claims[round & 1];
              for (int j = 0;; ++j) {
                if (claimed.fetch_add(1, std::memory_order_relaxed) >= NB) break;
                const int c = tid == 0 ? j : NB - 1 - j;
                const int c_next = tid == 0 ? (c + 1 < NB ? c + 1 : 0)
                                            : (c > 0 ? c - 1 : NB - 1);
                block(c, c_next);
              }
            } else {
              for (int c = cb0; c < cb1; ++c) block(c, c + 1 < cb1 ? c + 1 : cb0);
            }
          }
          ++round;
        }
        if (sync) GRU_BARRIER();
        if (staged) {
          // This step's records, staged rows [r0, r1), to the workspace:
          // after the barrier each thread moves its share of the rows (the
          // next step stages into the other half), by rows its own rows.
          int r0 = rb0, r1 = rb1;
          if (sync) {
            r0 = static_cast<int>(static_cast<long>(B) * tid / nth);
            r1 = static_cast<int>(static_cast<long>(B) * (tid + 1) / nth);
          }
          const T* base = stage.get() + (k & 1) * B * srs;
          for (int b = r0; b < r1; ++b) {
            const T* sr = base + b * srs;
            const size_t row = static_cast<size_t>(t) * B + b;
            for (int g = 0; g < 3; ++g) {
              kern.copy_stream(rec.g_row(row) + g * H, sr + g * Hp, H);
              kern.copy_stream(rec.d_row(row) + g * H, sr + (3 + g) * Hp, H);
            }
            kern.copy_stream(rec.c_row(row), sr + 6 * Hp, H);
            kern.copy_stream(rec.s_row(row), sr + 7 * Hp, H);
          }
        }
        std::swap(hcur, hnext);
        std::swap(hdcur, hdnext);
      }

      // --- the chunk's outputs, from the z slots to R's (B, T, H) layout:
      // per unit, the chunk's steps are one contiguous run.
      if (s.return_sequences) {
        for (int c = cb0; c < cb1; ++c) {
          const int j0 = c * W;
          const int nu = std::min(W, H - j0);
          if (rb1 - rb0 == 1) {
            // One row (a batch of one): unit by unit, so the stores run
            // along R's timestep axis rather than one per inner loop.
            // Step kk of the chunk is row t - tlo = kk (go_backwards: nk - 1
            // - kk) of the block: a fixed stride either way, hoisted out of
            // the loop (the per-element index arithmetic was most of its
            // ~20 instructions an element).
            const int b = rb0;
            const long ostep = B;
            const long qstep = (s.go_backwards ? -1L : 1L) * B * W3;
            const long q0 = s.go_backwards ? static_cast<long>(nk - 1) * B * W3 : 0;
            for (int u = 0; u < nu; ++u) {
              O* o = out.output + BT * (j0 + u) + b + ostep * k0;
              const T* q = xp.get() + (c * CR + b) * W3 + u + q0;
              for (int kk = 0; kk < nk; ++kk) o[ostep * kk] = O(q[qstep * kk]);
            }
            continue;
          }
          for (int kk = 0; kk < nk; ++kk) {
            const int k = k0 + kk;
            const int t = static_cast<int>(detail::step_time(s, k));
            const T* src = xp.get() + (c * CR + static_cast<long>(t - tlo) * B) * W3;
            O* dst = out.output + static_cast<long>(B) * k;
            if constexpr (std::is_same<O, double>::value) {  // R's array: 8 x 8 blocks
              kern.out_columns(src + rb0 * W3, W3, rb1 - rb0, nu,
                               dst + BT * j0 + rb0, BT);
              continue;
            }
            for (int u = 0; u < nu; ++u) {
              O* o = dst + BT * (j0 + u);
              const T* q = src + u;
              for (int b = rb0; b < rb1; ++b) o[b] = O(q[b * W3]);
            }
          }
        }
        // The next chunk's projection overwrites rows other threads read.
        if (sync) GRU_BARRIER();
      }
    }

#if defined(__SSE__)
    // The records' streaming stores, ordered before the pass ends.
    if (train) _mm_sfence();
#endif
    if (out.state != nullptr) {
      for (int b = rb0; b < rb1; ++b) {
        for (int j = cb0 * W; j < std::min(H, cb1 * W); ++j) {
          out.state[b + static_cast<size_t>(B) * j] = O(hcur[static_cast<size_t>(b) * Hp + j]);
        }
      }
    }
  }
  if (stop_at.load() != kNoStop) interrupt.stop_at(std::min<long>(stop_at.load(), Tn));
  if constexpr (!same_out) {
    if (!s.return_sequences) {
      for (size_t i = 0; i < static_cast<size_t>(B) * H; ++i) out.output[i] = O(last[i]);
    }
  }
  if (cache != nullptr && !cached) {
    cache->width = W;
    cache->input_dim = F;
    cache->units = H;
    cache->kernel_src = w.kernel;
    cache->recurrent_src = w.recurrent_kernel;
    cache->elem_size = static_cast<int>(sizeof(T));  // last: now it is filled
  }
}

}  // namespace

void PackedWeights::clear() {
  elem_size = 0;
  std::free(kernel);
  std::free(recurrent);
  kernel = recurrent = nullptr;
  kernel_src = recurrent_src = nullptr;
  nbytes = 0;
}

template <typename T>
void forward_cpu(const Spec& spec, const Weights<T>& w, const Inputs<T>& in,
                 const Outputs<T>& out, PackedWeights* cache) {
  forward_impl<T, T, T>(spec, w, in, out, cache);
}

void forward_cpu_f32_from_f64(const Spec& spec, const Weights<double>& w,
                              const Inputs<double>& in, const Outputs<double>& out,
                              PackedWeights* cache) {
  forward_impl<float, double, double>(spec, w, in, out, cache);
}

template <typename T, typename O>
void forward_train(const Spec& spec, const Weights<T>& w, const Inputs<T>& in,
                   const Outputs<O>& out, T* workspace) {
  detail::validate_train(spec);
  forward_impl<T, T, O>(spec, w, in, out, nullptr, workspace);
}

template void forward_cpu<float>(const Spec&, const Weights<float>&, const Inputs<float>&,
                                 const Outputs<float>&, PackedWeights*);
template void forward_cpu<double>(const Spec&, const Weights<double>&,
                                  const Inputs<double>&, const Outputs<double>&,
                                  PackedWeights*);

template void forward_train<float>(const Spec&, const Weights<float>&, const Inputs<float>&,
                                   const Outputs<float>&, float*);
template void forward_train<float, double>(const Spec&, const Weights<float>&,
                                           const Inputs<float>&, const Outputs<double>&,
                                           float*);
template void forward_train<double>(const Spec&, const Weights<double>&,
                                    const Inputs<double>&, const Outputs<double>&, double*);

}  // namespace gru
