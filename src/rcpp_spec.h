// Helpers shared by the forward glue (rcpp_gru.cpp) and the training glue
// (rcpp_train.cpp): the R-side description of a GRU call (dims = c(B, T, F, H)
// and the options list built by gru_prepare_call() in R/layer-gru.R) as an
// engine Spec, and engine buffers back as R arrays.
#ifndef GRU_RCPP_SPEC_H
#define GRU_RCPP_SPEC_H

#include <Rcpp.h>

#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "gru/engine.h"

// ---- What R hands the engine ---------------------------------------------
// R checks every user input (R/layer-gru.R) and every layer's `self`
// (check_self(), R/layer.R) before it calls in, but the glue is the last
// line of defence: a tampered object (an edited .rds file, a `self` changed
// by hand) or a direct call of a cpp_* function must not make the engine read
// past an array or compute on garbage. So every entry point checks, before
// the engine sees anything, that the dims and options make a valid Spec and
// that each array has the type and the exact length that Spec implies, and
// throws gru::Error otherwise (R turns it into a gru_error_backend, see
// with_backend_errors() in R/conditions.R). The checks read only lengths
// and types, never the values: a few comparisons per call.

// An element of the options list by name; throws when it is absent.
inline SEXP option(SEXP opt, const char* name) {
  if (TYPEOF(opt) != VECSXP) throw gru::Error("`options` must be a list");
  SEXP names = Rf_getAttrib(opt, R_NamesSymbol);
  if (TYPEOF(names) == STRSXP) {
    for (R_xlen_t i = 0; i < Rf_xlength(names); ++i) {
      if (std::strcmp(CHAR(STRING_ELT(names, i)), name) == 0) return VECTOR_ELT(opt, i);
    }
  }
  throw gru::Error(std::string("`options` lacks `") + name + "`");
}

// A whole number held in an integer, logical or double of length 1, not NA.
inline int option_int(SEXP opt, const char* name) {
  SEXP v = option(opt, name);
  const std::string what = std::string("`options$") + name + "`";
  if (Rf_xlength(v) != 1) throw gru::Error(what + " must have length 1");
  switch (TYPEOF(v)) {
    case INTSXP:
    case LGLSXP: {
      const int i = TYPEOF(v) == INTSXP ? INTEGER(v)[0] : LOGICAL(v)[0];
      if (i == NA_INTEGER) throw gru::Error(what + " is NA");
      return i;
    }
    case REALSXP: {
      const double d = REAL(v)[0];
      if (!(d == std::trunc(d) && d >= INT_MIN + 1.0 && d <= INT_MAX)) {
        throw gru::Error(what + " must be a whole number in int's range");
      }
      return static_cast<int>(d);
    }
    default:
      throw gru::Error(what + " must be a number, not type '" + Rf_type2char(TYPEOF(v)) +
                       "'");
  }
}

inline bool option_bool(SEXP opt, const char* name) {
  SEXP v = option(opt, name);
  if (TYPEOF(v) != LGLSXP || Rf_xlength(v) != 1 || LOGICAL(v)[0] == NA_LOGICAL) {
    throw gru::Error(std::string("`options$") + name + "` must be TRUE or FALSE");
  }
  return LOGICAL(v)[0] != 0;
}

// The engine's interrupt check (InterruptCheck, gru.h): R's own, run inside
// R_ToplevelExec, so a pending interrupt is taken there (returning FALSE)
// and never jumps out of the engine's C++ frames. Only the thread that
// called into R runs it (the engine asks from OpenMP's master).
inline void check_interrupt_in_r(void*) { R_CheckUserInterrupt(); }
inline bool r_interrupt_pending() {
  return R_ToplevelExec(check_interrupt_in_r, nullptr) == FALSE;
}

// Where the last interrupted pass of this session stopped (-1: none), for
// the tests (cpp_last_interrupted_step()): the glue's record, which every
// Spec points the engine at.
inline long& last_interrupted_step() {
  static long step = -1;
  return step;
}

