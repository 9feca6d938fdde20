"""The index math of the CUDA implicit-GEMM convolution (cuda/conv2d.cu), replayed on the host.

Runs without a GPU: it mirrors, formula for formula, the kernel's multiply-shift division, the
three problems' gathers (which element of x, w or dy each (row, k) of A and (k, col) of B is,
and which cells read as zero), the split of the backward-weight reduction, the bounds the
kernel checks, and the epilogue's NCHW stores; then compares the products with
metalnet.reference. A change to those formulas in conv2d.cu must be made here too (the GPU tests
in test_gpu_conv.py check the kernels themselves where a GPU exists).
"""
from __future__ import annotations

import numpy as np
import pytest

from metalnet import _args, reference

# ------------------------------------------------------------------- FastDiv (conv2d.cu)


def fastdiv(d):
    d = max(int(d), 1)
    shift = 0
    while (1 << shift) < d:
        shift += 1
    mul = ((1 << 32) * ((1 << shift) - d)) // d + 1
    assert mul < (1 << 32)
    mul = np.uint64(mul)

    def div(n):
        n = np.asarray(n, dtype=np.int64)
        assert (n >= 0).all() and (n < 2**31).all()
        n = n.astype(np.uint64)
        t = (n * mul) >> np.uint64(32)                    # __umulhi
        return ((t + n) & np.uint64(0xFFFFFFFF)) >> np.uint64(shift)  # 32-bit add, then shift
    return div


@pytest.mark.parametrize("d", [1, 2, 3, 5, 7, 9, 10, 25, 49, 64, 96, 196, 3136, 50176, 12544,
                               2**20 + 1, 2**30 - 1, 2**30, 2**31 - 1])
