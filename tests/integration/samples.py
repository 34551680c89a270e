"""The sensitive sample table every logging integration is tested against.

Card numbers are published test numbers (card networks' and payment providers' test
cards); everything else is generated here from a fixed seed, with valid check digits
where the kind has them (IBAN mod-97, ABA routing, Spanish DNI/NIE letters), so no
value belongs to anyone. Each sample says how it appears in a log line (``text``),
which raw strings must never reach the output (``raw``), which fragment of the line
must survive (``keep``), and a sensitive key with a value for the by-key paths.

The module also holds what the integration tests share: the logging paths a sample is
sent through (message, %-args, extra, exceptions, stack info...), a generated source
module whose lines contain the samples (so tracebacks and stack info carry them the
way real source lines do), and the leak checks.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
import random
import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

_RNG = random.Random(20240611)
_ALNUM = string.ascii_letters + string.digits
_UPPER = string.ascii_uppercase + string.digits


def _gen(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


def _digits(n: int) -> str:
    return str(_RNG.randint(1, 9)) + _gen(n - 1, string.digits)


def _iban(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    number = int("".join(str(int(c, 36)) for c in rearranged))
    return f"{country}{98 - number % 97:02d}{bban}"


def _aba(first8: str) -> str:
    d = [int(c) for c in first8]
    total = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5])
    return first8 + str((10 - total % 10) % 10)


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _dni() -> str:
    number = _RNG.randint(10_000_000, 99_999_999)
    return f"{number}{_DNI_LETTERS[number % 23]}"


def _nie() -> str:
    prefix = _RNG.choice("XYZ")
    number = _RNG.randint(1_000_000, 9_999_999)
    letter = _DNI_LETTERS[("XYZ".index(prefix) * 10_000_000 + number) % 23]
    return f"{prefix}{number}{letter}"


def _ssn() -> str:
    area = _RNG.choice([a for a in range(100, 666) if a != 666])
    return f"{area:03d}-{_RNG.randint(10, 99):02d}-{_RNG.randint(1000, 9999):04d}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt() -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps({"sub": _digits(8), "iat": 1_700_000_000}).encode())
    return f"{header}.{payload}.{_b64(_RNG.randbytes(32))}"


@dataclass(frozen=True)
class Sample:
    """One sensitive value and how it shows up in logs.

    Attributes:
        name: short unique name; the marker ``case-<name>`` travels with it.
        kind: the core kind expected to catch it.
        text: a log fragment holding the value in context.
        raw: strings that must not appear anywhere in the output.
        keep: a non-sensitive fragment of ``text`` that must survive.
        key: a sensitive key name for the by-key paths.
        value: the value logged under ``key``.
    """

    name: str
    kind: str
    text: str
    # Not in the repr: tracebacks with locals (structlog's dict_tracebacks) print the
    # test's own variables, and a bare "9481" in a tuple is no CVV to any redactor.
    raw: tuple[str, ...] = field(repr=False)
    keep: str
    key: str
    value: Any = field(repr=False)

    @property
    def marker(self) -> str:
        """A non-sensitive token logged with the sample; it must survive."""
        return f"case-{self.name}"


def _s(
    name: str,
    kind: str,
    text: str,
    raw: str | tuple[str, ...],
    keep: str,
    key: str,
    value: Any = None,
) -> Sample:
    raws = (raw,) if isinstance(raw, str) else raw
    return Sample(name, kind, text, raws, keep, key, raws[0] if value is None else value)


_SK = "sk_live_" + _gen(24)
_RK = "rk_test_" + _gen(24)
_AWS_TAIL = _gen(16, _UPPER)
_GHP_TAIL = _gen(36)
_PAT = "github_pat_" + _gen(22) + "_" + _gen(59)
_GLPAT = "glpat-" + _gen(20)
_SLACK = f"xoxb-{_digits(12)}-{_digits(13)}-{_gen(24)}"
_GOOGLE = "AIza" + _gen(35, _ALNUM + "-_")
_JWT = _jwt()
_BEARER = _gen(32)
_API_KEY = _gen(24)
_PASSWORD = _gen(8) + "-" + _gen(6)
_DB_PASSWORD = _gen(12)
_CONN_PASSWORD = _gen(10) + "-" + _gen(4)
_IBAN_DE = _iban("DE", _digits(18))
_IBAN_GB = _iban("GB", "WEST" + _digits(14))
_IBAN_GB_SPACED = " ".join(_IBAN_GB[i : i + 4] for i in range(0, len(_IBAN_GB), 4))
_ACCOUNT = _digits(12)
_ROUTING = _aba("0" + _digits(7))
_SSN = _ssn()
_DNI = _dni()
_NIE = _nie()
_EMAIL = f"jose.garcia.{_digits(4)}@example.com"
_PHONE = f"+1415555{_RNG.randint(100, 199):04d}"
_PHONE_FMT = f"+1 (415) 555-{_RNG.randint(100, 199):04d}"
_PIN_BLOCK = _gen(16, "0123456789ABCDEF")
_TRACK2_DISC = _digits(16)

#: At least 30 samples; every kind of the core appears at least twice.
SAMPLES: tuple[Sample, ...] = (
    _s(
        "visa",
        "card",
        "paid with 4111111111111111 ok",
        "4111111111111111",
        "paid with",
        "card_number",
    ),
    _s(
        "visa-spaced",
        "card",
        "card 4012 8888 8888 1881 declined",
        ("4012 8888 8888 1881", "4012888888881881"),
        "declined",
        "cardNumber",
        "4012888888881881",
    ),
    _s("mastercard", "card", "mc 5555555555554444 charged", "5555555555554444", "charged", "pan"),
    _s(
        "mastercard-dashed",
        "card",
        "pan=5105-1051-0510-5100;",
        ("5105-1051-0510-5100", "5105105105105100"),
        "pan=",
        "credit_card",
        "5105-1051-0510-5100",
    ),
    _s(
        "mastercard-2series",
        "card",
        "card 2223003122003222 ok",
        "2223003122003222",
        "ok",
        "cc_number",
    ),
    _s("amex", "card", "amex 378282246310005 used", "378282246310005", "used", "card_no"),
    _s(
        "amex-465",
        "card",
        "amex 3714 496353 98431 used",
        ("3714 496353 98431", "371449635398431"),
        "used",
        "primary_account_number",
        "371449635398431",
    ),
    _s(
        "discover", "card", "discover 6011111111111117 auth", "6011111111111117", "auth", "card_pan"
    ),
    _s("jcb", "card", "jcb 3530111333300000 auth", "3530111333300000", "auth", "card-number"),
    _s("diners", "card", "diners 30569309025904 auth", "30569309025904", "auth", "CARD_NUMBER"),
    _s(
        "unionpay",
        "card",
        "up 6200000000000005 auth",
        "6200000000000005",
        "auth",
        "debit_card_number",
    ),
    _s(
        "card-json-number",
        "card",
        '{"amount": 10, "pan": 4242424242424242}',
        "4242424242424242",
        "amount",
        "credit_card_number",
        4242424242424242,
    ),
    _s(
        "card-query",
        "card",
        "GET /checkout?card=4000056655665556&amount=10 200",
        "4000056655665556",
        "GET /checkout?",
        "cardnumber",
    ),
    _s(
        "track1",
        "track",
        "swipe %B4000000000000002^DOE/JANE^2812101000000000000000? read",
        ("%B4000000000000002^DOE/JANE^2812101000000000000000?", "4000000000000002", "DOE/JANE"),
        "swipe",
        "track1",
    ),
    _s(
        "track2",
        "track",
        f"swipe ;5200828282828210=2812101{_TRACK2_DISC[:13]}? read",
        (f";5200828282828210=2812101{_TRACK2_DISC[:13]}?", "5200828282828210"),
        "read",
        "track2_data",
    ),
    _s("cvv", "cvv", "checkout cvv=9481 sent", "9481", "checkout", "cvv"),
    _s("cvc2", "cvv", "checkout cvc2: 9624 sent", "9624", "checkout", "cvc2"),
    _s("cid", "cvv", "amex cid=9317 sent", "9317", "amex", "cid"),
    _s("pin", "pin", "terminal pin=9731 entered", "9731", "terminal", "pin"),
    _s("pin-block", "pin", f"hsm pin_block={_PIN_BLOCK} ok", _PIN_BLOCK, "hsm", "pinBlock"),
    _s("stripe-live", "secret", f"key {_SK} loaded", (_SK, _SK[8:]), "loaded", "api_key"),
    _s("stripe-restricted", "secret", f"key {_RK} loaded", (_RK, _RK[8:]), "loaded", "secret_key"),
    _s(
        "aws-key-id",
        "secret",
        f"aws AKIA{_AWS_TAIL} used",
        ("AKIA" + _AWS_TAIL, _AWS_TAIL),
        "aws",
        "access_key",
        "AKIA" + _AWS_TAIL,
    ),
    _s(
        "github",
        "secret",
        f"push ghp_{_GHP_TAIL} ok",
        ("ghp_" + _GHP_TAIL, _GHP_TAIL),
        "push",
        "token",
        "ghp_" + _GHP_TAIL,
    ),
    _s("github-pat", "secret", f"push {_PAT} ok", (_PAT, _PAT[11:]), "push", "auth_token"),
    _s("gitlab", "secret", f"clone {_GLPAT} ok", (_GLPAT, _GLPAT[6:]), "clone", "private_token"),
    _s("slack", "secret", f"notify {_SLACK} ok", (_SLACK, _SLACK[5:]), "notify", "slack_token"),
    _s("google", "secret", f"maps {_GOOGLE} ok", (_GOOGLE, _GOOGLE[4:]), "maps", "x-api-key"),
    _s("jwt", "secret", f"session {_JWT} ok", (_JWT, _JWT.split(".")[2]), "session", "id_token"),
    _s(
        "bearer",
        "secret",
        f"Authorization: Bearer {_BEARER} forwarded",
        _BEARER,
        "forwarded",
        "Authorization",
        f"Bearer {_BEARER}",
    ),
    _s("api-key", "secret", f"call api_key={_API_KEY} done", _API_KEY, "done", "apiKey"),
    _s("password", "password", f"login password={_PASSWORD} ok", _PASSWORD, "login", "password"),
    _s(
        "url-userinfo",
        "password",
        f"connect postgres://app:{_DB_PASSWORD}@db.internal:5432/app",
        _DB_PASSWORD,
        "@db.internal:5432/app",
        "db_password",
    ),
    _s(
        "conn-string",
        "password",
        f"Server=db;User Id=app;Password={_CONN_PASSWORD};",
        _CONN_PASSWORD,
        "Server=db;",
        "passwd",
    ),
    _s("iban-de", "iban", f"sepa {_IBAN_DE} booked", _IBAN_DE, "booked", "iban"),
    _s(
        "iban-gb-spaced",
        "iban",
        f"sepa {_IBAN_GB_SPACED} booked",
        (_IBAN_GB_SPACED, _IBAN_GB),
        "booked",
        "iban_number",
        _IBAN_GB,
    ),
    _s(
        "account-number",
        "bank_account",
        f"ach account_number={_ACCOUNT} queued",
        _ACCOUNT,
        "queued",
        "account_number",
    ),
    _s(
        "routing",
        "bank_account",
        f"ach routing {_ROUTING} queued",
        _ROUTING,
        "queued",
        "routing_number",
    ),
    _s("ssn", "national_id", f"kyc ssn {_SSN} checked", _SSN, "checked", "ssn"),
    _s("dni", "national_id", f"kyc dni {_DNI} checked", _DNI, "checked", "dni"),
    _s("nie", "national_id", f"kyc nie {_NIE} checked", _NIE, "checked", "nie"),
    _s("email", "email", f"señora José <{_EMAIL}> notified", _EMAIL, "notified", "email"),
    _s("phone-e164", "phone", f"sms to {_PHONE} sent", _PHONE, "sent", "phone"),
    _s("phone-formatted", "phone", f"call {_PHONE_FMT} back", _PHONE_FMT, "back", "mobile"),
)

KINDS = frozenset(sample.kind for sample in SAMPLES)

# -- leak checks -----------------------------------------------------------------------

_SHORT = 6


def _pattern(raw: str) -> re.Pattern[str]:
    # Short values (CVV, PIN) are only leaks as whole tokens: "9481" inside a line number
    # or a thread id is a coincidence, not the value.
    if len(raw) <= _SHORT:
        return re.compile(rf"(?<![0-9A-Za-z]){re.escape(raw)}(?![0-9A-Za-z])")
    return re.compile(re.escape(raw))


_PATTERNS = {raw: _pattern(raw) for sample in SAMPLES for raw in sample.raw}


def leaks(output: str, samples: Iterable[Sample] = SAMPLES) -> list[str]:
    """Return ``name: raw`` for every raw value of ``samples`` found in ``output``."""
    return [
        f"{sample.name}: {raw}"
        for sample in samples
        for raw in sample.raw
        if _PATTERNS[raw].search(output)
    ]


#: Numbers ``logging`` stamps on every record. A process id or a ``relativeCreated`` of
#: 9481 ms is not a CVV, so whole-record checks leave these out.
BOOKKEEPING = ("created", "msecs", "relativeCreated", "process", "thread", "lineno")


def record_text(record: logging.LogRecord) -> str:
    """Render every attribute of ``record`` except logging's numeric bookkeeping."""
    return repr({k: v for k, v in record.__dict__.items() if k not in BOOKKEEPING})


