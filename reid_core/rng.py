"""Random streams of training, named in one place.

Every random draw of a training run comes from a generator seeded with ``(seed, stream, index)``:
the run's ``seed``, one of the :class:`Stream` ids below and an index (the step, or the epoch).
A draw therefore depends only on where it happens, never on what was drawn before, so a resumed
run draws exactly what the killed run would have drawn.

The numbers are part of the reproducibility contract: changing one changes every run that uses
it. Add new streams at the end with a new number.

Example:
    >>> a = numpy_rng(0, Stream.PAIRS, 7).integers(1000)
    >>> b = numpy_rng(0, Stream.PAIRS, 7).integers(1000)
    >>> int(a) == int(b)
    True
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = ["Stream", "numpy_rng", "torch_seed"]


class Stream(IntEnum):
    """Stream ids: what each generator of a training step draws."""

    SAMPLER_EPOCH = 1
    """Order of the anchor identities of an epoch (:class:`~reid_core.data.sampler.CrossCameraSampler`)."""
    SAMPLER_STEP = 2
    """Neighbours, cameras and crops of one batch (the sampler), per step."""
    TORCH_GLOBAL = 3
    """torch's global generator before each step (dropout), per step."""
    AUGMENT = 4
    """The torch generator of the augmentation of one step."""
    PAIRS = 5
    """Choice of the negative pairs of one step."""


def numpy_rng(seed: int, stream: Stream, index: int) -> np.random.Generator:
    """NumPy generator of draw ``index`` (step or epoch) of ``stream`` in a run seeded ``seed``."""
    return np.random.default_rng([int(seed), int(stream), int(index)])


def torch_seed(seed: int, stream: Stream, index: int) -> int:
    """A 63-bit seed for a torch generator, from ``(seed, stream, index)``."""
    state = np.random.SeedSequence([int(seed), int(stream), int(index)]).generate_state(1, np.uint64)
    return int(state[0] % (2**63 - 1))
