"""Size and compute of a PyTorch model: parameters, bytes and FLOPs, with the convention stated.

Green AI (Schwartz et al., CACM 2020) asks papers to report parameters and floating-point
operations next to energy, because they do not depend on the hardware. FLOP counts differ by
a factor of two between tools (fvcore and ptflops count a multiply-add as one, PyTorch's
``FlopCounterMode`` as two), so every result carries a ``flops_convention`` string saying
which was used; a number without it cannot be compared with another paper's.

``torch`` is an optional extra and is imported inside the functions only, so that
``import impactlib`` stays cheap for everyone who does not use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import UsageError

FLOPS_CONVENTION = (
    "torch.utils.flop_counter.FlopCounterMode: one multiply-add counts 2 FLOPs; "
    "matrix products, convolutions and attention are counted, element-wise operations, "
    "activations and normalisations count 0; for the whole example batch"
)
TRAIN_STEP_CONVENTION = (
    "training step = forward + backward of the loss (gradients of the parameters, and of "
    "inputs only where needed); the optimizer update is not counted"
)


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise UsageError("model metrics need PyTorch: pip install 'impactlib[torch]'") from exc
    return torch


def _call(model: Any, example_input: Any) -> Any:
    """Call the model the way its example input is shaped: a tuple/list is unpacked into
    positional arguments, a mapping into keyword arguments, anything else is passed as is."""
    if isinstance(example_input, Mapping):
        return model(**example_input)
    if isinstance(example_input, (tuple, list)):
        return model(*example_input)
    return model(example_input)


def _shapes(example_input: Any) -> Any:
    if hasattr(example_input, "shape"):
        return list(example_input.shape)
    if isinstance(example_input, Mapping):
        return {k: _shapes(v) for k, v in example_input.items()}
    if isinstance(example_input, (tuple, list)):
        return [_shapes(v) for v in example_input]
    return type(example_input).__name__


def _first_tensor(example_input: Any) -> Any:
    if hasattr(example_input, "shape") and hasattr(example_input, "dim"):
        return example_input
    values = (
        example_input.values()
        if isinstance(example_input, Mapping)
        else example_input
        if isinstance(example_input, (tuple, list))
        else ()
    )
    for value in values:
        found = _first_tensor(value)
        if found is not None:
            return found
    return None


def _scalar_loss(output: Any) -> Any:
    """Reduce whatever the model returned to one scalar to backpropagate."""
    torch = _torch()
    if isinstance(output, torch.Tensor):
        return output.float().sum()
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        tensors = [o for o in output if isinstance(o, torch.Tensor) and o.is_floating_point()]
        if tensors:
            return sum(t.float().sum() for t in tensors)
    if hasattr(output, "loss") and output.loss is not None:
        return output.loss
    raise UsageError(
        "cannot count a training step: the model output has no floating-point tensor; "
        "pass loss_fn=... to model_metrics"
    )


def count_parameters(model: Any) -> tuple[int, int]:
    """(total, trainable) parameter counts; shared parameters are counted once."""
    seen: set[int] = set()
    total = trainable = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return total, trainable


def size_bytes(model: Any) -> int:
    """Bytes of the parameters and buffers (what a saved ``state_dict`` roughly weighs)."""
    seen: set[int] = set()
    size = 0
    for t in [*model.parameters(), *model.buffers()]:
        if id(t) in seen:
            continue
        seen.add(id(t))
        size += t.numel() * t.element_size()
    return size


def count_flops(
    model: Any,
    example_input: Any,
    *,
    backward: bool = False,
    loss_fn: Callable[[Any], Any] | None = None,
) -> int:
    """FLOPs of one forward pass (or forward + backward) on ``example_input``."""
    torch = _torch()
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    if backward:
        with counter:
            output = _call(model, example_input)
            loss = loss_fn(output) if loss_fn is not None else _scalar_loss(output)
            loss.backward()
        model.zero_grad(set_to_none=True)
    else:
        with torch.no_grad(), counter:
            _call(model, example_input)
    return int(counter.get_total_flops())


def model_metrics(
    model: Any,
    example_input: Any,
    *,
    training_step: bool = False,
    loss_fn: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """Parameters, size and FLOPs of ``model`` on ``example_input``.

    Keys: ``params``, ``trainable_params``, ``size_bytes``, ``forward_flops``,
    ``flops_convention``, ``input_shape``, ``batch_size`` (first dimension of the first
    tensor, when there is one) and, with ``training_step=True``, ``train_step_flops`` (the
    forward + backward; gradients left on the model are cleared afterwards). The model's
    train/eval mode is not changed.
    """
    torch = _torch()
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"model_metrics needs a torch.nn.Module, got {type(model).__name__}")
    total, trainable = count_parameters(model)
    shapes = _shapes(example_input)
    tensor = _first_tensor(example_input)
    batch = int(tensor.shape[0]) if tensor is not None and tensor.dim() > 0 else None
    out: dict[str, Any] = {
        "params": total,
        "trainable_params": trainable,
        "size_bytes": size_bytes(model),
        "forward_flops": count_flops(model, example_input),
        "flops_convention": FLOPS_CONVENTION,
        "input_shape": shapes,
        "batch_size": batch,
    }
    if training_step:
        out["train_step_flops"] = count_flops(model, example_input, backward=True, loss_fn=loss_fn)
        out["train_step_convention"] = TRAIN_STEP_CONVENTION
    return out
