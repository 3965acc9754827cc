"""The command line every project's ``generate.py`` shares: ``--rows --seed --shift --out``.

Part of the small interface a project uses (with ``runner.ml.schemas`` for its contract
and ``runner.serving.records`` for its service): the DVC ``generate`` stage, the lifecycle's
drift drills (``Project.generate_argv``) and the tests all call a generator the same way,
so the flags live here once and a project supplies only ``generate(rows, seed, shift)``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def run(generate: Callable[[int, int, float], Any], *, rows: int, out: str,
        description: str, argv: Sequence[str] | None = None) -> None:
    """Parse the flags and write ``generate(rows, seed, shift)`` as CSV to ``--out``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rows", type=int, default=rows)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--shift", type=float, default=0.0, help="0 = none, 1 = strong drift")
    parser.add_argument("--out", type=Path, default=Path(out))
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    generate(args.rows, args.seed, args.shift).to_csv(args.out, index=False)
