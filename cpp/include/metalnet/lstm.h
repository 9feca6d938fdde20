// LSTM over T steps (gate order i, f, g, o; weights as in PyTorch). One LSTM cell is the case
// T = 1. Layout: x (T, N, I), h0/c0 (N, H), w_ih (4H, I), w_hh (4H, H), b (4H) or null;
// outputs hs/cs (T, N, H) and the activated gates (T, N, 4H), which backward reads. Without
// backward (gates null), cs is (N, H): the last cell state alone, and nothing else is kept.
#pragma once

#include <cstdint>

namespace metalnet {

struct LstmShape {
  int64_t t, n, i, h;
};

// The input projection of all steps is one GEMM; each step then adds h @ w_hh^T and runs one
// fused pass for the gate nonlinearities and the state update.
template <class T>
void lstm_forward(const LstmShape& s, const T* x, const T* h0, const T* c0, const T* w_ih,
                  const T* w_hh, const T* b, T* hs, T* cs, T* gates);

// dhs (T, N, H) may be null (no loss on the outputs), as may dh_last / dc_last (N, H).
// Outputs: dx (T, N, I), dh0, dc0 (N, H), dw_ih, dw_hh, db. dX, dW_ih and dW_hh are each one
// GEMM over all steps after the recurrence; only dh flows step by step.
template <class T>
void lstm_backward(const LstmShape& s, const T* dhs, const T* dh_last, const T* dc_last,
                   const T* x, const T* h0, const T* c0, const T* w_ih, const T* w_hh,
                   const T* hs, const T* cs, const T* gates, T* dx, T* dh0, T* dc0, T* dw_ih,
                   T* dw_hh, T* db);

}  // namespace metalnet
