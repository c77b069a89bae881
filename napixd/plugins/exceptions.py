"""The WSGI middleware that turns uncaught exceptions into Napix JSON errors.

A failed request answers ``500`` with a JSON object::

    {"request": {"method": "GET", "path": "/vm/10"},
     "error_class": "HTTPError", "error_text": "...",
     "traceback": [{"filename": ..., "line": ..., "in": ..., "call": ...}, ...],
     "filename": ..., "line": ...,
     "remote_call": "GET server-b.napix.nx/vm/10",     # only for an HTTPError
     "remote_error": ...}                              # only for an HTTPError

``remote_error`` is the remote server's own error (its text form, or its whole
JSON object), so an error raised three servers away arrives with the whole
chain. No credential is ever part of it: ``remote_call`` is the request
without its signature or token, and the request's headers are not included.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from types import TracebackType
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional

from napix.exceptions import HTTPError

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ['ExceptionsCatcher']

logger = logging.getLogger('Napix.Errors')

_NEVER_CAUGHT = (MemoryError, SystemExit, KeyboardInterrupt, GeneratorExit)
# The traceback starts at the first frame outside napixd (the middleware, the
# test server), where the service's own code begins.
_FRAMEWORK_DIRS = (os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,)


class ExceptionsCatcher(object):
    """Wrap a WSGI *application*; answer its uncaught exceptions with a JSON 500.

    :param show_errors: also log each caught exception with its traceback on
        the ``Napix.Errors`` logger.

    ``MemoryError``, ``SystemExit`` and ``KeyboardInterrupt`` are never caught.
    When the error object cannot be encoded as JSON, the body is a
    ``text/plain`` explanation, still with status 500.
    """

    def __init__(self, application: WSGIApplication, show_errors: bool = False) -> None:
        self.application = application
        self.show_errors = show_errors

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        try:
            return self.application(environ, start_response)
        except _NEVER_CAUGHT:
            raise
        except Exception as error:
            exc_info = sys.exc_info()
            if self.show_errors:
                logger.error('%s %s failed', environ.get('REQUEST_METHOD'),
                             environ.get('PATH_INFO'), exc_info=exc_info)
            report = self.extract_error(environ, error, exc_info[2])
            try:
                body = json.dumps(report).encode('utf-8')
                content_type = 'application/json'
            except (TypeError, ValueError) as encoding_error:
                body = ('{0}: {1}\n\n(the error details could not be encoded as JSON: '
                        '{2})\n'.format(report['error_class'], report['error_text'],
                                        encoding_error)).encode('utf-8', 'replace')
                content_type = 'text/plain; charset=utf-8'
            start_response('500 Internal Server Error', [
                ('Content-Type', content_type), ('Content-Length', str(len(body)))],
                exc_info)
            return [body]

    def extract_error(self, environ: WSGIEnvironment, error: BaseException,
                      tb: Optional[TracebackType]) -> Dict[str, Any]:
        """The JSON-ready ``dict`` describing *error* (see the module's doc)."""
        frames: List[traceback.FrameSummary] = traceback.extract_tb(tb)
        start = 0
        while start < len(frames) - 1 and frames[start].filename.startswith(_FRAMEWORK_DIRS):
            start += 1
        frames = frames[start:]
        report: Dict[str, Any] = {
            'request': {
                'method': environ.get('REQUEST_METHOD'),
                'path': environ.get('PATH_INFO'),
            },
            'error_class': type(error).__name__,
            'error_text': str(error),
            'traceback': [{'filename': f.filename, 'line': f.lineno, 'in': f.name,
                           'call': f.line} for f in frames],
            'filename': frames[-1].filename if frames else None,
            'line': frames[-1].lineno if frames else None,
        }
        if isinstance(error, HTTPError):
            report['remote_call'] = error.remote_call
            report['remote_error'] = error.remote_error
        return report
