"""Row bookkeeping shared by the encodings containers (torch :class:`~reid_core.inference.Encoded`
and NumPy :class:`~reid_core.onnx_inference.ArrayEncoded`); no torch here."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_rows", "row_index"]


def check_rows(kind: str, half_a: tuple[int, ...], half_b: tuple[int, ...], emb: tuple[int, ...]) -> None:
    """Raise ``ValueError`` unless the three shapes describe the same crops (same first dimension).

    >>> check_rows("Encoded", (2, 8, 10, 5), (2, 8, 10, 5), (2, 4))
    """
    if tuple(half_b) != tuple(half_a) or emb[0] != half_a[0]:
        shapes = f"half_a {tuple(half_a)}, half_b {tuple(half_b)}, embedding {tuple(emb)}"
        raise ValueError(f"{kind}: inconsistent rows: {shapes}")


def row_index(index: Any, rows: int) -> slice | np.ndarray:
    """A row selector as a slice or an int64 array: an int, a slice, an int array/list or a bool mask.

    >>> row_index(3, 5).tolist(), row_index([True, False, True], 3).tolist(), row_index(slice(1, 2), 4)
    ([3], [0, 2], slice(1, 2, None))

    Raises:
        IndexError: a boolean mask whose length is not ``rows``.
    """
    if isinstance(index, slice):
        return index
    if isinstance(index, (int, np.integer)):
        return np.array([int(index)], np.int64)
    arr = np.asarray(index)
    if arr.dtype == bool:
        if arr.shape != (rows,):
            raise IndexError(f"boolean mask of shape {arr.shape} for {rows} rows")
        arr = np.flatnonzero(arr)
    return arr.astype(np.int64).reshape(-1)
