"""How fast this machine is right now, as one figure printed beside a benchmark's.

A shared build machine's speed changes through the day (the same request costing 0.6 ms of CPU
in one hour and 1.0 ms in another), and a tight arithmetic loop does not show it: what slows is
memory. So this times a fixed Python workload that allocates, sorts and serializes a few
hundred thousand small dicts, as a request's ORM rows and JSON do; figures taken when it reads
much above its usual value are from a slow hour.
"""

import json
import random
import subprocess
import sys
import time


def speed_check() -> float:
    """Seconds of CPU a fixed, memory-heavy Python workload takes now (lower is faster)."""
    generator = random.Random(1)
    started = time.process_time()
    rows = [{"id": index, "name": f"row {index}", "weight": generator.random()} for index in range(300_000)]
    rows.sort(key=lambda row: row["weight"])
    json.loads(json.dumps(rows[:100_000]))
    return time.process_time() - started


def speed_line() -> str:
    # In a process of its own: the workload's memory would otherwise stay with this one, and with
    # every child it forks (a forked child's peak RSS counts what it inherited).
    seconds = float(subprocess.run([sys.executable, __file__], check=True, capture_output=True, text=True).stdout)
    return f"machine speed check: {seconds:.2f} s of CPU (lower is faster; see bench/_machine.py)"


if __name__ == "__main__":
    print(speed_check())
