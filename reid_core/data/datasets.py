"""Re-ID data set readers behind a name registry: a folder on disk → ``list[ReIDItem]``.

Readers only list files: they never decode an image. Each returned path exists and its
file name matches the data set's naming scheme; ``person_id``/``camera_id`` come from the
name (and, for CUHK03, the sub-folder). Items are sorted by path, so a reader is
deterministic and a seeded split of its output is reproducible.

Registered names and layouts (``root`` is the folder given to :func:`load_items`):

==============  =======================================================================
``cuhk01``      ``root/campus/NNNNMMM.png`` (or the ``campus`` folder itself). ``NNNN``
                identity (kept as the person id, 1..971), ``MMM`` 001–002 camera A
                (camera 0), 003–004 camera B (camera 1).
``cuhk03``      Either a folder export ``root/{train,val}/IIII_SS.jpg`` (ids renumbered
                from 0 in *each* split; ``SS`` 00–04 first camera → 0, 05–09 second → 1;
                val ids are offset by ``max(train id) + 1`` so they never collide with
                train ids), or the official ``cuhk-03.mat`` (MATLAB v7.3, needs
                ``h5py``) in ``root`` or ``root/cuhk03_release``: its ``labeled`` boxes
                are written once as PNG files to ``root/images_labeled/`` as
                ``PAIR_PID_VIEW_IMG.png`` (1-based, as torchreid does); person id =
                a running id over (pair, pid), camera id = ``2*(pair-1) + (view-1)``.
``viper``       ``root/cam_a/*`` and ``root/cam_b/*`` images named ``NNN_*.bmp``
                (``NNN`` identity); identities relabelled 0..N-1 in sorted order of
                ``NNN``; camera 0 = ``cam_a``, 1 = ``cam_b``.
``market1501``  ``root/{bounding_box_train,query,bounding_box_test}/PPPP_cCsS_FFFFFF_BB.jpg``
                (``0002_c1s1_000451_03.jpg``); person id ``PPPP`` as is, camera
                ``C-1``. As in torchreid: pid ``-1`` (junk boxes) is skipped, pid
                ``0000`` (distractors) is kept (only the gallery has them).
``folder``      ``root/PID_CAMID[_anything].{jpg,jpeg,png,bmp}`` (flat, no sub-folders),
                e.g. the output of :mod:`reid_core.data.mot_crops`. Ids kept as written.
``video_crops`` ``root/train/`` + ``root/val/`` of ``PID_CAMID_FRAME.jpg`` (``mot_crops --data-root``):
                ids as written; camera 0/1 = first/second half of a person's frames.
==============  =======================================================================

Files that are not images (by extension) and hidden files are ignored. Image files whose
name does not match the scheme are skipped and reported by one ``logging`` warning per
folder (count and an example). A missing root, a missing expected sub-folder, or a
folder with no matching image is a :class:`~infra.errors.DatasetError` naming the
path and what was expected.

Example:
    >>> from reid_core.data.datasets import available_datasets
    >>> available_datasets()
    ['cuhk01', 'cuhk03', 'folder', 'market1501', 'video_crops', 'viper']
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

from infra.errors import DatasetError, UserError
from reid_core.data.types import ReIDItem

__all__ = [
    "IMAGE_EXTENSIONS",
    "Reader",
    "UnknownDatasetError",
    "available_datasets",
    "load_items",
    "register_dataset",
]

logger = logging.getLogger(__name__)

#: File extensions (lower case) that readers consider to be images.
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp"})

#: A reader takes the data set root and returns its items sorted by path.
Reader: TypeAlias = Callable[[Path], list[ReIDItem]]

_REGISTRY: dict[str, Reader] = {}


class UnknownDatasetError(UserError, ValueError):
    """An unregistered data set name; both a :class:`UserError` (CLI exit 2) and a ``ValueError``."""


def register_dataset(name: str, reader: Reader | None = None) -> Callable[[Reader], Reader] | Reader:
    """Register ``reader`` under ``name``; usable as a call or as a decorator.

    Args:
        name: lower-case data set name, e.g. ``"cuhk01"``.
        reader: function ``root: Path -> list[ReIDItem]``; omit it to use as ``@register_dataset("x")``.

    Returns:
        The reader (so the decorator leaves the function unchanged).

    Raises:
        ValueError: ``name`` is already registered.
    """

    def _register(fn: Reader) -> Reader:
        if name in _REGISTRY:
            raise ValueError(f"data set {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn

    return _register if reader is None else _register(reader)


def available_datasets() -> list[str]:
    """Names accepted by :func:`load_items`, sorted."""
    return sorted(_REGISTRY)


def load_items(name: str, root: str | Path) -> list[ReIDItem]:
    """List the labelled images of data set ``name`` stored under ``root``.

    Args:
        name: a registered name (see :func:`available_datasets`).
        root: the data set folder (layouts in the module docstring).

    Returns:
        Items sorted by ``str(image_path)``; every path exists. Never empty.

    Raises:
        UnknownDatasetError: ``name`` is not registered (message lists the valid names).
        DatasetError: ``root`` is missing, empty or not in the expected layout.
    """
    try:
        reader = _REGISTRY[name]
    except KeyError:
        raise UnknownDatasetError(
            f"unknown data set {name!r}; available: {', '.join(available_datasets())}"
        ) from None
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: data set folder not found (expected the {name} layout)")
    items = sorted(reader(root), key=lambda it: str(it.image_path))
    if not items:
        raise DatasetError(f"{root}: no images found for data set {name}")
    return items


# --------------------------------------------------------------------------- helpers


def _require_dir(path: Path, expected: str) -> Path:
    if not path.is_dir():
        raise DatasetError(f"{path}: folder not found (expected {expected})")
    return path


def _image_files(folder: Path) -> list[Path]:
    """Non-hidden image files directly in ``folder``, sorted by name."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _parse_folder(
    folder: Path,
    pattern: re.Pattern[str],
    to_ids: Callable[[re.Match[str]], tuple[int, int] | None],
    expected: str,
) -> list[ReIDItem]:
    """Match every image in ``folder`` against ``pattern``; ``to_ids`` returns (pid, camid) or None to skip.

    Non-matching image names are skipped with one warning. No matching image at all is a DatasetError.
    """
    items: list[ReIDItem] = []
    bad: list[str] = []
    for path in _image_files(folder):
        match = pattern.fullmatch(path.name)
        ids = to_ids(match) if match else None
        if ids is None:
            if not match:
                bad.append(path.name)
            continue
        items.append(ReIDItem(path, ids[0], ids[1]))
    if bad:
        logger.warning(
            "%s: skipped %d image file(s) not named %s (e.g. %s)", folder, len(bad), expected, bad[0]
        )
    if not items:
        raise DatasetError(f"{folder}: no image named {expected}")
    return items