def missing(output: str, fragments: Iterable[str]) -> list[str]:
    """Return the fragments that do not appear in ``output``."""
    return [fragment for fragment in fragments if fragment not in output]


def as_text(value: Any) -> str:
    """Render decoded structured output (msgpack, JSON) as one searchable string."""
    return json.dumps(value, default=repr, ensure_ascii=False)


# -- generated source ------------------------------------------------------------------


def source_module(directory: Path) -> ModuleType:
    """Write and import a module whose source lines hold every sample.

    ``stack_<i>(log)`` logs with ``stack_info=True`` from a line whose comment is the
    sample's text; ``raise_<i>()`` raises from such a line. Tracebacks and stack dumps
    print source lines, so this is how the samples reach them in real code.
    """
    lines = ["# Generated by tests/integration/samples.py.", ""]
    for i, sample in enumerate(SAMPLES):
        lines += [
            f"def stack_{i}(log):",
            f"    log.info({sample.marker + ' stack'!r}, stack_info=True)  # {sample.text}",
            "",
            f"def raise_{i}():",
            f"    raise ValueError({sample.marker + ' raised'!r})  # {sample.text}",
            "",
        ]
    path = directory / "leaky_source.py"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = importlib.util.spec_from_file_location("leaky_source", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- stdlib logging paths --------------------------------------------------------------


def _message(log: logging.Logger, s: Sample, src: ModuleType, i: int) -> list[str]:
    log.info(f"{s.marker} {s.text}")
    return [s.marker, s.keep]


def _percent_args(log: logging.Logger, s: Sample, src: ModuleType, i: int) -> list[str]:
    log.info("%s payload %s", s.marker, s.text)
    return [s.marker, s.keep]


def _mapping_args(log: logging.Logger, s: Sample, src: ModuleType, i: int) -> list[str]:
    log.info("%(case)s payload %(detail)s", {"case": s.marker, "detail": s.text})
    return [s.marker, s.keep]


def _extra(log: logging.Logger, s: Sample, src: ModuleType, i: int) -> list[str]:
    log.info(s.marker, extra={"detail": s.text})
    return [s.marker, s.keep]


def _extra_key(log: logging.Logger, s: Sample, src: ModuleType, i: int) -> list[str]:
    log.info(s.marker, extra={s.key: s.value})
    return [s.marker, s.key]


def _nested_extra(log: logging.Logger, s: Sample, src: ModuleType, i: int) -> list[str]:
    log.info(s.marker, extra={"ctx": {"request": {"items": [s.text], s.key: s.value}}})
    return [s.marker, s.keep, s.key]


def _dict_message(log: logging.Logger, s: Sample, src: ModuleType, i: int) -> list[str]:
    log.info({"case": s.marker, "detail": s.text, s.key: s.value})
    return [s.marker, s.keep, s.key]


def _exception(log: logging.Logger, s: Sample, src: ModuleType, i: int) -> list[str]:
    try:
        raise ValueError(f"{s.marker} {s.text}")
    except ValueError:
        log.exception("request failed")
    return [s.marker, s.keep, "ValueError"]


def _chained(log: logging.Logger, s: Sample, src: ModuleType, i: int) -> list[str]:
    try:
        try:
            raise KeyError(s.text)
        except KeyError as exc:
            raise RuntimeError(f"{s.marker} wrapper") from exc
    except RuntimeError:
        log.exception("request failed")
    return [s.marker, "direct cause", "KeyError"]


def _exception_source(log: logging.Logger, s: Sample, src: ModuleType, i: int) -> list[str]:
    try:
        getattr(src, f"raise_{i}")()
    except ValueError:
        log.error("request failed", exc_info=True)
    return [s.marker, "leaky_source.py"]


def _stack_info(log: logging.Logger, s: Sample, src: ModuleType, i: int) -> list[str]:
    getattr(src, f"stack_{i}")(log)
    return [s.marker, "leaky_source.py"]


#: How a sample can reach a stdlib logger; each returns the fragments that must survive.
STDLIB_PATHS: dict[str, Callable[[logging.Logger, Sample, ModuleType, int], list[str]]] = {
    "message": _message,
    "percent_args": _percent_args,
    "mapping_args": _mapping_args,
    "extra": _extra,
    "extra_key": _extra_key,
    "nested_extra": _nested_extra,
    "dict_message": _dict_message,
    "exception": _exception,
    "chained_exception": _chained,
    "exception_source_line": _exception_source,
    "stack_info": _stack_info,
}


def send_all(log: logging.Logger, path: str, src: ModuleType) -> list[str]:
    """Send every sample through one stdlib path; return the fragments to find."""
    send = STDLIB_PATHS[path]
    keep: list[str] = []
    for i, sample in enumerate(SAMPLES):
        keep += send(log, sample, src, i)
    return keep
