"""Built-in content packs (installed as ``vrmed.content``), one folder each."""
