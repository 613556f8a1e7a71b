"""`python -m subwarden` runs the CLI."""

from subwarden.cli import main

main()
