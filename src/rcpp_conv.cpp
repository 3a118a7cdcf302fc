// The thin Rcpp glue of layer_conv_1d() (R/layer-conv-1d.R, which has
// validated every argument): unpacks R's arrays into the engine's views
// (src/gru/conv1d.h) and delegates. Precision is decided here: float32
// computes in float (the kernel, bias and gradient are converted once; x is
// converted as the engine gathers it), float64 reads R's memory in place.
//
// Exported with rng = false: nothing here uses R's random numbers.
#include <Rcpp.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <type_traits>
#include <vector>

#include "gru/engine.h"

namespace {

// spec = c(batch, steps, channels, filters, kernel_size, stride, dilation,
// pad_left, out_steps), as conv1d_engine_spec() in R/layer-conv-1d.R makes it.
gru::Conv1dSpec make_conv1d_spec(const Rcpp::IntegerVector& spec, int threads) {
  if (spec.size() != 9) Rcpp::stop("`spec` must have 9 entries");
  // Nothing from R is trusted: every size positive (pad_left may be 0), the
  // padding inside one kernel span, and every array the sizes imply small
  // enough to index with int.
  for (int i = 0; i < 9; ++i) {
    if (spec[i] == NA_INTEGER || spec[i] < (i == 7 ? 0 : 1)) {
      Rcpp::stop("`spec` entry %d is %d: sizes must be positive", i + 1, spec[i]);
    }
  }
  const double span = static_cast<double>(spec[4] - 1) * spec[6] + 1;
  if (spec[7] >= span) Rcpp::stop("`spec`: padding %d exceeds the kernel span", spec[7]);
  const double limit = 2147483647.0;
  const double sizes[] = {
      static_cast<double>(spec[0]) * spec[1] * spec[2],
      static_cast<double>(spec[0]) * spec[8] * spec[3],
      static_cast<double>(spec[0]) * spec[8] * spec[4] * spec[2],
      static_cast<double>(spec[4]) * spec[2] * spec[3]};
  for (double n : sizes) {
    if (n >= limit) Rcpp::stop("`spec` implies an array of %.0f values, too large", n);
  }
  // Window positions (output step * stride + tap * dilation) stay in int.
  if (span + static_cast<double>(spec[8]) * spec[5] + spec[1] >= limit) {
    Rcpp::stop("`spec`: a kernel span of %.0f is too large", span);
  }
  if ((static_cast<double>(spec[8]) - 1) * spec[5] - spec[7] >= spec[1]) {
    Rcpp::stop("`spec`: %d output steps do not fit %d input steps", spec[8], spec[1]);
  }
  gru::Conv1dSpec s;
  s.batch = spec[0];
  s.steps = spec[1];
  s.channels = spec[2];
  s.filters = spec[3];
  s.kernel_size = spec[4];
  s.stride = spec[5];
  s.dilation = spec[6];
  s.pad_left = spec[7];
  s.out_steps = spec[8];
  s.threads = gru::in_forked_child() ? 1 : std::max(1, threads);
  return s;
}

void check_length(SEXP v, R_xlen_t n, const char* what) {
  if (TYPEOF(v) != REALSXP || Rf_xlength(v) != n) {
    throw gru::Error(std::string(what) + " must be a double vector of length " +
                     std::to_string(static_cast<long long>(n)));
  }
}

// R's doubles in precision T: aliased for double, copied for float.
template <typename T>
const T* as_engine(SEXP v, std::vector<T>& store) {
  if (Rf_isNull(v)) return nullptr;
  const double* p = REAL(v);
  if constexpr (std::is_same<T, double>::value) {
    return p;
  } else {
    store.assign(p, p + Rf_xlength(v));
    return store.data();
  }
}

template <typename T>
Rcpp::NumericVector to_r(const std::vector<T>& v, Rcpp::IntegerVector dim) {
  Rcpp::NumericVector out(v.begin(), v.end());
  if (dim.size() > 1) out.attr("dim") = dim;
  return out;
}

template <typename T>
SEXP run_forward(const gru::Conv1dSpec& s, SEXP x, SEXP kernel, SEXP bias,
                 gru::Activation activation, bool keep_pre) {
  std::vector<T> ks, bs;
  const T* k = as_engine<T>(kernel, ks);
  const T* b = as_engine<T>(bias, bs);
  const R_xlen_t n = static_cast<R_xlen_t>(s.batch) * s.out_steps * s.filters;
  const Rcpp::IntegerVector dim =
      Rcpp::IntegerVector::create(s.batch, s.out_steps, s.filters);
  Rcpp::NumericVector out(Rcpp::no_init(n));
  Rcpp::NumericVector pre(Rcpp::no_init(keep_pre ? n : 0));
  gru::conv1d_forward<T>(s, REAL(x), k, b, activation, out.begin(),
                         keep_pre ? pre.begin() : nullptr);
  out.attr("dim") = dim;
  if (!keep_pre) return out;
  pre.attr("dim") = dim;
  return Rcpp::List::create(Rcpp::Named("output") = out, Rcpp::Named("pre") = pre);
}

template <typename T>
Rcpp::List run_backward(const gru::Conv1dSpec& s, SEXP x, SEXP kernel, SEXP grad,
                        bool need_inputs, bool use_bias) {
  std::vector<T> ks, gs;
  const T* k = as_engine<T>(kernel, ks);
  const T* g = as_engine<T>(grad, gs);
  const R_xlen_t nx = static_cast<R_xlen_t>(s.batch) * s.steps * s.channels;
  std::vector<T> dx(need_inputs ? nx : 0),
      dk(static_cast<size_t>(s.kernel_size) * s.channels * s.filters),
      db(use_bias ? s.filters : 0);
  gru::conv1d_backward<T>(s, REAL(x), k, g, need_inputs ? dx.data() : nullptr, dk.data(),
                          use_bias ? db.data() : nullptr);
  using Rcpp::IntegerVector;
  using Rcpp::Named;
  return Rcpp::List::create(
      Named("inputs") =
          need_inputs
              ? SEXP(to_r(dx, IntegerVector::create(s.batch, s.steps, s.channels)))
              : R_NilValue,
      Named("kernel") =
          to_r(dk, IntegerVector::create(s.kernel_size, s.channels, s.filters)),
      Named("bias") =
          use_bias ? SEXP(to_r(db, IntegerVector::create(s.filters))) : R_NilValue);
}

template <typename T>
Rcpp::List run_gemm_bench(const Rcpp::NumericMatrix& a, const Rcpp::NumericMatrix& b,
                          int reps, int threads) {
  const int M = a.nrow(), K = a.ncol(), N = b.ncol();
  // Row-major copies in T, made before the clock starts.
  std::vector<T> ar(static_cast<size_t>(M) * K), br(static_cast<size_t>(K) * N),
      c(static_cast<size_t>(M) * N);
  for (int i = 0; i < M; ++i)
    for (int k = 0; k < K; ++k)
      ar[static_cast<size_t>(i) * K + k] = static_cast<T>(a(i, k));
  for (int k = 0; k < K; ++k)
    for (int j = 0; j < N; ++j)
      br[static_cast<size_t>(k) * N + j] = static_cast<T>(b(k, j));
  Rcpp::NumericVector seconds(reps);
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    gru::matmul<T>(M, N, K, ar.data(), br.data(), c.data(), threads);
    seconds[r] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  Rcpp::NumericMatrix cm(M, N);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) cm(i, j) = c[static_cast<size_t>(i) * N + j];
  return Rcpp::List::create(Rcpp::Named("seconds") = seconds,
                            Rcpp::Named("product") = cm);
}

}  // namespace

