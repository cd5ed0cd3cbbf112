/* ci/bench: Boost.Context's fcontext (the low-level API under boost::context::fiber).
   round_trip: jump_fcontext in and out; create: make_fcontext on a reused stack + jump in +
   jump back out (the context is then abandoned: fcontext has nothing to destroy). */
#include "bench.h"

#include <boost/context/detail/fcontext.hpp>
#include <sys/mman.h>

using boost::context::detail::fcontext_t;
using boost::context::detail::jump_fcontext;
using boost::context::detail::make_fcontext;
using boost::context::detail::transfer_t;

static void ping(transfer_t t)
{
    for (;;)
        t = jump_fcontext(t.fctx, nullptr);
}

static void empty(transfer_t t) { jump_fcontext(t.fctx, t.data); }

int main(int argc, char **argv)
{
    int reps = 21;
    long iters = 1000000;
    bench_args(argc, argv, &reps, &iters);

    const size_t size = (size_t)8 << 20; /* the same size as a default fiber stack */
    char *stack = static_cast<char *>(mmap(nullptr, size, PROT_READ | PROT_WRITE,
                                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (stack == MAP_FAILED)
        return 1;
    void *top = stack + size;

    fcontext_t ctx = make_fcontext(top, size, ping);
    ctx = jump_fcontext(ctx, nullptr).fctx;
    BENCH_RUN("round_trip", reps, iters, ctx = jump_fcontext(ctx, nullptr).fctx);

    BENCH_RUN("create", reps, iters / 4, {
        fcontext_t c = make_fcontext(top, size, empty);
        jump_fcontext(c, nullptr);
    });
    munmap(stack, size);
    return 0;
}
