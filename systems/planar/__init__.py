"""Planar rigid bodies on a work surface with pymunk. Enable with ``plugins: [planar]``.

Import the modules of this folder directly (``vrmed.systems.planar.<module>``);
packs use the public pack API, :mod:`vrmed.api`.
"""
