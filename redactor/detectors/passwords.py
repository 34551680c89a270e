"""Passwords that have a shape of their own: URL userinfo and connection strings.

``scheme://user:password@host`` keeps the scheme, user and host for troubleshooting and
loses the password. Key-based passwords (``password=``, ``Pwd=`` in ADO.NET connection
strings, ``"passphrase":``) are found by :mod:`redactor.detectors.keyed`.
"""

from __future__ import annotations

from redactor.detectors.base import Detector, Trigger

__all__ = ["PASSWORD_DETECTORS"]

PASSWORD_DETECTORS: tuple[Detector, ...] = (
    Detector(
        name="password.url_userinfo",
        kind="password",
        pattern=r"""
        ://                                                   # after any scheme
        [^\s:/@?\#\[\]"'<>]{0,256} :                          # user (may be empty)
        (?P<v> [^\s/@?\#"'<>]{1,1024} )                       # password
        @
        """,
        trigger=Trigger(shapes=(("://", r"[^\s/@:]{0,256}:[^\s/@]{1,1024}@"),)),
    ),
)
