"""A real Orthanc PACS (Debian packages ``orthanc`` and ``orthanc-dicomweb``) on 127.0.0.1 for the tests.

Started with a generated configuration: free HTTP and DICOM ports, HTTP authentication on (one user), the
DICOMweb plugin enabled, the called AE title checked, and medsynth's calling AE registered as a modality so
that it may query (C-FIND). Stopped by its process id.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ORTHANC = shutil.which("Orthanc")
PLUGIN_DIRS = (Path("/usr/share/orthanc/plugins"), Path("/usr/lib/orthanc"))
USER, PASSWORD = "medsynth", "correct-horse"
AET = "ORTHANC"


def dicomweb_plugin() -> Path | None:
    for folder in PLUGIN_DIRS:
        hits = sorted(folder.glob("libOrthancDicomWeb.so*")) if folder.is_dir() else []
        if hits:
            return hits[0]
    return None


def missing_reason() -> str | None:
    """Why the Orthanc tests cannot run here, or None."""
    if ORTHANC is None:
        return "Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)"
    if dicomweb_plugin() is None:
        return "the Orthanc DICOMweb plugin is not installed (apt-get install orthanc-dicomweb)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Orthanc:
    """One Orthanc server; ``start()`` and ``stop()`` may be called again (same ports, same storage)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.http_port, self.dicom_port = free_port(), free_port()
        self.process: subprocess.Popen[bytes] | None = None
        storage = folder / "storage"
        config = {
            "Name": "medsynth-test",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": AET,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {USER: PASSWORD},
            "DicomCheckCalledAet": True,
            "DicomModalities": {"medsynth": ["MEDSYNTH", "127.0.0.1", free_port()]},
            "Plugins": [str(dicomweb_plugin())],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "HttpServerThreads": 4,
            "ConcurrentJobs": 1,
            "StorageCompression": False,
        }
        self.config = folder / "orthanc.json"
        self.config.write_text(json.dumps(config, indent=2))

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.rest}/dicom-web"

    @property
    def dimse(self) -> str:
        return f"dicom://{AET}@127.0.0.1:{self.dicom_port}"

    def start(self, timeout: float = 120.0) -> None:
        log = (self.folder / "orthanc.log").open("ab")
        self.process = subprocess.Popen(
            [str(ORTHANC), str(self.config)], stdout=log, stderr=subprocess.STDOUT, cwd=self.folder
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Orthanc exited with {self.process.returncode}; see {self.folder}/orthanc.log"
                )
            try:
                self.get("/system")
                # The DICOM port opens a moment after the HTTP one.
                with socket.create_connection(("127.0.0.1", self.dicom_port), timeout=1):
                    return
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"Orthanc did not start within {timeout} s; see {self.folder}/orthanc.log")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.process = None

    def _request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        request = urllib.request.Request(
            self.rest + path, data=body, method=method, headers={"Authorization": f"Basic {token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return bytes(response.read())

    def get(self, path: str) -> Any:
        return json.loads(self._request("GET", path))

    def file(self, instance_id: str) -> bytes:
        return self._request("GET", f"/instances/{instance_id}/file")

    def delete(self, path: str) -> None:
        self._request("DELETE", path)

    def instance_id(self, sop_uid: str) -> str | None:
        hits = json.loads(self._request("POST", "/tools/lookup", sop_uid.encode()))
        ids = [hit["ID"] for hit in hits if hit["Type"] == "Instance"]
        return ids[0] if ids else None
