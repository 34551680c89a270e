"""Deterministic synthetic log corpus for the redaction throughput benchmark.

Real production logs are exactly what this project exists to keep inside production, so the
benchmark cannot ship a sample of them. Instead it generates lines that look like what a payment
service's sidecar actually sees: mostly boring access/worker/db chatter in Python ``logging``
text format and structured JSON, with a small share (3 %) of lines leaking a secret. The boring
majority is what sets throughput; the leaking minority is what sets recall, so both are here.

Everything is driven by one ``random.Random(seed)``: the same ``(n, seed)`` always yields the
same bytes, so figures from two runs (or two machines) measure the code, not the data.

Every planted value is recorded as ``(line index, kind, raw value)``. Recall is then simply
"the raw value is no longer a substring of the redacted line", which works for any masking style
(``411111******1111``, ``[REDACTED]``, ``***@domain``, keep-last-4) without knowing it. To keep
that test honest the generator guarantees each planted value occurs exactly once in its line and
is not contained in (the digits of) any other planted value of that line, so a surviving
timestamp or a kept "last 4" can never fake a miss or a hit.

Usage::

    python -m benchmarks.corpus --lines 100000 --out /tmp/corpus.log
    python -m benchmarks.corpus --lines 500 --out /tmp/adv.log --adversarial
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import string
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

SENSITIVE_SHARE = 0.03
"""Share of lines carrying at least one planted value; a guess at a leaky-but-not-absurd service."""

KINDS: tuple[str, ...] = (
    "card",
    "cvv",
    "api_key",
    "jwt",
    "bearer",
    "password",
    "email",
    "iban",
    "ssn",
    "aws_key",
    "github_token",
    "phone",
)
"""Every kind a planted value can have; fixed so per-kind recall tables line up across runs."""

# Published test PANs (Stripe, Adyen, Braintree, PayPal docs). Real-looking to a detector, yet
# never chargeable, so a leak of this corpus harms nobody.
TEST_CARDS: tuple[str, ...] = (
    "4111111111111111",
    "4242424242424242",
    "4012888888881881",
    "4000056655665556",
    "4222222222222",
    "5555555555554444",
    "5105105105105100",
    "5200828282828210",
    "2223003122003222",
    "5454545454545454",
    "378282246310005",
    "371449635398431",
    "378734493671000",
    "6011111111111117",
    "6011000990139424",
    "30569309025904",
    "38520000023237",
    "3056930009020004",
    "3530111333300000",
    "3566002020360505",
    "6200000000000005",
)


def luhn_valid(digits: str) -> bool:
    """Checksum used by every card scheme; exposed so tests and the baseline share one copy."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


@dataclass(frozen=True)
class Corpus:
    """A generated corpus plus the ground truth needed to score recall.

    ``planted`` holds ``(line index, kind, raw value)``; a line may appear several times when it
    leaks more than one value, because real leaks cluster (a payment payload has PAN and CVV).
    """

    lines: list[str]
    planted: list[tuple[int, str, str]]

    @property
    def nbytes(self) -> int:
        """UTF-8 size without newlines: the unit every MB/s figure is computed against."""
        return sum(len(line.encode("utf-8")) for line in self.lines)

    @property
    def sensitive_lines(self) -> int:
        """Distinct lines with a planted value, to check the share really is ~3 %."""
        return len({index for index, _, _ in self.planted})


Plant = tuple[str, str]
"""(kind, raw value) before the line index is known."""


# --------------------------------------------------------------------------------------------
# Vocabulary. Small fixed lists keep the generator cheap and the output stable across Python
# versions (no reliance on locale, hash order or datetime formatting quirks).
# --------------------------------------------------------------------------------------------

