// Which instruction set the kernels run with, decided once at run time.
//
// One build of metalnet._cpu runs on any x86-64 CPU: hot loops are compiled three times
// (generic, AVX2+FMA, AVX-512) with GCC/Clang target attributes and the variant is picked from
// the CPU's features. METALNET_CPU_ISA=avx512|avx2|generic (or metalnet.set_cpu_isa) forces a
// lower one, so every path can be tested on one machine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace metalnet {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

// Highest ISA this CPU supports (AVX-512 means F+DQ+BW+VL).
Isa best_isa();
// The ISA kernels use now; starts as best_isa() or METALNET_CPU_ISA.
Isa active_isa();
// Throws std::invalid_argument for an unknown name or one this CPU lacks.
void set_active_isa(const std::string& name);
const char* isa_name(Isa isa);
// Values of `elem` bytes in one vector register of the active ISA.
inline int64_t lanes_for(size_t elem) {
  switch (active_isa()) {
    case Isa::avx512: return 64 / int64_t(elem);
    case Isa::avx2: return 32 / int64_t(elem);
    default: return 16 / int64_t(elem);
  }
}

#if defined(__x86_64__) || defined(_M_X64)
#define METALNET_X86 1
#define METALNET_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define METALNET_TARGET_AVX512 \
  __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
#else
#define METALNET_X86 0
#define METALNET_TARGET_AVX2
#define METALNET_TARGET_AVX512
#endif

#define METALNET_INLINE inline __attribute__((always_inline))

// Calls FN<Isa>(args...) for the active ISA. FN must be a template with three instantiations,
// each carrying its target attribute (see elementwise.h for the pattern).
#define METALNET_DISPATCH_ISA(FN, ...)                         \
  do {                                                         \
    switch (::metalnet::active_isa()) {                        \
      case ::metalnet::Isa::avx512: FN##_avx512(__VA_ARGS__); break; \
      case ::metalnet::Isa::avx2: FN##_avx2(__VA_ARGS__); break;     \
      default: FN##_generic(__VA_ARGS__); break;               \
    }                                                          \
  } while (0)

}  // namespace metalnet
