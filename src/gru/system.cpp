// Facts about the process and the machine, and the Spec's consistency
// check: what every pass asks before it starts (gru.h).
#include <algorithm>
#include <atomic>
#include <limits>
#include <string>
#include <thread>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <unistd.h>
#endif

#include "gru.h"
#include "parallel.h"

namespace gru {

void validate(const Spec& s) {
  if (s.batch <= 0 || s.timesteps <= 0 || s.input_dim <= 0 || s.units <= 0) {
    throw Error("batch, timesteps, input_dim and units must all be positive");
  }
  // The kernels' 3H columns (padded to whole vector widths) are int counts.
  if (s.units > (std::numeric_limits<int>::max() - 1024) / 3) {
    throw Error("units must be at most " +
                std::to_string((std::numeric_limits<int>::max() - 1024) / 3));
  }
  auto gates_ok = [](int g) { return g == 0 || g == 1 || g == 3; };
  if (!gates_ok(s.dropout_gates) || !gates_ok(s.recurrent_dropout_gates)) {
    throw Error("dropout masks come in 0, 1 or 3 gate blocks");
  }
  auto act_ok = [](Activation a) {
    int c = static_cast<int>(a);
    return c >= 0 && c < kActivationCount;
  };
  if (!act_ok(s.activation) || !act_ok(s.recurrent_activation)) {
    throw Error("unknown activation code");
  }
  if (s.threads < 1) throw Error("threads must be at least 1");
}

namespace {
std::atomic<bool> forked_child{false};
#if defined(__unix__) || defined(__APPLE__)
void note_fork_child() { forked_child.store(true); }
// Registered when the library is loaded, so every later fork() runs it.
[[maybe_unused]] const bool fork_handler_registered =
    pthread_atfork(nullptr, nullptr, &note_fork_child) == 0;
#endif
}  // namespace

bool in_forked_child() { return forked_child.load(); }

int cpu_cores() {
  if (detail::kOpenMP) return std::max(1, omp_get_num_procs());
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

long l2_cache_bytes() {
  static const long bytes = [] {
    long v = -1;
#ifdef _SC_LEVEL2_CACHE_SIZE
    v = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    // Unknown (0 or -1 on some systems): assume 1 MB, a common per-core L2.
    return v > 0 ? v : 1L << 20;
  }();
  return bytes;
}

}  // namespace gru