_FIRST = ("jane", "john", "maria", "li", "ahmed", "olga", "pierre", "sofia", "kenji", "amara")
_LAST = ("doe", "smith", "garcia", "wang", "khan", "ivanova", "martin", "rossi", "sato", "okafor")
_MAIL_DOMAINS = (
    "example.com",
    "gmail.com",
    "outlook.com",
    "yahoo.co.uk",
    "acme-corp.io",
    "mail.example.org",
    "posteo.de",
)
_WORDS = (
    "shoes",
    "garden",
    "laptop",
    "coffee",
    "books",
    "camera",
    "lamp",
    "bikes",
    "toys",
    "tea",
)
_TABLES = ("orders", "customers", "payments", "refunds", "sessions", "products", "payouts")
_QUEUES = ("default", "payments", "emails", "webhooks", "exports")
_TASKS = (
    "payments.tasks.capture_charge",
    "emails.tasks.send_receipt",
    "webhooks.tasks.deliver",
    "exports.tasks.build_csv",
    "payments.tasks.sync_disputes",
)
_HOSTS = ("api.partner.example", "rates.fx.example", "ledger.internal", "search.internal")
_METHODS = ("GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH")
_STATUSES = (200, 200, 200, 200, 200, 200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 409, 500)
_LEVELS = ("INFO",) * 14 + ("DEBUG",) * 3 + ("WARNING",) * 2 + ("ERROR",)
_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
)
_TEXT_LOGGERS = (
    "app.http.access",
    "app.db.pool",
    "payments.service",
    "worker.tasks",
    "auth.session",
    "cache.redis",
    "events.kafka",
    "partners.client",
)
_JSON_LOGGERS = ("api.access", "payments.api", "worker", "db.pool", "auth", "billing.payouts")
_ALNUM = string.ascii_letters + string.digits
_B32 = string.ascii_uppercase + "234567"
_PASSWORD_CHARS = _ALNUM + "!#$%*-_.?"
_IBAN_LAYOUTS: dict[str, tuple[str, ...]] = {
    # country -> BBAN character classes ("d" digit, "U" upper letter); enough variety to defeat
    # a detector that only knows German IBANs, small enough to stay readable.
    "DE": ("d",) * 18,
    "GB": ("U",) * 4 + ("d",) * 14,
    "NL": ("U",) * 4 + ("d",) * 10,
    "FR": ("d",) * 23,
    "ES": ("d",) * 20,
    "BE": ("d",) * 12,
}
_PHONE_PREFIXES: dict[str, int] = {
    # E.164 prefix (incl. fictional/drama ranges where they exist) -> total length with "+".
    "+1415555": 12,
    "+1212555": 12,
    "+44770090": 13,
    "+4915": 14,
    "+336": 12,
    "+3934": 13,
    "+9198": 13,
}


