"""Soft tissue: the XPBD solver (``solver``), its numba kernels (``kernels``), a plain-numpy
reference (``reference``) and visual embedding (``embedding``). Enable with ``plugins: [softbody]``.

Import the modules of this folder directly (``vrmed.systems.tissue.<module>``);
packs use the public pack API, :mod:`vrmed.api`.
"""
