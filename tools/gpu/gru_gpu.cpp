// GPU test driver for the gru engine: conformance, CPU-vs-cuDNN comparisons,
// error contracts, timings and a leak check, built from the package's own
// src/gru sources (see build.sh). No R involved.
//
//   gru_gpu conformance CASES   fixtures (convert_fixtures.py) on both backends
//   gru_gpu random [N]          N random eligible configurations, cuDNN vs CPU
//   gru_gpu emulate [N]         the backend's sequence mapping (cuda_layout.h) with
//                               a host model of cuDNN, against the CPU path (no GPU)
//   gru_gpu errors              cuda::forward throws gru::Error, never aborts
//   gru_gpu bench [RUNS] [CPU_RUNS] [THREADS]   timings, a markdown table
//   gru_gpu leak [CALLS]        device memory and RSS before/after many calls
//
// Without a usable GPU every GPU part prints SKIP and the CPU parts still run,
// so the harness itself is exercised on CPU-only machines. The exit status is
// 1 when anything FAILed.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cuda.h"
#include "cuda_layout.h"
#include "gru.h"

namespace {

bool g_failed = false;
bool g_gpu = false;

// ---------------------------------------------------------------- the cases

struct Call {
  int B = 0, T = 0;
  bool carry = false;
  std::vector<double> x, h0, out, state;
  std::vector<int> mask;
};

struct Case {
  std::string name;
  int F = 0, H = 0;
  bool go_backwards = false, return_sequences = false, zero_output = false;
  double tol = 1e-5;
  std::vector<double> kernel, recurrent_kernel, input_bias, recurrent_bias;
  std::vector<Call> calls;
};

template <typename V>
void read_array(std::istream& in, const char* name, std::vector<V>& v) {
  std::string tag;
  long n = -1;
  in >> tag >> n;
  if (!in || tag != name || n < 0) {
    throw std::runtime_error(std::string("cases file: expected array '") + name +
                             "', got '" + tag + "'");
  }
  v.resize(n);
  for (long i = 0; i < n; ++i) in >> v[i];
  if (!in) throw std::runtime_error(std::string("cases file: short array ") + name);
}

std::vector<Case> read_cases(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::string magic;
  int version = 0, n = 0;
  in >> magic >> version >> n;
  if (magic != "gru-cases" || version != 1)
    throw std::runtime_error("not a gru-cases file");
  std::vector<Case> cases(n);
  for (Case& c : cases) {
    std::string tag;
    int gb, rs, zo, ncalls;
    in >> tag >> c.name >> c.F >> c.H >> gb >> rs >> zo >> c.tol;
    if (tag != "case") throw std::runtime_error("cases file: expected 'case'");
    c.go_backwards = gb, c.return_sequences = rs, c.zero_output = zo;
    read_array(in, "kernel", c.kernel);
    read_array(in, "recurrent_kernel", c.recurrent_kernel);
    read_array(in, "input_bias", c.input_bias);
    read_array(in, "recurrent_bias", c.recurrent_bias);
    in >> tag >> ncalls;
    c.calls.resize(ncalls);
    for (Call& k : c.calls) {
      int carry;
      in >> tag >> k.B >> k.T >> carry;
      k.carry = carry;
      read_array(in, "x", k.x);
      read_array(in, "mask", k.mask);
      read_array(in, "h0", k.h0);
      read_array(in, "out", k.out);
      read_array(in, "state", k.state);
    }
  }
  return cases;
}

// ---------------------------------------------------------------- running

template <typename T>
struct Result {
  std::vector<T> out, state;
  std::string error;  // set when the backend threw
};

template <typename T>
std::vector<T> as(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// One forward pass of `c` on call shape (B, T) with input x, mask and h0 (empty
// vectors = none).
template <typename T>
Result<T> run(bool gpu, const Case& c, int B, int T_, const std::vector<double>& x,
              const std::vector<int>& mask, const std::vector<double>& h0) {
  gru::Spec s;
  s.batch = B;
  s.timesteps = T_;
  s.input_dim = c.F;
  s.units = c.H;
  s.reset_after = true;
  s.go_backwards = c.go_backwards;
  s.return_sequences = c.return_sequences;
  s.zero_output_for_mask = c.zero_output;
  const std::vector<T> k = as<T>(c.kernel), rk = as<T>(c.recurrent_kernel),
                       ib = as<T>(c.input_bias), rb = as<T>(c.recurrent_bias),
                       xs = as<T>(x), h0s = as<T>(h0);
  gru::Weights<T> w;
  w.kernel = k.data();
  w.recurrent_kernel = rk.data();
  w.input_bias = ib.data();
  w.recurrent_bias = rb.data();
  gru::Inputs<T> in;
  in.x = xs.data();
  in.mask = mask.empty() ? nullptr : mask.data();
  in.initial_state = h0s.empty() ? nullptr : h0s.data();
  Result<T> r;
  const size_t bh = static_cast<size_t>(B) * c.H;
  r.out.assign(c.return_sequences ? bh * T_ : bh, T(-999));
  r.state.assign(bh, T(-999));
  gru::Outputs<T> o;
  o.output = r.out.data();
  o.state = r.state.data();
  try {
    if (gpu) {
      gru::cuda::forward<T>(s, w, in, o);
    } else {
      gru::forward_cpu<T>(s, w, in, o);
    }
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

template <typename A, typename B>
double max_diff(const std::vector<A>& a, const std::vector<B>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    if (!(d <= m)) m = d;  // NaN propagates as "worst"
  }
  return m;
}

std::string fmt_ms(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", d);
  return buf;
}

std::string fmt(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1e", d);
  return buf;
}

// ---------------------------------------------------------------- conformance

// Runs every call of a case on one backend and precision (state carried for
// stateful cases); returns the worst difference from the expected numbers and
// the per-call results.
template <typename T>
double run_case(bool gpu, const Case& c, std::vector<Result<T>>& results,
                std::string& error) {
  double worst = 0;
  std::vector<double> carried;
  for (const Call& k : c.calls) {
    const std::vector<double>& h0 = k.carry ? carried : k.h0;
    Result<T> r = run<T>(gpu, c, k.B, k.T, k.x, k.mask, h0);
    if (!r.error.empty()) {
      error = r.error;
      return INFINITY;
    }
    if (!k.out.empty()) worst = std::max(worst, max_diff(r.out, k.out));
    if (!k.state.empty()) worst = std::max(worst, max_diff(r.state, k.state));
    carried.assign(r.state.begin(), r.state.end());
    results.push_back(std::move(r));
  }
  return worst;
}

template <typename T>
double between(const std::vector<Result<T>>& a, const std::vector<Result<T>>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    m = std::max(m, max_diff(a[i].out, b[i].out));
    m = std::max(m, max_diff(a[i].state, b[i].state));
  }
  return m;
}

int conformance(const std::string& path) {
  const std::vector<Case> cases = read_cases(path);
  std::printf("# conformance: %zu eligible cases, GPU %s\n", cases.size(),
              g_gpu ? "present" : "absent (cuDNN columns SKIP)");
  std::printf(
      "# columns: max |difference| from the expected numbers; cuda-vs-cpu in the "
      "same precision\n");
  int failed = 0;
  for (const Case& c : cases) {
    std::string err;
    std::vector<Result<float>> c32, g32;
    std::vector<Result<double>> c64, g64;
    const double e_c32 = run_case<float>(false, c, c32, err);
    const double e_c64 = run_case<double>(false, c, c64, err);
    bool ok = e_c32 <= c.tol && e_c64 <= c.tol;
    std::string line = "cpu32 " + fmt(e_c32) + "  cpu64 " + fmt(e_c64);
    if (g_gpu) {
      const double e_g32 = run_case<float>(true, c, g32, err);
      const double e_g64 = run_case<double>(true, c, g64, err);
      const double d32 = between(g32, c32), d64 = between(g64, c64);
      ok = ok && e_g32 <= c.tol && e_g64 <= c.tol && d32 <= c.tol && d64 <= 1e-10;
      line += "  cuda32 " + fmt(e_g32) + "  cuda64 " + fmt(e_g64) + "  cuda-cpu32 " +
              fmt(d32) + "  cuda-cpu64 " + fmt(d64);
    } else {
      line += "  cuda32 SKIP  cuda64 SKIP";
    }
    if (!err.empty()) line += "  error: " + err;
    std::printf("%s %-36s tol %s  %s\n", ok ? "PASS" : "FAIL", c.name.c_str(),
                fmt(c.tol).c_str(), line.c_str());
    if (!ok) ++failed;
  }
  std::printf("# conformance: %d of %zu failed\n", failed, cases.size());
  if (failed) g_failed = true;
  return failed;
}

// ---------------------------------------------------------------- random

// Random eligible configurations (masks right-padded, including fully masked
// and full rows; go_backwards; zero_output_for_mask; initial states; sizes off
// the 32-wide tiles), cuDNN against the CPU path in float and double.
int random_tests(int n) {
  std::mt19937 rng(20240611);
  auto uni = [&](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  std::uniform_real_distribution<double> val(-1, 1);
  int failed = 0;
  std::printf("# random: %d configurations, GPU %s\n", n,
              g_gpu ? "present" : "absent (cuDNN SKIP; CPU float vs double only)");
  for (int i = 0; i < n; ++i) {
    const bool big = i % 8 == 7;
    Case c;
    const int B = big ? uni(17, 70) : uni(1, 9);
    const int T_ = big ? uni(20, 90) : uni(1, 13);
    c.F = big ? uni(33, 200) : uni(1, 40);
    c.H = big ? uni(33, 260) : uni(1, 70);
    c.go_backwards = uni(0, 1);
    c.return_sequences = uni(0, 3) != 0;
    c.zero_output = uni(0, 3) == 0;
    c.name = "random" + std::to_string(i);
    const double ws = 1.5 / std::sqrt(static_cast<double>(c.H));
    auto fill = [&](std::vector<double>& v, size_t len, double scale) {
      v.resize(len);
      for (double& e : v) e = scale * val(rng);
    };
    fill(c.kernel, static_cast<size_t>(c.F) * 3 * c.H, 1.5 / std::sqrt(double(c.F)));
    fill(c.recurrent_kernel, static_cast<size_t>(c.H) * 3 * c.H, ws);
    fill(c.input_bias, 3 * c.H, 0.5);
    fill(c.recurrent_bias, 3 * c.H, 0.5);
    std::vector<double> x, h0;
    fill(x, static_cast<size_t>(B) * T_ * c.F, 1.0);
    const int mask_mode = uni(0, 2);  // 0 none, 1 random lengths, 2 with empty rows
    std::vector<int> mask;
    if (mask_mode > 0) {
      mask.assign(static_cast<size_t>(B) * T_, 0);
      for (int b = 0; b < B; ++b) {
        int len = uni(mask_mode == 2 ? 0 : 1, T_);
        if (b == 0) len = T_;
        if (mask_mode == 2 && b == B - 1) len = 0;
        for (int t = 0; t < len; ++t) mask[b + static_cast<size_t>(B) * t] = 1;
      }
    }
    if (uni(0, 1)) fill(h0, static_cast<size_t>(B) * c.H, 0.8);

    char desc[160];
    std::snprintf(desc, sizeof desc, "B%d T%d F%d H%d%s%s%s%s%s", B, T_, c.F, c.H,
                  c.go_backwards ? " backwards" : "",
                  c.return_sequences ? " seq" : " last",
                  c.zero_output ? " zero_output" : "",
                  mask_mode == 0 ? "" : (mask_mode == 1 ? " mask" : " mask+empty"),
                  h0.empty() ? "" : " h0");
    const Result<float> c32 = run<float>(false, c, B, T_, x, mask, h0);
    const Result<double> c64 = run<double>(false, c, B, T_, x, mask, h0);
    const double cc =
        std::max(max_diff(c32.out, c64.out), max_diff(c32.state, c64.state));
    bool ok = c32.error.empty() && c64.error.empty() && cc <= 1e-4;
    std::string line = "cpu32-cpu64 " + fmt(cc);
    std::string err = c32.error + c64.error;
    if (g_gpu) {
      const Result<float> g32 = run<float>(true, c, B, T_, x, mask, h0);
      const Result<double> g64 = run<double>(true, c, B, T_, x, mask, h0);
      const double d32 =
          std::max(max_diff(g32.out, c32.out), max_diff(g32.state, c32.state));
      const double d64 =
          std::max(max_diff(g64.out, c64.out), max_diff(g64.state, c64.state));
      ok = ok && g32.error.empty() && g64.error.empty() && d32 <= 2e-5 && d64 <= 1e-10;
      line += "  cuda-cpu32 " + fmt(d32) + "  cuda-cpu64 " + fmt(d64);
      err += g32.error + g64.error;
    } else {
      line += "  cuda SKIP";
    }
    if (!err.empty()) line += "  error: " + err;
    std::printf("%s %-10s %-58s %s\n", ok ? "PASS" : "FAIL", c.name.c_str(), desc,
                line.c_str());
    if (!ok) ++failed;
  }
  std::printf("# random: %d of %d failed\n", failed, n);
  if (failed) g_failed = true;
  return failed;
}

// ---------------------------------------------------------------- emulate

// The backend's mapping, run on the host with a model of cuDNN: each row's
// cuDNN sequence (layout::source_step) goes through a forward, unmasked GRU
// from its initial state (the CPU engine, B = 1), which is what
// cudnnRNNForward computes for one variable-length row; outputs and state are
// then assembled as unpack_output and forward_on do. This checks the
// go_backwards/mask/fully-masked bookkeeping without a GPU; it does not check
// cuDNN itself, the weight conversion or the kernels' indexing.
int emulate(int n) {
  namespace L = gru::cuda::layout;
  std::mt19937 rng(99);
  auto uni = [&](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  std::uniform_real_distribution<double> val(-1, 1);
  int failed = 0;
  std::printf("# emulate: %d configurations, host model of cuDNN vs the CPU path\n", n);
  for (int i = 0; i < n; ++i) {
    Case c;
    const int B = uni(1, 7), T_ = uni(1, 9);
    c.F = uni(1, 6);
    c.H = uni(1, 5);
    c.go_backwards = uni(0, 1);
    c.return_sequences = uni(0, 2) != 0;
    c.zero_output = uni(0, 2) == 0;
    auto fill = [&](std::vector<double>& v, size_t len) {
      v.resize(len);
      for (double& e : v) e = val(rng);
    };
    fill(c.kernel, static_cast<size_t>(c.F) * 3 * c.H);
    fill(c.recurrent_kernel, static_cast<size_t>(c.H) * 3 * c.H);
    fill(c.input_bias, 3 * c.H);
    fill(c.recurrent_bias, 3 * c.H);
    std::vector<double> x, h0;
    fill(x, static_cast<size_t>(B) * T_ * c.F);
    if (uni(0, 1)) fill(h0, static_cast<size_t>(B) * c.H);
    std::vector<int> len(B, T_), mask;
    if (uni(0, 3) != 0) {
      mask.assign(static_cast<size_t>(B) * T_, 0);
      for (int b = 0; b < B; ++b) {
        len[b] = uni(0, T_);
        for (int t = 0; t < len[b]; ++t) mask[b + static_cast<size_t>(B) * t] = 1;
      }
    }
    const Result<double> ref = run<double>(false, c, B, T_, x, mask, h0);

    const size_t BT = static_cast<size_t>(B) * T_;
    std::vector<double> out(c.return_sequences ? BT * c.H : static_cast<size_t>(B) * c.H);
    std::vector<double> state(static_cast<size_t>(B) * c.H);
    Case row = c;  // one cuDNN row: forward, unmasked, all steps returned
    row.go_backwards = false;
    row.return_sequences = true;
    row.zero_output = false;
    for (int b = 0; b < B; ++b) {
      const int nb = len[b], ne = L::cudnn_length(nb);
      std::vector<double> xs(static_cast<size_t>(ne) * c.F, 0.0), hb(c.H, 0.0);
      for (int j = 0; j < ne; ++j) {
        const int t = L::source_step(j, nb, c.go_backwards);
        for (int f = 0; f < c.F; ++f) {
          if (t >= 0) xs[j + static_cast<size_t>(ne) * f] = x[b + B * t + BT * f];
        }
      }
      if (!h0.empty()) {
        for (int u = 0; u < c.H; ++u) hb[u] = h0[b + static_cast<size_t>(B) * u];
      }
      const Result<double> y = run<double>(false, row, 1, ne, xs, {}, hb);  // y[j + ne*u]
      const std::vector<double>& carried_final = nb == 0 ? hb : y.state;
      for (int u = 0; u < c.H; ++u) {
        state[b + static_cast<size_t>(B) * u] = carried_final[u];
        if (!c.return_sequences) {
          const bool zero = c.zero_output && L::last_step_masked(nb, T_, c.go_backwards);
          out[b + static_cast<size_t>(B) * u] = zero ? 0.0 : carried_final[u];
        }
      }
      if (c.return_sequences) {
        for (int k = 0; k < T_; ++k) {
          const int j = L::sequence_position(k, nb, T_, c.go_backwards);
          for (int u = 0; u < c.H; ++u) {
            double v = 0.0;
            if (j >= 0) {
              v = y.out[j + static_cast<size_t>(ne) * u];
            } else if (!c.zero_output) {
              v = L::masked_step_carries_initial(nb, c.go_backwards) ? hb[u] : y.state[u];
            }
            out[b + static_cast<size_t>(B) * k + BT * u] = v;
          }
        }
      }
    }
    const double d = std::max(max_diff(out, ref.out), max_diff(state, ref.state));
    const bool ok = ref.error.empty() && d <= 1e-12;
    if (!ok || i < 5 || i % 50 == 0) {
      std::printf(
          "%s emulate%-5d B%d T%d F%d H%d%s%s%s%s%s  max diff %s\n", ok ? "PASS" : "FAIL",
          i, B, T_, c.F, c.H, c.go_backwards ? " backwards" : "",
          c.return_sequences ? " seq" : " last", c.zero_output ? " zero_output" : "",
          mask.empty() ? "" : " mask", h0.empty() ? "" : " h0", fmt(d).c_str());
    }
    if (!ok) ++failed;
  }
  std::printf("# emulate: %d of %d failed\n", failed, n);
  if (failed) g_failed = true;
  return failed;
}

// ---------------------------------------------------------------- errors

int errors() {
  Case c;
  c.F = 3;
  c.H = 4;
  c.return_sequences = true;
  c.kernel.assign(3 * 12, 0.1);
  c.recurrent_kernel.assign(4 * 12, 0.1);
  c.input_bias.assign(12, 0.0);
  c.recurrent_bias.assign(12, 0.0);
  const int B = 2, T_ = 3;
  std::vector<double> x(B * T_ * 3, 0.5);
  int failed = 0;
  auto expect = [&](const char* what, const std::string& error, const char* needle) {
    const bool ok =
        !error.empty() && (needle == nullptr || error.find(needle) != std::string::npos);
    std::printf("%s %-44s %s\n", ok ? "PASS" : "FAIL", what,
                error.empty() ? "(no error)" : error.c_str());
    if (!ok) ++failed;
  };
  // Row 2 keeps step 3 after masking step 2: not right-padded.
  const std::vector<int> holey = {1, 1, 1, 0, 1, 1};
  expect("non-right-padded mask throws gru::Error",
         run<float>(true, c, B, T_, x, holey, {}).error, "right-padded");
  if (!g_gpu) {
    expect("no GPU: forward throws gru::Error",
           run<float>(true, c, B, T_, x, {}, {}).error, nullptr);
  } else {
    std::printf("SKIP %-44s (a GPU is present)\n", "no GPU: forward throws gru::Error");
  }
  if (failed) g_failed = true;
  return failed;
}

// ---------------------------------------------------------------- timings

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? NAN : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

double time_ms(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

struct Shape {
  const char* name;
  int B, T, I, H;
  bool cpu;
};

void bench(int runs, int cpu_runs, int threads) {
  const Shape shapes[] = {{"S1", 1, 100, 32, 64, false},
                          {"S2", 64, 100, 64, 128, false},
                          {"S3", 64, 200, 256, 512, true},
                          {"S4", 32, 50, 1024, 1024, true},
                          {"S5", 64, 500, 512, 1024, false}};
  std::printf(
      "# bench: float32, return_sequences, no mask; medians of %d runs after 3 "
      "warm-ups (CPU: %d runs after 1, %d thread(s))\n",
      runs, cpu_runs, threads);
  std::printf(
      "# cuDNN forward = gru::cuda::forward, host arrays in and out (includes "
      "H2D/D2H copies and layout kernels)\n");
  std::printf(
      "| shape | B x T x I x H | cuDNN forward ms | min ms | pageable H2D+D2H "
      "copies ms | CPU ms |\n|---|---|---|---|---|---|\n");
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> val(-1, 1);
  for (const Shape& sh : shapes) {
    gru::Spec s;
    s.batch = sh.B;
    s.timesteps = sh.T;
    s.input_dim = sh.I;
    s.units = sh.H;
    s.return_sequences = true;
    s.threads = threads;
    const size_t H3 = 3 * static_cast<size_t>(sh.H);
    std::vector<float> k(sh.I * H3), rk(sh.H * H3), ib(H3), rb(H3),
        x(static_cast<size_t>(sh.B) * sh.T * sh.I),
        out(static_cast<size_t>(sh.B) * sh.T * sh.H),
        st(static_cast<size_t>(sh.B) * sh.H);
    for (float& v : k) v = val(rng) / std::sqrt(float(sh.I));
    for (float& v : rk) v = val(rng) / std::sqrt(float(sh.H));
    for (float& v : ib) v = 0.1f * val(rng);
    for (float& v : rb) v = 0.1f * val(rng);
    for (float& v : x) v = val(rng);
    gru::Weights<float> w{k.data(), rk.data(), ib.data(), rb.data()};
    gru::Inputs<float> in;
    in.x = x.data();
    gru::Outputs<float> o{out.data(), st.data()};

    std::string gpu_med = "SKIP", gpu_min = "SKIP", copy = "SKIP", cpu = "-";
    if (g_gpu) {
      try {
        for (int i = 0; i < 3; ++i) gru::cuda::forward<float>(s, w, in, o);
        std::vector<double> t;
        for (int i = 0; i < runs; ++i) {
          t.push_back(time_ms([&] { gru::cuda::forward<float>(s, w, in, o); }));
        }
        gpu_med = fmt_ms(median(t));
        gpu_min = fmt_ms(*std::min_element(t.begin(), t.end()));
        // The copies alone, to separate transfer from compute.
        void *dx = nullptr, *dy = nullptr;
        if (cudaMalloc(&dx, x.size() * 4) == cudaSuccess &&
            cudaMalloc(&dy, out.size() * 4) == cudaSuccess) {
          std::vector<double> tc;
          for (int i = 0; i < runs; ++i) {
            tc.push_back(time_ms([&] {
              cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice);
              cudaMemcpy(out.data(), dy, out.size() * 4, cudaMemcpyDeviceToHost);
            }));
          }
          copy = fmt_ms(median(tc));
        }
        cudaFree(dx);
        cudaFree(dy);
      } catch (const std::exception& e) {
        gpu_med = std::string("ERROR ") + e.what();
        g_failed = true;
      }
    }
    if (sh.cpu) {
      gru::forward_cpu<float>(s, w, in, o);
      std::vector<double> t;
      for (int i = 0; i < cpu_runs; ++i) {
        t.push_back(time_ms([&] { gru::forward_cpu<float>(s, w, in, o); }));
      }
      cpu = fmt_ms(median(t));
    }
    std::printf("| %s | %d x %d x %d x %d | %s | %s | %s | %s |\n", sh.name, sh.B, sh.T,
                sh.I, sh.H, gpu_med.c_str(), gpu_min.c_str(), copy.c_str(), cpu.c_str());
    std::fflush(stdout);
  }
}

// ---------------------------------------------------------------- leaks

long rss_kib() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * 4;  // 4 KiB pages
}

void leak(int calls) {
  if (!g_gpu) {
    std::printf("SKIP leak check (no GPU)\n");
    return;
  }
  // Configurations cycled through: sizes, precisions, masks and directions differ,
  // so descriptors are re-set and buffers re-used every call.
  struct Cfg {
    int B, T, F, H;
    bool back, seq, dbl, masked;
  };
  const Cfg cfgs[] = {{8, 20, 16, 32, false, true, false, false},
                      {3, 7, 5, 9, true, false, false, true},
                      {16, 40, 64, 96, true, true, true, true},
                      {1, 1, 1, 1, false, false, true, false}};
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> val(-1, 1);
  std::vector<Case> cases;
  std::vector<std::vector<double>> xs;
  std::vector<std::vector<int>> masks;
  for (const Cfg& g : cfgs) {
    Case c;
    c.F = g.F;
    c.H = g.H;
    c.go_backwards = g.back;
    c.return_sequences = g.seq;
    auto fill = [&](std::vector<double>& v, size_t n) {
      v.resize(n);
      for (double& e : v) e = 0.3 * val(rng);
    };
    fill(c.kernel, g.F * 3 * g.H);
    fill(c.recurrent_kernel, g.H * 3 * g.H);
    fill(c.input_bias, 3 * g.H);
    fill(c.recurrent_bias, 3 * g.H);
    std::vector<double> x;
    fill(x, static_cast<size_t>(g.B) * g.T * g.F);
    std::vector<int> m;
    if (g.masked) {
      m.assign(g.B * g.T, 0);
      for (int b = 0; b < g.B; ++b) {
        for (int t = 0; t < (b * g.T) / g.B; ++t) m[b + g.B * t] = 1;  // row 0 empty
      }
    }
    cases.push_back(c);
    xs.push_back(x);
    masks.push_back(m);
  }
  auto call = [&](size_t i) {
    const Cfg& g = cfgs[i];
    std::string err =
        g.dbl ? run<double>(true, cases[i], g.B, g.T, xs[i], masks[i], {}).error
              : run<float>(true, cases[i], g.B, g.T, xs[i], masks[i], {}).error;
    if (!err.empty()) throw std::runtime_error(err);
  };
  try {
    for (int r = 0; r < 3; ++r) {
      for (size_t i = 0; i < 4; ++i) call(i);
    }
    cudaDeviceSynchronize();
    size_t free0 = 0, free1 = 0, total = 0;
    cudaMemGetInfo(&free0, &total);
    const long rss0 = rss_kib();
    const auto t0 = std::chrono::steady_clock::now();
    for (int n = 0; n < calls; ++n) call(static_cast<size_t>(n) % 4);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    cudaDeviceSynchronize();
    cudaMemGetInfo(&free1, &total);
    const long rss1 = rss_kib();
    const double dev_mib =
        (static_cast<double>(free0) - static_cast<double>(free1)) / 1048576.0;
    const double rss_mib = (rss1 - rss0) / 1024.0;
    const bool ok = dev_mib <= 1.0 && rss_mib <= 16.0;
    std::printf(
        "%s leak check: %d calls in %.1f s; device free memory %.1f -> %.1f MiB "
        "(%+.2f MiB used); RSS %+.2f MiB\n",
        ok ? "PASS" : "FAIL", calls, secs, free0 / 1048576.0, free1 / 1048576.0, dev_mib,
        rss_mib);
    if (!ok) g_failed = true;
  } catch (const std::exception& e) {
    std::printf("FAIL leak check: %s\n", e.what());
    g_failed = true;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  auto arg = [&](int i, int dflt) { return argc > i ? std::atoi(argv[i]) : dflt; };
  const gru::cuda::BuildInfo info = gru::cuda::build_info();
  const std::vector<std::string> devs = gru::cuda::devices();
  g_gpu = !devs.empty() && std::getenv("GRU_GPU_FORCE_CPU") == nullptr;
  std::printf("# gru_gpu: built=%d CUDA runtime %d cuDNN %d; GPUs: %zu%s%s\n", info.built,
              info.cuda_runtime_version, info.cudnn_version, devs.size(),
              devs.empty() ? "" : " first: ", devs.empty() ? "" : devs[0].c_str());
  try {
    if (mode == "conformance" && argc > 2) {
      conformance(argv[2]);
    } else if (mode == "random") {
      random_tests(arg(2, 200));
    } else if (mode == "emulate") {
      emulate(arg(2, 2000));
    } else if (mode == "errors") {
      errors();
    } else if (mode == "bench") {
      bench(std::max(20, arg(2, 25)), arg(3, 5), arg(4, 1));
    } else if (mode == "leak") {
      leak(arg(2, 5000));
    } else {
      std::fprintf(
          stderr,
          "usage: gru_gpu conformance CASES | random [N] | emulate [N] | errors | "
          "bench [RUNS] [CPU_RUNS] [THREADS] | leak [CALLS]\n");
      return 2;
    }
  } catch (const std::exception& e) {
    std::printf("FAIL %s\n", e.what());
    return 1;
  }
  return g_failed ? 1 : 0;
}
