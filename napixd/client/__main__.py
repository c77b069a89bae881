"""``python -m napixd.client``: the ``napix`` command (see :mod:`napixd.cli`)."""

import sys


def main(argv=None):
    """Entry point of the ``napix`` console script; returns the exit status."""
    try:
        from napixd.cli import main as cli_main
    except KeyboardInterrupt:
        return 130
    return cli_main(argv)


if __name__ == '__main__':
    sys.exit(main())
