"""Where the cameras' producers run: ``local`` (:class:`pipeline.loop.StreamLoop`) or ``ray``.

The Ray executor (:mod:`pipeline.executors.ray_cluster`) puts groups of
``executor.cams_per_worker`` cameras on Ray actors, each running the same
:class:`~pipeline.loop.CameraGroupProducer` a local run uses; the association
(:class:`~pipeline.loop.AssociationConsumer`) and the outputs stay in this process. Ray is an
optional extra (``pip install 'reid-pipeline[ray]'``), imported only when ``--executor ray`` is asked.
"""

from __future__ import annotations

__all__ = ["group_cameras"]


def group_cameras(cam_ids: list[str], cams_per_worker: int) -> list[list[str]]:
    """Consecutive groups of at most ``cams_per_worker`` cameras, in the order given.

    >>> group_cameras(["a", "b", "c", "d", "e"], 2)
    [['a', 'b'], ['c', 'd'], ['e']]
    """
    return [cam_ids[i : i + cams_per_worker] for i in range(0, len(cam_ids), cams_per_worker)]
