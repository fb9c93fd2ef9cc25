/*
 * cub/device/device_select.cuh (CUDA emulator, tests/cuemu) — a host stand-in
 * for cub::DeviceSelect::Flagged with CUB's two-phase protocol: with
 * d_temp_storage NULL it only sets temp_storage_bytes (nonzero, growing with
 * num_items); otherwise it checks that the storage offered is at least that
 * big (abort if not), scribbles over it, and writes in[i] for each i with
 * flags[i] != 0, in order, to out, and their count to *num_selected.
 */
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern long npg_emu_cub_calls; /* Flagged calls that selected (emu_rt.cpp) */

namespace cub {
struct DeviceSelect {
    static size_t npg_emu_temp_bytes(long long n) { return 768 + (size_t)(n > 0 ? n : 0) / 64 * 4; }
    template <class In, class Flags, class Out, class Num, class N>
    static cudaError_t Flagged(void *d_temp_storage, size_t &temp_storage_bytes, In in, Flags flags, Out out,
                               Num num_selected, N num_items, cudaStream_t = 0) {
        size_t need = npg_emu_temp_bytes((long long)num_items);
        if (!d_temp_storage) {
            temp_storage_bytes = need;
            return cudaSuccess;
        }
        if (temp_storage_bytes < need) {
            fprintf(stderr, "cuemu: cub::DeviceSelect::Flagged given %zu bytes of temp storage, needs %zu\n",
                    temp_storage_bytes, need);
            abort();
        }
        const npg_emu_device_window window; /* device code: reads and writes device memory */
        memset(d_temp_storage, 0xC3, need);
        npg_emu_cub_calls++;
        long long c = 0;
        for (long long i = 0; i < (long long)num_items; i++)
            if (flags[i]) out[c++] = in[i];
        *num_selected = c;
        return cudaSuccess;
    }
};
} // namespace cub
