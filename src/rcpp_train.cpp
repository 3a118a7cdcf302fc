// Glue for training, the one gradient route (fit() and layer_gradients()
// both take it): a forward pass that keeps what the backward pass needs
// behind an external pointer, and the backward pass that consumes it. fit()
// needs the output (to compute the loss and its gradient) before it can call
// backward, so the two halves are separate calls and the forward pass is
// not run twice.
//
// The cache owns copies of the inputs in the engine's precision, so it does
// not depend on R objects staying alive. It is transient (one training step)
// and never stored in a layer, so saveRDS() never sees it.
//
// Entry points are exported with rng = false: none uses R's random numbers
// (dropout masks are drawn in R), so Rcpp need not save and restore them.
#include <Rcpp.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "gru/engine.h"
#include "rcpp_spec.h"

namespace {

// The tag of the training caches' external pointers (rcpp_spec.h).
constexpr const char* kCacheTag = "gru_train_cache";

// The training workspace fit() owns (cpp_train_workspace_new()): the
// workspace of the last finished backward pass, kept for the next training
// step. fit() runs the same shapes batch after batch, and a fresh mapping
// costs the kernel's page faults and zeroing on every step (~10% of an S3
// step even with huge pages). One array per precision, reused only if large
// enough; a training cache borrows it for its step and hands it back when
// its backward pass is done. fit() frees it on exit
// (cpp_train_workspace_free()); the garbage collector does otherwise.
constexpr const char* kWorkspaceTag = "gru_train_workspace";

struct TrainWorkspace {
  gru::LargeArray<float> f;
  gru::LargeArray<double> d;
  gru::LargeArray<float>& of(float*) { return f; }
  gru::LargeArray<double>& of(double*) { return d; }
};

struct TrainCacheBase {
  virtual ~TrainCacheBase() = default;
};

template <typename T>
struct TrainCache : TrainCacheBase {
  gru::Spec spec;
  std::vector<T> x, kernel, recurrent_kernel, input_bias, recurrent_bias, h0, drop,
      recurrent_drop;
  // forward_train writes every element before backward reads it, so the
  // workspace (8 T B H elements) is left uninitialised: zero-filling it, as
  // std::vector does, cost a full extra pass over it on every call. It is
  // mapped with huge pages where the system allows (gru/buffer.h).
  gru::LargeArray<T> workspace;
  std::vector<int> mask;
  bool used = false;
  // The workspace's owner (fit()'s), to hand it back to; kept alive by the
  // cache's external pointer (its protected value).
  TrainWorkspace* owner = nullptr;

