"""Training of the Siamese correspondence network (``reid-train``); the folder is the recipe:

- :mod:`~reid_core.training.config`: the YAML recipe as frozen dataclasses (the only defaults);
- :mod:`~reid_core.training.data`: protocol splits of the recipe's data sets, merged and decoded;
- :mod:`~reid_core.training.engine`: the generic loop (schedule, checkpoints, resume, evaluation records);
- :mod:`~reid_core.training.siamese`: the Siamese step, hard negative mining and hard-identity rounds;
- :mod:`~reid_core.training.run`: :func:`train`, the wiring of the above.

Random streams are named in :mod:`reid_core.rng`; CMC evaluation is :mod:`reid_core.evaluate`.
"""
