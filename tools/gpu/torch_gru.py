#!/usr/bin/env python3
"""Times torch.nn.GRU on the shapes gru_gpu bench uses, for comparison.

Usage: torch_gru.py [RUNS]   (default 25, at least 20)

float32, batch_first, inference (torch.no_grad), every output step returned
(as return_sequences). Medians of RUNS calls after 3 warm-ups, each call
bracketed by torch.cuda.synchronize(). Three columns:
  - device-resident input and output, TF32 off (cuDNN FMA math, the precision
    gru's backend uses);
  - the same with torch's default TF32 setting for cuDNN (allow_tf32 = True);
  - TF32 off, including the host-to-device copy of the input and the
    device-to-host copy of the output (pageable memory), which is what
    gru::cuda::forward's timing includes.
Prints a markdown table, or SKIP when torch or a GPU is missing.
"""
import statistics
import sys
import time

SHAPES = [("S1", 1, 100, 32, 64), ("S2", 64, 100, 64, 128), ("S3", 64, 200, 256, 512),
          ("S4", 32, 50, 1024, 1024), ("S5", 64, 500, 512, 1024)]


def timed(fn, runs, sync):
    for _ in range(3):
        fn()
    sync()
    times = []
    for _ in range(runs):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    runs = max(20, int(sys.argv[1]) if len(sys.argv) > 1 else 25)
    try:
        import torch
    except ImportError:
        print("SKIP torch_gru: torch is not installed")
        return 0
    if not torch.cuda.is_available():
        print("SKIP torch_gru: torch sees no GPU")
        return 0
    sync = torch.cuda.synchronize
    print("# torch %s, cuDNN %s, %s; medians of %d runs after 3 warm-ups" % (
        torch.__version__, torch.backends.cudnn.version(), torch.cuda.get_device_name(0), runs))
    print("| shape | B x T x I x H | torch ms (TF32 off) | torch ms (TF32 default on) | "
          "torch ms incl. H2D+D2H (TF32 off) |")
    print("|---|---|---|---|---|")
    torch.manual_seed(0)
    with torch.no_grad():
        for name, B, T, I, H in SHAPES:
            gru = torch.nn.GRU(I, H, batch_first=True).cuda().eval()
            x_host = torch.rand(B, T, I) * 2 - 1
            x = x_host.cuda()
            torch.backends.cudnn.allow_tf32 = False
            fp32 = timed(lambda: gru(x), runs, sync)
            with_copies = timed(lambda: gru(x_host.cuda())[0].cpu(), runs, sync)
            torch.backends.cudnn.allow_tf32 = True
            tf32 = timed(lambda: gru(x), runs, sync)
            torch.backends.cudnn.allow_tf32 = False
            print("| %s | %d x %d x %d x %d | %.3f | %.3f | %.3f |" % (
                name, B, T, I, H, fp32, tf32, with_copies))
            sys.stdout.flush()
            del gru, x
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
