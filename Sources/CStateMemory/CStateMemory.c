// mremap is a Linux extension that Swift's Glibc module does not import.
#define _GNU_SOURCE
#include "CStateMemory.h"

#include <string.h>
#include <sys/mman.h>

void *vigil_state_map(size_t size) {
    void *address = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return address == MAP_FAILED ? NULL : address;
}

void *vigil_state_remap(void *address, size_t old_size, size_t new_size) {
#ifdef __linux__
    void *moved = mremap(address, old_size, new_size, MREMAP_MAYMOVE);
    return moved == MAP_FAILED ? NULL : moved;
#else
    void *fresh = vigil_state_map(new_size);
    if (fresh == NULL) return NULL;
    memcpy(fresh, address, old_size);
    munmap(address, old_size);
    return fresh;
#endif
}

void vigil_state_unmap(void *address, size_t size) {
    munmap(address, size);
}
