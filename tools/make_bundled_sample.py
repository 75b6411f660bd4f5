"""Write model/bundled/cifar10_test_sample.npz: a stratified sample (100 per class) of the
CIFAR-10 (JPEG q75) test split, chosen with model.data.stratified_indices(seed=0).

    python tools/make_bundled_sample.py DIR/test.npz

(DIR: the CIFAR-10 copy of docs/data.md, in the npz format.)
"""

import sys
from pathlib import Path

import numpy as np

from model.data import _read_npz, stratified_indices

if len(sys.argv) != 2:
    raise SystemExit("usage: python tools/make_bundled_sample.py DIR/test.npz")
src = Path(sys.argv[1])
ds = _read_npz(src)
idx = stratified_indices(ds.labels, 1000, seed=0)
out = Path(__file__).resolve().parents[1] / "model" / "bundled" / "cifar10_test_sample.npz"
np.savez_compressed(out, images=ds.images[idx], labels=ds.labels[idx], source_index=idx)
print(f"wrote {out}: {len(idx)} images, per class {np.bincount(ds.labels[idx]).tolist()}")
