"""The ``folder`` source kind: a folder of image files, or a MOTChallenge sequence folder holding ``img1/``.

Frames are the images in file-name order; the frame rate is ``seqinfo.ini``'s ``frameRate`` when
the sequence folder has one, else ``default_fps``. An image that cannot be decoded (or whose size
differs from the first) is skipped and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from pathlib import Path

from infra.errors import UserError
from infra.motchallenge import read_seqinfo
from pipeline.frames import Frame, FrameSource, SourceInfo
from pipeline.frames.stream import is_url

__all__ = ["IMAGE_SUFFIXES", "FolderSource", "seqinfo_fps"]

log = logging.getLogger("pipeline.frames")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_FIRST_TRIES = 25  # images tried at the start before the folder is taken to be unreadable


def seqinfo_fps(folder: Path) -> float | None:
    """``frameRate`` of ``folder/seqinfo.ini`` when there is a usable one (warned when not), else ``None``."""
    ini = folder / "seqinfo.ini"
    if not ini.is_file():
        return None
    try:
        fps = read_seqinfo(ini).fps
    except UserError as err:
        log.warning("%s; ignoring it", err)
        return None
    return fps if fps > 0 else None


def _folder_files(folder: Path) -> list[Path]:
    if (folder / "img1").is_dir():
        folder = folder / "img1"
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


class FolderSource(FrameSource):
    """A folder of frames, read with ``cv2.imread`` (BGR)."""

    kind = "folder"
    live = False

    def __init__(self, info: SourceInfo, files: list[Path]) -> None:
        super().__init__(info)
        self._files = files

    @staticmethod
    def claims(source: str) -> bool:
        return not is_url(source) and Path(source).is_dir()

    @classmethod
    def open(cls, source: str, cam_id: str, default_fps: float) -> FolderSource:
        import cv2

        files = _folder_files(Path(source))
        if not files:
            raise UserError(f"{source}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        first = None
        for candidate in files[:_FIRST_TRIES]:
            first = cv2.imread(str(candidate), cv2.IMREAD_COLOR)
            if first is not None:
                break
        if first is None:
            raise UserError(f"{source}: cannot decode its first images (e.g. {files[0].name})")
        seq_dir = files[0].parent.parent if files[0].parent.name == "img1" else files[0].parent
        fps = seqinfo_fps(seq_dir)
        if fps is None:
            fps = float(default_fps)
            log.warning(
                "%s: no usable seqinfo.ini frameRate; assuming %g frames/s (runtime.default_fps)", source, fps
            )
        h, w = first.shape[:2]
        return cls(SourceInfo(cam_id, source, cls.kind, fps, w, h, len(files), rewindable=True), files)

    def frames(self) -> Generator[Frame, None, None]:
        import cv2

        self.skipped = 0
        fps = self.info.fps
        for index, path in enumerate(self._files):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None or image.shape[:2] != (self.info.height, self.info.width):
                self.skipped += 1
                log.warning(
                    "%s: cannot decode %s (or its size differs), skipped", self.info.cam_id, path.name
                )
                continue
            yield Frame(self.info.cam_id, index, round(index / fps, 6), image)
