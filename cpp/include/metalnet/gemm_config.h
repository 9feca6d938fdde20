// Every GEMM blocking parameter, in one place.
//
// MR x NR   the register tile: MR rows of A broadcast against NV vectors of B (NR = NV * lanes).
//           It must fit the register file with room for the B vectors and one broadcast:
//           AVX-512 has 32 vector registers (12 x 2 tile = 24 accumulators), AVX2 and SSE 16.
// KC        depth of a packed block: an MR x KC panel of A stays in L1 (12*256*4 = 12 KiB)
//           while the microkernel sweeps the KC x NC block of B held in L2.
// NC        width of that B block: KC * NC * sizeof(T) is about half of a 1 MiB L2.
// MC        rows of A packed at once (a multiple of MR).
#pragma once

#include "metalnet/isa.h"

namespace metalnet {

template <Isa I, class T> struct GemmConfig;

// AVX-512: 64-byte vectors.
template <> struct GemmConfig<Isa::avx512, float> {
  static constexpr int lanes = 16, MR = 12, NV = 2, KC = 256, NC = 512, MC = 240;
};
template <> struct GemmConfig<Isa::avx512, double> {
  static constexpr int lanes = 8, MR = 12, NV = 2, KC = 256, NC = 256, MC = 240;
};
// AVX2: 32-byte vectors, 16 registers: 6 x 2 tile = 12 accumulators.
template <> struct GemmConfig<Isa::avx2, float> {
  static constexpr int lanes = 8, MR = 6, NV = 2, KC = 256, NC = 512, MC = 240;
};
template <> struct GemmConfig<Isa::avx2, double> {
  static constexpr int lanes = 4, MR = 6, NV = 2, KC = 256, NC = 256, MC = 240;
};
// Portable: 16-byte vectors (SSE2 on any x86-64, NEON elsewhere), 4 x 2 tile.
template <> struct GemmConfig<Isa::generic, float> {
  static constexpr int lanes = 4, MR = 4, NV = 2, KC = 256, NC = 512, MC = 240;
};
template <> struct GemmConfig<Isa::generic, double> {
  static constexpr int lanes = 2, MR = 4, NV = 2, KC = 256, NC = 256, MC = 240;
};

// The wide tile: two thirds of the rows, three vectors of columns, the same accumulator count.
// It wastes less where M sits just above a multiple of 8 (or 4) but not of 12 (or 6): a batch
// of 64 rows fills 8 tiles of 8 exactly, where 6 tiles of 12 compute 72 (gemm.cpp chooses).
template <Isa I, class T> struct GemmConfigWide {
  using Base = GemmConfig<I, T>;
  static constexpr int lanes = Base::lanes, MR = Base::MR * 2 / 3, NV = 3;
  static constexpr int KC = Base::KC, MC = Base::MC;
  static constexpr int NC = Base::NC / (NV * lanes) * (NV * lanes);  // whole panels
};

// L1 data cache per core (48 KiB on current AMD and Intel cores; 32 KiB on older ones, where
// the blocks sized from it still fit L2 comfortably).
constexpr int64_t kL1Bytes = 48 << 10;

// Problems below this many multiply-adds run on one thread.
constexpr double kGemmParallelFlops = 100.0 * 100.0 * 100.0;

}  // namespace metalnet
