// CUDA LSTM: a cell step and a whole sequence, forward and backward; gate order (i, f, g, o).
//
// The matrix products run on metalnet's CUDA GEMM (gemm.h); everything else of a step (bias,
// the four activations, the cell update, tanh(c), h) is ONE elementwise kernel, and so is the
// backward of a step (the four gate gradients and dc). Shapes, all row-major:
//
//   x (T, N, I)  h0, c0 (N, H)  w_ih (4H, I)  w_hh (4H, H)  b (4H) or null
//   hs, cs (T, N, H): h and c after each step     gates (T, N, 4H): the ACTIVATED gates
//
// Forward: the input projection of every step is one GEMM, xw (T*N, 4H) = x @ w_ih^T; then per
// step hw = h_{t-1} @ w_hh^T (GEMM) and the gate kernel. Backward walks the steps in reverse: the
// gate-backward kernel gives dgates[t] and the dc carried to step t-1, one GEMM gives the dh
// carried back (dgates[t] @ w_hh); after the loop three GEMMs over all steps at once give
// dx = dgates @ w_ih, dw_ih = dgates^T @ x, dw_hh = dgates^T @ [h0; hs[:-1]], and a column sum
// gives db. A cell step is the sequence with T = 1 (cache: h0 = h, c0 = c, cs = c_next).
//
// Scratch buffers come from the caller (Python allocates them, so nothing here allocates):
//   forward:  xw (T*N*4H), hw (N*4H)
//   backward: dgates (T*N*4H), h_prev (T*N*H; unused when T == 1), dh_carry and dc_carry (N*H)
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace metalnet::cuda {

struct LstmShape {
  int64_t steps, batch, input, hidden;
};

template <class T>
void lstm_forward(const T* x, const T* h0, const T* c0, const T* w_ih, const T* w_hh, const T* b,
                  T* hs, T* cs, T* gates, T* xw, T* hw, const LstmShape& s, cudaStream_t stream);

// dhs (T, N, H): gradient of every step's h (null: only the last h is used downstream);
// dh_last, dc_last (N, H): gradients of the final h and c (each may be null = zero).
template <class T>
void lstm_backward(const T* dhs, const T* dh_last, const T* dc_last, const T* x, const T* h0,
                   const T* c0, const T* w_ih, const T* w_hh, const T* hs, const T* cs,
                   const T* gates, T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* db, T* dgates,
                   T* h_prev, T* dh_carry, T* dc_carry, const LstmShape& s, cudaStream_t stream);

}  // namespace metalnet::cuda
