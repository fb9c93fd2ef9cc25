/*
 * cub/device/device_radix_sort.cuh (CUDA emulator, tests/cuemu) — a host
 * stand-in for cub::DoubleBuffer and cub::DeviceRadixSort::SortPairs (the
 * DoubleBuffer overload, the one sort.cu uses) with CUB's two-phase protocol:
 * with d_temp_storage NULL it only sets temp_storage_bytes; otherwise it
 * checks the storage offered (abort if too small), scribbles over it, and
 * sorts the pairs stably by bits [begin_bit, end_bit) of the keys (the other
 * bits ignored, the keys moved whole) into the alternate buffers, leaving
 * the selector as CUB's digit passes would: flipped once per 8-bit pass, so
 * that the result lies in either buffer (callers must read Current()).
 */
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

extern long npg_emu_radix_sorts; /* SortPairs calls that sorted (emu_rt.cpp) */

namespace cub {
template <class T> struct DoubleBuffer {
    T *d_buffers[2];
    int selector;
    DoubleBuffer() : d_buffers{nullptr, nullptr}, selector(0) {}
    DoubleBuffer(T *current, T *alternate) : d_buffers{current, alternate}, selector(0) {}
    T *Current() { return d_buffers[selector]; }
    T *Alternate() { return d_buffers[selector ^ 1]; }
};

struct DeviceRadixSort {
    static size_t npg_emu_temp_bytes(long long n) { return 1024 + (size_t)(n > 0 ? n : 0) / 16 * 8; }
    template <class K, class V, class N>
    static cudaError_t SortPairs(void *d_temp_storage, size_t &temp_storage_bytes, DoubleBuffer<K> &keys,
                                 DoubleBuffer<V> &values, N num_items, int begin_bit = 0,
                                 int end_bit = (int)sizeof(K) * 8, cudaStream_t = 0) {
        size_t need = npg_emu_temp_bytes((long long)num_items);
        if (!d_temp_storage) {
            temp_storage_bytes = need;
            return cudaSuccess;
        }
        if (temp_storage_bytes < need) {
            fprintf(stderr, "cuemu: cub::DeviceRadixSort::SortPairs given %zu bytes of temp storage, needs %zu\n",
                    temp_storage_bytes, need);
            abort();
        }
        if (begin_bit < 0 || end_bit > (int)sizeof(K) * 8 || begin_bit > end_bit) {
            fprintf(stderr, "cuemu: cub::DeviceRadixSort::SortPairs bits [%d, %d) of %zu-bit keys\n", begin_bit,
                    end_bit, sizeof(K) * 8);
            abort();
        }
        const npg_emu_device_window window; /* device code: reads and writes device memory */
        memset(d_temp_storage, 0xC3, need);
        npg_emu_radix_sorts++;
        const long long n = (long long)num_items;
        const int nb = end_bit - begin_bit;
        const unsigned long long mask = nb >= 64 ? ~0ull : ((1ull << nb) - 1);
        auto digit = [&](K k) { return ((unsigned long long)k >> begin_bit) & mask; };
        std::vector<long long> ord((size_t)n);
        for (long long i = 0; i < n; i++) ord[i] = i;
        K *kc = keys.Current();
        V *vc = values.Current();
        std::stable_sort(ord.begin(), ord.end(), [&](long long a, long long b) { return digit(kc[a]) < digit(kc[b]); });
        K *ka = keys.Alternate();
        V *va = values.Alternate();
        for (long long i = 0; i < n; i++) {
            ka[i] = kc[ord[i]];
            va[i] = vc[ord[i]];
        }
        const int passes = (nb + 7) / 8;
        if (passes % 2) {
            keys.selector ^= 1;
            values.selector ^= 1;
        } else { /* an even number of passes ends where it began */
            memcpy(kc, ka, sizeof(K) * (size_t)n);
            memcpy(vc, va, sizeof(V) * (size_t)n);
        }
        return cudaSuccess;
    }
};
} // namespace cub
