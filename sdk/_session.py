"""The one place that creates onnxruntime sessions: providers, threads and the device check.

onnxruntime is imported here only, and only when a session is created, so ``import medsynth`` stays light.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medsynth._checks import MAX_THREADS, check_int
from medsynth._onnx_files import ModelFiles, model_files
from medsynth.errors import ArgumentError, DeviceError, ModelError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import onnxruntime

__all__ = ["DEVICES", "Session", "create_session", "available_providers"]

DEVICES = ("auto", "cpu", "cuda")
_CPU = "CPUExecutionProvider"
_CUDA = "CUDAExecutionProvider"
# onnxruntime's intra-op threads spin between ops by default: lower latency per call, but a spinning thread
# holds its core. benchmarks/png_bench.py times PNG writing with it on and off (the writer needs a core).
_INTRA_OP_SPINNING = True


@dataclass(frozen=True)
class Session:
    """An onnxruntime session and the device it really runs on."""

    session: onnxruntime.InferenceSession  # the session
    device: str  # "cpu" or "cuda": the provider the session got, not the one asked for
    threads: int | None  # intra-op threads asked for (None: onnxruntime's default, one per core)
    files: ModelFiles  # the .onnx and the external-data files it references, checked before loading


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ORT_LOG = re.compile(r"\[[EWF]:onnxruntime:[^\]]*\]\s*(.*)")  # "[E:onnxruntime:Default, file:line fn] text"


@contextlib.contextmanager
def _native_stderr(lines: list[str]) -> Iterator[None]:
    """Collect into ``lines`` what native code writes to file descriptor 2 during the block.

    onnxruntime's C++ logger writes coloured lines straight to descriptor 2 when a CUDA provider cannot be
    loaded; they are collected so that the failure is reported as one error carrying their reason.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (a detached process): nothing to collect
        yield
        return
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read(1 << 16).decode("utf-8", errors="replace")
            lines.extend(_ANSI.sub("", line).strip() for line in text.splitlines() if line.strip())


def _reason(lines: list[str]) -> str:
    """The first onnxruntime error among collected log lines, shortened, as '; onnxruntime said: ...'."""
    for line in lines:
        match = _ORT_LOG.search(line)
        if match and line[match.start() + 1] in "EF":
            return f"; onnxruntime said: {match.group(1)[:300]}"
    return ""


def _onnxruntime() -> Any:
    import onnxruntime

    return onnxruntime


def available_providers() -> list[str]:
    """Return the execution providers this onnxruntime build offers (e.g. ``["CPUExecutionProvider"]``)."""
    return list(_onnxruntime().get_available_providers())


def create_session(path: Path, *, device: str = "auto", threads: int | None = None) -> Session:
    """Create an onnxruntime session for ``path`` on ``device``.

    Parameters
    ----------
    path
        The ONNX file.
    device
        ``"cpu"``, ``"cuda"`` (an error if CUDA cannot be had, never a silent fallback), or ``"auto"``
        (CUDA when this onnxruntime build offers it, else CPU).
    threads
        Intra-op threads (1 to 1024); ``None`` lets onnxruntime use one per physical core.

    Returns
    -------
    Session
        The session and the device it got.

    Raises
    ------
    ModelError
        The file is missing, unreadable, or not a model onnxruntime can load; an external-data location
        that leaves the model's folder (checked here, before onnxruntime opens anything).
    DeviceError
        CUDA was asked for and the session did not get it.
    ArgumentError
        An unknown device, or ``threads`` that is not a positive integer.
    """
    if device not in DEVICES:
        raise ArgumentError(f"unknown device {device!r}; use one of {', '.join(DEVICES)}")
    if threads is not None:
        threads = check_int("threads", threads, low=1, high=MAX_THREADS)
    if not path.is_file():
        reason = "is not a file" if path.exists() else "does not exist"
        raise ModelError(f"model file {path} {reason}; pass the path of an ONNX generator")
    if not os.access(path, os.R_OK):
        raise ModelError(f"model file {path} is not readable; check its permissions")
    files = model_files(path)

    ort = _onnxruntime()
    available = ort.get_available_providers()
    if device == "cuda" and _CUDA not in available:
        raise DeviceError(
            f"device 'cuda' asked for but this onnxruntime has no CUDA provider (it has "
            f"{', '.join(available)}); install medsynth[gpu] (onnxruntime-gpu) "
            "or use --device cpu"
        )
    want_cuda = device == "cuda" or (device == "auto" and _CUDA in available)
    providers = [_CUDA, _CPU] if want_cuda else [_CPU]

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if _INTRA_OP_SPINNING else "0")
    if threads is not None:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3  # errors only: warnings would clutter the stderr of embedding pipelines
    logged: list[str] = []
    try:
        # onnxruntime's Python wrapper prints "EP Error ... Falling back ..." banners when a session fails;
        # the failure is reported as one error below, so its prints are swallowed.
        # Its C++ logger writes straight to descriptor 2 when CUDA cannot be had: collected, not shown.
        native = _native_stderr(logged) if want_cuda else contextlib.nullcontext()
        with native, contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped Fail/InvalidProtobuf/... errors
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if device == "cuda" and "CUDA" in message:
            raise DeviceError(
                f"device 'cuda' asked for but the CUDA session for {path} failed: {message}"
            ) from exc
        raise ModelError(
            f"{path} is not a model onnxruntime can load (onnxruntime {ort.__version__}: "
            f"{message}); "
            f"{_ir_hint(files)}"
        ) from exc

    got = session.get_providers()
    got_cuda = bool(got) and got[0] == _CUDA
    if device == "cuda" and not got_cuda:
        raise DeviceError(
            f"device 'cuda' asked for but the session for {path} runs on {', '.join(got)}"
            f"{_reason(logged)}; check the CUDA and cuDNN libraries onnxruntime-gpu needs, "
            "or use --device cpu"
        )
    return Session(session=session, device="cuda" if got_cuda else "cpu", threads=threads, files=files)


def _ir_hint(files: ModelFiles) -> str:
    if files.ir_version is None:
        return "the file has no IR version; is it an ONNX model?"
    return (
        f"the file has ONNX IR version {files.ir_version} (medsynth exports IR 10, which onnxruntime "
        ">= 1.18 reads); if onnxruntime is older than the model, upgrade it: pip install -U onnxruntime"
    )
