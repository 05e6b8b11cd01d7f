"""The one onnxruntime session factory: devices, threads, and the errors for bad files."""

from __future__ import annotations

import os
import sys

import onnxruntime
import pytest
from click.testing import CliRunner

import medsynth._session
from medsynth._session import available_providers, create_session
from medsynth.cli import main
from medsynth.errors import ArgumentError, DeviceError, ModelError

HAS_CUDA = "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def test_cpu_session_reports_cpu(tiny_model):
    made = create_session(tiny_model, device="cpu", threads=1)
    assert made.device == "cpu" and made.threads == 1
    assert made.session.get_providers() == ["CPUExecutionProvider"]
    assert "CPUExecutionProvider" in available_providers()


def test_auto_picks_what_the_build_offers(tiny_model):
    made = create_session(tiny_model, device="auto")
    assert made.device == ("cuda" if HAS_CUDA else "cpu")


@pytest.mark.skipif(HAS_CUDA, reason="this onnxruntime build has CUDA; the refusal needs a CPU-only build")
def test_cuda_asked_and_not_available_is_an_error_not_a_fallback(tiny_model):
    with pytest.raises(DeviceError, match="cuda.*--device cpu"):
        create_session(tiny_model, device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs onnxruntime-gpu and a CUDA device")
def test_cuda_session_runs_on_cuda(tiny_model):
    assert create_session(tiny_model, device="cuda").device == "cuda"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"threads": 0}, "threads"),
        ({"threads": -2}, "threads"),
        ({"threads": True}, "threads"),
    ],
)
def test_bad_arguments(tiny_model, kwargs, match):
    with pytest.raises(ArgumentError, match=match):
        create_session(tiny_model, **kwargs)


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        create_session(tmp_path / "absent.onnx", device="cpu")
    with pytest.raises(ModelError, match="not a file"):
        create_session(tmp_path, device="cpu")


def test_truncated_and_non_onnx_files(tmp_path, tiny_model):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(tiny_model.read_bytes()[: tiny_model.stat().st_size // 2])
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    for path in (truncated, text, empty):
        with pytest.raises(ModelError, match="not a model onnxruntime can load") as info:
            create_session(path, device="cpu")
        assert str(path) in str(info.value)


# CUDA asked for, CPU given.
# onnxruntime-gpu offers CUDAExecutionProvider even where the CUDA libraries are missing; the session then
# falls back to the CPU on its own, logs the reason from C++ straight to descriptor 2 and prints a banner
# from Python. The fake below is that build: it offers CUDA, records the providers asked for, does the
# logging and the printing, and returns a real CPU session. medsynth._session._onnxruntime is the seam it
# replaces.
CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
ORT_CUDA_LOG = (
    "\x1b[1;31m2026-12-02 01:00:00.000 [E:onnxruntime:Default, provider_bridge_ort.cc:1862 "
    "TryGetProviderInfo_CUDA] Failed to load library libonnxruntime_providers_cuda.so with error: "
    "libcublasLt.so.12: cannot open shared object file: No such file or directory\x1b[m\n"
)


class _FallingBackOnnxruntime:
    """An onnxruntime module whose sessions ask for CUDA and silently get the CPU (or fail, if ``fail``)."""

    def __init__(self, fail: str | None = None) -> None:
        self.asked: list[list[str]] = []
        self.fail = fail
        self.SessionOptions = onnxruntime.SessionOptions
        self.GraphOptimizationLevel = onnxruntime.GraphOptimizationLevel
        self.ExecutionMode = onnxruntime.ExecutionMode
        self.__version__ = onnxruntime.__version__

    def get_available_providers(self) -> list[str]:
        return [CUDA, CPU]

    def InferenceSession(self, path, sess_options=None, providers=()):
        self.asked.append(list(providers))
        os.write(2, ORT_CUDA_LOG.encode())
        print("EP Error ... when using ['CUDAExecutionProvider', 'CPUExecutionProvider']")
        print("Falling back to ['CPUExecutionProvider'] and retrying.", file=sys.stderr)
        if self.fail:
            raise RuntimeError(self.fail)
        return onnxruntime.InferenceSession(path, sess_options=sess_options, providers=[CPU])


@pytest.fixture
def falling_back(monkeypatch):
    fake = _FallingBackOnnxruntime()
    monkeypatch.setattr(medsynth._session, "_onnxruntime", lambda: fake)
    return fake


def test_cuda_asked_and_cpu_given_is_a_device_error_with_the_reason(tiny_model, falling_back, capfd):
    with pytest.raises(DeviceError) as info:
        create_session(tiny_model, device="cuda")
    message = str(info.value)
    assert falling_back.asked == [[CUDA, CPU]]  # CUDA was really asked for, first
    assert message.startswith(f"device 'cuda' asked for but the session for {tiny_model} runs on {CPU}")
    # the reason onnxruntime logged, without its colour codes, and what to do
    assert "; onnxruntime said: Failed to load library libonnxruntime_providers_cuda.so" in message
    assert "\x1b" not in message and message.endswith("or use --device cpu")
    assert isinstance(info.value, RuntimeError)
    out, err = capfd.readouterr()
    assert out == err == ""  # onnxruntime's banner and its C++ log are swallowed, not shown beside the error


def test_cuda_session_that_fails_outright_is_a_device_error(tiny_model, monkeypatch, capfd):
    fake = _FallingBackOnnxruntime(fail="CUDA failure 35: CUDA driver version is insufficient")
    monkeypatch.setattr(medsynth._session, "_onnxruntime", lambda: fake)
    with pytest.raises(DeviceError, match=r"the CUDA session for .* failed: CUDA failure 35"):
        create_session(tiny_model, device="cuda")
    assert capfd.readouterr() == ("", "")


def test_auto_on_a_cuda_build_that_falls_back_reports_cpu(tiny_model, falling_back, capfd):
    made = create_session(tiny_model, device="auto", threads=1)
    assert falling_back.asked == [[CUDA, CPU]]
    assert made.device == "cpu"  # the provider the session got, not the one asked for
    assert made.session.get_providers() == [CPU]
    assert capfd.readouterr() == ("", "")


def test_cpu_on_a_cuda_build_never_asks_for_cuda(tiny_model, falling_back):
    assert create_session(tiny_model, device="cpu").device == "cpu"
    assert falling_back.asked == [[CPU]]


def test_cli_cuda_asked_and_cpu_given_is_one_error_line(tiny_model, falling_back, tmp_path):
    out = tmp_path / "out"
    args = ["generate", "--model", str(tiny_model), "--class", "nevus", "--n", "2", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--device", "cuda", "--quiet"])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("Error: device 'cuda' asked for but")
    assert not out.exists()  # nothing written
