"""A small MJPEG-over-HTTP camera on 127.0.0.1, to test live sources: serve, cut, stall, restore.

It serves frames (a video file's, or given images) as ``multipart/x-mixed-replace`` JPEG parts
at a fixed rate, the way IP cameras do; FFmpeg (inside OpenCV) reads it as an ``http://`` stream.
Faults are switched on and off while it runs:

- :meth:`MjpegCamera.cut`: drop every connection and refuse new ones (a camera unplugged);
- :meth:`MjpegCamera.stall`: keep connections open but send nothing (a frozen camera);
- :meth:`MjpegCamera.restore`: serve again.

``max_clients=1`` refuses a second client at the same time (``503``), like single-client cameras
and ``ffmpeg -listen 1``: a reader that opens a stream twice fails against it.

Command line (serves until Ctrl-C)::

    python tools/mjpeg_camera.py video.mp4 --port 8554 --fps 25
    reid-pipeline --cams http://127.0.0.1:8554/cam.mjpg --out tracks.json
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

__all__ = ["MjpegCamera", "main"]

_BOUNDARY = "reidframe"


class MjpegCamera:
    """An MJPEG camera served over HTTP on ``127.0.0.1:port`` from a thread (see the module docstring).

    Args:
        frames_bgr: ``(H, W, 3)`` uint8 BGR images, served in a loop.
        fps: frames per second sent to each client.
        port: TCP port; 0 = any free port (see :attr:`url`).
        max_clients: clients served at the same time; more get ``503``. ``None`` = no limit.
        quality: JPEG quality, 1–100.

    Attributes:
        connections: clients accepted so far (a reader that opens once makes one per connect).
        refused: clients refused (too many at once, or while cut).
    """

    def __init__(
        self,
        frames_bgr: Sequence[np.ndarray],
        *,
        fps: float = 25.0,
        port: int = 0,
        max_clients: int | None = None,
        quality: int = 80,
    ) -> None:
        import cv2

        if not frames_bgr:
            raise ValueError("no frames to serve")
        self.jpegs = [
            bytes(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]) for f in frames_bgr
        ]
        self.fps = float(fps)
        self.max_clients = max_clients
        self.connections = 0
        self.refused = 0
        self._state = "serving"  # serving | cut | stalled
        self._lock = threading.Lock()
        self._active = 0
        self._generation = 0  # bumped by cut(): every older connection closes
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="mjpeg-camera", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cam.mjpg"

    def start(self) -> MjpegCamera:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close every connection."""
        self.cut()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> MjpegCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cut(self) -> None:
        """Close every connection now and refuse new ones until :meth:`restore`."""
        with self._lock:
            self._state = "cut"
            self._generation += 1

    def stall(self) -> None:
        """Keep the connections open but stop sending frames until :meth:`restore`."""
        with self._lock:
            self._state = "stalled"

    def restore(self) -> None:
        """Serve frames again (new connections accepted)."""
        with self._lock:
            self._state = "serving"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return None

            def do_GET(self) -> None:
                with camera._lock:
                    full = camera.max_clients is not None and camera._active >= camera.max_clients
                    if camera._state == "cut" or full:
                        camera.refused += 1
                        refuse = True
                    else:
                        camera._active += 1
                        camera.connections += 1
                        refuse = False
                    generation = camera._generation
                if refuse:
                    self._refuse()
                    return
                try:
                    self._serve(generation)
                except (TimeoutError, BrokenPipeError, ConnectionResetError, OSError):
                    pass
                finally:
                    with camera._lock:
                        camera._active -= 1

            def _refuse(self) -> None:
                try:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass

            def _serve(self, generation: int) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={_BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                period = 1.0 / camera.fps
                next_t = time.monotonic()
                k = 0
                while True:
                    with camera._lock:
                        state, gen = camera._state, camera._generation
                    if gen != generation:
                        self.connection.shutdown(socket.SHUT_RDWR)  # cut: the client sees the end
                        return
                    if state == "serving":
                        jpeg = camera.jpegs[k % len(camera.jpegs)]
                        head = (
                            f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                            f"Content-Length: {len(jpeg)}\r\n\r\n"
                        )
                        self.wfile.write(head.encode("ascii") + jpeg + b"\r\n")
                        self.wfile.flush()
                        k += 1
                    next_t += period
                    time.sleep(max(0.0, next_t - time.monotonic()))
                    if next_t < time.monotonic() - 1.0:
                        next_t = time.monotonic()  # fell far behind (stall, slow client): do not burst

        return Handler


def _frames_of(video: str, max_frames: int) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(video)
    frames = []
    while len(frames) < max_frames:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    if not frames:
        raise SystemExit(f"error: {video}: no frame could be read")
    return frames


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a video as an MJPEG-over-HTTP camera on 127.0.0.1.")
    parser.add_argument("video", help="video file whose frames are served in a loop")
    parser.add_argument("--port", type=int, default=8554, help="TCP port (default: 8554)")
    parser.add_argument("--fps", type=float, default=25.0, help="frames per second sent (default: 25)")
    parser.add_argument(
        "--max-frames", type=int, default=1000, help="frames read from the video (default: 1000)"
    )
    parser.add_argument(
        "--single-client", action="store_true", help="refuse a second client at the same time"
    )
    args = parser.parse_args(argv)
    camera = MjpegCamera(
        _frames_of(args.video, args.max_frames),
        fps=args.fps,
        port=args.port,
        max_clients=1 if args.single_client else None,
    ).start()
    print(f"serving {args.video} at {camera.url} ({args.fps:g} fps); Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        camera.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
