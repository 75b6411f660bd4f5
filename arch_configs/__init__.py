"""Accelerator descriptions: YAML files validated into :class:`ArchConfig` dataclasses.

>>> from arch_configs import load_arch
>>> arch = load_arch("45nm")            # or "configs/45nm.yaml", "arch_configs/7nm.yaml", a path
>>> round(arch.op_energy_pj("mac", 32, "fp"), 2)
4.6
"""

from .loader import CONFIG_DIR, list_configs, load_arch, resolve
from .schema import (
    DRAM,
    LEVELS,
    ArchConfig,
    ConfigError,
    EnergyTable,
    GlobalBuffer,
    Leakage,
    NoC,
    OpEnergy,
    PEArray,
    Policy,
    Precision,
    Sourced,
    SRAMPoint,
    Technology,
    key_table,
)

__all__ = ["CONFIG_DIR", "DRAM", "LEVELS", "ArchConfig", "ConfigError", "EnergyTable",
           "GlobalBuffer", "Leakage", "NoC", "OpEnergy", "PEArray", "Policy", "Precision",
           "SRAMPoint", "Sourced", "Technology", "key_table", "list_configs", "load_arch",
           "resolve"]