class _Factory:
    """Holds the RNG and a monotonic clock so every helper draws from one deterministic stream."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = datetime(2024, 3, 14, 9, 26, 53, 589000, tzinfo=timezone.utc)

    # -- primitives -------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance time irregularly; identical timestamps would make lines unrealistically alike."""
        self.clock += timedelta(milliseconds=self.rng.expovariate(1 / 35))

    def asctime(self) -> str:
        """``logging``'s default ``%(asctime)s``: space separator and a comma before millis."""
        c = self.clock
        return f"{c:%Y-%m-%d %H:%M:%S},{c.microsecond // 1000:03d}"

    def isotime(self) -> str:
        """The ISO-8601 'Z' form structured loggers emit."""
        c = self.clock
        return f"{c:%Y-%m-%dT%H:%M:%S}.{c.microsecond // 1000:03d}Z"

    def uuid(self) -> str:
        """UUID4-shaped but from our RNG, because ``uuid.uuid4`` would break determinism."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hexstr(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def token(self, n: int, alphabet: str = _ALNUM) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def ip(self) -> str:
        r = self.rng
        pick = r.random()
        if pick < 0.4:
            return f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"
        if pick < 0.6:
            return f"172.{r.randrange(16, 32)}.{r.randrange(256)}.{r.randrange(1, 255)}"
        if pick < 0.8:
            return f"203.0.113.{r.randrange(1, 255)}"
        return f"198.51.100.{r.randrange(1, 255)}"

    def duration_ms(self) -> float:
        return round(self.rng.lognormvariate(2.8, 1.0), 1)

    def level(self) -> str:
        return self.rng.choice(_LEVELS)

    def path(self) -> str:
        """URL paths with ids and query strings: the digit-heavy noise detectors must ignore."""
        r = self.rng
        pick = r.randrange(9)
        if pick == 0:
            return f"/api/v1/orders/{r.randrange(10**5, 10**8)}"
        if pick == 1:
            return f"/api/v1/orders/{r.randrange(10**5, 10**8)}?include=items,shipping"
        if pick == 2:
            return f"/api/v1/customers/{r.randrange(10**4, 10**7)}/addresses"
        if pick == 3:
            return f"/checkout/{self.uuid()}/confirm"
        if pick == 4:
            return f"/v2/search?q={r.choice(_WORDS)}&page={r.randrange(1, 20)}&sort=-created_at"
        if pick == 5:
            return (
                f"/api/v1/products?category={r.choice(_WORDS)}&limit=50"
                f"&offset={50 * r.randrange(40)}"
            )
        if pick == 6:
            return f"/static/js/app.{self.hexstr(8)}.js"
        if pick == 7:
            return "/healthz"
        return f"/api/v1/payments/pi_{self.token(14)}/capture"

    # -- sensitive values -------------------------------------------------------------------

    def card(self) -> str:
        """A test PAN in one of the layouts people paste into logs."""
        r = self.rng
        pan = r.choice(TEST_CARDS)
        style = r.randrange(4)
        if style == 0 or len(pan) not in (15, 16):
            return pan
        if len(pan) == 15:  # Amex prints 4-6-5
            sep = r.choice(" -")
            return f"{pan[:4]}{sep}{pan[4:10]}{sep}{pan[10:]}"
        sep = " " if style == 1 else "-" if style == 2 else r.choice(" -")
        return sep.join(pan[i : i + 4] for i in range(0, 16, 4))

    def cvv(self) -> str:
        """Three digits, four for the Amex-style share; short enough to collide, hence scoring."""
        return self.token(4 if self.rng.random() < 0.15 else 3, string.digits)

    def api_key(self) -> str:
        return "sk_live_" + self.token(self.rng.choice((24, 32, 99)))

    def jwt(self) -> str:
        """A structurally real JWT (base64url JSON header/payload) so shape checks can't cheat."""
        r = self.rng
        alg, sig_bytes = r.choice((("HS256", 32), ("HS256", 32), ("ES256", 64)))
        header = {"alg": alg, "typ": "JWT"}
        iat = 1710000000 + r.randrange(10**6)
        payload = {
            "sub": f"usr_{r.randrange(10**6, 10**7)}",
            "iat": iat,
            "exp": iat + 3600,
            "scope": r.choice(("read", "read write", "payments:write")),
        }

        def b64(raw: bytes) -> str:
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

        def enc(obj: Mapping[str, object]) -> str:
            return b64(json.dumps(obj, separators=(",", ":")).encode())

        return f"{enc(header)}.{enc(payload)}.{b64(r.randbytes(sig_bytes))}"

    def bearer(self) -> str:
        """An opaque OAuth access token: only its position after ``Bearer`` gives it away."""
        return self.token(self.rng.choice((32, 40, 48)), _ALNUM + "-._~")

    def password(self) -> str:
        return self.token(self.rng.randrange(10, 21), _PASSWORD_CHARS)

    def email(self) -> str:
        r = self.rng
        first, last = r.choice(_FIRST), r.choice(_LAST)
        local = r.choice((f"{first}.{last}", f"{first}{last[0]}", f"{first}.{last}+shop"))
        if r.random() < 0.5:
            local += str(r.randrange(1, 99))
        return f"{local}@{r.choice(_MAIL_DOMAINS)}"

    def iban(self) -> str:
        """A checksum-valid IBAN, compact or in print groups of four."""
        r = self.rng
        country = r.choice(tuple(_IBAN_LAYOUTS))
        bban = "".join(
            r.choice(string.ascii_uppercase) if c == "U" else r.choice(string.digits)
            for c in _IBAN_LAYOUTS[country]
        )
        numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
        iban = f"{country}{98 - int(numeric) % 97:02d}{bban}"
        if r.random() < 0.5:
            return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        return iban

    def ssn(self) -> str:
        """Valid-shaped SSN (no 000/666/9xx area, no 00 group, no 0000 serial)."""
        r = self.rng
        area = r.randrange(1, 900)
        if area == 666:
            area = 667
        return f"{area:03d}-{r.randrange(1, 100):02d}-{r.randrange(1, 10000):04d}"

    def aws_key(self) -> str:
        return self.rng.choice(("AKIA", "AKIA", "ASIA")) + self.token(16, _B32)

    def github_token(self) -> str:
        r = self.rng
        if r.random() < 0.75:
            return r.choice(("ghp_", "gho_", "ghs_")) + self.token(36)
        return f"github_pat_{self.token(22)}_{self.token(59)}"

    def phone(self) -> str:
        prefix = self.rng.choice(tuple(_PHONE_PREFIXES))
        return prefix + self.token(_PHONE_PREFIXES[prefix] - len(prefix), string.digits)


# --------------------------------------------------------------------------------------------
# Line templates. Each returns (line, plants). Text and JSON share a helper so both log styles
# carry the same kinds of leaks, the way one codebase leaks through two loggers.
# --------------------------------------------------------------------------------------------


def _text_line(f: _Factory, logger: str, level: str, message: str) -> str:
    """Three ``logging`` formats, because sidecars aggregate many services' configurations."""
    style = f.rng.randrange(3)
    if style == 0:
        return f"{f.asctime()} {level} [{logger}] {message}"
    if style == 1:
        return f"{f.asctime()} - {logger} - {level} - {message}"
    return f"[{f.asctime()}] {level} {logger}:{f.rng.randrange(20, 900)} {message}"


