"""A bounded on-disk cache of toast images given as http(s) URLs.

Desktops want a local file: windows-toasts refuses http images (unpackaged apps cannot load them) and
freedesktop daemons take an `image-path`. So the renderer downloads the URL first, with the standard
library in a worker thread, keeps only real images (checked by their magic bytes, not by what the server
claims), never reads more than `max_file_bytes`, and evicts the least recently used files to stay under
`max_total_bytes`. The same URL maps to the same file (named by its hash), across restarts too: the
file's modification time is the LRU clock.

Only public hosts are fetched (unless TOASTY_IMAGE_FETCH_PRIVATE=true): a local agent must not make the hub
send requests to loopback, link-local (cloud metadata) or private services (SSRF). Every connection,
redirects included, goes to an address of the one DNS lookup that was checked.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import http.client
import ipaddress
import logging
import os
import re
import socket
import stat
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable
from http.client import HTTPException
from pathlib import Path
from typing import Any

from toasty_server.config import Settings

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"GIF87a", ".gif"),
    (b"GIF89a", ".gif"),
    (b"BM", ".bmp"),
    (b"\x00\x00\x01\x00", ".ico"),
)
_CACHED_NAME = re.compile(r"^[0-9a-f]{64}\.(png|jpg|gif|bmp|webp|ico)$")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressCheck = Callable[[IPAddress], str | None]
"""Why the hub must not connect to an address, or None; ImageCache takes one so tests can swap it."""


class ImageFetchError(Exception):
    """The URL could not be turned into a cached image; the message says why."""


def image_extension(head: bytes) -> str | None:
    """The file extension for an image's first bytes, or None when they are not a supported image."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return next((ext for magic, ext in _SIGNATURES if head.startswith(magic)), None)


def local_image_problem(path: Path, max_bytes: int) -> str | None:
    """Why a local image path must not reach a desktop (None if it is fine).

    A FIFO or a device would block the desktop daemon reading it, a huge file would stall it, and a
    file that is not an image shows nothing useful. Runs in an executor: it touches the file system.
    """
    try:
        info = path.stat()
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a regular file"
    if info.st_size > max_bytes:
        return f"{path} is {info.st_size} bytes; the limit is {max_bytes} (TOASTY_IMAGE_MAX_BYTES)"
    try:
        with path.open("rb") as file:
            head = file.read(16)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    return None if image_extension(head) else f"{path} is not a png, jpeg, gif, bmp, webp or ico image"


def address_problem(address: IPAddress) -> str | None:
    """What kind of non-public address this is (None when public): the default check before connecting."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 reaches 127.0.0.1
    kinds = (
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("an unspecified", address.is_unspecified),
        ("a multicast", address.is_multicast),
        ("a private", address.is_private),
        ("a reserved", address.is_reserved),
        ("a non-public", not address.is_global),
    )
    return next((f"{kind} address" for kind, refused in kinds if refused), None)


def any_address(address: IPAddress) -> None:
    """The check with TOASTY_IMAGE_FETCH_PRIVATE=true: every address may be fetched."""
    return None


def connect_checked(
    check: AddressCheck,
    address: tuple[str, int],
    timeout: float | None = None,
    source_address: tuple[str, int] | None = None,
) -> socket.socket:
    """socket.create_connection, but only after `check` accepted every address the host resolves to.

    It then connects to one of those very addresses: looking the name up again would let an answer that
    changed in between (DNS rebinding) reach a refused address.
    """
    host, port = address
    found = [ipaddress.ip_address(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    for ip in found:
        problem = check(ip)
        if problem is not None:
            shown = "" if str(ip) == host else f" ({ip})"
            raise ImageFetchError(
                f"image URL host {host!r} is {problem}{shown}: not fetched (TOASTY_IMAGE_FETCH_PRIVATE=true allows it)"
            )
    error = OSError(f"no address found for {host!r}")
    for ip in found:
        try:
            return socket.create_connection((str(ip), port), timeout, source_address)
        except OSError as exc:
            error = exc
    raise error


class _CheckedHTTPConnection(http.client.HTTPConnection):
    """HTTP through connect_checked (http.client keeps its socket factory in `_create_connection`)."""

    def __init__(self, *args: Any, check: AddressCheck = address_problem, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = functools.partial(connect_checked, check)


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS through connect_checked; TLS still verifies the certificate against the host name."""

    def __init__(self, *args: Any, check: AddressCheck = address_problem, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = functools.partial(connect_checked, check)


class _CheckedHandler(urllib.request.HTTPHandler):
    """http: and https: over the checked connections; every redirect hop opens a new one, so is checked too."""

    def __init__(self, check: AddressCheck) -> None:
        super().__init__()
        self.check = check

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_CheckedHTTPConnection, req, check=self.check)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_CheckedHTTPSConnection, req, check=self.check)

    https_request = urllib.request.AbstractHTTPHandler.do_request_


def _opener(check: AddressCheck) -> urllib.request.OpenerDirector:
    """HTTP(S) only, redirects included: no file:, ftp: or data: behind a redirect.

    No proxy either: a proxy would look the host up itself, so the checked address could not be enforced.
    """
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.UnknownHandler(),
        _CheckedHandler(check),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


