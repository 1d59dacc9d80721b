/*
 * Counts heap allocations for `vigil bench memory` (scripts/bench builds it and runs the benchmark with
 * LD_PRELOAD=allocation_counter.so). Every malloc-family call adds one to a relaxed atomic counter and goes on to
 * glibc's own allocator; the benchmark reads the counter through `vigil_allocation_count` (looked up with dlsym)
 * before and after the steady-state events. free is not interposed: the memory comes from glibc either way.
 *
 * To find the allocations that remain, `vigil_allocation_trace(1)` (the benchmark calls it for the counted events
 * when VIGIL_ALLOCATION_TRACE=1) prints the call stack of each of the next 64 allocations to standard error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <execinfo.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static _Atomic unsigned long long allocations;

unsigned long long vigil_allocation_count(void) { return atomic_load_explicit(&allocations, memory_order_relaxed); }

static _Atomic int tracing;
static _Atomic int traced;

void vigil_allocation_trace(int on) { atomic_store(&tracing, on); }

static void count(void) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    /* Off while printing: backtrace() itself may allocate. */
    if (atomic_exchange(&tracing, 0)) {
        if (atomic_fetch_add(&traced, 1) < 64) {
            void *frames[32];
            int depth = backtrace(frames, 32);
            backtrace_symbols_fd(frames, depth, STDERR_FILENO);
            write(STDERR_FILENO, "--\n", 3);
        }
        atomic_store(&tracing, 1);
    }
}

void *malloc(size_t size) { count(); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(); return __libc_calloc(n, size); }
void *realloc(void *pointer, size_t size) { count(); return __libc_realloc(pointer, size); }
void *memalign(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    count();
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *out = pointer;
    return 0;
}
