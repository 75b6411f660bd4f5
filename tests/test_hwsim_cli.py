"""``python -m hwsim.run`` as users run it: the report files (docs/report.md) and one clear
``error:`` line, exit code 2 and no traceback for every bad input."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from model.architectures import build_architecture
from model.checkpoint import Checkpoint, save
from model.conversion import balance_thresholds
from model.data import normalise
from model.network import Network
from tests.conftest import make_images

ROOT = Path(__file__).resolve().parents[1]
MEAN, STD = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]


def tiny_checkpoint(path: Path, size: int = 32) -> Path:
    torch.manual_seed(0)
    net = Network(build_architecture("tiny", 10, (3, size, size)), 2).eval()
    if size == 32:
        images, _ = make_images(8)
        with torch.no_grad():
            balance_thresholds(net, normalise(torch.from_numpy(images), MEAN, STD), 2,
                               scale=0.5)
    ckpt = Checkpoint("tiny", "cifar10", 10, (3, size, size), {"mean": MEAN, "std": STD},
                      "converted", 2)
    ckpt.update_from(net)
    save(ckpt, path)
    return path


def ann_checkpoint(path: Path, size: int = 32) -> Path:
    """The tiny network as a trained-ANN checkpoint (stage ``ann``)."""
    from model.checkpoint import load
    ckpt = load(tiny_checkpoint(path, size))
    ckpt.stage = "ann"
    save(ckpt, path)
    return path


def test_a_given_ann_is_the_baseline(tmp_path, npz_dir):
    """--ann: the ANN's own activations are costed and its accuracy reported."""
    from hwsim.run import main
    model = tiny_checkpoint(tmp_path / "t.pt")
    ann = ann_checkpoint(tmp_path / "a.pt")
    rep = main(["--model", str(model), "--data", str(npz_dir), "--samples", "4", "--quiet",
                "--ann", str(ann), "--no-check"])
    assert rep["accuracy"]["ann_model"] == str(ann) and rep["accuracy"]["ann"] is not None


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hwsim.run", "--quiet", "--threads", "1",
                           *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def no_nan(name):
    raise ValueError(f"{name} is not JSON")