class ImageCache:
    """URL → local image file: downloaded once, each file and the whole folder bounded in bytes."""

    def __init__(
        self,
        directory: Path,
        max_total_bytes: int,
        max_file_bytes: int,
        timeout_seconds: float,
        fetch_private: bool = False,
        address_check: AddressCheck = address_problem,
    ) -> None:
        """`fetch_private` turns the address check off; `address_check` replaces it (tests only)."""
        self.directory = directory
        self.max_total_bytes = max_total_bytes
        self.max_file_bytes = min(max_file_bytes, max_total_bytes)  # one file must fit the whole cache
        self.timeout_seconds = timeout_seconds
        self._opener = _opener(any_address if fetch_private else address_check)
        self._lock = threading.Lock()
        self._index: OrderedDict[str, tuple[Path, int]] | None = None  # hash → (file, size), LRU first
        self._total = 0
        self._pending: dict[str, asyncio.Future[Path]] = {}
        self.hits = 0
        self.downloads = 0
        self.evictions = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageCache:
        return cls(
            settings.image_cache_dir or settings.data_dir / "images",
            max_total_bytes=settings.image_cache_max_bytes,
            max_file_bytes=settings.image_max_bytes,
            timeout_seconds=settings.image_download_timeout_seconds,
            fetch_private=settings.image_fetch_private,
        )

    async def resolve(self, url: str) -> Path:
        """The cached file for `url`, downloading it in a worker thread if needed; one download per URL."""
        _check_url(url)
        pending = self._pending.get(url)
        if pending is None:
            pending = asyncio.get_running_loop().run_in_executor(None, self.fetch, url)
            self._pending[url] = pending
            pending.add_done_callback(lambda _: self._pending.pop(url, None))
        return await asyncio.shield(pending)

    def fetch(self, url: str) -> Path:
        """Blocking: the cached file for `url`. Raises ImageFetchError."""
        _check_url(url)
        key = hashlib.sha256(url.encode()).hexdigest()
        with self._lock:
            index = self._load_index()
            cached = index.get(key)
            if cached is not None and cached[0].is_file():
                index.move_to_end(key)
                _touch(cached[0])
                self.hits += 1
                return cached[0]
        data, extension = self._download(url)
        path = self.directory / f"{key}{extension}"
        fd, temp = tempfile.mkstemp(prefix=f".{key}.", suffix=".part", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(temp, path)
        except OSError as exc:
            Path(temp).unlink(missing_ok=True)
            raise ImageFetchError(f"cannot write {path}: {exc}") from exc
        with self._lock:
            index = self._load_index()
            old = index.pop(key, None)
            if old is not None:
                self._total -= old[1]
                if old[0] != path:
                    old[0].unlink(missing_ok=True)
            index[key] = (path, len(data))
            self._total += len(data)
            self.downloads += 1
            self._evict(keep=key)
        log.debug("cached %s as %s (%d bytes)", url, path.name, len(data))
        return path

    @property
    def total_bytes(self) -> int:
        with self._lock:
            self._load_index()
            return self._total

    def _download(self, url: str) -> tuple[bytes, str]:
        limit = self.max_file_bytes
        deadline = time.monotonic() + self.timeout_seconds
        request = urllib.request.Request(url, headers={"User-Agent": "toasty-server", "Accept": "image/*"})
        chunks: list[bytes] = []
        size = 0
        try:
            with self._opener.open(request, timeout=self.timeout_seconds) as response:
                length = response.headers.get("Content-Length", "")
                if length.isdigit() and int(length) > limit:
                    raise ImageFetchError(f"{url}: {length} bytes is over the {limit}-byte limit for one image")
                while size <= limit:
                    if time.monotonic() > deadline:
                        raise ImageFetchError(f"{url}: download took over {self.timeout_seconds:g}s")
                    chunk = response.read(min(CHUNK_BYTES, limit + 1 - size))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
        except ImageFetchError:
            raise
        except (OSError, HTTPException, ValueError) as exc:  # URLError, HTTPError and timeouts are OSErrors
            raise ImageFetchError(f"{url}: cannot download: {exc}") from exc
        if size > limit:
            raise ImageFetchError(f"{url}: over the {limit}-byte limit for one image")
        data = b"".join(chunks)
        extension = image_extension(data[:16])
        if extension is None:
            raise ImageFetchError(f"{url}: not an image (png, jpeg, gif, bmp, webp or ico expected)")
        return data, extension

    def _load_index(self) -> OrderedDict[str, tuple[Path, int]]:
        """The files already in the folder, least recently used first (by modification time)."""
        if self._index is not None:
            return self._index
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            found = []
            for entry in os.scandir(self.directory):
                if _CACHED_NAME.match(entry.name) and entry.is_file():
                    stat = entry.stat()
                    found.append((stat.st_mtime, entry.name, stat.st_size))
        except OSError as exc:
            raise ImageFetchError(f"image cache folder {self.directory}: {exc}") from exc
        self._index = OrderedDict()
        for _, name, size in sorted(found):
            self._index[name.split(".")[0]] = (self.directory / name, size)
            self._total += size
        self._evict(keep="")
        return self._index

    def _evict(self, keep: str) -> None:
        """Drop least recently used files until the total fits (lock held)."""
        index = self._index
        assert index is not None
        for key in list(index):
            if self._total <= self.max_total_bytes:
                break
            if key == keep:
                continue
            path, size = index.pop(key)
            self._total -= size
            self.evictions += 1
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("cannot remove cached image %s: %s", path, exc)
            log.debug("evicted %s from the image cache", path.name)


def _check_url(url: str) -> None:
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ImageFetchError(f"{url!r}: only http(s) image URLs are downloaded")


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError as exc:  # only the LRU order across restarts suffers
        log.debug("cannot touch %s: %s", path, exc)