def test_fastdiv_matches_integer_division(d):
    rng = np.random.default_rng(d)
    n = np.concatenate([np.arange(0, 5000), rng.integers(0, 2**31, 20000),
                        np.arange(2**31 - 5000, 2**31), d * np.arange(1, 100), d * np.arange(1, 100) - 1])
    n = n[(n >= 0) & (n < 2**31)]
    np.testing.assert_array_equal(fastdiv(d)(n).astype(np.int64), n // d)


# --------------------------------------------------------------- the problems (conv2d.cu)
class Geometry:
    def __init__(self, x_shape, w_shape, stride, padding, dilation):
        self.n, self.c, self.h, self.w = x_shape
        self.k, _, self.r, self.s = w_shape
        self.sh, self.sw = _args.pair(stride, "stride")
        self.dh, self.dw = _args.pair(dilation, "dilation")
        self.pad = _args.padding4(padding)
        self.top, _, self.left, _ = self.pad
        self.ho, self.wo = _args.conv_out_hw(self.h, self.w, (self.r, self.s), (self.sh, self.sw),
                                             self.pad, (self.dh, self.dw))


def forward_problem(g, x, w):
    rs, howo = g.r * g.s, g.ho * g.wo
    div_rs, div_s, div_howo, div_wo = fastdiv(rs), fastdiv(g.s), fastdiv(howo), fastdiv(g.wo)
    M, N, Kd = g.k, g.n * howo, g.c * rs
    flat_x, flat_w = x.ravel(), w.ravel()

    def a(m, k):
        return flat_w[m * Kd + k]

    def b(k, n):
        c = div_rs(k).astype(np.int64); rr = k - c * rs; r = div_s(rr).astype(np.int64); s = rr - r * g.s
        img = div_howo(n).astype(np.int64); pq = n - img * howo
        p = div_wo(pq).astype(np.int64); q = pq - p * g.wo
        h = p * g.sh - g.top + r * g.dh
        ww = q * g.sw - g.left + s * g.dw
        inside = (h >= 0) & (h < g.h) & (ww >= 0) & (ww < g.w)   # the unsigned compares
        at = ((img * g.c + c) * g.h + np.where(inside, h, 0)) * g.w + np.where(inside, ww, 0)
        return np.where(inside, flat_x[at], 0.0)

    def store(m, n):  # flat index of y[img, m, p, q]
        img = div_howo(n).astype(np.int64)
        return (img * M + m) * howo + (n - img * howo)
    return M, N, Kd, a, b, store, (g.n, g.k, g.ho, g.wo)


def backward_data_problem(g, dy, w):
    rs, hw = g.r * g.s, g.h * g.w
    div_rs, div_s, div_hw = fastdiv(rs), fastdiv(g.s), fastdiv(hw)
    div_w, div_sh, div_sw = fastdiv(g.w), fastdiv(g.sh), fastdiv(g.sw)
    M, N, Kd = g.c, g.n * hw, g.k * rs
    flat_dy, flat_w = dy.ravel(), w.ravel()

    def a(c, kk):
        k = div_rs(kk).astype(np.int64)
        return flat_w[(k * M + c) * rs + (kk - k * rs)]

    def b(kk, n):
        k = div_rs(kk).astype(np.int64); rr = kk - k * rs; r = div_s(rr).astype(np.int64); s = rr - r * g.s
        img = div_hw(n).astype(np.int64); pos = n - img * hw
        h = div_w(pos).astype(np.int64); col = pos - h * g.w
        hp = h + g.top - r * g.dh
        wp = col + g.left - s * g.dw
        ok = (hp >= 0) & (wp >= 0)
        p = div_sh(np.where(ok, hp, 0)).astype(np.int64)
        q = div_sw(np.where(ok, wp, 0)).astype(np.int64)
        ok &= (p * g.sh == hp) & (q * g.sw == wp) & (p < g.ho) & (q < g.wo)
        at = ((img * g.k + k) * g.ho + np.where(ok, p, 0)) * g.wo + np.where(ok, q, 0)
        return np.where(ok, flat_dy[at], 0.0)

    def store(c, n):
        img = div_hw(n).astype(np.int64)
        return (img * M + c) * hw + (n - img * hw)
    return M, N, Kd, a, b, store, (g.n, g.c, g.h, g.w)


def backward_weight_problem(g, dy, x):
    rs, howo = g.r * g.s, g.ho * g.wo
    div_rs, div_s, div_howo, div_wo = fastdiv(rs), fastdiv(g.s), fastdiv(howo), fastdiv(g.wo)
    M, N, Kd = g.k, g.c * rs, g.n * howo
    flat_dy, flat_x = dy.ravel(), x.ravel()

    def a(k, kk):
        img = div_howo(kk).astype(np.int64)
        return flat_dy[(img * M + k) * howo + (kk - img * howo)]

    def b(kk, n):
        img = div_howo(kk).astype(np.int64); pq = kk - img * howo
        p = div_wo(pq).astype(np.int64); q = pq - p * g.wo
        c = div_rs(n).astype(np.int64); rr = n - c * rs; r = div_s(rr).astype(np.int64); s = rr - r * g.s
        h = p * g.sh - g.top + r * g.dh
        ww = q * g.sw - g.left + s * g.dw
        inside = (h >= 0) & (h < g.h) & (ww >= 0) & (ww < g.w)
        at = ((img * g.c + c) * g.h + np.where(inside, h, 0)) * g.w + np.where(inside, ww, 0)
        return np.where(inside, flat_x[at], 0.0)

    def store(k, n):
        return k * N + n
    return M, N, Kd, a, b, store, (g.k, g.c, g.r, g.s)


def choose_splits(bm, bn, bk, m, n, kd, sms):
    """conv2d.cu's choose_splits."""
    blocks = -(-m // bm) * -(-n // bn)
    want = 1 if blocks >= 2 * sms else -(-2 * sms // blocks)
    most = max(kd // 512, 1)
    want = min(want, most, 4096)
    per = -(-kd // want)
    per = max(-(-per // bk) * bk, bk)
    return max(-(-kd // per), 1), per


def replay(problem, bm, bn, bk, splits=1, k_per_split=None):
    """The kernel's grid, reduction steps, bounds checks and stores, vectorised per block."""
    M, N, Kd, a, b, store, out_shape = problem
    k_per_split = k_per_split or max(Kd, 1)
    out = np.zeros(int(np.prod(out_shape)))
    writes = np.zeros(out.size, dtype=np.int64)
    for by in range(-(-M // bm)):
        for bx in range(-(-N // bn)):
            m = by * bm + np.arange(bm)[:, None]          # (BM, 1)
            n = bx * bn + np.arange(bn)[None, :]          # (1, BN)
            for z in range(splits):
                kbeg, kend = z * k_per_split, min(Kd, z * k_per_split + k_per_split)
                acc = np.zeros((bm, bn))
                steps = -(-(kend - kbeg) // bk) if kend > kbeg else 0
                for t in range(steps):
                    kk = kbeg + t * bk + np.arange(bk)
                    a_ok = (m < M) & (kk[None, :] < kend)   # (BM, BK)
                    b_ok = (kk[:, None] < kend) & (n < N)   # (BK, BN)
                    am, ak = np.broadcast_arrays(m, kk[None, :])
                    bk_, bn_ = np.broadcast_arrays(kk[:, None], n)
                    A = np.zeros((bm, bk)); B = np.zeros((bk, bn))
                    A[a_ok] = a(am[a_ok], ak[a_ok])
                    B[b_ok] = b(bk_[b_ok], bn_[b_ok])
                    acc += A @ B
                ok = (m < M) & (n < N)
                mm, nn = np.broadcast_arrays(m, n)
                at = store(mm[ok], nn[ok])
                np.add.at(out, at, acc[ok])
                np.add.at(writes, at, 1)
    return out.reshape(out_shape), writes.reshape(out_shape)


GEOMETRIES = [  # x shape, w shape, stride, padding, dilation
    ((2, 3, 7, 8), (4, 3, 3, 3), 1, 1, 1),
    ((2, 3, 7, 8), (5, 3, 3, 2), (2, 1), (1, 0, 2, 1), 1),
    ((1, 2, 11, 13), (3, 2, 3, 3), (3, 2), (0, 1, 2, 1), (2, 1)),
    ((3, 1, 5, 9), (2, 1, 2, 5), (1, 3), 2, (1, 2)),
    ((2, 4, 6, 6), (6, 4, 1, 1), 2, 0, 1),
    ((1, 2, 13, 7), (3, 2, 5, 3), 1, (2, 2, 1, 1), 2),
    ((0, 2, 5, 5), (3, 2, 3, 3), 1, 1, 1),
]
TILES = [(128, 128, 8), (64, 128, 8), (32, 128, 16), (64, 64, 8), (4, 8, 4), (3, 5, 2)]


@pytest.mark.parametrize("tile", TILES, ids=str)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_implicit_gemm_index_math_matches_reference(geometry, tile, rng):
    xs, ws, stride, padding, dilation = geometry
    g = Geometry(xs, ws, stride, padding, dilation)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    dy = rng.standard_normal((g.n, g.k, g.ho, g.wo))
    geo = dict(stride=stride, padding=padding, dilation=dilation)
    bm, bn, bk = tile

    y, writes = replay(forward_problem(g, x, w), bm, bn, bk)
    np.testing.assert_allclose(y, reference.conv2d_forward(x, w, **geo), rtol=1e-12, atol=1e-12)
    assert (writes == 1).all(), "forward: every output written exactly once"

    dx_ref, dw_ref, _ = reference.conv2d_backward(dy, x, w, **geo)
    dx, writes = replay(backward_data_problem(g, dy, w), bm, bn, bk)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    assert (writes == 1).all(), "backward data: every dx element written exactly once"

    problem = backward_weight_problem(g, dy, x)
    dw, writes = replay(problem, bm, bn, bk)
    np.testing.assert_allclose(dw, dw_ref, rtol=1e-12, atol=1e-12)
    assert (writes == 1).all()
    # Split reductions (atomics into a zeroed dw): forced small splits cover the slice bounds.
    kd = problem[2]
    for per in sorted({bk, 2 * bk, 3 * bk}):
        splits = max(-(-kd // per), 1)
        dw, writes = replay(problem, bm, bn, bk, splits=splits, k_per_split=per)
        np.testing.assert_allclose(dw, dw_ref, rtol=1e-12, atol=1e-12)
        assert (writes == splits).all()


def test_split_choice_covers_the_reduction():
    for m, n, kd in [(64, 576, 200704), (6, 25, 200704), (512, 4608, 3136), (8, 8, 7), (1, 1, 0)]:
        for sms in (1, 108, 132):
            splits, per = choose_splits(64, 128, 8, m, n, kd, sms)
            assert per % 8 == 0 and splits >= 1
            assert (splits - 1) * per < max(kd, 1) <= splits * per or kd == 0
