"""`python -m crmbot`: the same CLI as the `crmbot` command."""

from crmbot.cli import main

main()