// activation(conv(x) + bias), (batch, out_steps, filters); bias: NULL for
// none; activation: an engine code (R/activations.R). With keep_pre,
// list(output, pre): pre is the value before the activation.
// [[Rcpp::export(rng = false)]]
SEXP cpp_conv1d_forward(SEXP x, Rcpp::IntegerVector spec, SEXP kernel, SEXP bias,
                        int activation, bool keep_pre, int threads, bool float64) {
  const gru::Conv1dSpec s = make_conv1d_spec(spec, threads);
  check_length(x, static_cast<R_xlen_t>(s.batch) * s.steps * s.channels, "x");
  check_length(kernel, static_cast<R_xlen_t>(s.kernel_size) * s.channels * s.filters,
               "kernel");
  if (!Rf_isNull(bias)) check_length(bias, s.filters, "bias");
  if (activation < 0 || activation >= gru::kActivationCount) {
    throw gru::Error("unknown activation code " + std::to_string(activation));
  }
  const auto act = static_cast<gru::Activation>(activation);
  if (float64) return run_forward<double>(s, x, kernel, bias, act, keep_pre);
  return run_forward<float>(s, x, kernel, bias, act, keep_pre);
}

// The gradients for dL/d(pre-activation output) `grad`: list(inputs (NULL
// unless need_inputs), kernel, bias (NULL unless use_bias)).
// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_conv1d_backward(SEXP x, Rcpp::IntegerVector spec, SEXP kernel, SEXP grad,
                               bool need_inputs, bool use_bias, int threads,
                               bool float64) {
  const gru::Conv1dSpec s = make_conv1d_spec(spec, threads);
  check_length(x, static_cast<R_xlen_t>(s.batch) * s.steps * s.channels, "x");
  check_length(kernel, static_cast<R_xlen_t>(s.kernel_size) * s.channels * s.filters,
               "kernel");
  check_length(grad, static_cast<R_xlen_t>(s.batch) * s.out_steps * s.filters, "grad");
  if (float64) return run_backward<double>(s, x, kernel, grad, need_inputs, use_bias);
  return run_backward<float>(s, x, kernel, grad, need_inputs, use_bias);
}

