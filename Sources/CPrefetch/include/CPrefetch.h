#ifndef VIGIL_CPREFETCH_H
#define VIGIL_CPREFETCH_H

/// Asks the CPU to start loading the cache line holding `address` for a read soon (into every cache level).
/// Never faults, whatever the address; Swift has no spelling for it.
static inline __attribute__((always_inline)) void vigil_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
