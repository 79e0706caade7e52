"""Text from agents, made safe to print on a person's terminal."""

from __future__ import annotations

import unicodedata

# Control (Cc: ESC, CR, BS, newline, C1 such as CSI), format (Cf: bidi overrides, zero-width), lone
# surrogates (Cs) and the Unicode line and paragraph separators (Zl, Zp).
_ESCAPED = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def printable(text: str) -> str:
    """`text` with every control, format (bidi) and line-separator character shown as an escape
    (`\\x1b`, `\\r`, `\\n`, `\\u202e`).

    Agents choose titles, body lines, ids, labels and input values, and error messages quote them. Printed
    raw, an escape sequence (`ESC ]0;...BEL`, `ESC [2J`) retitles or clears the person's terminal, a
    carriage return or backspace overwrites what was already shown, a bidi override makes text read
    backwards, and a newline forges a line of output. Escaped, each is visible for what it is and one
    printed field stays on one line.
    """
    if text.isprintable():  # the common case; False for every character escaped below (and a few more)
        return text
    return "".join(repr(ch)[1:-1] if unicodedata.category(ch) in _ESCAPED else ch for ch in text)
