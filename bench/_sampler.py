"""A poor man's sampling profiler (py-spy is not installed): every ``interval`` seconds it
records the stack of every thread; ``report`` prints the most frequent frames of our code."""

from __future__ import annotations

import collections
import sys
import threading
import time
import traceback


class Sampler:
    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.leaf: collections.Counter[str] = collections.Counter()
        self.ours: collections.Counter[str] = collections.Counter()
        self.stacks: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.is_set():
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                stack = traceback.extract_stack(frame)
                if not stack:
                    continue
                top = stack[-1]
                if top.name in ("select", "poll", "wait", "_worker", "get") and (
                    "selectors" in top.filename
                    or "threading" in top.filename
                    or "thread.py" in top.filename
                    or "queue" in top.filename
                ):
                    continue  # idle
                self.samples += 1
                self.leaf[f"{top.filename.split('site-packages/')[-1]}:{top.name}"] += 1
                mine = [f for f in stack if "/bot/" in f.filename]
                if mine:
                    self.ours[f"{mine[-1].filename.split('/bot/')[-1]}:{mine[-1].name}"] += 1
                    self.stacks[" > ".join(f"{f.name}" for f in mine[-4:])] += 1
            time.sleep(self.interval)

    def report(self, n: int = 25) -> str:
        lines = [f"{self.samples} busy samples"]
        for title, counter in (("leaf", self.leaf), ("ours", self.ours), ("stacks", self.stacks)):
            lines.append(f"-- {title}")
            lines += [f"{c:6d} {name}" for name, c in counter.most_common(n)]
        return "\n".join(lines)