  static const T* ptr(const std::vector<T>& v) { return v.empty() ? nullptr : v.data(); }
  gru::Weights<T> weights() const {
    return {ptr(kernel), ptr(recurrent_kernel), ptr(input_bias), ptr(recurrent_bias)};
  }
  gru::Inputs<T> inputs() const {
    gru::Inputs<T> in;
    in.x = ptr(x);
    in.mask = mask.empty() ? nullptr : mask.data();
    in.initial_state = ptr(h0);
    in.dropout_mask = ptr(drop);
    in.recurrent_dropout_mask = ptr(recurrent_drop);
    return in;
  }
};

// The workspace behind `ws` (NULL: none, the step allocates its own).
TrainWorkspace* workspace_of(SEXP ws) {
  if (Rf_isNull(ws)) return nullptr;
  return tagged_address<TrainWorkspace>(ws, kWorkspaceTag, "`workspace`");
}

template <typename T>
void take_workspace(gru::LargeArray<T>& ws, std::size_t n, TrainWorkspace* owner) {
  if (owner != nullptr) {
    gru::LargeArray<T>& spare = owner->of(static_cast<T*>(nullptr));
    if (spare.size() >= n) {
      ws.swap(spare);
      return;
    }
    spare.release();
  }
  ws.allocate(n);
}

template <typename T>
void copy_in(SEXP x, std::vector<T>& to, int threads = 1) {
  if (Rf_isNull(x)) return;
  const double* p = REAL(x);
  const std::ptrdiff_t n = Rf_xlength(x);
  to.resize(n);
  T* out = to.data();
  // An explicit loop (vector::assign converted element by element: 1.1 ms
  // of an S2 train step for x), split over the threads for large inputs.
  if (threads > 1 && n > (1 << 16)) {
#pragma omp parallel for simd num_threads(threads)
    for (std::ptrdiff_t i = 0; i < n; ++i) out[i] = static_cast<T>(p[i]);
    return;
  }
#pragma omp simd
  for (std::ptrdiff_t i = 0; i < n; ++i) out[i] = static_cast<T>(p[i]);
}

template <typename T>
Rcpp::List train_forward(const Call& c, SEXP workspace) {
  const gru::Spec& s = c.spec;
  TrainWorkspace* owner = workspace_of(workspace);
  auto cache = std::make_unique<TrainCache<T>>();
  cache->owner = owner;
  cache->spec = s;
  copy_in(c.x, cache->x, s.threads);
  copy_in(c.kernel, cache->kernel);
  copy_in(c.recurrent_kernel, cache->recurrent_kernel);
  copy_in(c.input_bias, cache->input_bias);
  copy_in(c.recurrent_bias, cache->recurrent_bias);
  copy_in(c.initial_state, cache->h0);
  copy_in(c.dropout_mask, cache->drop);
  copy_in(c.recurrent_dropout_mask, cache->recurrent_drop);
  if (!Rf_isNull(c.mask)) {
    const int* m = LOGICAL(c.mask);
    cache->mask.assign(m, m + Rf_xlength(c.mask));
  }
  // forward_train writes every output element straight into R's double
  // vectors, converting as it stores. Writing floats into their first half
  // and widening them in place afterwards took a second, memory-bound pass
  // over the output; for S2 with return_sequences at 2 threads the direct
  // stores were faster in each of 4 runs of alternating calls (by 0.15-0.94
  // ms of a ~7 ms training forward pass).
  const R_xlen_t n_out = output_length(s), bh = static_cast<R_xlen_t>(s.batch) * s.units;
  Rcpp::NumericVector output(Rcpp::no_init(n_out)), state(Rcpp::no_init(bh));
  take_workspace(cache->workspace, gru::train_workspace_size(s), owner);
  gru::forward_train<T, double>(s, cache->weights(), cache->inputs(),
                                {output.begin(), state.begin()}, cache->workspace.get());
  set_output_dims(s, output, state);
  Rcpp::XPtr<TrainCacheBase> ptr(cache.release(), true, xptr_tag(kCacheTag),
                                 owner != nullptr ? workspace : R_NilValue);
  return Rcpp::List::create(Rcpp::Named("output") = output, Rcpp::Named("state") = state,
                            Rcpp::Named("cache") = ptr);
}

template <typename T>
Rcpp::List train_backward(TrainCache<T>& c, SEXP grad_output, SEXP grad_state,
                          bool need_inputs) {
  if (c.used) throw gru::Error("this training cache was already consumed by a backward pass");
  const gru::Spec& s = c.spec;
  // R passes the gradients as they are (a double array keeps its dims rather
  // than being copied by as.double()), so check them here: the engine reads
  // exactly the output's and the state's lengths.
  check_doubles(grad_output, static_cast<double>(output_length(s)), "`grad_output`", true);
  check_doubles(grad_state, elements({double(s.batch), double(s.units)}), "`grad_state`",
                true);
  // The output gradient is read where R keeps it; the state's (B x H) is
  // copied in T.
  std::vector<T> gs;
  copy_in(grad_state, gs);
  gru::GradInputs<T> gin;
  if (!Rf_isNull(grad_output)) gin.output_double = REAL(grad_output);
  gin.state = gs.empty() ? nullptr : gs.data();
  const size_t B = s.batch, T_ = s.timesteps, F = s.input_dim, H = s.units;
  std::vector<T> dx(need_inputs ? B * T_ * F : 0), dh0(B * H), dk(F * 3 * H),
      du(H * 3 * H), dbi(c.input_bias.empty() ? 0 : 3 * H),
      dbr(c.recurrent_bias.empty() ? 0 : 3 * H);
  gru::Gradients<T> g;
  g.x = need_inputs ? dx.data() : nullptr;
  g.initial_state = dh0.data();
  g.kernel = dk.data();
  g.recurrent_kernel = du.data();
  g.input_bias = dbi.empty() ? nullptr : dbi.data();
  g.recurrent_bias = dbr.empty() ? nullptr : dbr.data();
  c.used = true;
  gru::backward<T>(s, c.weights(), c.inputs(), gin, g, c.workspace.get());
  if (c.owner != nullptr) {  // hand it back for the next step
    c.owner->of(static_cast<T*>(nullptr)).swap(c.workspace);
  }
  c.workspace.release();

  using Rcpp::IntegerVector;
  using Rcpp::Named;
  const int b = s.batch, t = s.timesteps, f = s.input_dim, h = s.units;
  return Rcpp::List::create(
      Named("inputs") = need_inputs ? SEXP(to_r(dx, IntegerVector::create(b, t, f)))
                                    : R_NilValue,
      Named("initial_state") = to_r(dh0, IntegerVector::create(b, h)),
      Named("kernel") = to_r(dk, IntegerVector::create(f, 3 * h)),
      Named("recurrent_kernel") = to_r(du, IntegerVector::create(h, 3 * h)),
      Named("input_bias") =
          dbi.empty() ? R_NilValue : SEXP(to_r(dbi, IntegerVector::create(3 * h))),
      Named("recurrent_bias") =
          dbr.empty() ? R_NilValue : SEXP(to_r(dbr, IntegerVector::create(3 * h))));
}

}  // namespace

