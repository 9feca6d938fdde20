"""Optimizers and learning-rate schedules against PyTorch's, and against their update rules.

Both libraries start from the same float64 parameters and see the same sequence of random
gradients; after several steps the parameters must agree to rounding. Schedules must give
PyTorch's learning-rate sequence. A hand-written step checks each rule without PyTorch.
"""
import math

import numpy as np
import pytest

from metalnet import Tensor, nn, optim

STEPS = 6


def make_params(rng):
    return [rng.standard_normal((3, 4)), rng.standard_normal(5)]


def run_ours(cls, kwargs, start, grads):
    params = [nn.Parameter(p.copy()) for p in start]
    opt = cls(params, **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = Tensor(g.copy())
        opt.step()
    return [p.data for p in params]


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=1e-3)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2)),
    ("Adam", dict(lr=1e-2, amsgrad=True)),
    ("AdamW", dict(lr=1e-2)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
]


@pytest.mark.parametrize("name, kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in
                                                     enumerate(CASES)])
def test_optimizers_match_pytorch(name, kwargs, rng):
    torch = pytest.importorskip("torch", reason="PyTorch is needed for the comparison")
    start = make_params(rng)
    grads = [[rng.standard_normal(p.shape) for p in start] for _ in range(STEPS)]
    ours = run_ours(getattr(optim, name), kwargs, start, grads)
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in start]
    opt = getattr(torch.optim, name)(theirs, **kwargs)
    for step_grads in grads:
        for p, g in zip(theirs, step_grads):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_sgd_momentum_follows_its_rule(rng):
    start = make_params(rng)[:1]
    g1, g2 = rng.standard_normal((2,) + start[0].shape)
    out = run_ours(optim.SGD, dict(lr=0.1, momentum=0.9), start, [[g1], [g2]])[0]
    buf = 0.9 * g1 + g2                       # first buffer is g1 itself
    np.testing.assert_allclose(out, start[0] - 0.1 * g1 - 0.1 * buf, rtol=1e-14)


def test_adam_first_step_moves_each_weight_by_about_lr(rng):
    start = make_params(rng)[:1]
    grad = rng.standard_normal(start[0].shape)
    out = run_ours(optim.Adam, dict(lr=0.01, eps=0.0), start, [[grad]])[0]
    # Bias-corrected m / sqrt(v) is g / |g| on the first step.
    np.testing.assert_allclose(out, start[0] - 0.01 * np.sign(grad), rtol=1e-14)


def test_adamw_decays_weights_even_with_zero_gradient(rng):
    start = make_params(rng)[:1]
    out = run_ours(optim.AdamW, dict(lr=0.1, weight_decay=0.5, eps=1.0), start,
                   [[np.zeros_like(start[0])]])[0]
    np.testing.assert_allclose(out, start[0] * (1 - 0.1 * 0.5), rtol=1e-14)


def test_parameters_without_gradient_are_left_alone(rng):
    a, b = nn.Parameter(rng.standard_normal(3)), nn.Parameter(rng.standard_normal(3))
    before = b.data.copy()
    a.grad = Tensor(np.ones(3))
    optim.SGD([a, b], lr=0.1, momentum=0.9).step()
    np.testing.assert_array_equal(b.data, before)


def test_param_groups_have_their_own_learning_rates(rng):
    a, b = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(2))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad, b.grad = Tensor(np.ones(2)), Tensor(np.ones(2))
    opt.step()
    np.testing.assert_allclose(a.data, [-0.1, -0.1])
    np.testing.assert_allclose(b.data, [-1.0, -1.0])
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def _torch_lrs(torch, make, epochs):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    sched = make(torch.optim.lr_scheduler, opt)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def _our_lrs(make, epochs):
    opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.5)
    sched = make(optim, opt)
    lrs = []
    for _ in range(epochs):
        lrs.append(sched.get_last_lr()[0])
        sched.step()
    return lrs


SCHEDULES = {
    "step": lambda m, opt: m.StepLR(opt, step_size=3, gamma=0.5),
    "multistep": lambda m, opt: m.MultiStepLR(opt, milestones=[2, 5], gamma=0.1),
    "exponential": lambda m, opt: m.ExponentialLR(opt, gamma=0.9),
    "cosine": lambda m, opt: m.CosineAnnealingLR(opt, T_max=7, eta_min=0.01),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedules_match_pytorch(name):
    torch = pytest.importorskip("torch", reason="PyTorch is needed for the comparison")
    ours = _our_lrs(SCHEDULES[name], 10)
    theirs = _torch_lrs(torch, SCHEDULES[name], 10)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_schedules_follow_their_formulas():
    steps = _our_lrs(SCHEDULES["step"], 7)
    assert steps == [0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]
    cosine = _our_lrs(SCHEDULES["cosine"], 8)
    expected = [0.01 + 0.49 * (1 + math.cos(math.pi * t / 7)) / 2 for t in range(8)]
    np.testing.assert_allclose(cosine, expected, rtol=1e-14)
    assert cosine[7] == pytest.approx(0.01)


def test_training_a_linear_model_reduces_the_loss(rng):
    x = Tensor(rng.standard_normal((64, 3)))
    y = Tensor(x.data @ np.array([[1.0], [-2.0], [0.5]]) + 0.3)
    model = nn.Linear(3, 1).double()
    opt = optim.SGD(model.parameters(), lr=0.2, momentum=0.5)
    losses = []
    for _ in range(100):
        opt.zero_grad()
        loss = nn.MSELoss()(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 1e-6 * losses[0]      # an exact fit exists: the loss goes to 0


@pytest.mark.parametrize("build, match", [
    (lambda p: optim.SGD(p, lr=-1), "lr"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "nesterov"),
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), "betas"),
    (lambda p: optim.SGD([], lr=0.1), "params"),
    (lambda p: optim.SGD([Tensor(np.ones(2))], lr=0.1), "params\\[0\\]"),
    (lambda p: optim.StepLR(optim.SGD(p, lr=0.1), step_size=0), "step_size"),
    (lambda p: optim.CosineAnnealingLR(optim.SGD(p, lr=0.1), T_max=0), "T_max"),
])
def test_bad_arguments_name_the_argument(build, match):
    with pytest.raises((TypeError, ValueError), match=match):
        build([nn.Parameter(np.zeros(2))])