# --------------------------------------------------------------------------- CUHK01

_CUHK01 = re.compile(r"(\d{4})(00[1-4])\.png", re.IGNORECASE)


@register_dataset("cuhk01")
def _read_cuhk01(root: Path) -> list[ReIDItem]:
    folder = root / "campus" if (root / "campus").is_dir() else _require_dir(root, "campus/NNNNMMM.png")
    return _parse_folder(
        folder,
        _CUHK01,
        lambda m: (int(m[1]), 0 if int(m[2]) <= 2 else 1),
        "NNNNMMM.png with MMM 001-004 (in campus/ or directly)",
    )


# --------------------------------------------------------------------------- CUHK03

_CUHK03_FOLDER = re.compile(r"(\d+)_(\d{2})\.(?:jpg|jpeg|png)", re.IGNORECASE)
_CUHK03_MAT_NAMES = ("cuhk-03.mat", "cuhk03_release/cuhk-03.mat")
_CUHK03_EXTRACTED = re.compile(r"(\d+)_(\d+)_([12])_(\d+)\.png")


def _cuhk03_view(m: re.Match[str]) -> tuple[int, int] | None:
    shot = int(m[2])
    return (int(m[1]), 0 if shot <= 4 else 1) if shot <= 9 else None


@register_dataset("cuhk03")
def _read_cuhk03(root: Path) -> list[ReIDItem]:
    if root.is_file() and root.suffix == ".mat":
        return _read_cuhk03_mat(root, root.parent)
    _require_dir(root, "cuhk03: train/ + val/ folders of IIII_SS.jpg, or cuhk-03.mat")
    if (root / "train").is_dir() or (root / "val").is_dir():
        train = _parse_folder(
            _require_dir(root / "train", "IIII_SS.jpg files"),
            _CUHK03_FOLDER,
            _cuhk03_view,
            "IIII_SS.jpg with SS 00-09",
        )
        val = _parse_folder(
            _require_dir(root / "val", "IIII_SS.jpg files"),
            _CUHK03_FOLDER,
            _cuhk03_view,
            "IIII_SS.jpg with SS 00-09",
        )
        offset = max(item.person_id for item in train) + 1
        return train + [ReIDItem(it.image_path, it.person_id + offset, it.camera_id) for it in val]
    for name in _CUHK03_MAT_NAMES:
        if (root / name).is_file():
            return _read_cuhk03_mat(root / name, root)
    raise DatasetError(
        f"{root}: not a CUHK03 folder (expected train/ and val/ folders of IIII_SS.jpg, "
        f"or {' or '.join(_CUHK03_MAT_NAMES)})"
    )