def _json_line(f: _Factory, logger: str, level: str, event: str, body: Mapping[str, object]) -> str:
    """structlog/python-json-logger shape; some services render compact, some spaced."""
    record: dict[str, object] = {
        "ts": f.isotime(),
        "level": level.lower(),
        "logger": logger,
        "event": event,
    }
    record.update(body)
    if f.rng.random() < 0.3:
        return json.dumps(record, separators=(",", ":"))
    return json.dumps(record)


def _clean_text(f: _Factory) -> str:
    r = f.rng
    pick = r.randrange(12)
    level = f.level()
    if pick <= 2:
        return _text_line(
            f,
            "app.http.access",
            "INFO",
            f"request_id={f.uuid()} {r.choice(_METHODS)} {f.path()} {r.choice(_STATUSES)} "
            f"{f.duration_ms()}ms client={f.ip()}",
        )
    if pick == 3:
        return (
            f'{f.ip()} - - [{f.clock:%d/%b/%Y:%H:%M:%S +0000}] "{r.choice(_METHODS)} {f.path()} '
            f'HTTP/1.1" {r.choice(_STATUSES)} {r.randrange(120, 90000)} "-" '
            f'"{r.choice(_USER_AGENTS)}"'
        )
    if pick == 4:
        return _text_line(
            f,
            "app.db.pool",
            "DEBUG",
            f"query table={r.choice(_TABLES)} rows={r.randrange(0, 500)} "
            f"took {f.duration_ms()}ms conn={r.randrange(1, 32)}/32",
        )
    if pick == 5:
        return _text_line(
            f,
            "cache.redis",
            level,
            f"cache {r.choice(('hit', 'miss', 'miss'))} "
            f"key=user:{r.randrange(10**4, 10**7)}:profile ttl={r.choice((60, 300, 3600))}",
        )
    if pick == 6:
        return _text_line(
            f,
            "worker.tasks",
            "INFO",
            f"Task {r.choice(_TASKS)}[{f.uuid()}] succeeded in {r.uniform(0.01, 9):.4f}s: None",
        )
    if pick == 7:
        return _text_line(
            f,
            "partners.client",
            "WARNING",
            f"retrying GET https://{r.choice(_HOSTS)}/v2/rates?base=EUR&symbols=USD,GBP "
            f"(attempt {r.randrange(2, 5)}/5) after {r.choice((429, 502, 503, 504))}",
        )
    if pick == 8:
        return _text_line(
            f,
            "app.http.access",
            "WARNING",
            f"slow request path={f.path()} duration_ms={r.randrange(1000, 9000)} "
            f"threshold_ms=1000 trace_id={f.hexstr(32)}",
        )
    if pick == 9:
        return _text_line(
            f,
            "partners.client",
            "ERROR",
            f"upstream timeout host={f.ip()}:{r.choice((443, 5432, 6379, 9092))} "
            f"elapsed={r.uniform(5, 31):.3f}s request_id={f.uuid()}",
        )
    if pick == 10:
        return _text_line(
            f,
            "events.kafka",
            "DEBUG",
            f"committed offset {r.randrange(10**5, 10**9)} topic=orders.events "
            f"partition={r.randrange(12)} lag={r.randrange(0, 400)}",
        )
    return _text_line(
        f,
        "auth.session",
        "INFO",
        f"user {r.randrange(10**4, 10**7)} logged in from {f.ip()} session={f.hexstr(24)} "
        f"mfa={r.choice(('totp', 'sms', 'none'))}",
    )


