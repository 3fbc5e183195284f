"""JSON from outside (request bodies), refused when nested deeper than any of our formats needs.

``json.loads`` recurses once per level: ``'[' * 100000`` raised RecursionError (a 500, on anonymous routes
too), and a document a few hundred levels deep parses but breaks whatever walks it next. ``loads`` measures
the nesting on the raw bytes first (strings taken out, the brackets counted with numpy) and raises
``TooDeeplyNested`` — a ``ValueError``, as undecodable JSON is — before parsing.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import numpy as np

#: Deepest nesting accepted: our bodies are objects holding lists of objects at most; GeoJSON polygons with
#: holes inside a feature collection reach 6.
MAX_JSON_DEPTH: Final = 32

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


class TooDeeplyNested(ValueError):
    """The JSON is nested deeper than allowed."""


def json_depth(data: str | bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest (0 for a scalar; brackets inside strings do not
    count). Meant for text that may not even be JSON: it never recurses."""
    raw = data.encode("utf-8", errors="surrogatepass") if isinstance(data, str) else data
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", raw))
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def loads(data: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads``, refusing a text nested deeper than ``max_depth`` before it is parsed. A text with no
    more opening brackets than ``max_depth`` cannot nest deeper (counted first: cheap on a feed's lines)."""
    opening = (
        data.count("[") + data.count("{") if isinstance(data, str) else data.count(b"[") + data.count(b"{")
    )
    if opening > max_depth and (depth := json_depth(data)) > max_depth:
        raise TooDeeplyNested(f"The JSON is nested {depth} levels deep; at most {max_depth} are accepted")
    return json.loads(data)
