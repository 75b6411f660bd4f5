"""DIET-SNN: training, conversion and evaluation of spiking networks (no hardware here).

    from model import load_checkpoint, from_nir, to_nir
    ckpt = load_checkpoint("runs/snn.pt")   # model.checkpoint.load: validated, one-line errors
    ckpt = from_nir("net.nir")              # a NIR graph (file or nir.NIRGraph) as a Checkpoint
    graph = to_nir(ckpt)                    # and back (nir.NIRGraph)

The three are imported on first use: ``import model`` loads neither torch nor nir.
"""

import importlib

_LAZY = {"load_checkpoint": ("model.checkpoint", "load"),
         "from_nir": ("model.nir", "from_nir"),
         "to_nir": ("model.nir", "to_nir")}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'model' has no attribute {name!r}")
    module, attr = _LAZY[name]
    try:
        value = getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as e:
        if e.name != module:
            raise
        raise ImportError(f"model.{name} needs {module}, which this installation lacks") \
            from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
