"""Help texts wrapped to the terminal they are shown in.

:class:`HelpFormatter` is argparse's, with descriptions and epilogs written in
a small line format, refilled to the width argparse picked (the terminal's,
or 80 columns when the output is not a terminal):

* a blank line stays; a line at column 0 ending with ``:`` is a heading;
* a line indented by 2 whose text starts with ``napix `` or ``python -m ``,
  after a blank line or another such line, is an example command line:
  printed whole, however narrow the terminal;
* a line indented by 8 or more is printed as it is (a file's content);
* a line starting with a marker (``1.``, ``130``, ``-``) followed by spaces
  starts an item; its text wraps with a hanging indent under the text;
* any other line continues the paragraph or item above it when it is
  indented as that one's text, and starts a new paragraph otherwise.
"""

from __future__ import annotations

import argparse
import re
import textwrap
from typing import List, Optional, Tuple

__all__ = ['HelpFormatter', 'fill']

_ITEM = re.compile(r'( *)(\d+\.?|-)( +)(?=\S)')
_VERBATIM_INDENT = 8
_EXAMPLES = ('napix ', 'python -m ')  # how an example command line starts


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter; descriptions and epilogs refilled by :func:`fill`."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return fill(text, max(width, 20), indent)


def fill(text: str, width: int, indent: str = '') -> str:
    """*text*, in the line format of this module, refilled to *width* columns."""
    out: List[str] = []
    paragraph: Optional[Tuple[str, str, List[str]]] = None  # first prefix, hanging, words

    def flush() -> None:
        nonlocal paragraph
        if paragraph is not None:
            first, hanging, words = paragraph
            out.extend(textwrap.wrap(' '.join(words), width, initial_indent=first,
                                     subsequent_indent=hanging, break_long_words=False,
                                     break_on_hyphens=False) or [first.rstrip()])
            paragraph = None

    after_break = True  # after a blank line or an example
    for line in text.splitlines():
        stripped = line.strip()
        spaces = len(line) - len(line.lstrip(' '))
        example = after_break and spaces == 2 and stripped.startswith(_EXAMPLES)
        after_break = not stripped or example
        if not stripped or example or spaces >= _VERBATIM_INDENT:
            flush()
            out.append(indent + line.rstrip() if stripped else '')
            continue
        if spaces == 0 and stripped.endswith(':'):  # a heading
            flush()
            out.extend(textwrap.wrap(indent + stripped, width, subsequent_indent=indent + '  ',
                                     break_long_words=False))
            continue
        item = _ITEM.match(line)
        if item is not None:
            flush()
            prefix = item.group(0)
            paragraph = (indent + prefix, indent + ' ' * len(prefix), [line[len(prefix):]])
        elif paragraph is not None and indent + ' ' * spaces == paragraph[1]:
            paragraph[2].append(stripped)
        else:
            flush()
            paragraph = (indent + ' ' * spaces, indent + ' ' * spaces, [stripped])
    flush()
    return '\n'.join(out)