def _read_cuhk03_mat(mat_path: Path, root: Path) -> list[ReIDItem]:
    """Extract the ``labeled`` boxes of ``cuhk-03.mat`` once to ``root/images_labeled``; list them."""
    out = root / "images_labeled"
    done = out / ".complete"
    if not done.is_file():
        _extract_cuhk03_mat(mat_path, out)
        done.write_text("extracted from cuhk-03.mat\n", encoding="utf-8")
    raw: list[tuple[Path, int, int, int]] = []
    for path in _image_files(out):
        m = _CUHK03_EXTRACTED.fullmatch(path.name)
        if m:
            raw.append((path, int(m[1]), int(m[2]), int(m[3])))
    if not raw:
        raise DatasetError(f"{out}: no PAIR_PID_VIEW_IMG.png extracted from {mat_path}")
    # Running person id over (pair, pid) in sorted order.
    keys = sorted({(pair, pid) for _, pair, pid, _ in raw})
    label = {key: i for i, key in enumerate(keys)}
    items = [ReIDItem(p, label[(pair, pid)], 2 * (pair - 1) + (view - 1)) for p, pair, pid, view in raw]
    return sorted(items, key=lambda it: str(it.image_path))


def _extract_cuhk03_mat(mat_path: Path, out: Path) -> None:
    """Write each non-empty ``labeled`` cell as ``PAIR_PID_VIEW_IMG.png`` (1-based, view 1 = images 1–5)."""
    try:
        import h5py
    except ImportError:
        raise DatasetError(
            f"{mat_path}: reading the official CUHK03 .mat (MATLAB v7.3) needs h5py: pip install h5py"
        ) from None
    import cv2
    import numpy as np

    try:
        out.mkdir(exist_ok=True)
    except OSError as err:
        raise DatasetError(f"{out}: cannot create the folder for extracted CUHK03 images ({err})") from None
    try:
        with h5py.File(mat_path, "r") as f:
            if "labeled" not in f:
                raise DatasetError(f"{mat_path}: no 'labeled' cell array (not the official cuhk-03.mat)")
            pairs = np.asarray(f["labeled"]).ravel()
            for pair_index, pair_ref in enumerate(pairs, start=1):
                cells = np.asarray(f[pair_ref])  # (10, num_ids): MATLAB column-major transposed
                for pid_index in range(cells.shape[1]):
                    for img_index in range(cells.shape[0]):
                        image = np.asarray(f[cells[img_index, pid_index]])
                        if image.ndim != 3 or image.size == 0:
                            continue  # empty cell: CUHK03 has fewer than 10 images for some ids
                        rgb = image.transpose(2, 1, 0)  # stored (3, W, H) → (H, W, 3) RGB
                        view = 1 if img_index < 5 else 2
                        name = f"{pair_index}_{pid_index + 1:03d}_{view}_{img_index + 1:02d}.png"
                        if not cv2.imwrite(str(out / name), np.ascontiguousarray(rgb[:, :, ::-1])):
                            raise DatasetError(f"{out / name}: cannot write extracted image")
    except OSError as err:
        raise DatasetError(f"{mat_path}: cannot read as MATLAB v7.3 / HDF5 ({err})") from None


