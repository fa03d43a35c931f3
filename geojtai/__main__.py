"""``python -m geojtai`` runs the command line."""

from geojtai.cli import main

main()
