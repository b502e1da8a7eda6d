"""Re-parameterisable SR encoder blocks: the merged kernel equals the branches, the fused
(inference) form equals the training form, weights files hold the fused plain model."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from inr.sr import make_model
from inr.sr.encoder import RepConv3x3, make_encoder
from inr.sr.upsample import load, save_weights


def test_merged_kernel_equals_the_sum_of_the_branches():
    torch.manual_seed(0)
    conv = RepConv3x3(5)
    x = torch.randn(2, 5, 7, 9, dtype=torch.float64)
    conv = conv.double()
    branches = (F.conv2d(x, conv.conv3.weight, conv.conv3.bias, padding=1)
                + F.conv2d(x, conv.conv1.weight, conv.conv1.bias)
                + F.conv2d(F.conv2d(x, conv.expand.weight), conv.squeeze.weight, conv.squeeze.bias, padding=1))
    torch.testing.assert_close(conv(x), branches, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(conv.fused().double()(x), branches, rtol=1e-6, atol=1e-6)


def test_gradients_reach_every_branch():
    conv = RepConv3x3(4)
    conv(torch.randn(1, 4, 6, 6)).square().sum().backward()
    for name, param in conv.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_reparameterized_encoder_is_the_plain_encoder():
    torch.manual_seed(1)
    rep = make_encoder("tiny", "rep")
    x = torch.rand(1, 3, 11, 13)
    before = rep(x)
    rep.reparameterize()
    torch.testing.assert_close(rep(x), before, rtol=1e-5, atol=1e-5)
    plain = make_encoder("tiny", "plain")
    assert {k: v.shape for k, v in rep.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}


def test_rep_model_shapes_at_odd_sizes_and_scales():
    model = make_model("tiny", "cuf", "rep").eval()
    lr = torch.rand(1, 3, 7, 5)
    with torch.no_grad():
        for scale in (1, 1.5, 2, 3.7, 4, 6.3, 12):
            out = model(lr, scale=scale)
            assert out.shape == (1, 3, int(7 * scale + 0.5), int(5 * scale + 0.5))


def test_weights_file_of_a_rep_model_is_fused_and_equal(tmp_path):
    torch.manual_seed(2)
    model = make_model("tiny", "cuf", "rep").eval()
    path = tmp_path / "w.pt"
    save_weights(model, path)
    assert model.config["block"] == "rep"  # the caller's model is left as it was
    assert torch.load(path, weights_only=True)["config"]["block"] == "plain"
    loaded = load(path)
    lr = torch.rand(1, 3, 9, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(lr, scale=3), model(lr, scale=3), rtol=1e-5, atol=1e-5)
