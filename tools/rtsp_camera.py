"""A real RTSP camera on 127.0.0.1 (GStreamer's RTSP server), to test live sources: serve, cut, stall.

The server is GStreamer's ``gst-rtsp-server`` (Debian: ``gstreamer1.0-rtsp``,
``gir1.2-gst-rtsp-server-1.0``, ``python3-gi``, ``gstreamer1.0-plugins-good``), driven through
PyGObject by the **system** Python (PyGObject is not on PyPI for every Python), in a child process.
It serves JPEG frames as RTP/JPEG (RFC 2435) at a fixed rate with real timestamps, the way IP
cameras do; FFmpeg (inside OpenCV) reads it as an ``rtsp://`` stream. Faults:

- :meth:`RtspCamera.cut`: kill the server (a camera unplugged; nothing answers any more);
- :meth:`RtspCamera.stall`: freeze the server (``SIGSTOP``: connections stay open, nothing is sent);
- :meth:`RtspCamera.restore`: serve again (``SIGCONT``, or a new server on the same port).

Command line (serves until Ctrl-C; the video is decoded with OpenCV, the server runs under the first
Python found with PyGObject: this one, else ``/usr/bin/python3``)::

    python tools/rtsp_camera.py video.mp4 --port 8554 --fps 25
    reid-pipeline --cams rtsp://127.0.0.1:8554/cam --out tracks.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the server child runs under the system Python, which may have no NumPy
    import numpy as np

__all__ = ["RtspCamera", "main", "server_python"]

_SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")
_PROBE = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"


def server_python() -> tuple[str | None, str]:
    """``(python, "")`` for a Python that can run the server, else ``(None, why not)``."""
    for python in (sys.executable, *_SYSTEM_PYTHONS):
        if not Path(python).is_file():
            continue
        probe = subprocess.run([python, "-c", _PROBE], capture_output=True, timeout=30, check=False)
        if probe.returncode == 0:
            return python, ""
    return None, (
        "no Python with GStreamer's RTSP server (PyGObject + GstRtspServer); on Debian: apt-get install "
        "gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RtspCamera:
    """An RTSP camera at ``rtsp://127.0.0.1:port/cam`` served by a child process (module docstring).

    Args:
        frames_bgr: ``(H, W, 3)`` uint8 BGR images of one size, served in a loop; ``W`` and ``H``
            must be multiples of 8 and at most 2040 (RTP/JPEG's limits).
        fps: frames per second.
        port: TCP port of the RTSP server; 0 = a free one (see :attr:`url`).
        python: the interpreter that runs the server; ``None`` = :func:`server_python`'s.

    Raises:
        RuntimeError: no Python can run the server, or it did not start within 15 s.
    """

    def __init__(
        self, frames_bgr: Sequence[np.ndarray], fps: float = 25.0, port: int = 0, python: str | None = None
    ) -> None:
        import cv2

        height, width = frames_bgr[0].shape[:2]
        if width % 8 or height % 8 or max(width, height) > 2040:
            raise ValueError(f"frame size {width}x{height}: RTP/JPEG needs multiples of 8, at most 2040")
        self.python = python or server_python()[0] or ""
        if not self.python:
            raise RuntimeError(server_python()[1])
        self.fps = float(fps)
        self._size = (width, height)
        self.port = port or _free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="rtsp_camera_"))
        for k, image in enumerate(frames_bgr):
            cv2.imwrite(str(self._dir / f"{k:05d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        self._proc: subprocess.Popen[str] | None = None
        self._stalled = False

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/cam"

    def start(self) -> RtspCamera:
        """Start serving; returns once the server listens."""
        cmd = [self.python, str(Path(__file__).resolve()), "--serve-dir", str(self._dir)]
        cmd += [
            "--port",
            str(self.port),
            "--fps",
            str(self.fps),
            "--size",
            f"{self._size[0]}x{self._size[1]}",
        ]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self._proc.stdout is not None
        deadline = time.monotonic() + 15.0
        line = self._proc.stdout.readline()  # "ready" once listening, "" if it died
        if line.strip() != "ready" or time.monotonic() > deadline:
            self.close()
            raise RuntimeError(f"the RTSP server did not start on port {self.port}")
        return self

    def cut(self) -> None:
        """Kill the server: the stream ends and nothing answers until :meth:`restore`."""
        if self._proc is not None:
            if self._stalled:
                self._proc.send_signal(signal.SIGCONT)
            self._proc.kill()
            self._proc.wait(timeout=10)
            self._proc = None
        self._stalled = False

    def stall(self) -> None:
        """Freeze the server (``SIGSTOP``): connections stay open, no frame is sent."""
        if self._proc is not None and not self._stalled:
            self._proc.send_signal(signal.SIGSTOP)
            self._stalled = True

    def restore(self) -> None:
        """Serve again: thaw a stalled server, or start a new one on the same port after a cut."""
        if self._stalled and self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)
            self._stalled = False
        elif self._proc is None:
            self.start()

    def close(self) -> None:
        """Stop the server and remove its frames."""
        self.cut()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RtspCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serve(frames_dir: Path, port: int, fps: float, width: int, height: int) -> None:  # pragma: no cover
    """Serve the ``width``×``height`` JPEGs of ``frames_dir`` in a loop at ``fps`` on
    ``rtsp://127.0.0.1:port/cam`` (runs in the child, under a Python with PyGObject)."""
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    frames = [p.read_bytes() for p in sorted(frames_dir.glob("*.jpg"))]
    step_ns = round(1e9 / fps)
    factory = GstRtspServer.RTSPMediaFactory()
    caps = f"image/jpeg,width={width},height={height},framerate={round(fps * 1000)}/1000"
    factory.set_launch(
        f'( appsrc name=src is-live=true format=time caps="{caps}" ! rtpjpegpay name=pay0 pt=26 )'
    )
    factory.set_shared(True)

    def configure(_factory: Any, media: Any) -> None:
        src = media.get_element().get_child_by_name("src")
        count = [0]

        def need_data(appsrc: Any, _length: int) -> None:
            k = count[0]
            count[0] += 1
            buffer = Gst.Buffer.new_wrapped(frames[k % len(frames)])
            buffer.pts = buffer.dts = k * step_ns
            buffer.duration = step_ns
            appsrc.emit("push-buffer", buffer)

        src.connect("need-data", need_data)

    factory.connect("media-configure", configure)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.exit(f"error: cannot listen on 127.0.0.1:{port}")
    print("ready", flush=True)
    GLib.MainLoop().run()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", help="a video file to serve (its first 500 frames)")
    parser.add_argument("--port", type=int, default=8554, help="TCP port (default 8554)")
    parser.add_argument("--fps", type=float, default=25.0, help="frames per second (default 25)")
    parser.add_argument("--serve-dir", help=argparse.SUPPRESS)  # the child: serve these JPEGs
    parser.add_argument("--size", default="0x0", help=argparse.SUPPRESS)  # the child: their W x H
    args = parser.parse_args(argv)
    if args.serve_dir:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        width, height = (int(v) for v in args.size.split("x"))
        _serve(Path(args.serve_dir), args.port, args.fps, width, height)
        return 0
    if not args.video or not os.path.isfile(args.video):
        parser.error(f"{args.video}: no such video file")
    import cv2
    import numpy as np

    cap = cv2.VideoCapture(args.video)
    frames = []
    while len(frames) < 500:
        ok, image = cap.read()
        if not ok:
            break
        h, w = (s - s % 8 for s in image.shape[:2])
        frames.append(np.ascontiguousarray(image[:h, :w]))
    if not frames:
        parser.error(f"{args.video}: no frame could be read")
    with RtspCamera(frames, fps=args.fps, port=args.port) as cam:
        print(f"serving {cam.url} ({len(frames)} frames in a loop); Ctrl-C stops", flush=True)
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
