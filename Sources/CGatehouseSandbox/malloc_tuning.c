// glibc allocator settings, applied before main (before any thread has an arena); see
// gatehouse_sandbox.h. malloc.h is not in Swift's Glibc module.
#include "gatehouse_sandbox.h"

static int tuned = 0;

#if defined(__linux__) && defined(__GLIBC__)
#include <malloc.h>

__attribute__((constructor)) static void gatehouse_tune_malloc(void) {
    int ok = mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    ok &= mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    ok &= mallopt(M_ARENA_MAX, 2);
    tuned = ok ? 1 : 0;
}
#endif

int gatehouse_malloc_tuned(void) { return tuned; }
