"""Bench-only heap probe for the operator process (never shipped in the image).

Put this directory on the operator's PYTHONPATH and set BENCH_TRACEMALLOC=1 and BENCH_TRACEMALLOC_OUT=<file>
(`bench/scale_bench.py --phases memory --operator-pythonpath bench/memprobe --operator-env ...`): tracemalloc
runs from interpreter start, and each SIGUSR1 appends a summary (top allocations by file, by line, the
largest tracebacks, live objects by type) to the file, ending with a `=== end` line. The harness sends
SIGUSR1 at the steady-RSS points of the memory phase. tracemalloc slows the process and adds its own
memory: read the sizes as shares, not as RSS."""

import collections
import gc
import os
import signal
import tracemalloc
from types import FrameType


def _dump(_sig: int, _frame: FrameType | None) -> None:
    gc.collect()
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    cur, peak = tracemalloc.get_traced_memory()
    with open(os.environ["BENCH_TRACEMALLOC_OUT"], "a") as f:
        f.write(f"=== traced current {cur / 2**20:.1f} MiB peak {peak / 2**20:.1f} MiB\n")
        for key in ("filename", "lineno"):
            f.write(f"--- top by {key}\n")
            for st in snap.statistics(key)[:40]:
                f.write(f"{st.size / 2**20:8.2f} MiB {st.count:9d} {st.traceback}\n")
        f.write("--- top tracebacks\n")
        for st in snap.statistics("traceback")[:15]:
            f.write(f"{st.size / 2**20:8.2f} MiB {st.count:9d}\n")
            for line in st.traceback.format()[-24:]:
                f.write(f"      {line}\n")
        types = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
        f.write("--- gc objects by type\n")
        for t, n in types.most_common(40):
            f.write(f"{n:9d} {t}\n")
        f.write("=== end\n")


if os.environ.get("BENCH_TRACEMALLOC"):
    tracemalloc.start(int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "12")))
    signal.signal(signal.SIGUSR1, _dump)
