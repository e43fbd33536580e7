"""Shared infrastructure below ``trackers``, ``reid_core`` and ``pipeline``; imports none of them.

- :mod:`infra.errors`: user errors (one line, exit code 2) and the CLI wrapper;
- :mod:`infra.fileio`: atomic file output and writability checks;
- :mod:`infra.yaml_config`: YAML files → frozen dataclasses, strictly;
- :mod:`infra.device`: ``auto``/``cpu``/``cuda:N`` → a torch device (torch imported on use);
- :mod:`infra.boxes`: box formats (xyxy, tlwh, xysr) and IoU over arrays;
- :mod:`infra.motchallenge`: MOTChallenge text files and ``seqinfo.ini``.
"""
