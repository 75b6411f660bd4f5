"""Run one SCALE-Sim simulation; executed by the SCALE-Sim virtualenv's python, never by the
project's environment (``run.py`` calls it through ``subprocess``)::

    <venv>/bin/python benchmarks/scalesim/scalesim_driver.py CONFIG TOPOLOGY LAYOUT OUT_DIR

Equivalent to ``python -m scalesim.scale -c CONFIG -t TOPOLOGY -l LAYOUT -p OUT_DIR`` except
that it does not write the per-cycle SRAM/DRAM traces (the CLI of scalesim 3.0.0 always writes
them: ``scale.py`` passes ``save_disk_space=False`` whatever ``-s`` says, and the traces of a
VGG16 layer run to hundreds of MB) and prints nothing but a final
``{"seconds": ..., "peak_rss_mb": ...}`` line.
SCALE-Sim writes its own reports (COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv,
DETAILED_ACCESS_REPORT.csv) into OUT_DIR/<run_name>/; ``run.py`` parses those.

Standard library + scalesim only.
"""

import json
import resource
import sys
import time

from scalesim.scale_sim import scalesim


def main(argv):
    config, topology, layout, out_dir = argv[1:5]
    start = time.perf_counter()
    sim = scalesim(save_disk_space=True, verbose=False, config=config, topology=topology,
                   layout=layout, input_type_gemm=False)
    sim.run_scale(top_path=out_dir)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"seconds": time.perf_counter() - start, "peak_rss_mb": peak}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