// The training forward pass: the output, the final state and an external
// pointer to the cache cpp_gru_train_backward() consumes. `engine` as for
// cpp_gru_forward() (CPU only); `workspace`: NULL or fit()'s
// (cpp_train_workspace_new()), whose memory the step borrows.
// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_gru_train_forward(SEXP engine, bool float64, SEXP workspace = R_NilValue) {
  // The training passes' limits, before any array.
  const Call c = parse_call(engine, [](const gru::Spec& s) { gru::train_workspace_size(s); });
  // Interrupted: the unfinished cache is freed on the way out.
  return interruptible([&] {
    if (float64) return train_forward<double>(c, workspace);
    return train_forward<float>(c, workspace);
  });
}

// The backward pass for a cache of cpp_gru_train_forward(), given dL/d(output)
// and dL/d(final state) (either NULL for zero). The input gradient is
// computed only when need_inputs (the first layer of a model needs none).
// A cache can be consumed once.
// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_gru_train_backward(SEXP cache, SEXP grad_output, SEXP grad_state,
                                  bool need_inputs) {
  TrainCacheBase* base = tagged_address<TrainCacheBase>(cache, kCacheTag, "`cache`");
  // Interrupted: the cache counts as consumed (its workspace is
  // part-overwritten).
  return interruptible([&] {
    if (auto* d = dynamic_cast<TrainCache<double>*>(base)) {
      return train_backward(*d, grad_output, grad_state, need_inputs);
    }
    auto* f = dynamic_cast<TrainCache<float>*>(base);
    if (f == nullptr) throw gru::Error("not a GRU training cache");
    return train_backward(*f, grad_output, grad_state, need_inputs);
  });
}

// A training workspace for fit() to own and pass to every
// cpp_gru_train_forward() of its steps (see TrainWorkspace).
// [[Rcpp::export(rng = false)]]
SEXP cpp_train_workspace_new() {
  Rcpp::XPtr<TrainWorkspace> p(new TrainWorkspace(), true, xptr_tag(kWorkspaceTag));
  return p;
}

// Frees a training workspace's memory now (fit() on exit); it stays usable
// (the next step allocates again).
// [[Rcpp::export(rng = false)]]
void cpp_train_workspace_free(SEXP workspace) {
  TrainWorkspace* ws = tagged_address<TrainWorkspace>(workspace, kWorkspaceTag, "`workspace`");
  ws->f.release();
  ws->d.release();
}
