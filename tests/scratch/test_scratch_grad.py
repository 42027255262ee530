"""n2n.scratch against torch autograd (used only here), in float64, over shapes drawn by
hypothesis: forward values, input gradients and parameter gradients, to 1e-6 relative."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from n2n import scratch as S

FAST = settings(max_examples=200, deadline=None, derandomize=True)  # same cases every CI run


def check(module, reference, x: torch.Tensor) -> None:
    """Compare module.forward/backward with ``reference(x, *params)`` under torch autograd."""
    module.to(torch.float64)
    x = x.double()
    out = module.forward(x)
    grad_out = torch.randn_like(out)
    grad_x = module.backward(grad_out)
    params = [p.clone().requires_grad_() for p, _ in module.param()]
    x_ref = x.clone().requires_grad_()
    with torch.enable_grad():
        expected = reference(x_ref, *params)
        expected.backward(grad_out)
    tol = {"rtol": 1e-6, "atol": 1e-9}
    torch.testing.assert_close(out, expected.detach(), **tol)
    torch.testing.assert_close(grad_x, x_ref.grad, **tol)
    for (_, grad), p in zip(module.param(), params, strict=True):
        torch.testing.assert_close(grad, p.grad, **tol)


@FAST
@given(cin=st.integers(1, 4), cout=st.integers(1, 4), k=st.integers(1, 4), s=st.integers(1, 3),
       p=st.integers(0, 2), d=st.integers(1, 2), bias=st.booleans(), h=st.integers(3, 11),
       w=st.integers(3, 11), n=st.integers(1, 3))
def test_conv2d(cin, cout, k, s, p, d, bias, h, w, n):
    assume(h + 2 * p >= d * (k - 1) + 1 and w + 2 * p >= d * (k - 1) + 1)
    conv = S.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, bias=bias)
    check(conv, lambda x, wt, *b: F.conv2d(x, wt, b[0] if b else None, s, p, d),
          torch.randn(n, cin, h, w))


@pytest.mark.parametrize("budget", [1, 5000])  # every image alone, two per chunk
@pytest.mark.parametrize("stride, padding, dilation", [(1, 1, 1), (2, 1, 1), (1, 2, 2)])
def test_conv2d_in_batch_chunks_equals_one_batch(monkeypatch, budget, stride, padding,
                                                 dilation):
    from n2n.scratch import layers

    monkeypatch.setattr(layers, "COLUMNS_BUDGET", budget)
    conv = S.Conv2d(3, 4, 3, stride=stride, padding=padding, dilation=dilation)
    check(conv, lambda x, wt, b: F.conv2d(x, wt, b, stride, padding, dilation),
          torch.randn(5, 3, 9, 8))


@FAST
@given(cin=st.integers(1, 4), cout=st.integers(1, 4), k=st.integers(1, 4), s=st.integers(1, 3),
       p=st.integers(0, 2), d=st.integers(1, 2), op=st.integers(0, 2), bias=st.booleans(),
       h=st.integers(1, 7), w=st.integers(1, 7))
def test_transpose_conv2d(cin, cout, k, s, p, d, op, bias, h, w):
    assume(op < max(s, d))
    assume((h - 1) * s - 2 * p + d * (k - 1) + op + 1 >= 1)
    assume((w - 1) * s - 2 * p + d * (k - 1) + op + 1 >= 1)
    conv = S.TransposeConv2d(cin, cout, k, stride=s, padding=p, output_padding=op, bias=bias,
                             dilation=d)
    check(conv, lambda x, wt, *b: F.conv_transpose2d(x, wt, b[0] if b else None, s, p, op, 1, d),
          torch.randn(2, cin, h, w))


@FAST
@given(k=st.integers(1, 3), s=st.integers(1, 3), d=st.integers(1, 2), h=st.integers(3, 10),
       w=st.integers(3, 10), data=st.data())
def test_maxpool2d(k, s, d, h, w, data):
    p = data.draw(st.integers(0, k // 2))
    assume(h + 2 * p >= d * (k - 1) + 1 and w + 2 * p >= d * (k - 1) + 1)
    pool = S.MaxPool2d(k, stride=s, padding=p, dilation=d)
    check(pool, lambda x: F.max_pool2d(x, k, s, p, d), torch.randn(2, 3, h, w))


@FAST
@given(scale=st.integers(1, 3), h=st.integers(1, 6), w=st.integers(1, 6))
def test_nearest_upsampling_and_upsampling(scale, h, w):
    check(S.NearestUpsampling(scale), lambda x: F.interpolate(x, scale_factor=scale),
          torch.randn(2, 3, h, w))
    up = S.Upsampling(3, 2, 3, scale_factor=scale)
    check(up, lambda x, wt, b: F.conv2d(F.interpolate(x, scale_factor=scale), wt, b, padding=1),
          torch.randn(2, 3, h, w))


@pytest.mark.parametrize("module, reference", [
    (S.ReLU(), torch.relu),
    (S.LeakyReLU(0.1), lambda x: F.leaky_relu(x, 0.1)),
    (S.Sigmoid(), torch.sigmoid),
])
def test_activations(module, reference):
    check(module, reference, torch.randn(3, 4, 5, 6) * 3)


@pytest.mark.parametrize("loss, reference", [(S.MSE(), F.mse_loss), (S.L1(), F.l1_loss)])
def test_losses(loss, reference):
    pred, target = torch.randn(4, 3, 5, 5, dtype=torch.float64), torch.randn(4, 3, 5, 5).double()
    value = loss.forward(pred, target)
    grad = loss.backward()
    pred_ref = pred.clone().requires_grad_()
    with torch.enable_grad():
        expected = reference(pred_ref, target)
        expected.backward()
    torch.testing.assert_close(value, expected.detach(), rtol=1e-6, atol=0)
    torch.testing.assert_close(grad, pred_ref.grad, rtol=1e-6, atol=1e-12)


def test_sequential_of_conv_and_sigmoid_matches_torch():
    net = S.Sequential(S.Conv2d(3, 4, 3, padding=1), S.Sigmoid(), S.Conv2d(4, 2, 3, stride=2))
    check(net, lambda x, w1, b1, w2, b2: F.conv2d(torch.sigmoid(F.conv2d(x, w1, b1, padding=1)),
                                                  w2, b2, stride=2), torch.randn(2, 3, 9, 9))


@pytest.mark.parametrize("residual", [True, False])
def test_lite_unet_matches_the_pytorch_lite_unet(residual):
    from n2n.models.unet import LiteUNet as TorchLiteUNet

    scratch_net = S.LiteUNet(3, 4, 3, residual=residual).to(torch.float64)
    torch_net = TorchLiteUNet(3, 4, 3, linear_output=residual).double()
    state = scratch_net.state_dict()
    names = {"head.modules.0.weight": "head.0.weight", "head.modules.0.bias": "head.0.bias",
             "down.modules.1.weight": "down.0.weight", "down.modules.1.bias": "down.0.bias",
             "up.modules.0.weight": "up.0.weight", "up.modules.0.bias": "up.0.bias",
             "up.modules.2.weight": "up.2.weight", "up.modules.2.bias": "up.2.bias",
             "tail.weight": "tail.weight", "tail.bias": "tail.bias"}
    torch_net.load_state_dict({names[k]: v for k, v in state.items()})
    params = dict(torch_net.named_parameters())

    def reference(x, *tensors):
        out = torch.func.functional_call(torch_net, dict(zip(params, tensors, strict=True)), x)
        return out + x if residual else out

    check(scratch_net, reference, torch.randn(2, 3, 16, 24))


def test_lite_unet_gradient_matches_central_finite_differences():
    torch.manual_seed(0)
    net = S.LiteUNet(3, 3, 2, residual=False).to(torch.float64)
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    target = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    loss = S.MSE()

    def value() -> float:
        net.eval()
        out = float(loss.forward(net.forward(x), target))
        net.train()
        return out

    net.train()
    loss.forward(net.forward(x), target)
    net.zero_grad()
    net.backward(loss.backward())
    eps = 1e-6
    for p, grad in net.param():
        flat, grads = p.view(-1), grad.view(-1)
        for i in torch.randperm(len(flat))[:6].tolist():
            original = float(flat[i])
            flat[i] = original + eps
            up = value()
            flat[i] = original - eps
            down = value()
            flat[i] = original
            assert (up - down) / (2 * eps) == pytest.approx(float(grads[i]), rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("make, make_torch", [
    (lambda ps: S.SGD(ps, lr=0.1), lambda ps: torch.optim.SGD(ps, lr=0.1)),
    (lambda ps: S.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
     lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01)),
    (lambda ps: S.Adam(ps, lr=0.01), lambda ps: torch.optim.Adam(ps, lr=0.01)),
    (lambda ps: S.Adam(ps, lr=0.01, betas=(0.8, 0.9), weight_decay=0.1),
     lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.9), weight_decay=0.1)),
])
def test_optimizers_match_torch_optim(make, make_torch):
    torch.manual_seed(0)
    ours = [torch.randn(3, 4, dtype=torch.float64), torch.randn(5, dtype=torch.float64)]
    theirs = [p.clone().requires_grad_() for p in ours]
    grads = [torch.zeros_like(p) for p in ours]
    optimizer, reference = make(list(zip(ours, grads, strict=True))), make_torch(theirs)
    for _ in range(5):
        for g, t in zip(grads, theirs, strict=True):
            step_grad = torch.randn_like(g)
            g.copy_(step_grad)
            t.grad = step_grad.clone()
        optimizer.step()
        reference.step()
    for p, t in zip(ours, theirs, strict=True):
        torch.testing.assert_close(p, t.detach(), rtol=1e-9, atol=1e-12)


def test_bad_shapes_get_clear_errors():
    with pytest.raises(S.ScratchError, match=r"expected input of shape \(N, C, H, W\)"):
        S.Conv2d(3, 4, 3).forward(torch.zeros(3, 8, 8))
    with pytest.raises(S.ScratchError, match="expected 3 input channels"):
        S.Conv2d(3, 4, 3).forward(torch.zeros(1, 2, 8, 8))
    with pytest.raises(S.ScratchError, match="larger than the padded input 4x4"):
        S.Conv2d(3, 4, 5).forward(torch.zeros(1, 3, 4, 4))
    with pytest.raises(S.ScratchError, match="differ in shape"):
        S.MSE().forward(torch.zeros(2, 3), torch.zeros(3, 2))


def test_pooled_buffers_never_leak_between_calls():
    """Layers reuse work memory across calls and steps: a network that has run on other inputs
    (other sizes, inference in between) gives what a fresh one with the same weights gives."""
    torch.manual_seed(0)
    used = S.LiteUNet(3, 4, 2)
    inputs = [torch.randn(2, 3, 16, 16), torch.randn(3, 3, 8, 12), torch.randn(2, 3, 16, 16)]
    for i, x in enumerate(inputs):
        fresh = S.LiteUNet(3, 4, 2)
        fresh.load_state_dict(used.state_dict())
        for net in (used, fresh):
            net.eval().forward(x[:1])  # inference between steps takes and gives buffers too
            net.train().zero_grad()
        grad = torch.randn(x.shape)
        out_used, out_fresh = used.forward(x), fresh.forward(x)
        assert torch.equal(out_used, out_fresh), f"forward differs at call {i}"
        assert torch.equal(used.backward(grad), fresh.backward(grad)), f"input grad, call {i}"
        for (_, g_used), (_, g_fresh) in zip(used.param(), fresh.param(), strict=True):
            assert torch.equal(g_used, g_fresh), f"parameter gradient differs at call {i}"
