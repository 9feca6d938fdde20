// CUDA softmax, log_softmax and softmax cross-entropy over the rows of a C-contiguous (N, C)
// array.
//
// Rows of up to 1024 columns: one warp per row, the row held in registers, so x is read once
// and y written once (one pass over memory), with 128-bit accesses when C is a multiple of the
// vector width and the pointers are aligned. Longer rows: one block per row; the first pass
// finds the maximum and the sum of exponentials together (online rescaling), the second writes.
//
// softmax_cross_entropy writes dlogits = (softmax(x) - onehot(labels)) / N, the per-row losses
// log(sum exp(x - m)) + m - x[label] into `row_loss` (N doubles of scratch), then reduces them in
// a fixed order into loss[0] = mean (deterministic).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace metalnet::cuda {

template <class T>
void softmax_rows(const T* x, T* y, int64_t rows, int64_t cols, bool log, cudaStream_t stream);

template <class T>
void softmax_cross_entropy(const T* logits, const int64_t* labels, T* dlogits, double* row_loss,
                           T* loss, int64_t rows, int64_t cols, cudaStream_t stream);

}  // namespace metalnet::cuda
