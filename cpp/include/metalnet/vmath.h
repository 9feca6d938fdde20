// Branch-free exp/expm1 that the compiler can vectorise (libm calls would not be).
//
// expm1(x): write x = n*ln2 + r with integer n and |r| <= ln2/2, so
//   expm1(x) = 2^n * expm1(r) + (2^n - 1).
// expm1(r) comes from its Taylor series (7 terms for float, 13 for double: the first omitted
// term is below half an ulp on |r| <= 0.347). When n = 0 the result is expm1(r) itself, so there
// is no cancellation near 0; when n != 0, |x| > 0.34 and the subtraction loses at most a bit.
// n is rounded with the 1.5*2^mantissa "magic number" addition, which also leaves n in the low
// bits of the sum, so 2^n is built with integer adds and shifts (vectorisable on AVX2 too).
// This needs IEEE round-to-nearest: never compile with -ffast-math.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "metalnet/isa.h"

namespace metalnet {

template <class T> struct ExpConsts;

template <> struct ExpConsts<float> {
  using Bits = int32_t;
  static constexpr float lo = -87.0f, hi = 88.0f;  // 2^n stays a normal number
  static constexpr float exp_lo = -104.0f, exp_hi = 89.0f;  // exp underflows to 0 / overflows
  static constexpr float log2e = 1.44269504088896341f;
  static constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
  static constexpr float magic = 12582912.0f;  // 1.5 * 2^23
  static constexpr int mantissa = 23, bias = 127;
};

template <> struct ExpConsts<double> {
  using Bits = int64_t;
  static constexpr double lo = -708.0, hi = 709.0;
  static constexpr double exp_lo = -746.0, exp_hi = 710.0;
  static constexpr double log2e = 1.44269504088896338700e+00;
  static constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  static constexpr double magic = 6755399441055744.0;  // 1.5 * 2^52
  static constexpr int mantissa = 52, bias = 1023;
};

// expm1(r) - r for |r| <= 0.347: r^2/2! + r^3/3! + ... in Estrin's form, pairs of terms
// combined by powers of r^2 (and r^4, r^8 in double). Its dependent chain is four operations
// where Horner's is seven (double: five where it is thirteen); an LSTM step's gate math (five
// exponentials, each feeding the next operation) runs on that latency, not on the multipliers'
// throughput (~4% faster on its own, float).
METALNET_INLINE float expm1_tail(float r) {
  const float r2 = r * r, r4 = r2 * r2;
  const float p01 = r * (1.0f / 6) + 0.5f, p23 = r * (1.0f / 120) + 1.0f / 24;
  const float p45 = r * (1.0f / 5040) + 1.0f / 720;
  return (r4 * p45 + (r2 * p23 + p01)) * r2;
}

METALNET_INLINE double expm1_tail(double r) {
  const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  const double p01 = r * (1.0 / 6) + 0.5, p23 = r * (1.0 / 120) + 1.0 / 24;
  const double p45 = r * (1.0 / 5040) + 1.0 / 720, p67 = r * (1.0 / 362880) + 1.0 / 40320;
  const double p89 = r * (1.0 / 39916800) + 1.0 / 3628800;
  const double p1011 = r * (1.0 / 6227020800.0) + 1.0 / 479001600;
  const double q0 = r2 * p23 + p01, q1 = r2 * p67 + p45, q2 = r2 * p1011 + p89;
  return (r8 * q2 + (r4 * q1 + q0)) * r2;
}

// Splits x into n*ln2 + r (|r| <= ln2/2); returns expm1(r) and the integer n.
template <class T>
METALNET_INLINE T reduce(T x, typename ExpConsts<T>::Bits& n) {
  using C = ExpConsts<T>;
  const T t = x * C::log2e + C::magic;  // rounds x*log2(e) to an integer, kept in t's low bits
  const T nf = t - C::magic;
  T r = x - nf * C::ln2_hi;
  r = r - nf * C::ln2_lo;
  typename C::Bits tb, mb;
  const T magic = C::magic;
  std::memcpy(&tb, &t, sizeof(T));
  std::memcpy(&mb, &magic, sizeof(T));
  n = tb - mb;
  return r + expm1_tail(r);
}

// 2^n for n in the normal exponent range, built from the bits.
template <class T>
METALNET_INLINE T pow2(typename ExpConsts<T>::Bits n) {
  using C = ExpConsts<T>;
  const typename C::Bits bits = static_cast<typename C::Bits>(n + C::bias) << C::mantissa;
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

template <class T>
METALNET_INLINE T vexpm1(T x) {
  using C = ExpConsts<T>;
  // Compares, not std::min/max, so a NaN input stays NaN. Below lo, expm1 is -1 to rounding.
  x = x < C::lo ? C::lo : x;
  x = x > C::hi ? C::hi : x;
  typename C::Bits n;
  const T em1_r = reduce(x, n);
  const T scale = pow2<T>(n);
  return scale * em1_r + (scale - T(1));
}

// exp(x) = 2^n * (1 + expm1(r)), with 2^n applied as two factors so results down to the
// subnormal range keep their relative accuracy and large x overflows to inf as it should.
template <class T>
METALNET_INLINE T vexp(T x) {
  using C = ExpConsts<T>;
  x = x < C::exp_lo ? C::exp_lo : x;
  x = x > C::exp_hi ? C::exp_hi : x;
  typename C::Bits n;
  const T em1_r = reduce(x, n);
  const typename C::Bits half = n >> 1;
  return (T(1) + em1_r) * pow2<T>(half) * pow2<T>(n - half);
}

// 1 / (1 + e^-x), computed from e = exp(-|x|) <= 1 so nothing overflows, and results in the
// subnormal range keep their few bits.
template <class T>
METALNET_INLINE T vsigmoid(T x) {
  const T ax = x < T(0) ? -x : x;
  const T e = vexp(-ax);
  const T s = T(1) / (T(1) + e);
  return x < T(0) ? e * s : s;
}

// 1 / (1 + e^-x) = 1 / (2 + expm1(-x)), to an absolute error of e^-hi (about 1e-38 in float):
// below that it stays there instead of going on to 0. Two thirds of vsigmoid's instructions
// (one power of two, no selects); for gates, whose values only scale others of order 1.
template <class T>
METALNET_INLINE T vsigmoid_gate(T x) {
  return T(1) / (T(2) + vexpm1(-x));
}

// tanh(|x|) = -expm1(-2|x|) / (2 + expm1(-2|x|)): accurate near 0, saturates cleanly.
template <class T>
METALNET_INLINE T vtanh(T x) {
  const T m = vexpm1(T(-2) * std::fabs(x));
  return std::copysign(-m / (T(2) + m), x);
}

}  // namespace metalnet
