"""The bounded image cache against a real HTTP server on 127.0.0.1 (so most caches here may fetch private hosts)."""

from __future__ import annotations

import asyncio
import http.server
import ipaddress
import logging
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from toasty_server.config import Settings
from toasty_server.render.dispatcher import Renderer
from toasty_server.render.images import (
    AddressCheck,
    ImageCache,
    ImageFetchError,
    IPAddress,
    address_problem,
    image_extension,
)
from toasty_server.render.spec import ImageSpec, Kind, ToastSpec

PNG = b"\x89PNG\r\n\x1a\n" + b"p" * 1000
JPEG = b"\xff\xd8\xff\xe0" + b"j" * 1000
GIF = b"GIF89a" + b"g" * 1000
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"w" * 1000


@dataclass
class ImageServer:
    """Routes: /png /jpeg /gif /webp /html /big (Content-Length) /endless (no length) /slow /missing,
    /redirect-file (to file:) and /redirect-png (to /png on this same loopback server)."""

    base: str = ""
    hits: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)  # bytes written per path
    host_headers: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@pytest.fixture
def images() -> Iterator[ImageServer]:
    state = ImageServer()
    bodies = {"/png": PNG, "/jpeg": JPEG, "/gif": GIF, "/webp": WEBP, "/html": b"<html>not an image</html>"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            state.hits[path] += 1
            state.host_headers.append(self.headers.get("Host", ""))
            if path in bodies or path.startswith("/png-"):
                body = bodies.get(path, PNG)
                self._head(len(body))
                self._write(path, body)
            elif path == "/big":
                self._head(10_000)
                self._write(path, PNG + b"x" * 9_000)
            elif path == "/endless":
                self._head(None)
                for _ in range(10_000):  # 40 MB if nobody stops reading
                    if not self._write(path, PNG[:8] + b"e" * 4088):
                        break
            elif path == "/slow":
                time.sleep(1.5)
                self._head(len(PNG))
                self._write(path, PNG)
            elif path == "/redirect-file":
                self.send_response(302)
                self.send_header("Location", "file:///etc/passwd")
                self.end_headers()
            elif path == "/redirect-png":
                self.send_response(302)
                self.send_header("Location", state.url("/png"))
                self.end_headers()
            else:
                self.send_error(404)

        def _head(self, length: int | None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            if length is not None:
                self.send_header("Content-Length", str(length))
            self.end_headers()

        def _write(self, path: str, data: bytes) -> bool:
            """False once the client hung up (as the cache does when it has read enough)."""
            try:
                self.wfile.write(data)
            except OSError:
                return False
            state.sent[path] += len(data)
            return True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()


def make_cache(
    tmp_path: Path,
    *,
    total: int = 100_000,
    file: int = 5_000,
    timeout: float = 5.0,
    fetch_private: bool = True,  # the test server is on 127.0.0.1
    address_check: AddressCheck = address_problem,
) -> ImageCache:
    return ImageCache(
        tmp_path / "images",
        max_total_bytes=total,
        max_file_bytes=file,
        timeout_seconds=timeout,
        fetch_private=fetch_private,
        address_check=address_check,
    )


def public_first_time() -> AddressCheck:
    """The real check, except that the first address looked at counts as public (a stand-in for a
    public host, with no public network in tests)."""
    passes = [True]

    def check(address: IPAddress) -> str | None:
        return None if passes and passes.pop() else address_problem(address)

    return check


async def test_download_then_hit(tmp_path: Path, images: ImageServer) -> None:
    cache = make_cache(tmp_path)
    path = await cache.resolve(images.url("/png"))
    assert path.parent == tmp_path / "images"
    assert path.suffix == ".png"
    assert path.read_bytes() == PNG
    again = await cache.resolve(images.url("/png"))
    assert again == path
    assert images.hits["/png"] == 1
    assert (cache.downloads, cache.hits) == (1, 1)


async def test_same_url_same_file_across_instances(tmp_path: Path, images: ImageServer) -> None:
    first = await make_cache(tmp_path).resolve(images.url("/png"))
    second = await make_cache(tmp_path).resolve(images.url("/png"))  # e.g. after a restart
    assert first == second
    assert images.hits["/png"] == 1


async def test_concurrent_requests_download_once(tmp_path: Path, images: ImageServer) -> None:
    cache = make_cache(tmp_path)
    paths = await asyncio.gather(*(cache.resolve(images.url("/png")) for _ in range(5)))
    assert len(set(paths)) == 1
    assert images.hits["/png"] == 1


@pytest.mark.parametrize(("path", "suffix"), [("/jpeg", ".jpg"), ("/gif", ".gif"), ("/webp", ".webp")])
async def test_image_types_by_magic_bytes(tmp_path: Path, images: ImageServer, path: str, suffix: str) -> None:
    assert (await make_cache(tmp_path).resolve(images.url(path))).suffix == suffix


def test_magic_bytes() -> None:
    assert image_extension(b"BM\x00\x00") == ".bmp"
    assert image_extension(b"\x00\x00\x01\x00\x01\x00") == ".ico"
    assert image_extension(b"RIFF\x00\x00\x00\x00WAVE") is None
    assert image_extension(b"<svg") is None


async def test_non_image_refused(tmp_path: Path, images: ImageServer) -> None:
    cache = make_cache(tmp_path)
    with pytest.raises(ImageFetchError, match="not an image"):
        await cache.resolve(images.url("/html"))
    assert list((tmp_path / "images").iterdir()) == []


async def test_oversize_refused_from_content_length(tmp_path: Path, images: ImageServer) -> None:
    with pytest.raises(ImageFetchError, match="5000-byte limit"):
        await make_cache(tmp_path, file=5_000).resolve(images.url("/big"))
    assert list((tmp_path / "images").iterdir()) == []


async def test_oversize_without_length_stops_reading_early(tmp_path: Path, images: ImageServer) -> None:
    with pytest.raises(ImageFetchError, match="limit"):
        await make_cache(tmp_path, file=20_000).resolve(images.url("/endless"))
    assert list((tmp_path / "images").iterdir()) == []
    await asyncio.sleep(0.2)
    assert images.sent["/endless"] < 5_000_000  # the server could not push 40 MB: we hung up


async def test_timeout(tmp_path: Path, images: ImageServer) -> None:
    started = time.monotonic()
    with pytest.raises(ImageFetchError, match="timed out"):
        await make_cache(tmp_path, timeout=0.3).resolve(images.url("/slow"))
    assert time.monotonic() - started < 1.2


async def test_http_error_and_bad_scheme(tmp_path: Path, images: ImageServer) -> None:
    cache = make_cache(tmp_path)
    with pytest.raises(ImageFetchError, match="404"):
        await cache.resolve(images.url("/missing"))
    with pytest.raises(ImageFetchError, match="only http"):
        await cache.resolve("file:///etc/passwd")
    with pytest.raises(ImageFetchError):
        await cache.resolve(images.url("/redirect-file"))


async def test_least_recently_used_evicted(tmp_path: Path, images: ImageServer) -> None:
    cache = make_cache(tmp_path, total=3 * len(PNG) + 10)
    a = await cache.resolve(images.url("/png-a"))
    b = await cache.resolve(images.url("/png-b"))
    c = await cache.resolve(images.url("/png-c"))
    await cache.resolve(images.url("/png-a"))  # a is now more recent than b
    d = await cache.resolve(images.url("/png-d"))
    assert not b.exists()
    assert [p.exists() for p in (a, c, d)] == [True, True, True]
    assert cache.total_bytes == 3 * len(PNG) <= cache.max_total_bytes
    assert cache.evictions == 1
    await cache.resolve(images.url("/png-b"))
    assert images.hits["/png-b"] == 2  # evicted, so downloaded again
    assert not c.exists()  # c was now the least recently used


async def test_existing_folder_is_trimmed_oldest_first(tmp_path: Path, images: ImageServer) -> None:
    paths = [await make_cache(tmp_path).resolve(images.url(f"/png-{i}")) for i in range(3)]
    for age, path in zip((300, 200, 100), paths, strict=True):
        os.utime(path, (time.time() - age, time.time() - age))
    small = make_cache(tmp_path, total=2 * len(PNG))
    assert small.total_bytes == 2 * len(PNG)
    assert [p.exists() for p in paths] == [False, True, True]


class Recorder:
    """A desktop backend that keeps what it was asked to show."""

    name = "recorder"
    available = True

    def __init__(self) -> None:
        self.shown: list[ToastSpec] = []

    async def start(self, sink: object) -> None:
        return None

    async def show(self, toast: ToastSpec) -> None:
        self.shown.append(toast)

    async def withdraw(self, notification_id: str) -> None:
        return None

    async def close(self) -> None:
        return None


async def test_renderer_uses_the_cached_path(tmp_path: Path, images: ImageServer) -> None:
    recorder = Recorder()
    renderer = Renderer([recorder], image_resolver=make_cache(tmp_path).resolve)
    await renderer.start()
    try:
        ok = ToastSpec("n1", "a", Kind.IMAGE_TEXT, "T", image=ImageSpec(None, url=images.url("/png")))
        bad = ToastSpec("n2", "a", Kind.IMAGE_TEXT, "T", image=ImageSpec(None, url=images.url("/html")))
        assert (await renderer.show(ok)).shown
        assert (await renderer.show(bad)).shown
    finally:
        await renderer.close()
    assert recorder.shown[0].image is not None
    assert recorder.shown[0].image.path is not None
    assert recorder.shown[0].image.path.read_bytes() == PNG
    assert recorder.shown[1].image is None
    assert renderer.failed["image_download"] == 1


async def test_loopback_refused_by_default(tmp_path: Path, images: ImageServer) -> None:
    with pytest.raises(ImageFetchError, match=r"host '127\.0\.0\.1' is a loopback address: not fetched"):
        await make_cache(tmp_path, fetch_private=False).resolve(images.url("/png"))
    assert images.hits == {}  # refused before connecting


async def test_localhost_name_refused(tmp_path: Path, images: ImageServer) -> None:
    url = images.url("/png").replace("127.0.0.1", "localhost")
    with pytest.raises(ImageFetchError, match=r"host 'localhost' is a loopback address \((127\.0\.0\.1|::1)\)"):
        await make_cache(tmp_path, fetch_private=False).resolve(url)
    assert images.hits == {}


async def test_redirect_to_loopback_refused(tmp_path: Path, images: ImageServer) -> None:
    cache = make_cache(tmp_path, fetch_private=False, address_check=public_first_time())
    with pytest.raises(ImageFetchError, match="loopback address"):
        await cache.resolve(images.url("/redirect-png"))
    assert (images.hits["/redirect-png"], images.hits["/png"]) == (1, 0)  # first hop allowed, second refused


async def test_connects_to_the_checked_address_not_a_second_lookup(
    tmp_path: Path, images: ImageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name answers 127.0.0.1 (declared public here) once, then an unreachable address."""
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"])

    def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> Any:
        return real(next(answers, "192.0.2.1") if host == "rebind.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    cache = make_cache(tmp_path, fetch_private=False, address_check=public_first_time(), timeout=2.0)
    path = await cache.resolve(images.url("/png").replace("127.0.0.1", "rebind.test"))
    assert path.read_bytes() == PNG
    assert images.host_headers == [images.url("").replace("http://127.0.0.1", "rebind.test")]


async def test_fetch_private_setting_allows_loopback(tmp_path: Path, images: ImageServer) -> None:
    settings = Settings(data_dir=tmp_path, image_fetch_private=True)
    path = await ImageCache.from_settings(settings).resolve(images.url("/redirect-png"))
    assert path.read_bytes() == PNG
    with pytest.raises(ImageFetchError, match="loopback"):
        await ImageCache.from_settings(Settings(data_dir=tmp_path / "strict")).resolve(images.url("/png"))


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("::1", "a loopback"),
        ("::ffff:127.0.0.1", "a loopback"),
        ("169.254.169.254", "a link-local"),
        ("fe80::1", "a link-local"),
        ("0.0.0.0", "an unspecified"),
        ("224.0.0.1", "a multicast"),
        ("10.1.2.3", "a private"),
        ("172.16.0.1", "a private"),
        ("192.168.1.1", "a private"),
        ("fd00::1", "a private"),
        ("100.64.0.1", "a non-public"),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_problem(ipaddress.ip_address(address)) == (kind and f"{kind} address")


async def test_refused_image_is_logged_and_the_toast_shown_without_it(
    tmp_path: Path, images: ImageServer, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    renderer = Renderer([recorder], image_resolver=make_cache(tmp_path, fetch_private=False).resolve)
    await renderer.start()
    try:
        toast = ToastSpec("n1", "a", Kind.IMAGE_TEXT, "T", image=ImageSpec(None, url=images.url("/png")))
        with caplog.at_level(logging.WARNING):
            assert (await renderer.show(toast)).shown
    finally:
        await renderer.close()
    assert recorder.shown[0].image is None
    assert renderer.failed["image_download"] == 1
    assert "host '127.0.0.1' is a loopback address: not fetched (TOASTY_IMAGE_FETCH_PRIVATE=true allows it)" in (
        caplog.text
    )
