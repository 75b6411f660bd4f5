"""Plain-text helpers for people: byte sizes and aligned tables (diffable, no colours)."""

from __future__ import annotations

from model.table import render


def human_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``; ``7`` -> ``'7 B'``."""
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")


def format_table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    """An aligned table (``model.table.render``); numbers right-aligned (ints with thousands
    separators), text left."""
    numeric = [bool(rows) and all(isinstance(r[i], int | float) and not isinstance(r[i], bool)
                                  or r[i] is None for r in rows) for i in range(len(headers))]
    return render(headers, [[_cell(v) for v in r] for r in rows], title=title,
                  align=["right" if n else "left" for n in numeric])


def _cell(v) -> str:
    if isinstance(v, bool) or v is None:
        return "-" if v is None else str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)
