"""Memory per suspended fiber: RSS growth of a fresh interpreter that keeps ``count`` fibers
(or greenlets) alive, each suspended ``depth`` Python frames deep, divided by ``count``.

``python -m ci.bench.memory fiber|greenlet [count] [depth]`` prints the bytes per fiber. A
warm-up batch is created, started and kept before the baseline is taken, so that one-time
costs (imports, pools, the first data-stack chunk) are not charged to the fibers.
"""

from __future__ import annotations

import gc
import sys


def _rss() -> int:
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _fiber_kind():
    import fiber

    def deep(n: int) -> None:
        if n <= 1:
            fiber.suspend()
            return
        deep(n - 1)

    return (lambda depth: fiber.Fiber(deep, depth)), (lambda f: f.resume())


def _greenlet_kind():
    import greenlet

    def deep(n: int) -> None:
        if n <= 1:
            greenlet.getcurrent().parent.switch()
            return
        deep(n - 1)

    return (lambda depth: (greenlet.greenlet(deep), depth)), (lambda gd: gd[0].switch(gd[1]))


def bytes_per_fiber(kind: str, count: int = 10_000, depth: int = 20) -> float:
    make, start = {"fiber": _fiber_kind, "greenlet": _greenlet_kind}[kind]()
    warm = [make(depth) for _ in range(100)]
    for w in warm:
        start(w)
    gc.collect()
    before = _rss()
    alive = [make(depth) for _ in range(count)]
    for a in alive:
        start(a)
    gc.collect()
    after = _rss()
    del warm  # keep the warm-up fibers alive until here
    return (after - before) / count


if __name__ == "__main__":
    args = sys.argv[1:]
    kind = args[0]
    count = int(args[1]) if len(args) > 1 else 10_000
    depth = int(args[2]) if len(args) > 2 else 20
    print(bytes_per_fiber(kind, count, depth))
    sys.stdout.flush()
    import os

    os._exit(0)  # the figure is out: skip closing 10,000 fibers at exit