def _clean_json(f: _Factory) -> str:
    r = f.rng
    pick = r.randrange(6)
    level = f.level()
    if pick <= 1:
        return _json_line(
            f,
            "api.access",
            "INFO",
            "request_finished",
            {
                "request_id": f.uuid(),
                "http": {
                    "method": r.choice(_METHODS),
                    "path": f.path(),
                    "status": r.choice(_STATUSES),
                    "duration_ms": f.duration_ms(),
                },
                "client": {"ip": f.ip()},
            },
        )
    if pick == 2:
        return _json_line(
            f,
            "worker",
            level,
            "job_done",
            {
                "job": {"id": f.hexstr(12), "queue": r.choice(_QUEUES), "attempt": r.randrange(3)},
                "elapsed_s": round(r.uniform(0.01, 12), 3),
            },
        )
    if pick == 3:
        return _json_line(
            f,
            "db.pool",
            "DEBUG",
            "query",
            {
                "query": {"table": r.choice(_TABLES), "op": "select", "rows": r.randrange(500)},
                "duration_ms": f.duration_ms(),
            },
        )
    if pick == 4:
        return _json_line(
            f,
            "payments.api",
            "INFO",
            "charge_succeeded",
            {
                "charge": {
                    "id": f"ch_{f.token(24)}",
                    "amount": r.randrange(100, 50000),
                    "currency": r.choice(("eur", "usd", "gbp")),
                    "card": {
                        "brand": r.choice(("visa", "mastercard", "amex")),
                        "last4": f"{r.randrange(10000):04d}",
                        "exp_year": r.randrange(2025, 2031),
                    },
                },
            },
        )
    return _json_line(
        f,
        r.choice(_JSON_LOGGERS),
        "ERROR",
        "upstream_error",
        {
            "error": {"type": "TimeoutError", "message": "read timed out after 30s"},
            "upstream": {"host": r.choice(_HOSTS), "port": 443},
        },
    )


def _cvv_key(f: _Factory) -> str:
    return f.rng.choice(("cvv", "cvc", "cvv2", "CVV"))


def _pw_key(f: _Factory) -> str:
    return f.rng.choice(("password", "password", "passwd", "pwd", "new_password"))


def _leak_payment(f: _Factory, as_json: bool) -> tuple[str, list[Plant]]:
    r = f.rng
    card = f.card()
    cvv = f.cvv()
    plants: list[Plant] = [("card", card)]
    with_cvv = r.random() < 0.7
    if with_cvv:
        plants.append(("cvv", cvv))
    if as_json:
        card_obj: dict[str, object] = {"number": card, "exp": f"{r.randrange(1, 13):02d}/29"}
        if r.random() < 0.15 and card.isdigit():
            card_obj["number"] = int(card)  # careless loggers emit PANs as JSON numbers
        if with_cvv:
            card_obj[_cvv_key(f)] = cvv
        line = _json_line(
            f,
            "payments.api",
            "ERROR",
            "payment_attempt_failed",
            {
                "request_id": f.uuid(),
                "payment": {"amount": r.randrange(100, 90000), "card": card_obj},
                "decline_code": "do_not_honor",
            },
        )
        return line, plants
    cvv_part = f" {_cvv_key(f)}={cvv}" if with_cvv else ""
    line = _text_line(
        f,
        "payments.service",
        "ERROR",
        f"charge failed card={card}{cvv_part} amount={r.randrange(1, 900)}.{r.randrange(100):02d} "
        f"currency=EUR reason=do_not_honor",
    )
    return line, plants


def _leak_card_in_message(f: _Factory, as_json: bool) -> tuple[str, list[Plant]]:
    card = f.card()
    msg = f"tokenizing pan {card} for merchant m_{f.token(10)}"
    if as_json:
        return _json_line(f, "payments.api", "DEBUG", msg, {"request_id": f.uuid()}), [
            ("card", card)
        ]
    return _text_line(f, "payments.service", "DEBUG", msg), [("card", card)]


def _leak_login(f: _Factory, as_json: bool) -> tuple[str, list[Plant]]:
    email, pw = f.email(), f.password()
    key = _pw_key(f)
    if as_json:
        line = _json_line(
            f,
            "auth",
            "WARNING",
            "login_failed",
            {
                "user": {"email": email},
                "credentials": {"username": email.split("@")[0], key: pw},
                "client": {"ip": f.ip()},
            },
        )
    else:
        line = _text_line(
            f, "auth.session", "WARNING", f"login failed user={email} {key}={pw} ip={f.ip()}"
        )
    # The username in the JSON variant is the email's local part, so the email stays unique.
    return line, [("email", email), ("password", pw)]


def _leak_signup(f: _Factory, as_json: bool) -> tuple[str, list[Plant]]:
    r = f.rng
    email, phone = f.email(), f.phone()
    plants: list[Plant] = [("email", email), ("phone", phone)]
    ssn = f.ssn() if r.random() < 0.5 else None
    if as_json:
        user: dict[str, object] = {"id": r.randrange(10**5, 10**7), "email": email, "phone": phone}
        if ssn:
            user["ssn"] = ssn
            plants.append(("ssn", ssn))
        return _json_line(f, "auth", "INFO", "user_created", {"user": user}), plants
    extra = ""
    if ssn:
        extra = f" ssn={ssn}"
        plants.append(("ssn", ssn))
    msg = f"user created id={r.randrange(10**5, 10**7)} email={email} phone={phone}{extra}"
    return _text_line(f, "auth.session", "INFO", msg), plants


