"""Laparoscopic instruments: trocar kinematics and tool behaviours (grasp, cut, burn, ...).
Enable with ``plugins: [instruments]``.

Import the modules of this folder directly (``vrmed.systems.instruments.<module>``);
packs use the public pack API, :mod:`vrmed.api`.
"""
