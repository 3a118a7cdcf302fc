// Helpers shared by the forward glue (rcpp_gru.cpp) and the training glue
// (rcpp_train.cpp): the R-side description of a GRU call (dims = c(B, T, F, H)
// and the options list built by gru_prepare_call() in R/layer-gru.R) as an
// engine Spec, and engine buffers back as R arrays.
#ifndef GRU_RCPP_SPEC_H
#define GRU_RCPP_SPEC_H

#include <Rcpp.h>

#include <vector>

#include "gru/gru.h"

inline gru::Spec make_spec(const Rcpp::IntegerVector& dims, const Rcpp::List& opt) {
  gru::Spec s;
  s.batch = dims[0];
  s.timesteps = dims[1];
  s.input_dim = dims[2];
  s.units = dims[3];
  s.activation = static_cast<gru::Activation>(Rcpp::as<int>(opt["activation"]));
  s.recurrent_activation =
      static_cast<gru::Activation>(Rcpp::as<int>(opt["recurrent_activation"]));
  s.reset_after = Rcpp::as<bool>(opt["reset_after"]);
  s.go_backwards = Rcpp::as<bool>(opt["go_backwards"]);
  s.return_sequences = Rcpp::as<bool>(opt["return_sequences"]);
  s.zero_output_for_mask = Rcpp::as<bool>(opt["zero_output_for_mask"]);
  s.dropout_gates = Rcpp::as<int>(opt["dropout_gates"]);
  s.recurrent_dropout_gates = Rcpp::as<int>(opt["recurrent_dropout_gates"]);
  s.threads = Rcpp::as<int>(opt["threads"]);
  if (gru::in_forked_child()) s.threads = 1;  // see in_forked_child (gru.h)
  return s;
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
