#!/usr/bin/env python3
"""Converts the conformance fixtures (JSON) to the plain-text cases gru_gpu reads.

Usage: convert_fixtures.py FIXTURE_DIR OUTPUT_FILE

Only cases the cuDNN backend may receive are written: activation tanh,
recurrent_activation sigmoid, use_bias, reset_after, and a mask (if any) that
is right-padded. (unroll is ignored: it does not change the numbers.) Each
skipped case is listed on stderr with the reason.

Arrays are written flat in R's column-major order (element [i0, i1, ...] of
an array with dims d at i0 + d0 * i1 + d0 * d1 * i2 + ...), the layout the
engine reads. Format, whitespace-separated tokens:

  gru-cases 1 <ncases>
  per case:  case <name> <F> <H> <go_backwards> <return_sequences>
             <zero_output_for_mask> <tolerance>
             kernel <n> v... recurrent_kernel <n> v... input_bias <n> v...
             recurrent_bias <n> v... calls <ncalls>
  per call:  call <B> <T> <carry>   (carry 1: initial state = previous final state)
             x <n> v... mask <n> v... h0 <n> v... out <n> v... state <n> v...
  (n = 0 means absent: no mask, zero initial state, nothing to compare.)
"""
import glob
import itertools
import json
import os
import sys


def shape(x):
    s = []
    while isinstance(x, list):
        s.append(len(x))
        x = x[0] if x else None
    return s


def flat_colmajor(x):
    """Values of a nested list in column-major order."""
    if x is None:
        return []
    dims = shape(x)
    out = []
    for rev in itertools.product(*[range(d) for d in reversed(dims)]):
        v = x
        for i in reversed(rev):
            v = v[i]
        out.append(v)
    return out


def right_padded(mask):
    for row in mask:
        seen_false = False
        for m in row:
            if not m:
                seen_false = True
            elif seen_false:
                return False
    return True


def ineligible(d):
    c = d["config"]
    why = []
    if c.get("activation") != "tanh":
        why.append("activation %s" % c.get("activation"))
    if c.get("recurrent_activation") != "sigmoid":
        why.append("recurrent_activation %s" % c.get("recurrent_activation"))
    if not c.get("use_bias", True):
        why.append("use_bias FALSE")
    if not c.get("reset_after", True):
        why.append("reset_after FALSE")
    masks = [d["mask"]] if "mask" in d else []
    masks += [k["mask"] for k in d.get("calls", []) if "mask" in k]
    if any(not right_padded(m) for m in masks):
        why.append("mask not right-padded")
    return why


def arr(name, values, fmt="%.9g"):
    return "%s %d %s" % (name, len(values), " ".join(fmt % v for v in values))


def convert(d):
    c = d["config"]
    w = d["weights"]
    F = len(w["kernel"])
    H = c["units"]
    lines = [
        "case %s %d %d %d %d %d %.9g" % (
            d["id"], F, H, int(bool(c.get("go_backwards"))),
            int(bool(c.get("return_sequences"))),
            int(bool(c.get("zero_output_for_mask"))), d["tolerance"]),
        arr("kernel", flat_colmajor(w["kernel"])),
        arr("recurrent_kernel", flat_colmajor(w["recurrent_kernel"])),
        arr("input_bias", w["bias"][0]),
        arr("recurrent_bias", w["bias"][1]),
    ]
    if "calls" in d:
        calls, carry = [], 0
        for k in d["calls"]:
            if k["action"] == "reset_states":
                carry = 0
                continue
            calls.append((k, carry))
            carry = 1
    else:
        calls = [(d, 0)]
    lines.append("calls %d" % len(calls))
    for k, carry in calls:
        B, T, _ = shape(k["inputs"])
        exp = k.get("expected") or {}
        lines += [
            "call %d %d %d" % (B, T, carry),
            arr("x", flat_colmajor(k["inputs"])),
            arr("mask", [int(bool(m)) for m in flat_colmajor(k.get("mask"))], "%d"),
            arr("h0", flat_colmajor(k.get("initial_state"))),
            arr("out", flat_colmajor(exp.get("output"))),
            arr("state", flat_colmajor(exp.get("state"))),
        ]
    return "\n".join(lines)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    cases = []
    for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
        with open(path) as f:
            d = json.load(f)
        why = ineligible(d)
        if why:
            print("skip %s: %s" % (d["id"], ", ".join(why)), file=sys.stderr)
            continue
        cases.append(convert(d))
    with open(sys.argv[2], "w") as f:
        f.write("gru-cases 1 %d\n" % len(cases))
        f.write("\n".join(cases) + "\n")
    print("wrote %d cases to %s" % (len(cases), sys.argv[2]), file=sys.stderr)


if __name__ == "__main__":
    main()
