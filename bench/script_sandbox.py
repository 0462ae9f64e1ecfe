"""Script sandbox benchmark (reports only, asserts nothing): one JSON line per result.

The baseline is the same restricted script run in this process (``run_script``, what Loopline did
before scripts moved out of process); the measured path is a warm ``ScriptPool`` process (JSON in
and out over a pipe). Both run the same scripts on the same data, interleaved, in one process.

Run: python -m bench.script_sandbox [--calls 2000]
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

from orchestrator.expressions.script_pool import ScriptPool
from orchestrator.expressions.scripts import run_script

CASES = {
    "tiny script, 3 variables": ("approved = amount < 5000 and grade != 'D'",
                                 {"amount": 120, "grade": "B", "sku": "SKU-1"}),
    "loop over 1,000 order lines": ("total = 0\nfor line in lines:\n    total += line['qty'] * line['price']",
                                    {"lines": [{"sku": f"S{n}", "qty": n % 5 + 1, "price": 9.5} for n in range(1000)]}),
}


def per_call(run, source: str, data: dict, calls: int) -> float:
    """Median seconds per call over ``calls`` calls, measured in batches of 50."""
    batches = []
    for _ in range(max(calls // 50, 1)):
        started = time.perf_counter()
        for _ in range(50):
            run(source, copy.copy(data))
        batches.append((time.perf_counter() - started) / 50)
    return statistics.median(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    pool = ScriptPool(size=1)
    started = time.perf_counter()
    pool.warm_up()
    print(json.dumps({"result": "cold start of one sandbox process", "ms": round((time.perf_counter() - started) * 1000, 1)}))
    try:
        for name, (source, data) in CASES.items():
            in_process = per_call(lambda s, d: run_script(s, d), source, data, args.calls)
            sandboxed = per_call(lambda s, d: pool.run(s, d, 1.0), source, data, args.calls)
            print(json.dumps({
                "result": name,
                "in_process_ms": round(in_process * 1000, 3),
                "sandbox_ms": round(sandboxed * 1000, 3),
                "overhead_ms": round((sandboxed - in_process) * 1000, 3),
                "ratio_sandbox_vs_in_process": round(sandboxed / in_process, 2),
            }))
    finally:
        pool.close()


if __name__ == "__main__":
    main()
