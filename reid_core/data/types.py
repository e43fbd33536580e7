"""Typed containers for labelled re-ID data.

An item is one image of one person seen by one camera, as in torchreid:
``(image_path, person_id, camera_id)``. Images on disk are whatever the data set ships
(PNG/JPEG); readers never decode them, loaders do (and say BGR vs RGB there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ReIDItem", "Split"]


@dataclass(frozen=True, slots=True)
class ReIDItem:
    """One labelled crop.

    Attributes:
        image_path: path of the image file.
        person_id: identity label, unique within the data set it came from (>= 0).
        camera_id: camera (view) label within the data set (>= 0).
    """

    image_path: Path
    person_id: int
    camera_id: int

    def __post_init__(self) -> None:
        if self.person_id < 0 or self.camera_id < 0:
            raise ValueError(
                f"{self.image_path}: person_id and camera_id must be >= 0, "
                f"got {self.person_id}, {self.camera_id}"
            )


@dataclass(frozen=True, slots=True)
class Split:
    """A protocol split: training items, and the query/gallery sets of the test identities.

    Test identities never appear in ``train``. For the single-shot protocol of the paper,
    ``query`` holds one image per test identity from one camera and ``gallery`` one image per
    test identity from another camera.
    """

    train: tuple[ReIDItem, ...]
    query: tuple[ReIDItem, ...]
    gallery: tuple[ReIDItem, ...]