// The engine's tuning switches from the environment, read on every call so
// that tests can flip them (helper-env.R): GRU_PF = "1" or "0" forces the
// recurrent products' prefetch on or off, GRU_DB = "0" makes the weight
// gradients pack what they could read in place, GRU_DYN = "0" gives two
// threads fixed halves of a step's unit blocks, GRU_STAGE = "1" or "0"
// makes a training forward stage its records or write them in place. None
// changes results.
// A switch that forces a choice: -1 unset (the engine decides), 1 for a
// value starting with "1", else 0.
inline int forced_switch(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? -1 : (v[0] == '1' ? 1 : 0);
}

inline gru::Tuning tuning_from_env() {
  gru::Tuning t;
  t.prefetch = forced_switch("GRU_PF");
  const char* db = std::getenv("GRU_DB");
  t.in_place_b = db == nullptr || db[0] != '0';
  const char* dyn = std::getenv("GRU_DYN");
  t.two_ended = dyn == nullptr || dyn[0] != '0';
  t.stage = forced_switch("GRU_STAGE");
  return t;
}

// The Spec of a call, validated (gru::validate): dims = c(B, T, F, H) and
// the options list built by gru_prepare_call() in R/layer-gru.R, with the
// run options (tuning, interrupt check) the glue passes every pass.
inline gru::Spec make_spec(const Rcpp::IntegerVector& dims, const Rcpp::List& options) {
  if (dims.size() != 4) {
    throw gru::Error("`dims` must be c(batch, timesteps, input_dim, units), not " +
                     std::to_string(static_cast<long long>(dims.size())) + " numbers");
  }
  for (int i = 0; i < 4; ++i) {
    if (dims[i] == NA_INTEGER) throw gru::Error("`dims` must not contain NA");
  }
  SEXP opt = options;
  gru::Spec s;
  s.batch = dims[0];
  s.timesteps = dims[1];
  s.input_dim = dims[2];
  s.units = dims[3];
  s.activation = static_cast<gru::Activation>(option_int(opt, "activation"));
  s.recurrent_activation =
      static_cast<gru::Activation>(option_int(opt, "recurrent_activation"));
  s.reset_after = option_bool(opt, "reset_after");
  s.go_backwards = option_bool(opt, "go_backwards");
  s.return_sequences = option_bool(opt, "return_sequences");
  s.zero_output_for_mask = option_bool(opt, "zero_output_for_mask");
  s.dropout_gates = option_int(opt, "dropout_gates");
  s.recurrent_dropout_gates = option_int(opt, "recurrent_dropout_gates");
  s.threads = option_int(opt, "threads");
  if (gru::in_forked_child()) s.threads = 1;  // see in_forked_child (gru.h)
  s.tuning = tuning_from_env();
  s.interrupt = &r_interrupt_pending;
  s.interrupted_step = &last_interrupted_step();
  gru::validate(s);
  return s;
}

// The number of elements of an array of these dims, in double: exact below
// 2^53, and any count above R's longest vector (2^52) is refused anyway.
inline double elements(std::initializer_list<double> dims) {
  double n = 1;
  for (double d : dims) n *= d;
  return n;
}

inline std::string count_text(double n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f", n);
  return buf;
}

// `x` is a double vector of exactly `n` elements, or NULL where `optional`.
inline void check_doubles(SEXP x, double n, const char* what, bool optional) {
  if (Rf_isNull(x)) {
    if (optional) return;
    throw gru::Error(std::string(what) + " is missing (NULL)");
  }
  if (TYPEOF(x) != REALSXP) {
    throw gru::Error(std::string(what) + " must be a double vector, not type '" +
                     Rf_type2char(TYPEOF(x)) + "'");
  }
  if (static_cast<double>(Rf_xlength(x)) != n) {
    throw gru::Error(std::string(what) + " has " +
                     count_text(static_cast<double>(Rf_xlength(x))) +
                     " elements, but the dims need " + count_text(n));
  }
}

