// Run a loop body compiled for the active ISA, split between threads.
//
// The body is a lambda marked METALNET_SIMD_BODY (always-inline): it is inlined into one of three
// functions carrying AVX-512, AVX2 or no target attribute, so the compiler vectorises the same
// source three ways, and the variant matching metalnet's active ISA runs.
#pragma once

#include <cstdint>

#include "metalnet/isa.h"
#include "metalnet/parallel.h"

#define METALNET_SIMD_BODY __attribute__((always_inline))

namespace metalnet {

template <class Body>
METALNET_TARGET_AVX512 void run_avx512(const Body& body, int64_t lo, int64_t hi) {
  body(lo, hi);
}
template <class Body>
METALNET_TARGET_AVX2 void run_avx2(const Body& body, int64_t lo, int64_t hi) {
  body(lo, hi);
}
template <class Body>
void run_generic(const Body& body, int64_t lo, int64_t hi) {
  body(lo, hi);
}

// body(lo, hi) over [0, n): threads get ranges of whole `align` units, at least `grain` each.
template <class Body>
void parallel_simd(int64_t n, int64_t grain, const Body& body, int64_t align = 16) {
  parallel_for(n, grain, [&](int64_t lo, int64_t hi) {
    METALNET_DISPATCH_ISA(run, body, lo, hi);
  }, align);
}

}  // namespace metalnet