# --------------------------------------------------- the cpu backend's fused SGD step (C++)
SGD_RULES = [dict(momentum=0.0), dict(momentum=0.9, first=True), dict(momentum=0.9),
             dict(momentum=0.8, dampening=0.3, weight_decay=1e-2),
             dict(momentum=0.9, nesterov=True, weight_decay=1e-3)]


def _sgd_rule(param, grad, buf, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
              nesterov=False, first=False):
    """The update written out in float64, element-wise."""
    p, g = param.astype(np.float64), grad.astype(np.float64) + weight_decay * param
    if momentum:
        buf = g if first else momentum * buf.astype(np.float64) + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return p - lr * g, buf


@pytest.mark.parametrize("size", (1, 997, 100_003))  # one element, prime, many thread chunks
@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=("f32", "f64"))
@pytest.mark.parametrize("rule", SGD_RULES, ids=[str(i) for i in range(len(SGD_RULES))])
def test_fused_sgd_update_follows_the_rule(rule, dtype, size, rng):
    from metalnet import ops
    import metalnet
    param = rng.standard_normal(size).astype(dtype)
    grad = rng.standard_normal(size).astype(dtype)
    buf = rng.standard_normal(size).astype(dtype) if rule["momentum"] else None
    if rule.get("first"):
        buf[:] = np.nan  # the first step must not read the buffer
    want_p, want_buf = _sgd_rule(param, grad, buf, 0.05, **rule)
    with metalnet.backend("cpu"):
        assert ops.has_fused("sgd_update", param)
        ops.sgd_update(param, grad, buf, lr=0.05, **rule)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(param, want_p, rtol=tol, atol=tol)
    if buf is not None:
        np.testing.assert_allclose(buf, want_buf, rtol=tol, atol=tol)


@pytest.mark.parametrize("name, kwargs", [c for c in CASES if c[0] == "SGD"])
def test_sgd_fused_and_composed_agree(name, kwargs, rng):
    """optim.SGD on the cpu backend (the fused C++ step) and on numpy (array ops) land on the
    same parameters after several steps."""
    import metalnet
    start = make_params(rng)
    grads = [[rng.standard_normal(p.shape) for p in start] for _ in range(STEPS)]
    with metalnet.backend("cpu"):
        fused = run_ours(optim.SGD, kwargs, start, grads)
    with metalnet.backend("numpy"):
        composed = run_ours(optim.SGD, kwargs, start, grads)
    for a, b in zip(fused, composed):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("change, match", [
    (dict(grad=np.zeros(4)), "grad must have shape"),
    (dict(grad=np.zeros(5, np.float32)), "grad has dtype float32"),
    (dict(buf=None), "buf .* is needed"),
    (dict(buf=np.zeros(4)), "buf must have shape"),
    (dict(param=np.zeros(10)[::2]), "param must be C-contiguous"),
    (dict(lr=float("nan")), "lr must be finite"),
    (dict(nesterov="yes"), "nesterov must be True or False"),
])
def test_fused_sgd_update_names_bad_arguments(change, match):
    from metalnet import ops
    import metalnet
    args = dict(param=np.zeros(5), grad=np.zeros(5), buf=np.zeros(5), lr=0.1, momentum=0.9,
                nesterov=False)
    args.update(change)
    with metalnet.backend("cpu"), pytest.raises((ValueError, TypeError), match=match):
        ops.sgd_update(args.pop("param"), args.pop("grad"), args.pop("buf"), **args)


def test_fused_sgd_update_refuses_a_read_only_param():
    from metalnet import ops
    import metalnet
    param = np.zeros(5)
    param.flags.writeable = False
    with metalnet.backend("cpu"), pytest.raises(ValueError, match="param must be writeable"):
        ops.sgd_update(param, np.zeros(5), lr=0.1)


def test_sgd_on_other_dtypes_takes_the_composed_path(rng):
    """float16 parameters (which the fused C++ step does not take) still train on the cpu
    backend, by the array-op rule."""
    import metalnet
    p = nn.Parameter(rng.standard_normal(7).astype(np.float16))
    start = p.data.astype(np.float64)
    g = rng.standard_normal(7).astype(np.float16)
    p.grad = Tensor(g.copy())
    with metalnet.backend("cpu"):
        optim.SGD([p], lr=0.1, momentum=0.9).step()
    np.testing.assert_allclose(p.data, start - 0.1 * g.astype(np.float64), rtol=2e-3, atol=2e-3)
