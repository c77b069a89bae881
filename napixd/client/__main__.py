"""``python -m napixd.client``: the ``napix`` command (see :mod:`napixd.cli`)."""

from __future__ import annotations

import sys
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``napix`` console script; returns the exit status."""
    try:
        from napixd.cli import main as cli_main
    except KeyboardInterrupt:
        return 130
    return cli_main(argv)


if __name__ == '__main__':
    sys.exit(main())
