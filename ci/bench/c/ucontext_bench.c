/* ci/bench: POSIX ucontext. round_trip: swapcontext into a context and back (each
   swapcontext also saves and restores the signal mask: one system call per switch). */
#include "bench.h"

#include <stdint.h>
#include <sys/mman.h>
#include <ucontext.h>

static ucontext_t main_ctx, co_ctx;

static void ping(void)
{
    for (;;)
        swapcontext(&co_ctx, &main_ctx);
}

int main(int argc, char **argv)
{
    int reps = 21;
    long iters = 200000;
    bench_args(argc, argv, &reps, &iters);

    size_t size = (size_t)256 << 10;
    char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED)
        return 1;
    getcontext(&co_ctx);
    co_ctx.uc_stack.ss_sp = stack;
    co_ctx.uc_stack.ss_size = size;
    co_ctx.uc_link = NULL;
    makecontext(&co_ctx, ping, 0);
    swapcontext(&main_ctx, &co_ctx);
    BENCH_RUN("round_trip", reps, iters, swapcontext(&main_ctx, &co_ctx));
    return 0;
}
