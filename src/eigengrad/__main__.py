"""``python -m eigengrad``: the command-line interface."""

from ._cli import main

raise SystemExit(main())
