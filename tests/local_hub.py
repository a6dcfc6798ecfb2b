"""A stand-in for the Hugging Face Hub on loopback: it answers the `resolve` requests that
`huggingface_hub.hf_hub_download` makes (HEAD for metadata, GET with optional Range for the bytes),
so the product's real download path runs here without a network. Point `HF_ENDPOINT` at `url`."""
from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class LocalHub:
    def __init__(self, files: dict[str, Path], revision: str = "main"):
        """files: "owner/name/path/in/repo" -> local file to serve."""
        self.files = {key: Path(path) for key, path in files.items()}
        self.revision = revision
        self.requests: list[tuple[str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "LocalHub":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def lookup(self, url_path: str) -> Path | None:
        """/{owner}/{name}/resolve/{revision}/{path} -> the file, or None."""
        parts = unquote(url_path.split("?")[0]).strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve" or parts[3] not in (self.revision, COMMIT):
            return None
        return self.files.get("/".join(parts[:2] + parts[4:]))

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                hub.requests.append((self.command, self.path))
                path = hub.lookup(self.path)
                if path is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("X-Repo-Commit", COMMIT)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = path.read_bytes()
                start = 0
                if body and (rng := self.headers.get("Range", "")).startswith("bytes="):
                    start = int(rng[len("bytes="):].split("-")[0] or 0)
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if body:
                    self.wfile.write(data[start:])

        return Handler
