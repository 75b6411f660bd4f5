"""The one table formatter of every CLI (``hwsim.run``, ``mapping``, ``model.evaluate``):
``rich`` tables rendered to plain text (no colours, no box-drawing characters, so the output
diffs and pipes cleanly)."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.table import Table


def render(headers: list[str], rows: list[list], title: str | None = None,
           align: list[str] | None = None, footer: list | None = None) -> str:
    """An aligned table as text. ``align``: per column ``left`` or ``right`` (default: right
    for columns whose cells are all numbers, else left); ``footer``: a total row set off by a
    rule. Cells are shown with ``str`` (format numbers before)."""
    cols = list(zip(*rows)) if rows else [[] for _ in headers]
    if align is None:
        align = ["right" if c and all(isinstance(v, int | float) and not isinstance(v, bool)
                                      for v in c) else "left" for c in cols]
    t = Table(box=_RULES, show_edge=False, pad_edge=False, show_footer=footer is not None)
    for i, h in enumerate(headers):
        t.add_column(h, justify=align[i], footer="" if footer is None else _cell(footer[i]),
                     no_wrap=True)
    for r in rows:
        t.add_row(*(_cell(v) for v in r))
    buf = io.StringIO()
    Console(file=buf, width=10_000, color_system=None, force_terminal=False,
            legacy_windows=False).print(t)
    lines = [line.rstrip() for line in buf.getvalue().splitlines() if line.strip()]
    return "\n".join(([title] if title else []) + lines)


# plain ASCII rules under the header and above the footer, nothing else
_RULES = box.Box("    \n    \n -- \n    \n    \n -- \n    \n    \n", ascii=True)


def _cell(v) -> str:
    return "-" if v is None else str(v)
