"""A sweep's results file (``points.csv``): the row format, a checksum per row, and the file
shared by every sweep that writes into one folder (locked, appended, repaired, merged)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import re
from pathlib import Path

from .energy import ANN_PARTS, SNN_PARTS

VERSION = 4  # of the row format and the point key (2: the dataflow model; 3: CACTI memories, clock;
#                4: compute lanes, os weight reuse, the ANN's activations at the chip's precision)
CSV_NAME = "points.csv"

POINT_COLUMNS = ["key", "model", "arch", "timesteps", "pes", "node", "membrane", "dataflow",
                 "samples"]
COLUMNS = POINT_COLUMNS + [
    "snn_dataflow", "ann_dataflow", "best_snn_dataflow", "best_ann_dataflow",
    "best_energy_ratio", "ann_accuracy",
    "accuracy_snn", "accuracy_reference", "functional_match", "spike_mismatches",
    "prediction_mismatches", "mean_spike_rate",
    "snn_energy_pj", "ann_energy_pj", "energy_ratio", "paper_snn_pj", "paper_ann_pj",
    "paper_ratio",
    *(f"snn_{p}_pj" for p in SNN_PARTS), *(f"ann_{p}_pj" for p in ANN_PARTS),
    "latency_s", "latency_cycles", "system_compute_cycles", "system_memory_stall_cycles",
    "system_noc_cycles", "glb_utilisation", "dram_utilisation", "noc_utilisation",
    "compute_bound_cycles", "sim_latency_cycles", "sim_latency_s", "ann_latency_cycles",
    "ann_latency_s", "ann_system_latency_cycles", "ann_system_latency_s", "schedule",
    "membrane_levels", "weight_levels", "on_chip", "spilled_bytes", "row_sha256",
]


def row_checksum(cells: list[str]) -> str:
    """The checksum of a row's cells (every column but the checksum itself): a row whose
    value was cut short or altered, even to another valid number, no longer matches."""
    return hashlib.sha256("\x1f".join(cells).encode()).hexdigest()[:16]


def seal(row: dict[str, str]) -> dict[str, str]:
    """The row with its ``row_sha256`` cell filled in."""
    cells = [row[c] for c in COLUMNS[:-1]]
    return {**dict(zip(COLUMNS[:-1], cells)), "row_sha256": row_checksum(cells)}


class GridError(ValueError):
    """A sweep that cannot run (bad grid, unknown name, unusable output folder)."""


class ResultsFile:
    """points.csv: one row per finished point, appended and flushed as points finish.

    Every read and write of the file holds an exclusive ``flock`` on ``points.csv.lock``, so
    sweeps that share an ``--out`` at once never drop each other's rows: an append first cuts
    off a row left unfinished at the end of the file by a killed writer, and :meth:`finish`
    reads the file again and merges before it rewrites it. On open, rows cut short by an
    interruption, rows whose checksum (``row_sha256``) does not match their cells and repeated
    keys are dropped (the first row of a key wins; dropped points are computed again), a
    damaged header is repaired from the intact rows, and the file is rewritten atomically, so
    appends always start on a fresh line."""

    TEXT_COLUMNS = frozenset({"key", "model", "arch", "node", "membrane", "functional_match",
                              "schedule", "membrane_levels", "weight_levels", "on_chip",
                              "dataflow", "snn_dataflow", "ann_dataflow", "best_snn_dataflow",
                              "best_ann_dataflow", "row_sha256"})

    def __init__(self, path: Path):
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self.rows: dict[str, dict[str, str]] = {}
        try:
            with self._locked():
                self._load()
                self._rewrite(list(self.rows.values()))
        except OSError as e:
            raise GridError(f"{path}: cannot write ({e.strerror})") from None

    @contextlib.contextmanager
    def _locked(self):
        """Hold the exclusive lock of the results file (released on exit, or by the kernel
        when the process dies)."""
        import fcntl

        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _intact(self, cells: list[str]) -> bool:
        """A whole row: every column, a point key, numbers where numbers belong, and its
        checksum matching its cells."""
        if len(cells) != len(COLUMNS) or not re.fullmatch(r"[0-9a-f]{16}", cells[0]):
            return False
        if cells[-1] != row_checksum(cells[:-1]):
            return False
        for name, v in zip(COLUMNS, cells):
            if v and name not in self.TEXT_COLUMNS:
                try:
                    float(v)
                except ValueError:
                    return False
        return True

    def _load(self) -> None:
        """Merge the file's intact rows into :attr:`rows` (keys already there win)."""
        if not self.path.is_file():
            return
        text = self.path.read_text()
        complete = text if text.endswith("\n") else text[:text.rfind("\n") + 1]
        reader = csv.reader(io.StringIO(complete))
        header = next(reader, None)
        if header is None:
            return
        lines = list(reader)
        intact = [cells for cells in lines if self._intact(cells)]
        if header != COLUMNS and lines and not intact:
            raise GridError(f"{self.path}: its columns are not this version's ({VERSION}) and "
                            "none of its rows is; use another --out or move the file away")
        # a damaged header with intact rows: the rows' checksums vouch for them, and the
        # rewrite that follows every load repairs the header
        for cells in intact:
            if cells[0] not in self.rows:
                self.rows[cells[0]] = dict(zip(COLUMNS, cells))

    def _rewrite(self, rows: list[dict[str, str]]) -> None:
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, COLUMNS, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def _cut_unfinished_row(self) -> None:
        """Truncate the file after its last newline (a writer killed mid-row left the rest)."""
        with open(self.path, "rb+") as f:
            end = f.seek(0, os.SEEK_END)
            pos = end
            while pos > 0:
                step = min(pos, 1 << 16)
                f.seek(pos - step)
                block = f.read(step)
                if pos == end and block.endswith(b"\n"):
                    return
                nl = block.rfind(b"\n")
                if nl >= 0:
                    f.truncate(pos - step + nl + 1)
                    return
                pos -= step
            f.truncate(0)

    def append(self, row: dict[str, str]) -> None:
        if row["key"] in self.rows:
            return
        with self._locked():
            if self.path.is_file():
                self._cut_unfinished_row()
            else:  # removed while the sweep ran: start it again with its header
                self._rewrite([])
            with open(self.path, "a", newline="") as f:
                csv.DictWriter(f, COLUMNS, lineterminator="\n").writerow(row)
                f.flush()
                os.fsync(f.fileno())
        self.rows[row["key"]] = row

    def finish(self, order: list[str]) -> list[dict[str, str]]:
        """Merge the rows other sweeps added meanwhile, rewrite in ``order`` (keys of this
        grid), rows of other grids after them; return this grid's rows."""
        with self._locked():
            self._load()
            mine = [self.rows[k] for k in order if k in self.rows]
            wanted = set(order)
            self._rewrite(mine + [r for k, r in self.rows.items() if k not in wanted])
        return mine
