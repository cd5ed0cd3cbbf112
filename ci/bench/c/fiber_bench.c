/* ci/bench: the fiber C core. round_trip: fiber_resume + fiber_suspend; round_trip_own_fp:
   the same with a fiber that owns its FP control state (FIBER_OWN_FP_CONTROL: the switch
   also saves and loads MXCSR/x87 CW, like fcontext's); create: fiber_create (a pool hit
   after the first) + fiber_resume to completion + fiber_destroy (back to the pool). */
#include "bench.h"
#include "fiber.h"

static void *ping(void *arg, void *first)
{
    for (;;)
        fiber_suspend(NULL, NULL);
    return NULL;
}

static void *empty(void *arg, void *first) { return first; }

int main(int argc, char **argv)
{
    int reps = 21;
    long iters = 1000000;
    bench_args(argc, argv, &reps, &iters);

    fiber_t *f;
    if (fiber_create(&f, 0, ping, NULL) != FIBER_OK)
        return 1;
    fiber_resume(f, NULL, NULL);
    BENCH_RUN("round_trip", reps, iters, fiber_resume(f, NULL, NULL));
    fiber_destroy(f);

    if (fiber_create_ex(&f, 0, 0, FIBER_OWN_FP_CONTROL, ping, NULL) != FIBER_OK)
        return 1;
    fiber_resume(f, NULL, NULL);
    BENCH_RUN("round_trip_own_fp", reps, iters, fiber_resume(f, NULL, NULL));
    fiber_destroy(f);

    BENCH_RUN("create", reps, iters / 4, {
        fiber_t *g;
        fiber_create(&g, 0, empty, NULL);
        fiber_resume(g, NULL, NULL);
        fiber_destroy(g);
    });
    return 0;
}
