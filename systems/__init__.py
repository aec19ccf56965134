"""Built-in systems (installed as ``vrmed.systems``): one concern per module, numba kernels
in sibling ``*_kernels`` modules."""
