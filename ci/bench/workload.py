"""The CPU-bound pure-Python workload of the "unfuelled code" benchmark (no imports, so that
callgrind.py can count it without the cost of importing asyncio)."""


def _fib(n: int) -> int:
    return n if n < 2 else _fib(n - 1) + _fib(n - 2)


def work() -> int:
    """Ordinary Python (recursion, a loop, arithmetic, a comprehension): about 0.2 ms here."""
    total = _fib(15)
    for i in range(3000):
        total += i * i % 7
    total += sum([x for x in range(2000) if x & 1])
    return total
