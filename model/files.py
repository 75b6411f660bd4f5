"""Writes that nothing can leave half done: a kill, a full disk or a second writer.

Every file ``model/`` (and ``mapping/``) writes goes to a temporary file in the target's folder
(a name of its own per process and call), is flushed to disk and then renamed over the target
with ``os.replace``, which POSIX makes atomic: a reader sees the old file or the new one, never
a part. A failed write removes its temporary file and leaves the target as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; on a clean exit it is synced
    and renamed over ``path``, on an exception removed (``path`` untouched).

    An ``OSError`` (a full disk, a read-only folder) names ``path``, not the temporary file.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError) and e.errno is not None:
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """``Path.write_text``, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj, **kw) -> None:
    """``json.dump`` to ``path``, atomically (``kw`` as for ``json.dumps``)."""
    write_text(path, json.dumps(obj, **kw))


def save_torch(obj, path: str | os.PathLike) -> None:
    """``torch.save``, atomically."""
    import torch

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
