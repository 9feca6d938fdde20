#include "metalnet/isa.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>

namespace metalnet {
namespace {

bool cpu_has(Isa isa) {
#if METALNET_X86
  __builtin_cpu_init();
  switch (isa) {
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("fma");
    case Isa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
      return true;
  }
#else
  return isa == Isa::generic;
#endif
}

Isa parse(const std::string& name) {
  if (name == "avx512") return Isa::avx512;
  if (name == "avx2") return Isa::avx2;
  if (name == "generic") return Isa::generic;
  throw std::invalid_argument("unknown CPU ISA '" + name +
                              "': expected one of 'avx512', 'avx2', 'generic'");
}

Isa initial_isa() {
  // A bad METALNET_CPU_ISA must not break import; the Python side reports it.
  if (const char* env = std::getenv("METALNET_CPU_ISA")) {
    try {
      Isa isa = parse(env);
      if (cpu_has(isa)) return isa;
    } catch (const std::invalid_argument&) {
    }
  }
  return best_isa();
}

std::atomic<int>& active() {
  static std::atomic<int> isa{static_cast<int>(initial_isa())};
  return isa;
}

}  // namespace

Isa best_isa() {
  static const Isa best = cpu_has(Isa::avx512) ? Isa::avx512
                          : cpu_has(Isa::avx2) ? Isa::avx2
                                               : Isa::generic;
  return best;
}

Isa active_isa() { return static_cast<Isa>(active().load(std::memory_order_relaxed)); }

void set_active_isa(const std::string& name) {
  Isa isa = parse(name);
  if (!cpu_has(isa))
    throw std::invalid_argument("this CPU does not support the '" + name + "' ISA (best is '" +
                                isa_name(best_isa()) + "')");
  active().store(static_cast<int>(isa));
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

}  // namespace metalnet
