"""Values found by the key in front of them.

Examples: ``cvv=123``, ``"password": "..."``, ``X-Api-Key: ...``, ``<pin>1234</pin>``,
``?token=...``.

The key names come from a :class:`~redactor.keys.KeyCatalog`. The regex only proposes
candidates: the catalogue's words are compiled into a character trie with explicit
``[Xx]`` classes, so a scan position that cannot start a key is rejected by one class
test per alternative, and separators between words are optional (``card_number``,
``cardNumber``, ``card-number``, ``Card Number``). The resolver then reads the whole key
as written (``db_password``, ``x-api-key``) and asks the catalogue for its kind, so text
and structured events follow exactly the same key rules, allow-list included.

Value forms: double-quoted (JSON, and JSON escaped inside another JSON string),
single-quoted, an existing ``[PLACEHOLDER]``, grouped digits (cards, ``(917) 555-0112``)
or IBAN groups, and bare tokens up to a delimiter. An optional auth scheme (``Bearer``,
``Basic``...) is kept visible. A key followed by ``{`` or ``[`` is a candidate but not a
finding in text; structural redaction handles such values whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from redactor.detectors.base import Candidate, Detector, Hit, Resolver, Trigger
from redactor.keys import KeyCatalog

__all__ = ["Trie", "build_trie", "keyed_detectors", "render_trie"]

_SEP = "\x00"  # trie marker for "optional separator between words"
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
_SCHEME = (
    r"(?: (?i: bearer | basic | token | digest | negotiate | ntlm | bot | apikey | hmac"
    r" | aws4-hmac-sha256 | sso-key ) [\ \t]+ )?"
)
_AFTER_GROUPS = r"""(?= [\s,;&"'<)}\]] | \Z )"""


Trie = dict[str, "Trie"]


def build_trie(words_list: Iterable[tuple[str, ...]], *, reverse: bool = False) -> Trie:
    """Build a character trie of terms; words are joined by an optional-separator mark."""
    root: Trie = {}
    for words in words_list:
        node = root
        joined = _SEP.join(words)
        for char in reversed(joined) if reverse else joined:
            node = node.setdefault(char, {})
        node[""] = {}
    return root


def render_trie(node: Trie, *, cased: bool = True) -> str:
    """Render a trie as a regex: each step is one class test, so it cannot blow up.

    Args:
        node: the trie (or a subtree).
        cased: match letters in either case with ``[Xx]`` classes; False matches the
            lower-case letter only (for text already lower-cased).
    """
    branches = []
    optional = False
    for char in sorted(node):
        if char == "":
            optional = True
            continue
        if char == _SEP:
            head = r"[_\-.\ ]?"
        elif char.isalpha() and cased:
            head = f"[{char.upper()}{char}]"
        else:
            head = re.escape(char)
        branches.append(head + render_trie(node[char], cased=cased))
    if not branches:
        return ""
    if len(branches) == 1 and not optional:
        return branches[0]
    return "(?:" + "|".join(branches) + ")" + ("?" if optional else "")


def _first_char_dispatch(root: Trie) -> str:
    """Render the trie after its first letter was consumed by a plain class test.

    The detector starts with ``[A-Za-z]`` (so the combined scan rejects it in one step)
    and a lookbehind on that letter picks the branch of the trie to continue with.
    """
    branches = [
        f"(?<=[{char.upper()}{char}]){render_trie(child)}" for char, child in sorted(root.items())
    ]
    return "(?:" + "|".join(branches) + ")"


def _full_key(string: str, start: int, end: int) -> str:
    """Extend a matched key leftwards over key characters: ``db_`` + ``password``."""
    limit = max(0, start - 128)
    while start > limit and string[start - 1] in _KEY_CHARS:
        start -= 1
    return string[start:end]


def _make_resolver(catalog: KeyCatalog, key_group: str) -> Resolver:
    """Resolve a key=value candidate: the key's kind, and the value as the span.

    The candidate's span is already the first value group that took part (the engine
    reads the detector's groups in order); when none did, only the object/array form
    matched, which is structural redaction's job.
    """

    def resolve(candidate: Candidate) -> Hit | None:
        if key_group == "ke":
            key_start, key_end = candidate.origin, candidate.span("ke")[0]
        else:
            key_start, key_end = candidate.span(key_group)
        kind = catalog.kind_of(_full_key(candidate.string, key_start, key_end))
        if kind is None or not candidate.grouped:
            return None
        if candidate.string.startswith("-----BEGIN", candidate.start):
            # A key block: leave it to the private key detector, which takes the whole
            # block instead of its first word.
            return None
        return Hit(candidate.start, candidate.end, kind)

    return resolve


def keyed_detectors(catalog: KeyCatalog) -> tuple[Detector, ...]:
    """Build the key=value and XML-element detectors for ``catalog``.

    Args:
        catalog: the sensitive key names in force (built-in plus policy additions).

    Returns:
        Two detectors, ``key.value`` and ``key.xml``, both of kind ``key``; each hit
        carries the kind of the key that matched.
    """
    trie = _first_char_dispatch(build_trie(term.words for term in catalog.terms))
    value_groups = ("v", "v2", "v3", "v4", "v5", "v6", "v7")
    pattern = rf"""
    [A-Za-z] (?: (?<![A-Za-z0-9].) | (?<=[a-z0-9][A-Z]) )   # key start or camelCase hump
    {trie} (?: [_\-.]? [0-9]{{1,3}} )?                        # the key, maybe numbered
    (?P<ke>)                                                 # (see KeyCatalog)
    \]?                                                      # params[password]=
    (?: \\?["'] )?                                           # end of a quoted key
    [\ \t]* (?: [:=]=? | => | %3[DdAa] ) [\ \t]*             # separator
    (?:
        " {_SCHEME} (?P<v> (?: [^"\\\n] | \\[^\n] ){{1,4096}} ) "?
      | \\" {_SCHEME} (?P<v2> (?: [^"\\\n] | \\[^"\n] ){{1,4096}} ) (?: \\" )?
      | ' {_SCHEME} (?P<v3> [^'\n]{{1,4096}} ) '?
      | {_SCHEME} (?P<v4> \[ [A-Za-z0-9_:\-\ ]{{1,64}} \] )
      | {_SCHEME} (?P<v5> [+(]{{0,2}} [0-9]{{1,8}} \)?
                        (?: [\ \-.]{{1,2}} \(? [0-9]{{2,8}} \)? ){{1,8}} ) {_AFTER_GROUPS}
      | (?P<v6> [A-Z]{{2}} [0-9]{{2}} (?: \ [A-Z0-9]{{1,4}} ){{2,8}} ) {_AFTER_GROUPS}
      | {_SCHEME} (?P<v7> [^\s"'&;,<>\\{{}}\[\]()|]{{1,4096}} )
      | (?P<vobj> [{{\[] )
    )
    """
    xml = r"""
    < (?: [A-Za-z0-9_\-]{1,32} : )?                          # optional namespace prefix
    (?P<k> [A-Za-z_] [A-Za-z0-9_\-.]{0,63} )
    (?: [\ \t] [^<>]{0,256} )? >
    (?P<v> [^<]{1,4096} ) </
    """
    return (
        Detector(
            name="key.value",
            kind="key",
            pattern=pattern,
            groups=value_groups,
            resolve=_make_resolver(catalog, "ke"),
            trigger=Trigger(keyed=True),
        ),
        Detector(
            name="key.xml",
            kind="key",
            pattern=xml,
            groups=("v",),
            resolve=_make_resolver(catalog, "k"),
            trigger=Trigger(anchors=("</",)),
        ),
    )