// Every array of a forward or training call against the Spec: x (B, T, F),
// kernel (F, 3H), recurrent kernel (H, 3H), the bias rows (3H each, or
// NULL), mask (B, T) logical or NULL, initial state (B, H) or NULL, and the
// dropout masks, present exactly when the Spec has their gate blocks.
inline void check_call_arrays(const gru::Spec& s, SEXP x, SEXP kernel,
                              SEXP recurrent_kernel, SEXP input_bias,
                              SEXP recurrent_bias, SEXP mask, SEXP initial_state,
                              SEXP dropout_mask, SEXP recurrent_dropout_mask) {
  const double B = s.batch, T = s.timesteps, F = s.input_dim, H = s.units;
  check_doubles(x, elements({B, T, F}), "`x`", false);
  check_doubles(kernel, elements({F, 3, H}), "`kernel`", false);
  check_doubles(recurrent_kernel, elements({H, 3, H}), "`recurrent_kernel`", false);
  check_doubles(input_bias, elements({3, H}), "`input_bias`", true);
  check_doubles(recurrent_bias, elements({3, H}), "`recurrent_bias`", true);
  check_doubles(initial_state, elements({B, H}), "`initial_state`", true);
  if (!Rf_isNull(mask) && (TYPEOF(mask) != LGLSXP || static_cast<double>(Rf_xlength(mask)) !=
                                                         elements({B, T}))) {
    throw gru::Error("`mask` must be NULL or a logical vector of batch x timesteps = " +
                     count_text(elements({B, T})) + " elements");
  }
  const struct {
    SEXP mask;
    int gates;
    double block;
    const char* what;
  } drops[] = {{dropout_mask, s.dropout_gates, B * F, "`dropout_mask`"},
               {recurrent_dropout_mask, s.recurrent_dropout_gates, B * H,
                "`recurrent_dropout_mask`"}};
  for (const auto& d : drops) {
    if (d.gates == 0 && !Rf_isNull(d.mask)) {
      throw gru::Error(std::string(d.what) + " is given, but the options say no dropout");
    }
    if (d.gates > 0) check_doubles(d.mask, elements({double(d.gates), d.block}), d.what, false);
  }
}

// One GRU call as R describes it: the named list `engine` that
// gru_prepare_call() builds (R/layer-gru.R): x, dims = c(B, T, F, H),
// kernel, recurrent_kernel, input_bias, recurrent_bias, mask, initial_state,
// dropout_mask, recurrent_dropout_mask and options. Parsed and checked once
// (parse_call()) by every pass that takes it: the forward pass and the
// training forward pass.
struct Call {
  gru::Spec spec;
  SEXP x = R_NilValue, kernel = R_NilValue, recurrent_kernel = R_NilValue,
       input_bias = R_NilValue, recurrent_bias = R_NilValue, mask = R_NilValue,
       initial_state = R_NilValue, dropout_mask = R_NilValue,
       recurrent_dropout_mask = R_NilValue;
};

// `limits`: a pass's own limits on the Spec (the training passes'), checked
// before the arrays, as no array need be read to refuse such a call.
inline Call parse_call(SEXP engine, void (*limits)(const gru::Spec&) = nullptr) {
  if (TYPEOF(engine) != VECSXP) {
    throw gru::Error(std::string("`engine` must be a list, not type '") +
                     Rf_type2char(TYPEOF(engine)) + "'");
  }
  static const char* const names[] = {"x",
                                      "dims",
                                      "kernel",
                                      "recurrent_kernel",
                                      "input_bias",
                                      "recurrent_bias",
                                      "mask",
                                      "initial_state",
                                      "dropout_mask",
                                      "recurrent_dropout_mask",
                                      "options"};
  constexpr int n_names = sizeof(names) / sizeof(names[0]);
  SEXP found[n_names];
  bool seen[n_names] = {};
  SEXP nm = Rf_getAttrib(engine, R_NamesSymbol);
  const R_xlen_t n = Rf_xlength(engine);
  if (TYPEOF(nm) != STRSXP || Rf_xlength(nm) != n) {
    throw gru::Error("`engine` must be a named list");
  }
  for (R_xlen_t i = 0; i < n; ++i) {
    const char* name = CHAR(STRING_ELT(nm, i));
    int k = 0;
    while (k < n_names && std::strcmp(name, names[k]) != 0) ++k;
    if (k == n_names) throw gru::Error(std::string("`engine` has an unknown element `") + name + "`");
    if (seen[k]) throw gru::Error(std::string("`engine` has two elements `") + name + "`");
    seen[k] = true;
    found[k] = VECTOR_ELT(engine, i);
  }
  for (int k = 0; k < n_names; ++k) {
    if (!seen[k]) throw gru::Error(std::string("`engine` lacks `") + names[k] + "`");
  }
  SEXP dims = found[1], options = found[10];
  if (TYPEOF(dims) != INTSXP && TYPEOF(dims) != REALSXP) {
    throw gru::Error("`engine$dims` must be numbers");
  }
  if (TYPEOF(options) != VECSXP) throw gru::Error("`engine$options` must be a list");
  Call c;
  c.spec = make_spec(Rcpp::IntegerVector(dims), Rcpp::List(options));
  if (limits != nullptr) limits(c.spec);
  c.x = found[0];
  c.kernel = found[2];
  c.recurrent_kernel = found[3];
  c.input_bias = found[4];
  c.recurrent_bias = found[5];
  c.mask = found[6];
  c.initial_state = found[7];
  c.dropout_mask = found[8];
  c.recurrent_dropout_mask = found[9];
  check_call_arrays(c.spec, c.x, c.kernel, c.recurrent_kernel, c.input_bias,
                    c.recurrent_bias, c.mask, c.initial_state, c.dropout_mask,
                    c.recurrent_dropout_mask);
  return c;
}

