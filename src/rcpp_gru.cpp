// The thin Rcpp glue: unpacks R objects into engine views and delegates.
// R has already validated every argument (R/layer-gru.R); this file checks
// only that the arrays fit the dims it is told (rcpp_spec.h), as the last
// line of defence, and converts. float32 computation is decided here: on the CPU the engine reads R's
// doubles and converts while packing (no float copies); the GPU path converts
// the inputs once here.
//
// Every entry point is exported with rng = false: none uses R's random
// numbers (dropout masks are drawn in R), and Rcpp's default RNGScope costs
// each call a GetRNGstate()/PutRNGstate() pair, ~1 us and a 2.5 KB copy of
// .Random.seed, twice per layer call.
#include <Rcpp.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gru/engine.h"
#include "rcpp_spec.h"

namespace {

// A view of an optional R double vector in the engine's precision T. For
// double it aliases R's memory; for float it converts into `store`.
template <typename T>
const T* view(SEXP x, std::vector<T>& store) {
  if (Rf_isNull(x)) return nullptr;
  const double* p = REAL(x);
  const R_xlen_t n = Rf_xlength(x);
  if constexpr (std::is_same<T, double>::value) {
    return p;
  } else {
    store.assign(p, p + n);
    return store.data();
  }
}

// The engine's views of one call's R arguments, in precision T; owns the
// float copies when T is float (see view()).
template <typename T>
struct CallViews {
  explicit CallViews(const Call& c) {
    w.kernel = view<T>(c.kernel, store[0]);
    w.recurrent_kernel = view<T>(c.recurrent_kernel, store[1]);
    w.input_bias = view<T>(c.input_bias, store[2]);
    w.recurrent_bias = view<T>(c.recurrent_bias, store[3]);
    in.x = view<T>(c.x, store[4]);
    in.mask = Rf_isNull(c.mask) ? nullptr : LOGICAL(c.mask);
    in.initial_state = view<T>(c.initial_state, store[5]);
    in.dropout_mask = view<T>(c.dropout_mask, store[6]);
    in.recurrent_dropout_mask = view<T>(c.recurrent_dropout_mask, store[7]);
  }
  CallViews(const CallViews&) = delete;
  CallViews& operator=(const CallViews&) = delete;

  std::vector<T> store[8];
  gru::Weights<T> w;
  gru::Inputs<T> in;
};

// R's double output vectors, with their dim attributes.
Rcpp::List make_result(const gru::Spec& s, Rcpp::NumericVector output,
                       Rcpp::NumericVector state) {
  set_output_dims(s, output, state);
  return Rcpp::List::create(Rcpp::Named("output") = output, Rcpp::Named("state") = state);
}

// The CPU in float32 without copies: the engine reads R's doubles, converting
// as it packs, and writes its float results into R's double output vectors
// as it moves them there.
Rcpp::List run_forward_cpu_f32(const Call& c, gru::PackedWeights* cache) {
  const gru::Spec& s = c.spec;
  const CallViews<double> v(c);

  const R_xlen_t bh = static_cast<R_xlen_t>(s.batch) * s.units;
  const R_xlen_t n_out = output_length(s);
  Rcpp::NumericVector output(Rcpp::no_init(n_out)), state(Rcpp::no_init(bh));
  gru::Outputs<double> out;
  out.output = output.begin();
  out.state = state.begin();
  gru::forward_cpu_f32_from_f64(s, v.w, v.in, out, cache);
  return make_result(s, output, state);
}

template <typename T>
Rcpp::List run_forward(const Call& c, bool gpu, gru::PackedWeights* cache) {
  const gru::Spec& s = c.spec;
  const CallViews<T> v(c);

  const R_xlen_t bh = static_cast<R_xlen_t>(s.batch) * s.units;
  const R_xlen_t n_out = output_length(s);
  Rcpp::NumericVector output(Rcpp::no_init(n_out)), state(Rcpp::no_init(bh));
  std::vector<T> out_store, state_store;
  gru::Outputs<T> out;
  if constexpr (std::is_same<T, double>::value) {
    out.output = output.begin();
    out.state = state.begin();
  } else {
    out_store.resize(n_out);
    state_store.resize(bh);
    out.output = out_store.data();
    out.state = state_store.data();
  }
  if (gpu) {
    gru::cuda::forward<T>(s, v.w, v.in, out);
  } else {
    gru::forward_cpu<T>(s, v.w, v.in, out, cache);
  }
  if constexpr (!std::is_same<T, double>::value) {
    std::copy(out_store.begin(), out_store.end(), output.begin());
    std::copy(state_store.begin(), state_store.end(), state.begin());
  }
  return make_result(s, output, state);
}

constexpr const char* kPackedTag = "gru_packed_weights";

// The CPU engine's packed-weights cache behind an external pointer made by
// cpp_packed_new() (NULL: none).
gru::PackedWeights* packed_of(SEXP packed) {
  if (Rf_isNull(packed)) return nullptr;
  return tagged_address<gru::PackedWeights>(packed, kPackedTag, "`packed`");
}

// An activation code the engine knows (gru.h).
gru::Activation activation_of(int code) {
  if (code < 0 || code >= gru::kActivationCount) {
    throw gru::Error("unknown activation code " + std::to_string(code));
  }
  return static_cast<gru::Activation>(code);
}

}  // namespace

