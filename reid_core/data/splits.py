"""Protocol splits (train / query / gallery) of the registered data sets, seeded and saveable.

:func:`load_split` applies the protocol of Section IV of the paper (Lin & Li):

=============  ===========================================================================
``cuhk01``     ``num_test_ids`` (default 100) test identities drawn at random; the other
               identities are the training set.
``cuhk03``     Folder export (``train/`` + ``val/``): the ``val`` identities are the test
               identities (100 in ``cuhk03_labeled_pair1``), ``train`` the training set; with
               ``num_test_ids`` set, that many ``val`` identities are drawn at random (the
               other ``val`` identities are left out, train stays the same). Official
               ``cuhk-03.mat``: ``num_test_ids`` (default 100) random test identities of the
               labelled boxes; the rest train.
``viper``      ``num_test_ids`` (default half: 316 of 632) random test identities; the rest
               train. The paper reports the mean of 10 trials (``trial=0..9``).
``market1501`` Its own split: ``bounding_box_train`` / ``query`` / ``bounding_box_test``
               (multi-shot; ``seed``, ``trial`` and ``num_test_ids`` are not used).
``folder``     ``num_test_ids`` (default half of the eligible identities) random test
               identities; the rest train.
``video_crops`` Crops cut from videos (``python -m reid_core.data.mot_crops --data-root``):
               ``train/`` trains; the people of ``val/`` (held-out sequences) are the test
               identities, **multi-shot**: every camera-0 crop (first half of the person's
               frames) is a query, every camera-1 crop (second half) a gallery item.
               ``seed``, ``trial`` and ``num_test_ids`` are not used.
=============  ===========================================================================

Single-shot query/gallery (all but Market-1501): for each test identity one image from its
lowest-numbered camera ("camera A") is the query and one image from its next camera
("camera B") the gallery item, both drawn at random. Only identities seen by at least two
cameras can be test identities; identities seen by one camera always go to training.

Randomness: one ``numpy.random.default_rng(seed + trial)`` draws, in this order, the test
identities (from the sorted eligible identities) and then, per test identity in increasing
id order, the query image and the gallery image (from the identity's images of that camera
sorted by path). The same ``(data, seed, trial, num_test_ids)`` always gives the same split.

:func:`save_split` / :func:`read_split` store a split as JSON with paths relative to the
data root, so a figure can be reproduced exactly, on another machine too.

Example (needs the CUHK01 data set)::

    split = load_split("cuhk01", "../shared/data/reid/cuhk01", seed=0)
    len(split.query), len(split.gallery), len(split.train)  # (100, 100, 3484)
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from infra.errors import DatasetError, UserError
from infra.fileio import atomic_write_text
from reid_core.data.datasets import load_items
from reid_core.data.types import ReIDItem, Split

__all__ = [
    "SPLIT_SCHEMA_VERSION",
    "load_split",
    "merge_train",
    "read_split",
    "save_split",
    "single_shot_split",
]

#: Version of the JSON written by :func:`save_split`.
SPLIT_SCHEMA_VERSION = 1

_DEFAULT_TEST_IDS = {"cuhk01": 100, "cuhk03": 100}


def load_split(
    name: str,
    root: str | Path,
    *,
    seed: int = 0,
    trial: int = 0,
    num_test_ids: int | None = None,
) -> Split:
    """Read data set ``name`` from ``root`` and split it by the paper's protocol.

    Args:
        name: a registered data set name (see :func:`reid_core.data.datasets.available_datasets`).
        root: the data set folder.
        seed: base random seed; the generator is seeded with ``seed + trial``.
        trial: trial index (VIPeR: 0..9 in the paper).
        num_test_ids: number of test identities; default per data set (module docstring).

    Returns:
        A :class:`Split`; train and test identities are disjoint.

    Raises:
        UnknownDatasetError: unknown ``name``.
        DatasetError: bad data folder, or fewer eligible identities than ``num_test_ids``.
        UserError: ``num_test_ids`` < 1.
    """
    if num_test_ids is not None and num_test_ids < 1:
        raise UserError(f"num_test_ids must be >= 1, got {num_test_ids}")
    items = load_items(name, root)
    rng = np.random.default_rng(seed + trial)
    root = Path(root)
    if name == "market1501":
        parts = _by_parent(items)
        return Split(
            train=tuple(parts.get("bounding_box_train", ())),
            query=tuple(parts.get("query", ())),
            gallery=tuple(parts.get("bounding_box_test", ())),
        )
    if name == "video_crops":
        parts = _by_parent(items)
        val = sorted(parts.get("val", []), key=lambda it: str(it.image_path))
        return Split(
            train=tuple(parts.get("train", ())),
            query=tuple(it for it in val if it.camera_id == 0),
            gallery=tuple(it for it in val if it.camera_id == 1),
        )
    if name == "cuhk03":
        parts = _by_parent(items)
        if "val" in parts:  # folder export
            train, val = parts.get("train", []), parts["val"]
            test_pids = _draw_test_ids(val, num_test_ids, rng, root, default_all=True)
            return single_shot_split(train, [it for it in val if it.person_id in test_pids], rng)
    test_pids = _draw_test_ids(items, num_test_ids or _DEFAULT_TEST_IDS.get(name), rng, root)
    train = [it for it in items if it.person_id not in test_pids]
    test = [it for it in items if it.person_id in test_pids]
    return single_shot_split(train, test, rng)


def single_shot_split(train: Iterable[ReIDItem], test: Iterable[ReIDItem], rng: np.random.Generator) -> Split:
    """Build a single-shot split: per test identity one camera-A query and one camera-B gallery item.

    Camera A is the identity's lowest camera id, camera B its second lowest; identities of
    ``test`` seen by fewer than two cameras are left out. Draws from ``rng`` in increasing
    identity order, query first.
    """
    by_pid_cam: dict[int, dict[int, list[ReIDItem]]] = defaultdict(lambda: defaultdict(list))
    for it in test:
        by_pid_cam[it.person_id][it.camera_id].append(it)
    query: list[ReIDItem] = []
    gallery: list[ReIDItem] = []
    for pid in sorted(by_pid_cam):
        cams = sorted(by_pid_cam[pid])
        if len(cams) < 2:
            continue
        for cam, out in ((cams[0], query), (cams[1], gallery)):
            choices = sorted(by_pid_cam[pid][cam], key=lambda it: str(it.image_path))
            out.append(choices[int(rng.integers(len(choices)))])
    return Split(train=tuple(train), query=tuple(query), gallery=tuple(gallery))


def merge_train(*splits: Split) -> tuple[ReIDItem, ...]:
    """The train items of several splits, with person ids made disjoint.

    Each split's train identities are relabelled, in increasing id order, to consecutive ids
    starting after the previous split's: the result's ids are exactly ``0..N-1`` over all
    ``N`` identities. Camera ids are kept as they are (they stay per data set).

    Example:
        >>> from reid_core.data.types import ReIDItem, Split
        >>> a = Split((ReIDItem(Path("a.jpg"), 7, 0),), (), ())
        >>> b = Split((ReIDItem(Path("b.jpg"), 7, 1),), (), ())
        >>> [it.person_id for it in merge_train(a, b)]
        [0, 1]
    """
    merged: list[ReIDItem] = []
    offset = 0
    for split in splits:
        label = {pid: offset + i for i, pid in enumerate(sorted({it.person_id for it in split.train}))}
        merged += [ReIDItem(it.image_path, label[it.person_id], it.camera_id) for it in split.train]
        offset += len(label)
    return tuple(merged)


def save_split(
    split: Split,
    path: str | Path,
    *,
    root: str | Path | None = None,
    meta: Mapping[str, Any] | None = None,
) -> None:
    """Write ``split`` as JSON (atomically) with image paths relative to the data root.

    Format: ``{"schema_version": 1, "root": "<absolute data root>", "meta": {...},
    "train" | "query" | "gallery": [["<relative path>", person_id, camera_id], ...]}``.

    Args:
        split: the split to save.
        path: the JSON file to write.
        root: data root the paths are made relative to; default the deepest folder
            containing every image.
        meta: optional JSON-serialisable notes (data set name, seed, trial, ...).

    Raises:
        UserError: an image is not under ``root``.
    """
    all_items = [*split.train, *split.query, *split.gallery]
    if root is None:
        abs_paths = [os.path.abspath(it.image_path) for it in all_items]
        root = Path(os.path.commonpath([os.path.dirname(p) for p in abs_paths])) if abs_paths else Path(".")
    root = Path(os.path.abspath(root))

    def rows(items: Sequence[ReIDItem]) -> list[list[Any]]:
        out = []
        for it in items:
            rel = os.path.relpath(os.path.abspath(it.image_path), root)
            if rel.startswith(".."):
                raise UserError(f"{it.image_path}: not under the split root {root}")
            out.append([Path(rel).as_posix(), int(it.person_id), int(it.camera_id)])
        return out

    doc = {
        "schema_version": SPLIT_SCHEMA_VERSION,
        "root": str(root),
        "meta": dict(meta or {}),
        "train": rows(split.train),
        "query": rows(split.query),
        "gallery": rows(split.gallery),
    }
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")


def read_split(path: str | Path, *, root: str | Path | None = None) -> Split:
    """Read a split written by :func:`save_split`.

    Args:
        path: the JSON file.
        root: data root to resolve the relative paths against; default the root stored in the file.

    Returns:
        The split; every image path exists.

    Raises:
        DatasetError: unreadable file, wrong format, or an image that does not exist.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: split file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path}: cannot read split JSON ({err})") from None
    if not isinstance(doc, dict) or doc.get("schema_version") != SPLIT_SCHEMA_VERSION:
        raise DatasetError(f"{path}: not a split file (expected schema_version {SPLIT_SCHEMA_VERSION})")
    base = Path(root) if root is not None else Path(str(doc.get("root", ".")))
    parts: dict[str, tuple[ReIDItem, ...]] = {}
    for key in ("train", "query", "gallery"):
        rows = doc.get(key)
        if not isinstance(rows, list):
            raise DatasetError(f"{path}: key {key!r} must be a list of [path, person_id, camera_id]")
        items = []
        for row in rows:
            if not (
                isinstance(row, list)
                and len(row) == 3
                and isinstance(row[0], str)
                and isinstance(row[1], int)
                and isinstance(row[2], int)
            ):
                raise DatasetError(f"{path}: bad {key} row {row!r}, expected [path, person_id, camera_id]")
            image = base / row[0]
            if not image.is_file():
                raise DatasetError(f"{path}: image {image} not found (data root {base}; pass another root)")
            try:
                items.append(ReIDItem(image, row[1], row[2]))
            except ValueError as err:
                raise DatasetError(f"{path}: {err}") from None
        parts[key] = tuple(items)
    return Split(**parts)