def _leak_api_key(f: _Factory, as_json: bool) -> tuple[str, list[Plant]]:
    key = f.api_key()
    if as_json:
        body = {"config": {"stripe": {"secret_key": key, "api_version": "2024-04-10"}}}
        return _json_line(f, "payments.api", "DEBUG", "client_configured", body), [("api_key", key)]
    msg = f.rng.choice(
        (
            f"stripe client initialised api_key={key} timeout=30",
            f"Stripe error: Invalid API Key provided: {key}",
        )
    )
    return _text_line(f, "payments.service", "ERROR", msg), [("api_key", key)]


def _leak_auth_header(f: _Factory, as_json: bool) -> tuple[str, list[Plant]]:
    r = f.rng
    if r.random() < 0.5:
        tok, kind = f.jwt(), "jwt"
    else:
        tok, kind = f.bearer(), "bearer"
    if as_json:
        headers = {"authorization": f"Bearer {tok}", "accept": "application/json"}
        body = {"http": {"method": "GET", "path": f.path(), "headers": headers}}
        return _json_line(f, "api.access", "DEBUG", "outgoing_request", body), [(kind, tok)]
    msg = (
        f"outgoing request to https://{r.choice(_HOSTS)}/v1/accounts "
        f"headers={{'Authorization': 'Bearer {tok}', 'Accept': 'application/json'}}"
    )
    return _text_line(f, "partners.client", "DEBUG", msg), [(kind, tok)]


def _leak_jwt_query(f: _Factory, as_json: bool) -> tuple[str, list[Plant]]:
    tok = f.jwt()
    path = f"/oauth/callback?token={tok}&state={f.hexstr(8)}"
    if as_json:
        body = {"http": {"method": "GET", "path": path, "status": 302}}
        return _json_line(f, "api.access", "INFO", "request_finished", body), [("jwt", tok)]
    msg = f"request_id={f.uuid()} GET {path} 302 {f.duration_ms()}ms"
    return _text_line(f, "app.http.access", "INFO", msg), [("jwt", tok)]


def _leak_aws(f: _Factory, as_json: bool) -> tuple[str, list[Plant]]:
    key = f.aws_key()
    if as_json:
        body = {"aws": {"access_key_id": key, "region": "eu-west-1"}}
        return _json_line(f, "worker", "DEBUG", "s3_client_created", body), [("aws_key", key)]
    msg = f"using credentials aws_access_key_id={key} region=eu-west-1 bucket=exports-prod"
    return _text_line(f, "worker.tasks", "DEBUG", msg), [("aws_key", key)]


def _leak_github(f: _Factory, as_json: bool) -> tuple[str, list[Plant]]:
    tok = f.github_token()
    if as_json:
        body = {"env": {"GITHUB_TOKEN": tok, "CI": "true"}}
        return _json_line(f, "worker", "DEBUG", "subprocess_env", body), [("github_token", tok)]
    msg = f"git clone https://x-access-token:{tok}@github.com/acme/ledger.git failed: exit 128"
    return _text_line(f, "worker.tasks", "ERROR", msg), [("github_token", tok)]


def _leak_payout(f: _Factory, as_json: bool) -> tuple[str, list[Plant]]:
    r = f.rng
    iban = f.iban()
    holder = f"{r.choice(_FIRST).title()} {r.choice(_LAST).title()}"
    if as_json:
        body = {"payout": {"id": f"po_{f.token(14)}", "iban": iban, "account_holder": holder}}
        return _json_line(f, "billing.payouts", "INFO", "payout_created", body), [("iban", iban)]
    msg = f"payout scheduled amount={r.randrange(10, 5000)}.00 EUR to iban={iban} holder={holder}"
    return _text_line(f, "payments.service", "INFO", msg), [("iban", iban)]


def _leak_email(f: _Factory, as_json: bool) -> tuple[str, list[Plant]]:
    email = f.email()
    if as_json:
        body = {"email": {"to": email, "template": "receipt", "order_id": f.rng.randrange(10**7)}}
        return _json_line(f, "worker", "INFO", "email_sent", body), [("email", email)]
    path = f"/api/v1/newsletter/subscribe?email={email}&source=footer"
    msg = f.rng.choice(
        (f"sending receipt to {email} order={f.rng.randrange(10**7)}", f"POST {path} 201")
    )
    return _text_line(f, "worker.tasks", "INFO", msg), [("email", email)]


