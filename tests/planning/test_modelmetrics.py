"""Model metrics: parameters, size and FLOPs equal the analytic counts (torch on CPU)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from impactlib.errors import UsageError  # noqa: E402
from impactlib.planning.modelmetrics import model_metrics  # noqa: E402


def mlp() -> object:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))


def cnn() -> object:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 16 * 16, 10),
    )


def test_mlp_counts() -> None:
    metrics = model_metrics(mlp(), torch.randn(4, 10), training_step=True)
    assert metrics["params"] == (10 * 20 + 20) + (20 * 5 + 5) == 325
    assert metrics["trainable_params"] == 325
    assert metrics["size_bytes"] == 325 * 4
    # batch 4: 2*4*10*20 + 2*4*20*5 (a multiply-add is 2 FLOPs; bias adds are not counted)
    assert metrics["forward_flops"] == 1600 + 800 == 2400
    # backward: grad of weights for both layers, grad of the hidden activations only
    assert metrics["train_step_flops"] == 2400 + (800 + 800) + 1600 == 5600
    assert "multiply-add counts 2" in metrics["flops_convention"]
    assert metrics["batch_size"] == 4 and metrics["input_shape"] == [4, 10]


def test_cnn_counts() -> None:
    metrics = model_metrics(cnn(), torch.randn(2, 3, 16, 16), training_step=True)
    conv = 2 * 2 * 8 * (16 * 16) * (3 * 3 * 3)  # 2 x N x C_out x H x W x C_in x k x k
    linear = 2 * 2 * (8 * 16 * 16) * 10
    assert metrics["forward_flops"] == conv + linear == 303104
    # backward: linear grad input + grad weight, conv grad weight (input needs no grad)
    assert metrics["train_step_flops"] == conv + linear + 2 * linear + conv
    assert metrics["params"] == (3 * 3 * 3 * 8 + 8) + (2048 * 10 + 10)


def test_frozen_parameters_and_buffers() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    for p in model[0].parameters():
        p.requires_grad_(False)
    metrics = model_metrics(model, torch.randn(5, 4))
    assert metrics["params"] == 15 + 6
    assert metrics["trainable_params"] == 6
    # buffers: running mean and var (3 floats each) + num_batches_tracked (int64)
    assert metrics["size_bytes"] == 21 * 4 + 6 * 4 + 8
    assert "train_step_flops" not in metrics


def test_mode_and_gradients_left_alone() -> None:
    model = mlp()
    model.eval()
    model_metrics(model, torch.randn(4, 10), training_step=True)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())


def test_tuple_and_mapping_inputs() -> None:
    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(3, 2)

        def forward(self, x: object, y: object) -> object:
            return self.a(x) + self.a(y)

    model = Two()
    pos = model_metrics(model, (torch.randn(1, 3), torch.randn(1, 3)))
    kw = model_metrics(model, {"x": torch.randn(1, 3), "y": torch.randn(1, 3)})
    assert pos["forward_flops"] == kw["forward_flops"] == 2 * (2 * 3 * 2)


def test_not_a_module() -> None:
    with pytest.raises(UsageError, match="torch.nn.Module"):
        model_metrics(object(), torch.randn(1))
