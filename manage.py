#!/usr/bin/env python
"""Django's command-line utility for commhub."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commhub.settings")
    from django.core.management import execute_from_command_line

    from audit.context import set_command

    if len(sys.argv) > 1:
        set_command(sys.argv[1])  # what the command writes is audited as the command's doing
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
