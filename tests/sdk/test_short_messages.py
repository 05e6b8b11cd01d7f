"""Errors stay one short line: onnxruntime's native log lines (written to descriptor 2 when CUDA cannot be
had) do not precede ``Error:``, and a 10,000-class model's class list is cut with how many more."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from click.testing import CliRunner

from medsynth.cli import main

# onnxruntime-gpu without its CUDA libraries: the provider list has CUDA, the C++ logger writes coloured
# lines straight to descriptor 2, and the session falls back to CPU. This stands in for it in a subprocess
# (so that descriptor 2 is real) around the real onnxruntime session.
NO_CUDA = textwrap.dedent("""
    import os, sys
    import onnxruntime as ort
    real = ort.InferenceSession
    ort.get_available_providers = lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    def session(path, sess_options=None, providers=None):
        os.write(2, b"\\x1b[1;31m2026-12-01 23:00:00.0 [E:onnxruntime:Default, provider_bridge_ort.cc:2195 "
                    b"TryGetProviderInfo_CUDA] Failed to load library libonnxruntime_providers_cuda.so with "
                    b"error: libcublasLt.so.12: cannot open shared object file\\x1b[m\\n")
        return real(path, sess_options=sess_options, providers=["CPUExecutionProvider"])
    ort.InferenceSession = session
    from medsynth.cli import main
    main(sys.argv[1:])
""")


def test_native_log_lines_do_not_precede_the_error(tiny_model, tmp_path):
    out = tmp_path / "out"
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            NO_CUDA,
            "generate",
            "--model",
            str(tiny_model),
            "--class",
            "nevus",
            "--n",
            "1",
            "--device",
            "cuda",
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2, run.stderr
    assert run.stdout == "" and run.stderr.count("\n") == 1 and run.stderr.startswith("Error: "), run.stderr
    assert "\x1b" not in run.stderr and "libcublasLt.so.12: cannot open shared object file" in run.stderr
    assert not out.exists()


def test_auto_falls_back_to_cpu_without_the_log_lines(tiny_model, tmp_path):
    out = tmp_path / "out"
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            NO_CUDA,
            "generate",
            "--model",
            str(tiny_model),
            "--class",
            "nevus",
            "--n",
            "1",
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0 and "onnxruntime" not in run.stderr, run.stderr
    assert (out / "manifest.csv").is_file()


def test_unknown_classes_of_a_10000_class_model_are_one_short_line(model_factory, onnx_models, tmp_path):
    card = onnx_models.make_card(name="many", classes=tuple(f"class{i}" for i in range(10_000)))
    model = model_factory("many-classes", card=card)
    labels = tmp_path / "labels.csv"
    labels.write_text("diagnosis\n" + "".join(f"unknown{i}\n" for i in range(5000)), encoding="utf-8")
    for args in (["--class", "nope", "--n", "1"], ["--balance-from", str(labels)]):
        result = CliRunner().invoke(
            main, ["generate", "--model", str(model), *args, "--out", str(tmp_path / "o"), "--quiet"]
        )
        assert result.exit_code == 2 and result.output.count("\n") == 1, result.output[:300]
        assert (
            len(result.output) < 3000
            and "and 9980 more (medsynth info MODEL lists them all)" in result.output
        ), result.output
    assert "unknown0, unknown1, unknown10" in result.output and "and 4980 more" in result.output