// The whole GRU forward pass over a sequence: `engine` is the call's
// description (Call, rcpp_spec.h). `packed`: NULL, or a cache from
// cpp_packed_new() that the layer keeps with these very weight arrays (see
// gru_engine_plan()); the CPU engine fills it on the first call and skips
// packing the kernels on the next ones.
// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_gru_forward(SEXP engine, bool float64, bool gpu, SEXP packed = R_NilValue) {
  const Call c = parse_call(engine);
  gru::PackedWeights* cache = gpu ? nullptr : packed_of(packed);
  return interruptible([&] {
    if (float64) return run_forward<double>(c, gpu, cache);
    if (!gpu) return run_forward_cpu_f32(c, cache);
    return run_forward<float>(c, gpu, nullptr);
  });
}

// Where the last interrupted CPU pass stopped (gru.h), -1 if
// none (tests).
// [[Rcpp::export(rng = false)]]
double cpp_last_interrupted_step() { return static_cast<double>(last_interrupted_step()); }

// An empty packed-weights cache for cpp_gru_forward(), freed when R collects
// the pointer.
// [[Rcpp::export(rng = false)]]
SEXP cpp_packed_new() {
  return Rcpp::XPtr<gru::PackedWeights>(new gru::PackedWeights(), true,
                                        xptr_tag(kPackedTag));
}

// Frees a cache's panels now (the layer's weights changed), so they do not
// wait for R's garbage collector. NULL: nothing to do.
// [[Rcpp::export(rng = false)]]
void cpp_packed_clear(SEXP packed) {
  if (gru::PackedWeights* p = packed_of(packed)) p->clear();
}

// Bytes a cache holds (0 when empty).
// [[Rcpp::export(rng = false)]]
double cpp_packed_bytes(SEXP packed) {
  const gru::PackedWeights* p = packed_of(packed);
  return p == nullptr ? 0.0 : static_cast<double>(p->bytes());
}

// f'(x) for an activation code (for tests).
// [[Rcpp::export(rng = false)]]
Rcpp::NumericVector cpp_activation_derivative(Rcpp::NumericVector x, int code) {
  const gru::Activation a = activation_of(code);
  Rcpp::NumericVector y = Rcpp::clone(x), d(x.size());
  gru::activate<double>(a, y.begin(), y.size());
  gru::activation_derivative<double>(a, x.begin(), y.begin(), d.begin(), x.size());
  return d;
}

// Elementwise activation (for tests and for R-side helpers).
// [[Rcpp::export(rng = false)]]
Rcpp::NumericVector cpp_activate(Rcpp::NumericVector x, int code, bool float64) {
  const gru::Activation a = activation_of(code);
  Rcpp::NumericVector y = Rcpp::clone(x);
  if (float64) {
    gru::activate<double>(a, y.begin(), y.size());
  } else {
    std::vector<float> f(y.begin(), y.end());
    gru::activate<float>(a, f.data(), static_cast<long>(f.size()));
    std::copy(f.begin(), f.end(), y.begin());
  }
  return y;
}

// check_self()'s memo hit (R/layer.R): the memo environment that the weak
// reference `self$self_check` holds when its `key` list holds, in order,
// the very objects (pointer-equal) that the bindings `names` of `self` hold
// now; NULL otherwise (no memo, or any binding replaced since). One call
// instead of building the list and comparing it in R: every layer call
// asks.
// [[Rcpp::export(rng = false)]]
SEXP cpp_self_memo(SEXP self, SEXP names) {
  if (TYPEOF(self) != ENVSXP || TYPEOF(names) != STRSXP) {
    throw gru::Error("`self` must be an environment and `names` a character vector");
  }
  SEXP ref = Rf_findVarInFrame(self, Rf_install("self_check"));
  if (TYPEOF(ref) != WEAKREFSXP) return R_NilValue;
  SEXP memo = R_WeakRefValue(ref);
  if (TYPEOF(memo) != ENVSXP) return R_NilValue;
  SEXP key = Rf_findVarInFrame(memo, Rf_install("key"));
  const R_xlen_t n = Rf_xlength(names);
  if (TYPEOF(key) != VECSXP || Rf_xlength(key) != n) return R_NilValue;
  for (R_xlen_t i = 0; i < n; ++i) {
    SEXP name = STRING_ELT(names, i);
    if (name == NA_STRING) return R_NilValue;
    SEXP v = Rf_findVarInFrame(self, Rf_installChar(name));
    if (v == R_UnboundValue) v = R_NilValue;
    if (v != VECTOR_ELT(key, i)) return R_NilValue;
  }
  return memo;
}

