"""Command-line entry point: ``eigengrad demo`` (also ``python -m eigengrad demo``)."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the requested command; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="eigengrad",
        description="Derivatives of eigendecompositions that are exact, or say why not.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "demo", help="compare native torch and eigengrad derivatives on known failure cases"
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run

        return run()
    return 2  # pragma: no cover - argparse rejects unknown commands