// The engine's gemm on a %*% b, timed `reps` times on copies in the
// engine's precision made beforehand (inst/bench/bench-conv1d.R compares
// conv1d with it): list(seconds = one time per rep, product = a %*% b).
// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_gemm_bench(Rcpp::NumericMatrix a, Rcpp::NumericMatrix b, int reps,
                          int threads, bool float64) {
  if (a.ncol() != b.nrow()) Rcpp::stop("non-conformable matrices");
  if (reps < 1 || reps > 100000) Rcpp::stop("`reps` must be in [1, 100000]");
  if (float64) return run_gemm_bench<double>(a, b, reps, std::max(1, threads));
  return run_gemm_bench<float>(a, b, reps, std::max(1, threads));
}

// conv1d_forward timed `reps` times into one output allocated beforehand
// (so, like cpp_gemm_bench(), no fresh R vector per call): seconds per rep.
// [[Rcpp::export(rng = false)]]
Rcpp::NumericVector cpp_conv1d_bench(SEXP x, Rcpp::IntegerVector spec, SEXP kernel,
                                     SEXP bias, int reps, int threads, bool float64) {
  if (reps < 1 || reps > 100000) Rcpp::stop("`reps` must be in [1, 100000]");
  const gru::Conv1dSpec s = make_conv1d_spec(spec, threads);
  check_length(x, static_cast<R_xlen_t>(s.batch) * s.steps * s.channels, "x");
  check_length(kernel, static_cast<R_xlen_t>(s.kernel_size) * s.channels * s.filters,
               "kernel");
  std::vector<double> out(static_cast<size_t>(s.batch) * s.out_steps * s.filters);
  std::vector<float> kf, bf;
  const float* k32 = as_engine<float>(kernel, kf);
  const float* b32 = as_engine<float>(bias, bf);
  Rcpp::NumericVector seconds(reps);
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    if (float64) {
      gru::conv1d_forward<double>(s, REAL(x), REAL(kernel),
                                  Rf_isNull(bias) ? nullptr : REAL(bias),
                                  gru::Activation::kLinear, out.data(), nullptr);
    } else {
      gru::conv1d_forward<float>(s, REAL(x), k32, b32, gru::Activation::kLinear,
                                 out.data(), nullptr);
    }
    seconds[r] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return seconds;
}
