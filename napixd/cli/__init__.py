"""The ``napix`` command: one request fanned out to many Napix servers.

``napix [auth options] METHOD PATH HOST... [options]`` sends the request to
every host at once through a :class:`~napixd.client.ClientPool`; ``napix demo``
shows the library at work on local test servers. :func:`main` is the entry
point; the terminal library (*rich*) is imported only when something is drawn.

The modules, each importing only those listed after it:

* :mod:`napixd.cli.command`: the command itself (:func:`main`);
* :mod:`napixd.cli.demo`: ``napix demo``;
* :mod:`napixd.cli.options`: the argument parser and its help;
* :mod:`napixd.cli.credentials`: where the credentials (and the default port) come from;
* :mod:`napixd.cli.output`: what is printed and written: JSON lines, the
  report, the ``--failed`` file;
* :mod:`napixd.cli.render`: the progress bar, the table, the groups (*rich*);
* :mod:`napixd.cli.gather`: ``--gather``: the outcomes grouped by answer;
* :mod:`napixd.cli.fanout`: one request sent to many hosts;
* :mod:`napixd.cli.batches`: when each request is sent (``--batch``,
  ``--max-fail``);
* :mod:`napixd.cli.outcome`: what one host answered, in words;
* :mod:`napixd.cli.hostlist`: the hosts of a run, ranges expanded
  (:mod:`napix.nodeset`).
"""

from napixd.cli.command import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Command,
                                main, run_command)
from napixd.cli.options import METHODS, UsageError, build_parser

__all__ = ['main', 'build_parser', 'run_command', 'Command', 'UsageError', 'METHODS',
           'EXIT_OK', 'EXIT_FAILED', 'EXIT_USAGE', 'EXIT_INTERRUPTED']