def _leak_phone(f: _Factory, as_json: bool) -> tuple[str, list[Plant]]:
    phone = f.phone()
    if as_json:
        body = {"sms": {"to": phone, "template": "otp", "status": "queued"}}
        return _json_line(f, "worker", "INFO", "sms_sent", body), [("phone", phone)]
    msg = f"sms sent to={phone} template=otp provider=twilio status=queued"
    return _text_line(f, "worker.tasks", "INFO", msg), [("phone", phone)]


def _leak_kyc(f: _Factory, as_json: bool) -> tuple[str, list[Plant]]:
    ssn, iban = f.ssn(), f.iban()
    if as_json:
        body = {"kyc": {"ssn": ssn, "bank": {"iban": iban}, "result": "manual_review"}}
        return _json_line(f, "payments.api", "INFO", "kyc_submitted", body), [
            ("ssn", ssn),
            ("iban", iban),
        ]
    msg = f"KYC submitted ssn={ssn} iban={iban} result=manual_review"
    return _text_line(f, "payments.service", "INFO", msg), [("ssn", ssn), ("iban", iban)]


_LEAKS: tuple[Callable[[_Factory, bool], tuple[str, list[Plant]]], ...] = (
    _leak_payment,
    _leak_payment,
    _leak_card_in_message,
    _leak_login,
    _leak_signup,
    _leak_api_key,
    _leak_auth_header,
    _leak_jwt_query,
    _leak_aws,
    _leak_github,
    _leak_payout,
    _leak_email,
    _leak_phone,
    _leak_kyc,
)


def _digits(s: str) -> str:
    return "".join(ch for ch in s if ch.isdigit())


def _plants_are_scorable(line: str, plants: list[Plant]) -> bool:
    """True when "raw value absent after redaction" can only mean the value was redacted.

    A planted value that also occurs elsewhere in the line, or inside another planted value
    (or its digits, which a keep-last-4 mask may legitimately leave), would turn into a false
    miss. Rejecting such lines is cheaper than reasoning about each masking style.
    """
    for i, (_, raw) in enumerate(plants):
        if line.count(raw) != 1:
            return False
        for j, (_, other) in enumerate(plants):
            if i != j and (raw in other or raw in _digits(other)):
                return False
    return True


