"""Decode a CIFAR-10 JPEG archive (``{train,test}/<class>/NNNN.jpg`` inside a .tar.xz, the copy
of docs/data.md) into ``OUT_DIR/train.npz`` and ``OUT_DIR/test.npz``: ``images`` uint8
[N, 32, 32, 3] RGB, ``labels`` int64 [N], sorted by class, then by file number (~15 s, Pillow).
``--data OUT_DIR`` reads them (docs/data.md lists every array layout ``--data`` takes).

    python tools/cifar10_to_npz.py ARCHIVE OUT_DIR
"""

import io
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: python tools/cifar10_to_npz.py ARCHIVE OUT_DIR")
    archive, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    items = {"train": [], "test": []}
    with tarfile.open(archive, "r:xz") as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".jpg"):
                continue
            split, cls, name = Path(member.name).parts[-3:]
            items[split].append((CLASSES.index(cls), int(name[:-4]),
                                 tar.extractfile(member).read()))
    for split, rows in items.items():
        rows.sort(key=lambda r: (r[0], r[1]))
        images = np.stack([np.asarray(Image.open(io.BytesIO(d)).convert("RGB"))
                           for _, _, d in rows])
        labels = np.array([c for c, _, _ in rows], dtype=np.int64)
        np.savez(out_dir / f"{split}.npz", images=images, labels=labels)
        print(f"{split}: {images.shape} -> {out_dir / f'{split}.npz'}")


if __name__ == "__main__":
    main()