// Processors available to this process (the default of gru_threads()).
// [[Rcpp::export(rng = false)]]
int cpp_cpu_cores() { return gru::cpu_cores(); }

// Whether this process is a forked child, which runs on one thread
// (gru.h, in_forked_child).
// [[Rcpp::export(rng = false)]]
bool cpp_in_forked_child() { return gru::in_forked_child(); }

// What the build has and which GPUs are usable now.
// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_backend_info() {
  const gru::cuda::BuildInfo b = gru::cuda::build_info();
  const std::vector<std::string> devs = gru::cuda::devices();
  return Rcpp::List::create(
      Rcpp::Named("cuda_built") = b.built,
      Rcpp::Named("cuda_runtime_version") = b.cuda_runtime_version,
      Rcpp::Named("cudnn_version") = b.cudnn_version,
      Rcpp::Named("devices") = Rcpp::CharacterVector(devs.begin(), devs.end()),
      Rcpp::Named("cpu_kernels") = std::string(gru::cpu_kernels_name()));
}

// TRUE when a double vector holds no NA, NaN or Inf (exponent bits all
// ones), with no allocation: the layer call's input check. Adding 1 to the
// exponent field carries into the sign bit exactly when the field is all
// ones, so the test is an and, an add and a shift: 64-bit integer operations
// SSE2 has, which the compiler vectorises (omp simd). The comparison it
// replaced ran one element at a time (~2 us of S1's ~150 us call). Integer
// bits, not arithmetic on the doubles, so no floating-point flag can fold
// the test away.
// [[Rcpp::export(rng = false)]]
bool cpp_all_finite(SEXP x) {
  if (TYPEOF(x) != REALSXP) {
    throw gru::Error(std::string("`x` must be a double vector, not type '") +
                     Rf_type2char(TYPEOF(x)) + "'");
  }
  const R_xlen_t n = Rf_xlength(x);
  const double* p = REAL(x);
  const uint64_t exponent = 0x7ff0000000000000ULL, one = 0x0010000000000000ULL;
  uint64_t bad = 0;
#pragma omp simd reduction(| : bad)
  for (R_xlen_t i = 0; i < n; ++i) {
    uint64_t u;
    std::memcpy(&u, p + i, sizeof u);
    bad |= ((u & exponent) + one) >> 63;
  }
  return bad == 0;
}

// The values of the environment variables `names`, "" for unset ones: what
// Sys.getenv(names, unset = "", names = FALSE) returns, for the thread-count
// memo that every layer call consults (Sys.getenv() costs ~2 us a call).
// [[Rcpp::export(rng = false)]]
SEXP cpp_getenv(SEXP names) {
  if (TYPEOF(names) != STRSXP) {
    throw gru::Error(std::string("`names` must be a character vector, not type '") +
                     Rf_type2char(TYPEOF(names)) + "'");
  }
  const R_xlen_t n = Rf_xlength(names);
  SEXP out = PROTECT(Rf_allocVector(STRSXP, n));
  for (R_xlen_t i = 0; i < n; ++i) {
    SEXP name = STRING_ELT(names, i);
    const char* v = name == NA_STRING ? nullptr : std::getenv(Rf_translateChar(name));
    SET_STRING_ELT(out, i, Rf_mkCharCE(v ? v : "", CE_NATIVE));
  }
  UNPROTECT(1);
  return out;
}

// The CPU forward pass's work split (plan.h) for a call of these dims and
// options, for a kernel set of `width` units per block and `tile_rows` rows
// per micro-tile, `elem_size`-byte elements and an L2 of `l2_bytes`: what
// plan_forward() decides, for the tests (test-plan.R).
// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_forward_plan(Rcpp::IntegerVector dims, Rcpp::List options, int width,
                            int tile_rows, int elem_size, double l2_bytes, bool layer_cache) {
  const gru::Spec s = make_spec(dims, options);
  if (width < 1 || width > 64 || tile_rows < 1 || tile_rows > 64) {
    throw gru::Error("`width` and `tile_rows` must be in [1, 64]");
  }
  if (elem_size != 4 && elem_size != 8) throw gru::Error("`elem_size` must be 4 or 8");
  if (!(l2_bytes >= 1 && l2_bytes <= 1e12)) throw gru::Error("`l2_bytes` must be in [1, 1e12]");
  const gru::detail::ForwardPlan p = gru::detail::plan_forward(
      s, width, tile_rows, elem_size, static_cast<long>(l2_bytes), layer_cache);
  using Rcpp::Named;
  return Rcpp::List::create(Named("threads") = p.threads, Named("by_rows") = p.by_rows,
                            Named("sync") = p.sync, Named("two_ended") = p.two_ended,
                            Named("prefetch_u") = p.prefetch_u,
                            Named("pack_kernel") = p.pack_kernel,
                            Named("chunk_steps") = p.chunk_steps,
                            Named("stage_records") = p.stage_records);
}
