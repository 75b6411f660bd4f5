"""An event-driven accelerator simulator for spiking networks, and the same network as an ANN.

    from hwsim import simulate, load_arch
    rep = simulate("model.pt", "45nm", samples=64)   # a typed Report (hwsim.api)

``simulate`` is the submodule ``hwsim.simulate`` made callable: calling it runs
:func:`hwsim.api.simulate`, and ``from hwsim.simulate import SimOptions`` (the engine) works
as before. ``load_arch`` is :func:`arch_configs.load_arch`; ``Report``, ``ERRORS``,
``break_even`` and ``BreakEven`` come from :mod:`hwsim.api` (imported on first use, so
``python -m hwsim.run`` starts as before).
"""

import inspect
import types

from arch_configs import load_arch

from . import simulate


class _CallableModule(types.ModuleType):
    """``hwsim.simulate``: the simulation engine's module, and callable as
    :func:`hwsim.api.simulate`."""

    def __call__(self, *args, **kwargs):
        from .api import simulate as run

        return run(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        from .api import simulate as run

        return inspect.signature(run)

    @property
    def __doc__(self) -> str:
        from .api import simulate as run

        return (f"Calling this module runs hwsim.api.simulate:\n\n{run.__doc__}\n\n"
                f"The module: {self.__dict__.get('__doc__') or ''}")


simulate.__class__ = _CallableModule

_API = ("ERRORS", "BreakEven", "Report", "break_even")
__all__ = [*_API, "load_arch", "simulate"]


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'hwsim' has no attribute {name!r}")