# --------------------------------------------------------------------------- helpers


def _by_parent(items: Iterable[ReIDItem]) -> dict[str, list[ReIDItem]]:
    parts: dict[str, list[ReIDItem]] = defaultdict(list)
    for it in items:
        parts[it.image_path.parent.name].append(it)
    return dict(parts)


def _draw_test_ids(
    items: Sequence[ReIDItem],
    num_test_ids: int | None,
    rng: np.random.Generator,
    root: Path,
    *,
    default_all: bool = False,
) -> set[int]:
    """Draw test identities among those seen by >= 2 cameras (default: half of them, or all)."""
    cams: dict[int, set[int]] = defaultdict(set)
    for it in items:
        cams[it.person_id].add(it.camera_id)
    eligible = np.array(sorted(pid for pid, c in cams.items() if len(c) >= 2), dtype=np.int64)
    if num_test_ids is None:
        num_test_ids = len(eligible) if default_all else len(eligible) // 2
    if num_test_ids > len(eligible) or num_test_ids < 1:
        raise DatasetError(
            f"{root}: {num_test_ids} test identities asked, but only {len(eligible)} identities "
            "are seen by two or more cameras"
        )
    if num_test_ids == len(eligible):
        return {int(p) for p in eligible}
    return {int(p) for p in rng.choice(eligible, size=num_test_ids, replace=False)}
