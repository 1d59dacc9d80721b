#ifndef VIGIL_CSTATEMEMORY_H
#define VIGIL_CSTATEMEMORY_H

#include <stddef.h>

/// Maps `size` bytes of zeroed, private, anonymous memory; NULL when the system refuses.
void *vigil_state_map(size_t size);

/// Grows a mapping from `vigil_state_map` to `new_size` bytes, keeping its contents, and returns its (possibly
/// new) address; NULL when the system refuses (the old mapping is then untouched). On Linux the pages move by
/// their page tables (mremap), so no byte is copied however large the mapping.
void *vigil_state_remap(void *address, size_t old_size, size_t new_size);

/// Unmaps a mapping from `vigil_state_map` or `vigil_state_remap`.
void vigil_state_unmap(void *address, size_t size);

#endif
