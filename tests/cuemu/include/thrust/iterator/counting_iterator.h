/*
 * thrust/iterator/counting_iterator.h (CUDA emulator, tests/cuemu) — a
 * stand-in for thrust::counting_iterator: it[i] == start + i.
 */
#pragma once
namespace thrust {
template <class T> struct counting_iterator {
    T start;
    explicit counting_iterator(T s = T(0)) : start(s) {}
    T operator[](long long i) const { return start + (T)i; }
    T operator*() const { return start; }
};
} // namespace thrust
