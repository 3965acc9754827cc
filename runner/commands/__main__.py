"""``python -m runner.commands PLAYBOOK [-e k=v ...] [--check] [--diff] [--tags a,b]``."""

import sys

from runner.commands.runbook import main

if __name__ == "__main__":
    sys.exit(main())