def test_cli_writes_the_report_csvs_and_plots(tmp_path, npz_dir):
    model = tiny_checkpoint(tmp_path / "tiny.pt")
    out = tmp_path / "out"
    p = run_cli("--model", model, "--data", npz_dir, "--samples", 4, "--timesteps", 2,
                "--json", out / "r.json", "--csv", out / "csv", "--plot", out / "plots")
    assert p.returncode == 0, p.stderr
    rep = json.loads((out / "r.json").read_text(), parse_constant=no_nan)

    assert {"model", "arch", "samples", "accuracy", "layers", "snn", "ann", "ratio"} <= set(rep)
    assert {"name", "architecture", "timesteps", "dataset"} <= set(rep["model"])
    assert rep["model"]["architecture"] == "tiny" and rep["model"]["timesteps"] == 2
    assert {"name", "node_nm", "pes", "clock_hz"} <= set(rep["arch"])
    assert rep["samples"] == 4
    acc = rep["accuracy"]
    assert {"snn", "reference", "functional_match", "spike_mismatches",
            "prediction_mismatches"} <= set(acc)
    assert acc["functional_match"] is True and acc["spike_mismatches"] == 0
    layer_keys = {"name", "kind", "neurons", "spikes", "spike_rate", "ann_macs", "snn_acs",
                  "membrane_reads", "membrane_writes", "weight_reads", "cycles", "energy_pj"}
    parts = {"compute", "membrane", "weights", "spikes", "leakage", "total"}
    for row in rep["layers"]:
        assert layer_keys <= set(row) and parts <= set(row["energy_pj"])
    # network order, the input-facing layer first
    assert [r["name"] for r in rep["layers"]] == ["conv1", "conv2", "fc1"]
    assert rep["layers"][0]["analog_input"] and rep["layers"][0]["snn_acs"] == 0
    assert rep["layers"][1]["spike_rate"] > 0
    assert {"compute", "membrane", "weights", "spikes", "leakage", "dram", "total"} <= set(
        rep["snn"]["energy_pj"])
    for side in ("snn", "ann"):
        assert {"energy_pj", "latency_cycles", "latency_s"} <= set(rep[side])
        assert "total" in rep[side]["energy_pj"] and rep[side]["latency_s"] > 0
    assert rep["ratio"]["energy_ann_over_snn"] == pytest.approx(
        rep["ann"]["energy_pj"]["total"] / rep["snn"]["energy_pj"]["total"])
    assert rep["ratio"]["latency_ann_over_snn"] > 0

    with open(out / "csv" / "SNN_LAYERS.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == ["conv1", "conv2", "fc1"]
    assert float(rows[1]["energy_total_pj"]) == pytest.approx(
        rep["layers"][1]["energy_pj"]["total"])
    for name in ("ANN_LAYERS.csv", "SUMMARY.csv"):
        assert len((out / "csv" / name).read_text().splitlines()) > 3
    for name in ("energy_per_layer.png", "spike_rate.png", "dataflows.png"):
        assert (out / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "functional_match True" in p.stdout
    # every dataflow of both sides, the verdict best against best, the headline pair's rows
    d = rep["dataflows"]
    assert set(d["snn"]) | set(d["infeasible"]["snn"]) == {"scatter", "os", "time_batched"}
    assert len(d["ann"]) + len(d["infeasible"]["ann"]) == 7
    assert d["selected"] == d["best"] and d["verdict"]["snn"] == d["best"]["snn"]
    assert rep["snn"]["energy_pj"]["total"] == pytest.approx(
        d["snn"][d["best"]["snn"]]["energy_pj"]["total"])
    assert [r["snn_mapping"] for r in rep["layers"]] == [
        lay["mapping"] for lay in d["snn"][d["best"]["snn"]]["layers"]]
    assert "verdict on this chip: best SNN" in p.stdout
    with open(out / "csv" / "DATAFLOWS.csv") as f:
        flows = list(csv.DictReader(f))
    assert len(flows) == len(d["snn"]) + len(d["ann"])
    assert rep["accuracy"]["ann"] is not None


BAD_YAML = "inherits: 45nm.yaml\npe_array: {count: [1, 2\n"
BAD_VALUE_YAML = "inherits: 45nm.yaml\npe_array:\n  count: many\n"


@pytest.mark.parametrize("case, says", [
    ("missing model", "no such checkpoint"), ("foreign pt", "foreign"),
    ("bad yaml", "invalid YAML"), ("bad yaml value", "pe_array.count"),
    ("224 model, bundled 32x32 images", "224x224"), ("224 model, npz 32x32", "224x224"),
    ("too many samples", "101"), ("negative pes", "--pes must be a PE count"),
    ("dataflow of one side only", "policy.dataflow"), ("zero threads", "--threads"),
    ("absurd pes", "--pes must be a PE count"),
    ("ann of another network", "--ann")])
def test_bad_inputs_give_one_error_line(case, says, tmp_path, npz_dir):
    args = {
        "missing model": lambda: ["--model", tmp_path / "nope.pt"],
        "foreign pt": lambda: (torch.save({"state_dict": {"w": torch.zeros(2)}},
                                          tmp_path / "f.pt"), ["--model", tmp_path / "f.pt"])[1],
        "bad yaml": lambda: ((tmp_path / "chip.yaml").write_text(BAD_YAML),
                             ["--arch", tmp_path / "chip.yaml"])[1],
        "bad yaml value": lambda: ((tmp_path / "chip.yaml").write_text(BAD_VALUE_YAML),
                                   ["--arch", tmp_path / "chip.yaml"])[1],
        "224 model, bundled 32x32 images":
            lambda: ["--model", tiny_checkpoint(tmp_path / "big.pt", 224)],
        "224 model, npz 32x32":
            lambda: ["--model", tiny_checkpoint(tmp_path / "big.pt", 224), "--data", npz_dir],
        "too many samples": lambda: ["--model", tiny_checkpoint(tmp_path / "t.pt"), "--data",
                                     npz_dir, "--samples", 101],
        "negative pes": lambda: ["--model", tiny_checkpoint(tmp_path / "t.pt"), "--data",
                                 npz_dir, "--pes", -4],
        "zero threads": lambda: ["--threads", 0],
        "absurd pes": lambda: ["--pes", 10**30],
        "dataflow of one side only": lambda: ["--model", tiny_checkpoint(tmp_path / "t.pt"),
                                              "--data", npz_dir, "--dataflow", "ws"],
        "ann of another network": lambda: ["--model", tiny_checkpoint(tmp_path / "t.pt"),
                                           "--data", npz_dir, "--ann",
                                           ann_checkpoint(tmp_path / "a.pt", 224)],
    }[case]()
    p = run_cli(*args)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""


def test_default_sample_count_is_200_or_all_if_fewer(tmp_path):
    from hwsim.run import load_images

    ckpt = Checkpoint("tiny", "cifar10", 10, (3, 32, 32), {"mean": MEAN, "std": STD},
                      "converted", 2)
    for test_images in (250, 100):
        folder = tmp_path / str(test_images)
        folder.mkdir()
        for split, n in (("train", 10), ("test", test_images)):
            images, labels = make_images(n)
            np.savez(folder / f"{split}.npz", images=images, labels=labels)
    assert load_images(ckpt, str(tmp_path / "250"), None)[1] == 200
    assert load_images(ckpt, str(tmp_path / "100"), None)[1] == 100
    assert load_images(ckpt, str(tmp_path / "100"), 7)[1] == 7
    assert load_images(ckpt, None, None)[1] == 200  # the bundled sample has 1000


def test_an_unwritable_output_path_is_one_error_line(tmp_path, npz_dir, capsys):
    from hwsim.run import main

    model = tiny_checkpoint(tmp_path / "t.pt")
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as e:
        main(["--model", str(model), "--data", str(npz_dir), "--samples", "2", "--quiet",
              "--json", str(tmp_path / "file" / "r.json")])
    assert e.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --json"), lines  # before any work
    assert "is a file, not a folder" in lines[0]
