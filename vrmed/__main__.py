"""``python -m vrmed`` is the ``vrmed`` command."""

from .cli import main

main()