def generate(n: int, seed: int = 7) -> Corpus:
    """Build ``n`` lines, exactly ``round(n * 3 %)`` of them leaking at least one value.

    The sensitive positions are sampled up front rather than by a per-line coin flip so small
    quick-mode corpora still hit the 3 % share exactly.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    f = _Factory(seed)
    sensitive = set(f.rng.sample(range(n), round(n * SENSITIVE_SHARE))) if n else set()
    lines: list[str] = []
    planted: list[tuple[int, str, str]] = []
    for index in range(n):
        f.tick()
        as_json = f.rng.random() < 0.45
        if index in sensitive:
            for _ in range(100):
                line, plants = f.rng.choice(_LEAKS)(f, as_json)
                if _plants_are_scorable(line, plants):
                    break
            else:  # pragma: no cover - would need an astronomically unlucky seed
                raise RuntimeError(f"could not build a scorable sensitive line at {index}")
            planted.extend((index, kind, raw) for kind, raw in plants)
        else:
            line = _clean_json(f) if as_json else _clean_text(f)
        lines.append(line)
    return Corpus(lines=lines, planted=planted)


# --------------------------------------------------------------------------------------------
# Adversarial lines: inputs that turn a careless regex quadratic (or worse). Throughput on these
# is what bounds a sidecar's worst-case latency when a client logs garbage, so the runner reports
# it per byte relative to the normal corpus.
# --------------------------------------------------------------------------------------------


def _adv_digits_spaced(r: random.Random, size: int) -> str:
    return " ".join(str(r.randrange(10)) for _ in range(size // 2))


def _adv_digits_dashed(r: random.Random, size: int) -> str:
    return "-".join("1234" for _ in range(size // 5))


def _adv_digits_run(r: random.Random, size: int) -> str:
    return "".join(str(r.randrange(10)) for _ in range(size))


def _adv_card_near_miss(r: random.Random, size: int) -> str:
    # 15 digits in 4-4-4-3 groups: every window looks like a card until the Luhn/length check.
    return " ".join("4111 1111 1111 111" for _ in range(size // 19))


def _adv_jwt_no_dots(r: random.Random, size: int) -> str:
    return "eyJhbGciOiJIUzI1NiJ9" * (size // 20) + " eyJ" * 50


def _adv_jwt_one_dot(r: random.Random, size: int) -> str:
    return ("eyJhbGciOiJIUzI1NiJ9." + "eyJ" * 20) * (size // 81)


def _adv_key_short_tails(r: random.Random, size: int) -> str:
    return " ".join(f"sk_live_{r.choice(_ALNUM)}{r.choice(_ALNUM)}" for _ in range(size // 11))


def _adv_at_signs(r: random.Random, size: int) -> str:
    return "@" * size


def _adv_equals(r: random.Random, size: int) -> str:
    return "=" * size


def _adv_a_at(r: random.Random, size: int) -> str:
    return "a@" * (size // 2)


def _adv_dotted_local(r: random.Random, size: int) -> str:
    # A 'local part' that never meets a valid domain: the classic email-regex backtracking bait.
    return "a." * (size // 2) + "@"


def _adv_password_chain(r: random.Random, size: int) -> str:
    return "password=" * (size // 9)


def _adv_key_spaces(r: random.Random, size: int) -> str:
    # Key followed by a huge gap and no separator: stresses ``key\s*[:=]\s*`` style patterns.
    return "cvv" + " " * (size // 2) + "password" + "\t" * (size // 2) + "x"


def _adv_bearer_chain(r: random.Random, size: int) -> str:
    return "Bearer " * (size // 7)


def _adv_iban_like(r: random.Random, size: int) -> str:
    return " ".join("DE00" if i % 2 else "AB12" for i in range(size // 5))


def _adv_json_deep_dict(r: random.Random, size: int) -> str:
    depth = r.randrange(200, 401)
    return '{"a": ' * depth + '{"password": "x", "card": "4111111111111111"}' + "}" * depth


def _adv_json_deep_list(r: random.Random, size: int) -> str:
    depth = r.randrange(200, 401)
    return "[" * depth + '"4111111111111111"' + "]" * depth


def _adv_base64(r: random.Random, size: int) -> str:
    return base64.b64encode(r.randbytes(size * 3 // 4)).decode("ascii")


ADVERSARIAL_KINDS: dict[str, Callable[[random.Random, int], str]] = {
    "digits_spaced": _adv_digits_spaced,
    "digits_dashed": _adv_digits_dashed,
    "digits_run": _adv_digits_run,
    "card_near_miss": _adv_card_near_miss,
    "jwt_no_dots": _adv_jwt_no_dots,
    "jwt_one_dot": _adv_jwt_one_dot,
    "key_short_tails": _adv_key_short_tails,
    "at_signs": _adv_at_signs,
    "equals": _adv_equals,
    "a_at_chain": _adv_a_at,
    "dotted_local_part": _adv_dotted_local,
    "password_chain": _adv_password_chain,
    "key_then_spaces": _adv_key_spaces,
    "bearer_chain": _adv_bearer_chain,
    "iban_like": _adv_iban_like,
    "json_deep_dict": _adv_json_deep_dict,
    "json_deep_list": _adv_json_deep_list,
    "base64_long": _adv_base64,
}
"""Name -> builder(rng, approx size in bytes). Names let the runner say *which* shape is slow."""


def adversarial_labeled(n: int, seed: int = 7) -> list[tuple[str, str]]:
    """``(kind, line)`` pairs, kinds in round-robin so every shape is equally represented."""
    r = random.Random(seed)
    names = list(ADVERSARIAL_KINDS)
    out: list[tuple[str, str]] = []
    for i in range(n):
        name = names[i % len(names)]
        out.append((name, ADVERSARIAL_KINDS[name](r, r.randrange(1000, 4001))))
    return out


def adversarial(n: int, seed: int = 7) -> list[str]:
    """Regex-hostile lines of 1-4 KB each; see ``ADVERSARIAL_KINDS`` for the shapes."""
    return [line for _, line in adversarial_labeled(n, seed)]


def main(argv: list[str] | None = None) -> int:
    """Write a corpus to disk so the CLI and other tools can be fed exactly the same bytes."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.corpus", description=__doc__)
    parser.add_argument("--lines", type=int, default=100_000, help="number of lines")
    parser.add_argument("--out", type=Path, required=True, help="output file ('-' for stdout)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--adversarial", action="store_true", help="write regex-hostile lines instead"
    )
    parser.add_argument(
        "--planted", type=Path, help="also write planted values as JSON lines (index, kind, raw)"
    )
    args = parser.parse_args(argv)

    if args.adversarial:
        lines = adversarial(args.lines, args.seed)
        planted: list[tuple[int, str, str]] = []
    else:
        corpus = generate(args.lines, args.seed)
        lines, planted = corpus.lines, corpus.planted
    text = "".join(line + "\n" for line in lines)
    if str(args.out) == "-":
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    if args.planted:
        args.planted.write_text(
            "".join(json.dumps({"line": i, "kind": k, "raw": v}) + "\n" for i, k, v in planted),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
