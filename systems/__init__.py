"""Built-in systems (installed as ``vrmed.systems``): one feature is one folder (``tissue/``,
``collision/``, ``instruments/``, ``planar/``, ``clinical/``), numba kernels beside the systems
that call them, and each feature's ``draw`` module the only one that imports the renderer."""
