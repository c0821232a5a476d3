"""Servers for the browser tests: a free port, and a server command run until it answers."""
import os
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(cmd, probe, log_path: Path, env=None, timeout: float = 90):
    """Run the server command ``cmd`` (its output to ``log_path``) until ``probe()`` stops raising
    ``OSError``; at the end SIGTERM, which lets the server shut its kernels down, then SIGKILL if it hangs."""
    with open(log_path, "wb") as log:
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        try:
            deadline = time.monotonic() + timeout
            while True:
                if server.poll() is not None:
                    pytest.fail(f"{' '.join(map(str, cmd[:4]))} exited with {server.returncode}:\n"
                                f"{log_path.read_text()[-3000:]}")
                try:
                    probe()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"{' '.join(map(str, cmd[:4]))} did not answer:\n{log_path.read_text()[-3000:]}")
                    time.sleep(0.3)
            yield server
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
