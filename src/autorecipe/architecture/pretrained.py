"""Transfer learning: start the network from a local weights file, with a new head for the new classes.

Files are loaded as data, never as code: safetensors, or a PyTorch state dict read with
`torch.load(weights_only=True)`. Keys may carry autorecipe's `network.` prefix (a run's
model.safetensors) and a checkpoint may wrap the state dict under "state_dict" or "model".
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..errors import AutorecipeError
from ..knobs import knob

log = logging.getLogger("autorecipe")

WEIGHTS = knob(
    "weights", bucket="architecture", default="", baseline="",
    doc="A local .safetensors or PyTorch state-dict file to start from (the head is replaced when the "
        "number of classes differs); empty = random initialization.",
)


def layers(network: nn.Module) -> list[nn.Module]:
    """The network's layers with parameters, in depth order (the children of a zoo network); the head last."""
    children = list(network) if isinstance(network, nn.Sequential) else list(network.children())
    return [child for child in children if any(True for _ in child.parameters())]


def read_state(path: str) -> dict[str, torch.Tensor]:
    """Read a weights file as a flat name -> tensor dict."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise AutorecipeError(f"weights {path}: no such file")
    try:
        if file.suffix == ".safetensors":
            state = load_file(file)
        else:
            state = torch.load(file, map_location="cpu", weights_only=True)
    except (SafetensorError, RuntimeError, ValueError, EOFError, OSError) as error:
        raise AutorecipeError(f"weights {path}: cannot read it as safetensors or a PyTorch state dict "
                              f"({type(error).__name__}: {error})") from None
    except Exception as error:  # weights_only refuses pickled code with UnpicklingError
        raise AutorecipeError(f"weights {path}: not a plain state dict ({error})") from None
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise AutorecipeError(f"weights {path}: expected a dict of tensors, got {type(state).__name__}")
    if any(k.startswith("network.") for k in state):
        state = {k.removeprefix("network."): v for k, v in state.items() if k.startswith("network.")}
    return state


def load_pretrained(arch, network: nn.Module) -> None:
    """Copy the recipe's weights file into `network`; the head keeps its fresh weights if its shape changed."""
    if not arch.weights:
        return
    state = read_state(arch.weights)
    own = network.state_dict()
    head = layers(network)[-1]
    head_keys = {name for name, _ in _named_state(network, head)}
    loaded = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    wrong = [f"{k} {tuple(v.shape)} (model: {tuple(own[k].shape)})" for k, v in state.items()
             if k in own and k not in loaded and k not in head_keys]
    missing = [k for k in own if k not in loaded and k not in head_keys]
    if wrong or missing:
        detail = "; ".join(wrong[:3] + [f"{k} missing from the file" for k in missing[:3]])
        raise AutorecipeError(f"weights {arch.weights} do not fit model {arch.model}: {len(wrong)} tensor(s) "
                              f"of another shape, {len(missing)} missing, e.g. {detail}")
    network.load_state_dict(loaded, strict=False)
    fresh = sorted(head_keys - set(loaded))
    log.info("weights %s: %d tensors loaded%s", arch.weights, len(loaded),
             f"; new head for the classes ({', '.join(fresh)})" if fresh else "")


def _named_state(network: nn.Module, part: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The state-dict entries of `part` under their names in `network`."""
    for prefix, module in network.named_modules():
        if module is part:
            return [(f"{prefix}.{k}" if prefix else k, v) for k, v in part.state_dict().items()]
    return []
