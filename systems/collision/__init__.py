"""Collision of kinematic tools with deforming tissue inside the XPBD substep (``system``,
``kernels``). Enable with ``plugins: [collision]``.

Import the modules of this folder directly (``vrmed.systems.collision.<module>``);
packs use the public pack API, :mod:`vrmed.api`.
"""
