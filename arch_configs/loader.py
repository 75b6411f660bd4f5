"""Find, read, merge and validate architecture config files.

A spec is a name (``45nm``), a file name (``45nm.yaml``) or a path (``configs/45nm.yaml``,
``arch_configs/45nm.yaml``, ``/abs/path/chip.yaml``). Paths are tried relative to the current
directory first; names and ``configs/``/``arch_configs/`` paths then fall back to the packaged
files, so every form works from any directory.

A file may start from another with ``inherits: 45nm.yaml`` (resolved relative to the file, then
as a spec) and override a few keys: mappings merge key by key, lists and ``{value, source}``
pairs replace whole. ``description`` is not inherited.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from .schema import ArchConfig, ConfigError, ErrorContext, build

CONFIG_DIR = Path(__file__).resolve().parent
_PREFIXES = ("configs/", "arch_configs/")


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """Safe YAML with YAML 1.2 floats (``5e8`` is a number, not a string) and no duplicate
    keys."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def list_configs() -> list[str]:
    """Names of the packaged configs."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def _display(path: Path) -> str:
    """A path as people should read it in a message: relative to cwd when below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def resolve(spec: str | os.PathLike, base: Path | None = None) -> Path:
    """The config file a spec names (see the module docstring); ``base`` is tried first for
    relative paths (the directory of a file that inherits)."""
    s = str(spec)
    tries = []
    for root in ([base] if base else []) + [Path.cwd()]:
        tries.append(root / s)
    rel = s
    for pre in _PREFIXES:
        rel = rel.removeprefix(pre)
    tries.append(CONFIG_DIR / rel)
    if not rel.endswith((".yaml", ".yml")):
        tries.append(CONFIG_DIR / f"{rel}.yaml")
    for p in tries:
        if p.is_file():
            return p.resolve()
    raise ConfigError(f"arch config {s!r} not found (tried {', '.join(_display(p) for p in tries)})"
                      f"; packaged configs: {', '.join(list_configs())}")


def _read(path: Path) -> dict:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise ConfigError(f"{_display(path)}: cannot read ({e.strerror})") from e
    except UnicodeDecodeError as e:
        line = e.object[:e.start].count(b"\n") + 1
        raise ConfigError(f"{_display(path)}: line {line}: byte 0x{e.object[e.start]:02x} is "
                          f"not UTF-8; expected a UTF-8 YAML text") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{_display(path)}: {where}invalid YAML ({what})") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{_display(path)}: expected a mapping of config keys, got "
                          f"{type(data).__name__}")
    return data


def merge(base: dict, over: dict, origin: dict[str, str], file: str, path: str = "") -> dict:
    """Deep-merge ``over`` onto ``base``; record in ``origin`` which file set each key path."""
    out = dict(base)
    for k, v in over.items():
        p = f"{path}.{k}" if path else str(k)
        if isinstance(v, dict) and isinstance(out.get(k), dict) and "value" not in v:
            out[k] = merge(out[k], v, origin, file, p)
        else:
            out[k] = v
            for q in [q for q in origin if q.startswith((p + ".", p + "["))]:
                del origin[q]
            origin[p] = file
    return out


def read_merged(path: Path, origin: dict[str, str], _stack: tuple[Path, ...] = ()) -> dict:
    """A config file's data with its ``inherits`` chain merged in."""
    if path in _stack:
        chain = " -> ".join(p.name for p in _stack + (path,))
        raise ConfigError(f"{_display(path)}: inherits: cycle ({chain})")
    data = _read(path)
    parent = data.pop("inherits", None)
    if parent is None:
        return merge({}, data, origin, _display(path))
    if not isinstance(parent, str) or not parent.strip():
        raise ConfigError(f"{_display(path)}: inherits: expected a config file name, got "
                          f"{parent!r}")
    try:
        ppath = resolve(parent, base=path.parent)
    except ConfigError as e:
        raise ConfigError(f"{_display(path)}: inherits: {e}") from e
    base = read_merged(ppath, origin, _stack + (path,))
    base.pop("description", None)
    return merge(base, data, origin, _display(path))


def load_arch(spec: str | os.PathLike, overrides: dict | None = None) -> ArchConfig:
    """Load and validate an architecture config.

    ``spec``: a name, file name or path (see the module docstring). ``overrides``: a nested
    dict merged on top, e.g. ``{"pe_array": {"count": 256}}`` for a sweep.
    Raises :class:`ConfigError` with one line naming the file, key path and expectation.
    """
    path = resolve(spec)
    origin: dict[str, str] = {}
    data = read_merged(path, origin)
    if overrides:
        data = merge(data, overrides, origin, "<overrides>")
    ctx = ErrorContext(origin, _display(path))
    arch = build(ArchConfig, data, "", ctx, name=path.stem, source_file=str(path))
    _check_node_scale(arch, ctx)
    for key, expected, got in arch.memory_problems():  # after the node is known to be priced
        ctx.fail(key, expected, got)
    return arch


def _check_node_scale(arch: ArchConfig, ctx: ErrorContext) -> None:
    """Every on-chip energy is the reference (45 nm) table times ``technology.node_scale``, so
    a config that moves ``technology.node_nm`` must give the scale for its node too: a node
    set over an inherited scale written for another node (``node_nm: 3`` over 45nm.yaml's 1.0)
    would be printed as 3 nm and priced at 45 nm. Raise :class:`ConfigError` naming both."""
    node_file = ctx.file_of("technology.node_nm")
    scale_file = ctx.file_of("technology.node_scale")
    if node_file == scale_file or scale_file == "<overrides>":
        return
    written_for = read_merged(resolve(scale_file), {})["technology"]["node_nm"]["value"]
    if written_for == arch.node_nm:
        return
    raise ConfigError(
        f"{node_file}: technology.node_nm: {arch.node_nm} nm, but technology.node_scale "
        f"{arch.node_scale:g} is inherited from {scale_file}, written for {written_for} nm; "
        f"expected technology.node_scale for {arch.node_nm} nm beside it (on-chip energies "
        f"are the 45 nm table times node_scale)")
