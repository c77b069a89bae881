"""Event hooks: functions called with each request, response and error, as
httpx has them.

    >>> def tag(request):
    ...     request.headers['X-Caller'] = 'billing'
    >>> def log(response):
    ...     print(response.status, response.timings.total)
    >>> hooks = {'request': [tag], 'response': [log]}
    >>> client = Client(host, auth, event_hooks=hooks)                 # doctest: +SKIP

``event_hooks`` is accepted by :class:`~napix.connection.Connection`,
:class:`~napixd.client.Client` and :class:`~napixd.client.ClientPool` (for
every host), and by ``Connection.request()``, ``Client.request()`` and
``Client.send()`` for one request (after the connection's): a mapping of
``'request'``, ``'response'`` and ``'error'`` to lists of callables, each
called with one argument, in order:

* a ``request`` hook gets the :class:`~napix.models.Request` before it is
  signed, once per attempt (a retried request is a new copy each time; an
  attempt is what goes to the server: none when a breaker's open circuit
  refuses it, one for napixd's busy ``429`` and its resend), and may change
  it (add headers: the signature covers the method, host and path);
* a ``response`` hook gets the :class:`~napix.models.Response` of a status
  below 400, decoded;
* an ``error`` hook gets the :exc:`~napix.exceptions.HTTPError` of an attempt
  that failed (a status of 400 or more, or no usable response), before it is
  raised (or retried).

A response or error hook sees the request with its credentials hidden
(``<hidden>``, and no secret query parameter): it is given the response or
error with a copy of the request in place of the signed one while it runs.

A hook that raises makes that request fail with a :exc:`HookError` whose
``__cause__`` is the hook's exception (the hooks after it are not called); in
a pool, the other requests go on. A connection without hooks pays nothing
for them: one with hooks is of a subclass of its own, whose ``send_in`` runs
them (``Connection.with_hooks()`` gives one more).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Iterable, List, Optional, Tuple

from napix.exceptions import HTTPError, TransportError
from napix.headers import _CREDENTIAL_HEADERS
from napix.models import Headers, Request, Response
from napix.timings import stamped_as

__all__ = ['EventHooks', 'HookError', 'EVENTS', 'check_event_hooks']

#: The events a hook may be given for.
EVENTS = ('request', 'response', 'error')

Hook = Callable[[Any], object]


class HookError(TransportError):
    """An event hook raised: the request failed; ``__cause__`` is what it raised."""


class EventHooks(object):
    """The hooks of each event: ``request``, ``response`` and ``error``,
    tuples of callables (see the module's documentation)."""

    __slots__ = EVENTS

    def __init__(self, request: Iterable[Hook] = (), response: Iterable[Hook] = (),
                 error: Iterable[Hook] = ()) -> None:
        self.request: Tuple[Hook, ...] = tuple(request)
        self.response: Tuple[Hook, ...] = tuple(response)
        self.error: Tuple[Hook, ...] = tuple(error)

    def send(self, attempt: Callable[[Request], Response], request: Request) -> Response:
        """``attempt(request)``, one attempt of *request* (it signs, sends
        and decodes, and raises an :exc:`~napix.exceptions.HTTPError` on
        failure), with the hooks around it."""
        for hook in self.request:
            _call(hook, request, request, 'request')
        try:
            response = attempt(request)
        except HTTPError as error:
            if self.error:
                with _hidden(error):
                    for hook in self.error:
                        _call(hook, error, error.request or request, 'error')
            raise
        if self.response:
            with _hidden(response):
                for hook in self.response:
                    _call(hook, response, request, 'response')
        return response

    def __add__(self, other: 'EventHooks') -> 'EventHooks':
        """These hooks, then *other*'s, for each event."""
        return EventHooks(self.request + other.request, self.response + other.response,
                          self.error + other.error)

    def __bool__(self) -> bool:
        return bool(self.request or self.response or self.error)

    def __repr__(self) -> str:
        return '<EventHooks {0}>'.format(', '.join(
            '{0}: {1}'.format(event, len(getattr(self, event))) for event in EVENTS))


def check_event_hooks(hooks: Any) -> Optional[EventHooks]:
    """*hooks* (``event_hooks=``) checked: ``None`` (no hook), an
    :class:`EventHooks`, or a mapping of event names to lists of callables;
    :exc:`TypeError` or :exc:`ValueError` naming ``event_hooks`` otherwise.
    No hook at all is ``None``: a connection then pays nothing for them."""
    if hooks is None or isinstance(hooks, EventHooks):
        return hooks or None
    if not isinstance(hooks, Mapping):
        raise TypeError("event_hooks must be a mapping of 'request', 'response' and 'error' "
                        'to lists of callables, not {0}'.format(type(hooks).__name__))
    lists = {}
    for event, functions in hooks.items():
        if event not in EVENTS:
            raise ValueError('event_hooks: unknown event {0!r}: expected {1}'.format(
                event, ', '.join(repr(e) for e in EVENTS)))
        if callable(functions) or isinstance(functions, (str, bytes)) \
                or not isinstance(functions, Iterable):
            raise TypeError('event_hooks[{0!r}] must be a list of callables, not {1}'.format(
                event, type(functions).__name__))
        functions = list(functions)
        for function in functions:
            if not callable(function):
                raise TypeError('event_hooks[{0!r}]: {1!r} is not callable'.format(
                    event, function))
        lists[event] = functions
    return EventHooks(**lists) or None


def _call(hook: Hook, argument: Any, request: Request, event: str) -> None:
    try:
        hook(argument)
    except Exception as error:
        failure = HookError(request, error, '{0} failed: the {1} hook {2} raised {3}: {4}'.format(
            request, event, _name(hook), type(error).__name__, error))
        raise failure from error


def _name(hook: Hook) -> str:
    return getattr(hook, '__qualname__', None) or type(hook).__name__


class _hidden(object):
    """While it lasts, *result* (a response or an error, and the error's
    response) refers to a copy of its request without credentials."""

    def __init__(self, result: Any) -> None:
        self.holders: List[Any] = [result]
        response = getattr(result, 'response', None)
        if response is not None:
            self.holders.append(response)
        self.saved: List[Any] = []

    def __enter__(self) -> None:
        for holder in self.holders:
            request = holder.request
            self.saved.append(request)
            if request is not None:
                holder.request = redacted(request)

    def __exit__(self, *exc_info: object) -> None:
        for holder, request in zip(self.holders, self.saved, strict=True):
            holder.request = request


def redacted(request: Request) -> Request:
    """A copy of *request* as sent, its credentials (``Authorization``,
    ``Proxy-Authorization``, ``Cookie``, secret query parameters) hidden."""
    headers = Headers()
    for name, value in request.headers.raw_items():
        headers[name] = value if name.lower() not in _CREDENTIAL_HEADERS else '<hidden>'
    return stamped_as(request, Request(request.method, request.host, request.authority,
                                       request.public_url(), headers, request.body,
                                       request.timeout))