// Tagged external pointers: the glue makes two kinds (the packed weights of
// rcpp_gru.cpp and the training cache of rcpp_train.cpp) and casts the
// address back only when the tag says it is of that kind, so one kind passed
// for the other, or any other package's pointer, is refused rather than
// misread. (A pointer read back by readRDS() has a null address, also
// refused.)
inline SEXP xptr_tag(const char* kind) { return Rf_install(kind); }

template <typename T>
T* tagged_address(SEXP p, const char* kind, const char* what) {
  if (TYPEOF(p) != EXTPTRSXP || R_ExternalPtrTag(p) != xptr_tag(kind)) {
    throw gru::Error(std::string(what) + " must be an external pointer made by gru (" + kind +
                     ")");
  }
  auto* out = static_cast<T*>(R_ExternalPtrAddr(p));
  if (out == nullptr) {
    throw gru::Error(std::string(what) +
                     " is a stale external pointer (one read back from a file, or freed)");
  }
  return out;
}

// f(), with the engine's gru::Interrupted (a pass stopped at a user
// interrupt, gru.h) turned into Rcpp's InterruptedException: Rcpp's wrapper
// of the exported function then signals R's interrupt condition
// (Rf_onintr) once this call's C++ frames are gone.
template <typename F>
auto interruptible(F f) -> decltype(f()) {
  try {
    return f();
  } catch (const gru::Interrupted&) {
    throw Rcpp::internal::InterruptedException();
  }
}

// A numeric vector with R dims (a plain vector when dim has one entry),
// filled from the engine's T buffer.
// Elements of the engine's output: B x H, or B x T x H with return_sequences.
inline R_xlen_t output_length(const gru::Spec& s) {
  const R_xlen_t bh = static_cast<R_xlen_t>(s.batch) * s.units;
  return s.return_sequences ? bh * s.timesteps : bh;
}

// The dim attributes of the engine's output (B x H, or B x T x H) and
// final state (B x H).
inline void set_output_dims(const gru::Spec& s, Rcpp::NumericVector& output,
                            Rcpp::NumericVector& state) {
  if (s.return_sequences) {
    output.attr("dim") = Rcpp::IntegerVector::create(s.batch, s.timesteps, s.units);
  } else {
    output.attr("dim") = Rcpp::IntegerVector::create(s.batch, s.units);
  }
  state.attr("dim") = Rcpp::IntegerVector::create(s.batch, s.units);
}

template <typename T>
Rcpp::NumericVector to_r(const std::vector<T>& v, Rcpp::IntegerVector dim) {
  Rcpp::NumericVector out(v.begin(), v.end());
  if (dim.size() > 1) out.attr("dim") = dim;
  return out;
}

#endif  // GRU_RCPP_SPEC_H
