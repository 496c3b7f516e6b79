"""``python -m streams`` runs the ``streams`` command line."""

from streams.cli import main

main()
