/* ci/bench: Boost.Context.
   round_trip: jump_fcontext in and out (fcontext: the low-level API under
   boost::context::fiber). create: make_fcontext on a reused stack + jump in + jump back out
   (the context is then abandoned: fcontext has nothing to destroy; a floor, not a like-for-
   like peer). create_fiber: Boost.Context's own fiber API doing what fiber_create +
   fiber_resume + fiber_destroy do: boost::context::fiber on a pooled_fixedsize_stack (stacks
   kept for reuse, like our pool), resumed once, returning at once, its stack released. */
#include "bench.h"

#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>
#include <sys/mman.h>
#include <utility>

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

/* A fiber whose function returns at once: resuming it runs it to the end, after which the
   fiber is empty and its stack has gone back to the pool. */
static void create_run_destroy(boost::context::pooled_fixedsize_stack &pool)
{
    boost::context::fiber f{std::allocator_arg, pool,
                            [](boost::context::fiber &&caller) { return std::move(caller); }};
    f = std::move(f).resume();
}

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
    /* The same stack size as ours; the pool keeps the stacks, so after the first fiber no
       allocation reaches malloc (Boost's pooled stacks have no guard page; ours do). */
    boost::context::pooled_fixedsize_stack pool(size);
    BENCH_RUN("create_fiber", reps, iters / 4, create_run_destroy(pool));
    munmap(stack, size);
    return 0;
}