# --------------------------------------------------------------------------- VIPeR

_VIPER = re.compile(r"(\d+)_.*\.(?:bmp|png|jpg|jpeg)", re.IGNORECASE)


@register_dataset("viper")
def _read_viper(root: Path) -> list[ReIDItem]:
    _require_dir(root, "viper: cam_a/ and cam_b/")
    raw: list[tuple[Path, int, int]] = []
    for cam, sub in enumerate(("cam_a", "cam_b")):
        folder = _require_dir(root / sub, "NNN_*.bmp images of one VIPeR camera")
        raw += [
            (it.image_path, it.person_id, cam)
            for it in _parse_folder(folder, _VIPER, lambda m: (int(m[1]), 0), "NNN_*.bmp")
        ]
    label = {pid: i for i, pid in enumerate(sorted({pid for _, pid, _ in raw}))}
    return sorted((ReIDItem(p, label[pid], cam) for p, pid, cam in raw), key=lambda it: str(it.image_path))


# --------------------------------------------------------------------------- Market-1501

_MARKET = re.compile(r"(-?\d+)_c(\d)s\d+_\d+_\d+\.jpg", re.IGNORECASE)
MARKET_FOLDERS = ("bounding_box_train", "query", "bounding_box_test")


def _market_ids(m: re.Match[str]) -> tuple[int, int] | None:
    pid, cam = int(m[1]), int(m[2])
    if pid == -1:
        return None  # junk box, ignored as in torchreid
    if not (0 <= pid <= 1501 and 1 <= cam <= 6):
        raise DatasetError(f"{m.string}: Market-1501 pid must be in -1..1501 and camera in 1..6")
    return pid, cam - 1


@register_dataset("market1501")
def _read_market1501(root: Path) -> list[ReIDItem]:
    _require_dir(root, "market1501: " + ", ".join(f"{f}/" for f in MARKET_FOLDERS))
    items: list[ReIDItem] = []
    for sub in MARKET_FOLDERS:
        folder = _require_dir(root / sub, "Market-1501 images PPPP_cCsS_FFFFFF_BB.jpg")
        items += _parse_folder(folder, _MARKET, _market_ids, "PPPP_cCsS_FFFFFF_BB.jpg")
    return items


# --------------------------------------------------------------------------- generic folder

_FOLDER = re.compile(r"(\d+)_(\d+)(?:_[^/]*)?\.(?:jpg|jpeg|png|bmp)", re.IGNORECASE)


@register_dataset("folder")
def _read_folder(root: Path) -> list[ReIDItem]:
    _require_dir(root, "a folder of PID_CAMID_*.jpg images")
    return _parse_folder(root, _FOLDER, lambda m: (int(m[1]), int(m[2])), "PID_CAMID_*.jpg")


# --------------------------------------------------------------------------- video crops


@register_dataset("video_crops")
def _read_video_crops(root: Path) -> list[ReIDItem]:
    """``train/`` and ``val/`` of ``PID_CAMID_FRAME.jpg`` (``reid_core.data.mot_crops --data-root``).

    Person ids are kept as written (the writer makes them distinct across sequences); camera 0/1
    are the first/second half of a person's frames in one video.
    """
    _require_dir(root, "video_crops: train/ and val/ folders of PID_CAMID_FRAME.jpg")
    items: list[ReIDItem] = []
    for part in ("train", "val"):
        folder = _require_dir(root / part, "PID_CAMID_FRAME.jpg files (python -m reid_core.data.mot_crops)")
        items += _parse_folder(folder, _FOLDER, lambda m: (int(m[1]), int(m[2])), "PID_CAMID_*.jpg")
    return items
