"""The pulse_drill vrmed pack (pack.yaml, prefabs, scenarios and systems.py live here)."""
