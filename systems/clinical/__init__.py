"""Clinical simulation: physiology, learner-action events, NEWS2, START triage, monitor
waveforms and clinical metrics. Enable with ``plugins: [physiology]``.

Import the modules of this folder directly (``vrmed.systems.clinical.<module>``);
packs use the public pack API, :mod:`vrmed.api`.
"""
