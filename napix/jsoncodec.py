"""JSON as the library reads and writes it: :func:`loads` (orjson's decoder
where it is installed, else the standard library's without its Python
layers) and :func:`dumps` (compact, NaN refused). Below the models, which
re-export both: it imports nothing of :mod:`napix`.
"""

from __future__ import annotations

import json
import json.encoder
import json.scanner
from typing import Any, Callable

__all__ = ['loads', 'dumps']

# The standard library's scanner, without json.loads' Python layers
# (encoding detection, decode, raw_decode, two whitespace matches).
_scan_json = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _stdlib_loads(content: bytes) -> Any:
    """``json.loads(content)``: the same value for valid JSON, the same
    :exc:`ValueError` for invalid. What servers send (an object or an array
    in UTF-8, perhaps followed by blanks, as Flask's newline) is decoded once
    and scanned straight away; anything else goes through :func:`json.loads`."""
    # A first byte of '{' or '[': no BOM, and json.loads would detect UTF-8
    # unless the second byte is NUL (UTF-16 or UTF-32), which no JSON text
    # scanned as UTF-8 has there: it fails, and json.loads decodes it.
    if content[:1] in b'{[':
        try:
            text = content.decode('utf-8', 'surrogatepass')
            value, end = _scan_json(text, 0)
            if end == len(text) or not text[end:].strip(_JSON_BLANKS):
                return value
        except (ValueError, StopIteration):
            pass  # json.loads raises the error, with its message
    return json.loads(content)


#: The whitespace JSON allows around a value (str.isspace() allows more).
_JSON_BLANKS = ' \t\n\r'


#: Decode JSON from ``bytes``: orjson's decoder, installed with the library on
#: CPython; the standard library's (:func:`json.loads`'s results) where orjson is not.
loads: Callable[[bytes], Any] = _stdlib_loads
try:
    import orjson
except ImportError:  # pragma: no cover - not installed off CPython
    pass
else:
    loads = orjson.loads


# One encoder for every body: json.dumps() with options makes one per call.
_json_encoder = json.JSONEncoder(separators=(',', ':'), allow_nan=False)
# The standard library's C encoder, without JSONEncoder's Python layers (an
# isinstance, a closure made per call): what JSONEncoder.encode() calls.
_c_make_encoder: Any = getattr(json.encoder, 'c_make_encoder', None)


def dumps(value: Any) -> bytes:
    """Encode *value* as compact JSON, in UTF-8; NaN and infinities are refused
    (``json.dumps(value, separators=(',', ':'), allow_nan=False)``: the same
    text, the same errors)."""
    # Markers of its own (circular references), as JSONEncoder.iterencode makes.
    encode = _c_make_encoder({}, _json_encoder.default, json.encoder.encode_basestring_ascii,
                             None, ':', ',', False, False, False)
    return ''.join(encode(value, 0)).encode('utf-8')


if _c_make_encoder is None:  # pragma: no cover - no C accelerator (PyPy)
    def dumps(value: Any) -> bytes:  # noqa: F811
        """Encode *value* as compact JSON, in UTF-8; NaN and infinities are refused."""
        return _json_encoder.encode(value).encode('utf-8')
