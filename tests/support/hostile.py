"""Hostile clients and hostile machines for tests: raw sockets that stall, a disk that fills up."""

from __future__ import annotations

import contextlib
import io
import os
import random
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path


def raw_connection(port: int, timeout: float = 10) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def read_response(sock: socket.socket) -> bytes:
    """Everything the server sends for one request: headers, then the body by its Content-Length; b"" when
    the server closed the connection without answering."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server closed the connection (recv returns EOF or a reset) within the socket's timeout."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


def noise_png(width: int, height: int, seed: int = 0) -> bytes:
    """A valid PNG that does not compress: width × height × 3 bytes and a little more."""
    from PIL import Image

    pixels = random.Random(seed).randbytes(width * height * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), pixels).save(out, "PNG", compress_level=1)
    return out.getvalue()


def can_mount() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@contextlib.contextmanager
def tiny_tmpfs(path: Path, size: str = "1m") -> Iterator[Path]:
    """A small tmpfs mounted on `path` (root only): a disk that fills up for real."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
