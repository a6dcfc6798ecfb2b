"""Run `python app.py` in a child process on a free loopback port (browser tests, API tests, load test)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """The app on loopback; its results are kept in `outputs` beside the log unless `extra` says otherwise."""

    def __init__(self, weights: Path, log_path: Path, extra: list[str] | None = None, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = open(log_path, "w")
        extra = list(extra or [])
        self.outputs = None if {"--outputs", "--no-outputs"} & set(extra) else Path(log_path).parent / "outputs"
        if self.outputs is not None:
            extra += ["--outputs", str(self.outputs)]
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--weights", str(weights), "--port", str(self.port),
             "--device", "cpu", *extra],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited with {self.proc.returncode}: see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"app not ready after {timeout}s")

    def rss_mib(self) -> float:
        """The server process's resident memory now (Linux /proc)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS in /proc status")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
