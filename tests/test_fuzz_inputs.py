"""Fuzzing medsynth's inputs: seeded mutants of ONNX models (through ``medsynth info``), model cards, PNG,
npz and CSV image sets. Every failure must be a MedsynthError (the CLI: one ``Error:`` line, exit 2).

The mutants run in a subprocess (tests/fuzz_worker.py) so that a native crash or a hang fails this test with
its seed. The seed is printed in every failure; MEDSYNTH_FUZZ_SEED replays one. The run is bounded by CPU time
(CPU_BUDGET_S of the worker), so a busy machine makes it slower, not smaller.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("onnx")

CPU_BUDGET_S = 10.0
MINIMUM_PER_KIND = 300  # fewer than this means the run tested nothing worth the name
WALL_LIMIT_S = 600  # a hang


def test_mutated_inputs_raise_only_medsynth_errors(tmp_path):
    seed = int(os.environ.get("MEDSYNTH_FUZZ_SEED", time.time_ns() % 2**32))
    worker = Path(__file__).with_name("fuzz_worker.py")
    try:
        done = subprocess.run(
            [sys.executable, str(worker), str(seed), str(CPU_BUDGET_S), str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=WALL_LIMIT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"fuzz seed {seed}: the worker hung (over {WALL_LIMIT_S} s); replay with "
            f"MEDSYNTH_FUZZ_SEED={seed}"
        )
    assert done.returncode == 0, (
        f"fuzz seed {seed}: the worker died (code {done.returncode}); replay with "
        f"MEDSYNTH_FUZZ_SEED={seed}\n{done.stderr[-3000:]}"
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"fuzz seed {seed}: {report['counts']}")
    assert not report["failures"], (
        f"fuzz seed {seed} (MEDSYNTH_FUZZ_SEED={seed} replays it): "
        f"{report['n_failures']} failures, first: " + json.dumps(report["failures"][:5], indent=1)
    )
    assert min(report["counts"].values()) >= MINIMUM_PER_KIND, report["counts"]
