// Polling for a user interrupt inside the engine's loops (see
// InterruptCheck in gru.h). The calling thread (OpenMP's master) calls
// poll() where the loop allows; it asks the installed check first 100 ms
// after the flag was made and then at most every 100 ms, so a short call
// never asks. Once the check has answered true the flag stays set; every
// thread reads it with stopped(). Loops whose threads meet at barriers must
// also agree on where they stop (forward.cpp turns the flag into a chunk index
// that all threads read after a barrier); loops without barriers (the
// training passes' row ranges) just stop.
#ifndef GRU_INTERRUPT_H
#define GRU_INTERRUPT_H

#include <atomic>
#include <chrono>

#include "gru.h"

namespace gru {
namespace detail {

class InterruptFlag {
 public:
  // The pass's check and where it reports the step it stopped at (Spec).
  explicit InterruptFlag(const Spec& s)
      : check_(s.interrupt), where_(s.interrupted_step), next_(Clock::now() + kEvery) {}
  InterruptFlag(const InterruptFlag&) = delete;
  InterruptFlag& operator=(const InterruptFlag&) = delete;

  // The calling thread only.
  void poll() {
    if (check_ == nullptr || stop_.load(std::memory_order_relaxed)) return;
    const Clock::time_point now = Clock::now();
    if (now < next_) return;
    next_ = now + kEvery;
    if (check_()) stop_.store(true);
  }
  bool stopped() const { return stop_.load(std::memory_order_relaxed); }

  // For a step loop whose threads run alone (no barriers): the calling
  // thread (tid 0) polls; once the flag is set every thread leaves its loop,
  // and the calling thread records `step` (processing steps done) as where
  // the pass stopped.
  bool stop_at_step(int tid, long step) {
    if (tid == 0) poll();
    if (!stopped()) return false;
    if (tid == 0) step_.store(step);
    return true;
  }

  // Once the flag is set: notes where the pass stopped (the step recorded
  // by stop_at_step, else `fallback`) and throws Interrupted.
  void throw_if_stopped(long fallback) const {
    if (!stopped()) return;
    const long step = step_.load();
    stop_at(step >= 0 ? step : fallback);
  }

  // Reports `step` as where the pass stopped and throws Interrupted.
  [[noreturn]] void stop_at(long step) const {
    if (where_ != nullptr) *where_ = step;
    throw Interrupted();
  }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kEvery{100};
  const InterruptCheck check_;
  long* const where_;
  Clock::time_point next_;
  std::atomic<bool> stop_{false};
  std::atomic<long> step_{-1};
};

}  // namespace detail
}  // namespace gru

#endif  // GRU_INTERRUPT_H
