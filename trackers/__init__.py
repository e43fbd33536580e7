"""Single-camera multi-object tracking (SORT, ByteTrack): numpy/scipy/filterpy only."""
