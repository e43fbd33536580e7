"""Random streams: one id per stream, draws that depend only on (seed, stream, index)."""

from __future__ import annotations

import pytest

from reid_core.rng import Stream, numpy_rng, torch_seed


def test_stream_ids_are_distinct() -> None:
    assert len({int(s) for s in Stream}) == len(Stream)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ((0, Stream.PAIRS, 3), (0, Stream.PAIRS, 3), True),
        ((0, Stream.PAIRS, 3), (1, Stream.PAIRS, 3), False),
        ((0, Stream.PAIRS, 3), (0, Stream.AUGMENT, 3), False),
        ((0, Stream.PAIRS, 3), (0, Stream.PAIRS, 4), False),
    ],
)
def test_draws_depend_on_seed_stream_and_index(a: tuple, b: tuple, same: bool) -> None:
    assert (numpy_rng(*a).integers(2**62) == numpy_rng(*b).integers(2**62)) == same
    assert (torch_seed(*a) == torch_seed(*b)) == same
    assert 0 <= torch_seed(*a) < 2**63 - 1
