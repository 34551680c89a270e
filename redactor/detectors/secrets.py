"""Credentials with a recognisable shape: vendor API keys, tokens, JWTs, private keys.

Vendor keys keep their public type prefix (``sk_live_``, ``ghp_``, ``AKIA``) and lose the
secret part, so a reader can still tell which environment or vendor leaked. JWTs and
private key blocks are removed whole. ``Bearer <token>`` in free text keeps the word
``Bearer``; the token must look random (mixed case or digits, 16+ characters) so prose
such as "bearer authentication" is left alone.
"""

from __future__ import annotations

import re

from redactor.detectors.base import Candidate, Detector, Hit, Trigger

__all__ = ["SECRET_DETECTORS", "looks_random"]


def looks_random(token: str) -> bool:
    """Return whether ``token`` has the character mix of a generated credential.

    Args:
        token: a candidate token without its scheme word.

    Returns:
        True for 16+ characters containing a digit, or both upper- and lower-case.
    """
    if len(token) < 16:
        return False
    has_digit = any(c.isdigit() for c in token)
    return has_digit or (any(c.isupper() for c in token) and any(c.islower() for c in token))


def _resolve_random(candidate: Candidate) -> Hit | None:
    return Hit(candidate.start, candidate.end, "secret") if looks_random(candidate.text) else None


def _vendor(name: str, prefixes: str, body: str) -> tuple[Detector, ...]:
    """Detectors for a key made of a public prefix (kept) and a secret body (replaced).

    One detector per prefix, so each starts with a literal and carries it as its
    trigger; the boundary lookbehind sits after the prefix.
    """
    detectors = []
    for prefix in prefixes.split():
        escaped = re.escape(prefix)
        boundary = rf"(?<![A-Za-z0-9_\-].{{{len(prefix)}}})"
        detectors.append(
            Detector(
                name=f"secret.{name}",
                kind="secret",
                pattern=rf"{escaped} {boundary} (?P<v>{body})",
                trigger=Trigger(anchors=(prefix,)),
            )
        )
    return tuple(detectors)


SECRET_DETECTORS: tuple[Detector, ...] = (
    Detector(
        name="secret.private_key",
        kind="secret",
        pattern=r"""
        -----BEGIN [A-Z0-9\ ]{0,40} PRIVATE\ KEY (?:\ BLOCK)? -----
        (?P<v>
          # Greedy but unable to step into the END line, so it never backtracks; bounded
          # so a block without its END line costs at most 16 KiB.
          (?: [^\-] | -(?!----END) ){0,16384}
          (?: -----END [A-Z0-9\ ]{0,40} PRIVATE\ KEY (?:\ BLOCK)? ----- )?
        )""",
        trigger=Trigger(anchors=("-----BEGIN",)),
    ),
    *_vendor("stripe", "sk_live_ sk_test_ rk_live_ rk_test_ whsec_", r"[A-Za-z0-9]{10,}"),
    *_vendor(
        "aws_access_key_id",
        "AKIA ASIA ABIA ACCA AGPA AIDA AIPA ANPA ANVA AROA APKA ASCA",
        r"[A-Z0-9]{16}(?![A-Za-z0-9])",
    ),
    *_vendor("github", "ghp_ gho_ ghu_ ghs_ ghr_", r"[A-Za-z0-9]{30,}"),
    *_vendor("github_pat", "github_pat_", r"[A-Za-z0-9_]{30,}"),
    *_vendor("gitlab", "glpat- glrt- gldt- glptt- glcbt- glsoat-", r"[A-Za-z0-9_\-]{20,}"),
    *_vendor("slack", "xoxa- xoxb- xoxp- xoxo- xoxs- xoxr- xoxe- xapp-", r"[A-Za-z0-9\-]{10,}"),
    *_vendor("google_api_key", "AIza", r"[0-9A-Za-z_\-]{35}"),
    *_vendor("openai", "sk-proj- sk-ant- sk-svcacct- sk-", r"[A-Za-z0-9_\-]{20,}"),
    *_vendor("sendgrid", "SG.", r"[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}"),
    *_vendor("npm", "npm_", r"[A-Za-z0-9]{36}"),
    *_vendor("pypi", "pypi-", r"AgE[A-Za-z0-9_\-]{50,}"),
    *_vendor("shopify", "shpat_ shpca_ shppa_ shpss_", r"[a-fA-F0-9]{32}"),
    *_vendor("square", "sq0atp- sq0csp-", r"[0-9A-Za-z_\-]{22,}"),
    *_vendor("twilio", "SK", r"[0-9a-f]{32}(?![A-Za-z0-9])"),
    Detector(
        name="secret.jwt",
        kind="secret",
        pattern=r"""
        eyJ (?<![A-Za-z0-9_\-]eyJ)
        [A-Za-z0-9_\-]{8,} \. eyJ[A-Za-z0-9_\-]{8,} \. [A-Za-z0-9_\-]*
        """,
        groups=(),
        trigger=Trigger(anchors=("eyJ",)),
    ),
    Detector(
        name="secret.bearer",
        kind="secret",
        pattern=r"""
        [Bb] (?<![A-Za-z0-9].) earer [\ \t]+
        (?P<v> [A-Za-z0-9\-._~+/]{16,} =* )
        """,
        resolve=_resolve_random,
        trigger=Trigger(anchors=("Bearer", "bearer")),
    ),
)
