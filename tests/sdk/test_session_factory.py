"""The one onnxruntime session factory: devices, threads, and the errors for bad files."""

from __future__ import annotations

import onnxruntime
import pytest

from medsynth._session import available_providers, create_session
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
