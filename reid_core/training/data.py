"""Training data: the protocol splits of the recipe's data sets, merged and decoded once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from infra.errors import ConfigError, DatasetError
from reid_core.data.types import ReIDItem, Split
from reid_core.model import INPUT_SIZE_HW
from reid_core.training.config import DataConfig

__all__ = ["TrainData", "load_train_data"]


@dataclass
class TrainData:
    """Training items and their decoded crops, plus the evaluation splits.

    Attributes:
        items: merged training items (ids 0..N-1 across data sets).
        images_bgr: (len(items), 160, 80, 3) uint8 BGR crops, decoded once.
        eval_splits: name → split whose query/gallery are evaluated.
        groups: (len(items),) int64 index into ``cfg.train`` of each item's data set.
    """

    items: tuple[ReIDItem, ...]
    images_bgr: np.ndarray
    eval_splits: dict[str, Split]
    groups: np.ndarray


def load_train_data(cfg: DataConfig) -> TrainData:
    """Protocol splits of ``cfg.train`` (test identities held out), merged and decoded.

    Raises:
        DatasetError: a data set that is missing, empty or unreadable (names its path).
    """
    from reid_core.data.loader import read_crops_bgr
    from reid_core.data.splits import load_split, merge_train

    if not cfg.train:
        raise ConfigError("data.train: no training data sets given")
    splits = {}
    for spec in cfg.train:
        splits[spec.name] = load_split(
            spec.name, spec.root, seed=cfg.split_seed, num_test_ids=cfg.num_test_ids
        )
    items = merge_train(*splits.values())
    groups = np.concatenate([np.full(len(sp.train), k, np.int64) for k, sp in enumerate(splits.values())])
    roots = ", ".join(d.root for d in cfg.train)
    if not items:
        raise DatasetError(f"{roots}: no training images after holding out the test identities")
    images = read_crops_bgr([it.image_path for it in items], INPUT_SIZE_HW)
    return TrainData(items, images, {name: splits[name] for name in cfg.eval}, groups)
