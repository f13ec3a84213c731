"""`python -m ivr.cli`: the same as the `ivr` command."""

from ivr.cli import main

main()
