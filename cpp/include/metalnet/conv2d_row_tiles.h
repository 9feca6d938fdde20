// Tiles of P outputs along a row, for the kernels that keep P accumulators in vector registers
// (conv2d_window.cpp, conv2d_images.cpp): which widths fit, which one a row gets, and the
// switch from the run-time width to the compiled ones.
#pragma once

#include <algorithm>
#include <cstdint>

#include "metalnet/isa.h"

namespace metalnet {

// Vector registers: 32 on AVX-512, 16 elsewhere.
constexpr int row_tile_registers(Isa isa) { return isa == Isa::avx512 ? 32 : 16; }

// The widest tile the registers hold beside `others` vectors (weights, a broadcast), as an
// even number up to 24.
constexpr int row_tile_top(Isa isa, int others) {
  return std::min(24, (row_tile_registers(isa) - others) / 2 * 2);
}

// The width for a row of wo outputs: the fewest tiles the widest allows, each as narrow as
// they can be (10 outputs: one tile of 10, not one of 12 with two wasted), even.
inline int row_tile_width(int widest, int64_t wo) {
  const int64_t tiles = (wo + widest - 1) / widest;
  const int64_t width = (wo + tiles - 1) / tiles;
  return int(std::max<int64_t>(2, (width + 1) / 2 * 2));
}

}  // namespace metalnet

// switch (WIDTH) over the compiled widths 2, 4, ..., 24, calling CALL(P) for those up to TOP.
#define METALNET_ROW_TILE_WIDTHS(WIDTH, TOP, CALL)                                            \
  switch (WIDTH) {                                                                            \
    METALNET_ROW_TILE_WIDTH(TOP, CALL, 2) METALNET_ROW_TILE_WIDTH(TOP, CALL, 4)               \
    METALNET_ROW_TILE_WIDTH(TOP, CALL, 6) METALNET_ROW_TILE_WIDTH(TOP, CALL, 8)               \
    METALNET_ROW_TILE_WIDTH(TOP, CALL, 10) METALNET_ROW_TILE_WIDTH(TOP, CALL, 12)             \
    METALNET_ROW_TILE_WIDTH(TOP, CALL, 14) METALNET_ROW_TILE_WIDTH(TOP, CALL, 16)             \
    METALNET_ROW_TILE_WIDTH(TOP, CALL, 18) METALNET_ROW_TILE_WIDTH(TOP, CALL, 20)             \
    METALNET_ROW_TILE_WIDTH(TOP, CALL, 22) METALNET_ROW_TILE_WIDTH(TOP, CALL, 24)             \
  }
#define METALNET_ROW_TILE_WIDTH(TOP, CALL, P) \
  case P:                                     \
    if constexpr (P <= (TOP)) CALL(P);        \
    break;
