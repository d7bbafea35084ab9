#!/usr/bin/env python3
"""Where a collector's CPU goes, from `perf script -F comm,tid,ip,sym --no-inline` output.

Each sample's stack is counted once, in the first of the collector's tasks it runs in (the
order below decides a stack that names two), then the functions with the most time of their
own. `scripts/profile-drain.sh` records a drain and runs this on it.

    perf-by-task.py PERF_SCRIPT_OUTPUT [TOP]
"""

import collections
import re
import sys

# (task, a frame that shows the stack runs in it), first match wins.
TASKS = [
    ("receivers", "receiver::Receiver<Q>::run"),
    ("PutRecords request tasks", "Publisher<S>::send::{{closure}}"),
    ("publisher loop", "Publisher<S>::run::{{closure}}"),
    ("deleter", "deleter::Deleter"),
    ("visibility extender", "visibility::"),
    # Before hyper's: the metrics server's connections run in hyper's dispatcher too.
    ("metrics and probes", "axum"),
    ("hyper connection tasks", "hyper::proto::h1::dispatch"),
    ("hyper connection tasks", "hyper::client::conn"),
    ("connecting", "HttpConnector"),
    ("sleeping and waking", "park"),
    ("runtime", "tokio::runtime"),
    ("start-up", "telemetry_collector::main"),
    ("start-up", "_dl_start"),
]


def samples(path):
    """Each sample's frames, leaf first, with Rust's hash suffixes cut."""
    stack = None
    with open(path, errors="replace") as lines:
        for line in lines:
            if not line.strip():
                if stack is not None:
                    yield stack
                stack = None
            elif not line[0].isspace():
                stack = []
            elif stack is not None:
                parts = line.strip().split(None, 1)
                symbol = parts[1] if len(parts) > 1 else "?"
                stack.append(re.sub(r"::h[0-9a-f]{16}$", "", symbol))
    if stack is not None:
        yield stack


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    by_task = collections.Counter()
    by_self = collections.Counter()
    total = 0
    for stack in samples(sys.argv[1]):
        total += 1
        task = next(
            (name for name, frame in TASKS if any(frame in f for f in stack)), "other"
        )
        by_task[task] += 1
        if stack:
            by_self[stack[0]] += 1
    if total == 0:
        sys.exit("no samples")
    print(f"{total} samples")
    print("by task:")
    for task, count in by_task.most_common():
        print(f"  {100 * count / total:5.1f} %  {task}")
    print(f"the {top} functions with the most time of their own:")
    for symbol, count in by_self.most_common(top):
        print(f"  {100 * count / total:5.1f} %  {symbol[:120]}")


if __name__ == "__main__":
    main()
