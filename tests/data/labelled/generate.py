#!/usr/bin/env python3
"""Generate the independent labelled evaluation set ``lines.jsonl``.

The labels are derived from the redaction *specification* only (see
README.md next to this file), never from the engine implementation.

* deterministic: a single ``random.Random(2026)`` drives everything;
* stdlib only, Python 3.10+;
* every card number is a published network/PSP test number, every other
  sensitive value is randomly generated with the right shape (or is a
  published example IBAN / test routing number) -- never real data.

Run from anywhere::

    python tests/data/labelled/generate.py            # (re)write lines.jsonl
    python tests/data/labelled/generate.py --check    # validate existing file

The script validates every generated line (see ``check_case``) and refuses to
write the file if any check fails.
"""

import argparse
import base64
import json
import random
import re
import string
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
SEED = 2026
HERE = Path(__file__).resolve().parent
OUT_PATH = HERE / "lines.jsonl"

KINDS: tuple[str, ...] = (
    "card",
    "track",
    "cvv",
    "pin",
    "secret",
    "password",
    "iban",
    "bank_account",
    "national_id",
    "email",
    "phone",
)
MIN_PER_KIND: dict[str, int] = {k: 25 for k in KINDS} | {"card": 80}

# ---------------------------------------------------------------------------
# Published test card numbers (Stripe, PayPal/Payflow, Braintree, Cybersource
# test-card tables).  Every number is Luhn-checked at import time.
# ---------------------------------------------------------------------------
TEST_CARDS: dict[str, tuple[str, ...]] = {
    "visa": (
        "4111111111111111",
        "4242424242424242",
        "4012888888881881",
        "4000056655665556",
        "4000002500003155",
        "4000000000003220",
        "4000000760000002",
        "4000001240000000",
        "4000000000000002",
        "4000000000009995",
        "4005519200000004",
        "4217651111111119",
        "4012000077777777",
        "4222222222222",
    ),
    "mastercard": (
        "5555555555554444",
        "5105105105105100",
        "2223003122003222",
        "5200828282828210",
        "2223000048400011",
        "5454545454545454",
        "2222420000001113",
        "2222630000001125",
    ),
    "amex": (
        "378282246310005",
        "371449635398431",
        "378734493671000",
        "340000000000009",
        "370000000000002",
    ),
    "discover": (
        "6011111111111117",
        "6011000990139424",
        "6011981111111113",
        "6011000000000004",
        "6011000991300009",
    ),
    "diners": (
        "30569309025904",
        "38520000023237",
        "36227206271667",
        "36259600000004",
        "3056930009020004",
    ),
    "jcb": ("3530111333300000", "3566002020360505", "3566111111111113"),
    "unionpay": (
        "6200000000000005",
        "6205500000000000004",
        "6243030000000001",
        "6221261111117766",
    ),
    "maestro": (
        "6759649826438453",
        "6759411100000008",
        "5641821111166669",
        "6759560045005727054",
        "586824160825533338",
        "50339619890917",
    ),
}
ALL_CARDS: tuple[str, ...] = tuple(c for cs in TEST_CARDS.values() for c in cs)
# Cards safe to emit as a JSON *number* (<= 16 digits, < 2**53 not required
# by Python but keeps the data friendly to JS-based tooling).
JSON_NUMBER_CARDS: tuple[str, ...] = tuple(
    c for c in ALL_CARDS if len(c) in (15, 16) and int(c) < 2**53
)


def brand_of(pan: str) -> str:
    """Network name of a test PAN (for realistic ``brand`` fields)."""
    return next(n for n, cards in TEST_CARDS.items() if pan in cards)


CARD_GROUPS: dict[int, tuple[int, ...]] = {
    13: (4, 4, 5),
    14: (4, 6, 4),
    15: (4, 6, 5),
    16: (4, 4, 4, 4),
    18: (4, 4, 4, 4, 2),
    19: (4, 4, 4, 4, 3),
}

# Published example IBANs (ECBS / SWIFT registry examples); verified below.
EXAMPLE_IBANS: tuple[str, ...] = (
    "DE89370400440532013000",
    "GB29NWBK60161331926819",
    "FR1420041010050500013M02606",
    "ES9121000418450200051332",
    "NL91ABNA0417164300",
    "IT60X0542811101000000123456",
    "BE68539007547034",
    "CH9300762011623852957",
    "AT611904300234573201",
    "PL61109010140000071219812874",
    "PT50000201231234567890154",
    "IE29AIBK93115212345678",
    "SE4550000000058398257466",
    "NO9386011117947",
    "DK5000400440116243",
    "FI2112345600000785",
    "LU280019400644750000",
    "GR1601101250000000012300695",
    "CZ6508000000192000145399",
    "HU42117730161111101800000000",
    "RO49AAAA1B31007593840000",
    "HR1210010051863000160",
    "SI56263300012039086",
    "SK3112000000198742637541",
    "LT121000011101001000",
    "LV80BANK0000435195001",
    "EE382200221020145685",
    "BG80BNBG96611020345678",
    "CY17002001280000001200527600",
    "MT84MALT011000012345MTLCAST001S",
    "IS140159260076545510730339",
    "SA0380000000608010167519",
    "AE070331234567890123456",
)
# BBAN layouts used to generate further random but mod-97-valid IBANs:
# n = digit, a = upper-case letter, c = upper-case alphanumeric.
IBAN_LAYOUTS: dict[str, str] = {
    "DE": "18n",
    "GB": "4a14n",
    "FR": "10n11c2n",
    "ES": "20n",
    "NL": "4a10n",
    "IT": "1a10n12c",
    "BE": "12n",
    "CH": "5n12c",
    "AT": "16n",
    "PL": "24n",
    "PT": "21n",
    "IE": "4a14n",
    "SE": "20n",
    "DK": "14n",
    "FI": "14n",
    "LU": "3n13c",
    "CZ": "20n",
    "SK": "20n",
    "EE": "16n",
    "LT": "16n",
}

DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits
B64URL = ALNUM + "-_"
PASSWORD_PUNCT = "!*-_.~"
BASE_TIME = datetime(2026, 11, 22, 7, 58, 3, 417000, tzinfo=timezone.utc)


# ---------------------------------------------------------------------------
# Check-digit helpers
# ---------------------------------------------------------------------------
def luhn_ok(digits: str) -> bool:
    """Return True when ``digits`` (only 0-9) passes the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    """Return True when ``iban`` (spaces allowed) passes ISO 13616 mod-97."""
    compact = iban.replace(" ", "")
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{8,30}", compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def iban_check_digits(country: str, bban: str) -> str:
    """Compute the two ISO 13616 check digits for ``country`` + ``bban``."""
    rearranged = bban + country + "00"
    value = int("".join(str(int(ch, 36)) for ch in rearranged))
    return f"{98 - value % 97:02d}"


def dni_letter(number: int) -> str:
    """Spanish DNI/NIE check letter."""
    return DNI_LETTERS[number % 23]


def aba_ok(routing: str) -> bool:
    """US ABA routing number checksum (3-7-1 weights)."""
    d = [int(c) for c in routing]
    return (
        len(d) == 9
        and (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8]) % 10 == 0
    )


for _card in ALL_CARDS:
    if not luhn_ok(_card):  # pragma: no cover - guards the constant table
        raise SystemExit(f"test card {_card} fails Luhn")
for _iban in EXAMPLE_IBANS:
    if not iban_ok(_iban):  # pragma: no cover
        raise SystemExit(f"example IBAN {_iban} fails mod-97")


# ---------------------------------------------------------------------------
# Data model
# ---------------------------------------------------------------------------
@dataclass
class Case:
    """One labelled log line under construction."""

    fmt: str
    line: str = ""
    secrets: list[tuple[str, str]] = field(default_factory=list)  # (kind, raw)
    keep: list[tuple[str, str]] = field(default_factory=list)  # (category, raw)
    tags: list[str] = field(default_factory=list)  # coverage bookkeeping only


class Retry(Exception):
    """Raised by a template when the random draw is unusable."""


# ---------------------------------------------------------------------------
# Random value factory
# ---------------------------------------------------------------------------
FIRST_NAMES = (
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan",
    "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent",
    "victor", "walter", "yasmin", "zoe", "lucia", "mateo", "hugo", "ines",
)  # fmt: skip
LAST_NAMES = (
    "smith", "jones", "garcia", "muller", "rossi", "dubois", "novak", "silva",
    "kowalski", "jensen", "murphy", "lopez", "schmidt", "martin", "bianchi",
    "tanaka", "okafor", "nielsen", "moreau", "fischer",
)  # fmt: skip
EMAIL_DOMAINS = (
    "example.com", "example.org", "example.net", "mail.example.com",
    "customers.example", "shop.test", "corp.example.org", "example.co.test",
)  # fmt: skip
US_AREA_CODES = ("212", "310", "312", "415", "503", "617", "646", "702", "917")
LOGGERS_PY = (
    "payments.api", "payments.gateway.stripe", "payments.gateway.adyen",
    "billing.worker", "checkout.views", "auth.service", "kyc.verify",
    "payouts.sepa", "pos.reader", "hsm.client", "webhooks.receiver",
    "notifications.sms", "settings.loader", "db.pool", "ledger.settlement",
    "risk.engine", "fraud.rules", "subscriptions.renewal", "refunds.service",
    "customers.profile", "integrations.slack", "ci.deploy", "http.client",
)  # fmt: skip
JAVA_LOGGERS = (
    "c.e.payments.PaymentService", "c.e.payments.CardAuthorizer",
    "c.e.billing.InvoiceJob", "c.e.kyc.CustomerVerifier",
    "c.e.gateway.IsoClient", "c.e.payouts.SepaExporter",
    "o.s.web.servlet.DispatcherServlet", "c.e.auth.TokenFilter",
)  # fmt: skip
SERVICES = ("payments-api", "checkout-web", "billing-worker", "kyc-service",
            "payouts", "auth-gateway", "pos-bridge", "ledger")  # fmt: skip
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
    "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    "curl/8.5.0",
)
STOCKS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "TSLA", "ADYEN", "PYPL")
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK", "PLN")
CARDHOLDER_NAMES = (
    "TEST/CARDHOLDER", "SAMPLE/ALEX", "UAT/PAYMENTS", "QA/TESTER",
    "DEMO/CUSTOMER", "STAGING/CARD",
)  # fmt: skip


class Gen:
    """Random value factory on top of a single seeded ``random.Random``."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.now = BASE_TIME

    # -- primitives ---------------------------------------------------------
    def s(self, alphabet: str, n: int) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def hex(self, n: int) -> str:
        return self.s("0123456789abcdef", n)

    def digits(self, n: int, lead_nonzero: bool = True) -> str:
        first = self.r.choice("123456789") if lead_nonzero else self.r.choice("0123456789")
        return first + self.s(string.digits, n - 1)

    def pick(self, seq: Sequence[T]) -> T:
        return self.r.choice(seq)

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    # -- time ---------------------------------------------------------------
    def tick(self) -> datetime:
        self.now += timedelta(milliseconds=self.r.randint(40, 9000))
        return self.now

    @staticmethod
    def ts_py(dt: datetime) -> str:
        return dt.strftime("%Y-%m-%d %H:%M:%S,") + f"{dt.microsecond // 1000:03d}"

    @staticmethod
    def ts_java(dt: datetime) -> str:
        return dt.strftime("%Y-%m-%d %H:%M:%S.") + f"{dt.microsecond // 1000:03d}"

    @staticmethod
    def ts_iso(dt: datetime) -> str:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"

    @staticmethod
    def ts_iso_offset(dt: datetime) -> str:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00"

    @staticmethod
    def ts_nginx(dt: datetime) -> str:
        return dt.strftime("%d/%b/%Y:%H:%M:%S +0000")

    @staticmethod
    def epoch_s(dt: datetime) -> int:
        return int(dt.timestamp())

    @staticmethod
    def epoch_ms(dt: datetime) -> int:
        ms = int(dt.timestamp() * 1000)
        while luhn_ok(str(ms)):  # 13-digit epoch-ms must never look like a PAN
            ms += 1
        return ms

    # -- harmless identifiers (hard negatives) ------------------------------
    def uuid4(self) -> str:
        return str(uuid.UUID(int=self.r.getrandbits(128), version=4))

    def request_id(self) -> str:
        style = self.r.randrange(4)
        if style == 0:
            return f"req_{self.s(LOWER_ALNUM, 14)}"
        if style == 1:
            return f"req-{self.hex(16)}"
        if style == 2:
            return self.uuid4()
        return f"{self.hex(8)}-{self.hex(4)}-{self.hex(4)}"

    def trace_id(self) -> str:
        return self.hex(32)

    def ipv4(self) -> str:
        style = self.r.randrange(4)
        if style == 0:
            return f"10.{self.r.randint(0, 40)}.{self.r.randint(0, 255)}.{self.r.randint(2, 254)}"
        if style == 1:
            return f"192.168.{self.r.randint(0, 20)}.{self.r.randint(2, 254)}"
        if style == 2:
            return f"203.0.113.{self.r.randint(2, 254)}"
        return f"198.51.100.{self.r.randint(2, 254)}"

    def pod(self) -> str:
        return f"{self.pick(SERVICES)}-{self.hex(9)}-{self.s(LOWER_ALNUM, 5)}"

    def version(self) -> str:
        return f"{self.r.randint(1, 4)}.{self.r.randint(0, 30)}.{self.r.randint(0, 20)}"

    def order_id(self) -> str:
        """12-19 digit reference that FAILS Luhn (hard negative)."""
        d = self.digits(self.r.randint(12, 19))
        if luhn_ok(d):
            d = d[:-1] + str((int(d[-1]) + 1) % 10)
        return d

    def luhn_valid_digits(self, n: int) -> str:
        body = self.digits(n - 1)
        return next(body + d for d in string.digits if luhn_ok(body + d))

    def ledger_ref(self) -> str:
        """``LDG`` + 16 Luhn-valid digits: glued to letters, so not a PAN."""
        return "LDG" + self.luhn_valid_digits(16)

    def arn(self) -> str:
        """23-digit acquirer reference number: a longer digit run, not a PAN."""
        return self.digits(23)

    def amount(self) -> str:
        return f"{self.r.randint(1, 4999)}.{self.r.randint(0, 99):02d}"

    def minor_amount(self) -> int:
        return self.r.randint(10000, 999999)

    def sha256(self) -> str:
        return self.hex(64)

    def sha1(self) -> str:
        return self.hex(40)

    def prefixed_id(self, prefix: str, n: int = 24) -> str:
        return f"{prefix}_{self.s(ALNUM, n)}"

    # -- key spelling --------------------------------------------------------
    def key(self, name: str, styles: str = "ssscckup") -> str:
        """Spell snake_case ``name`` in a random convention.

        s=snake c=camel k=kebab u=UPPER_SNAKE p=Pascal K=UPPER-KEBAB l=lower
        """
        words = name.split("_")
        style = self.r.choice(styles)
        if style == "c":
            return words[0] + "".join(w.capitalize() for w in words[1:])
        if style == "k":
            return "-".join(words)
        if style == "u":
            return "_".join(words).upper()
        if style == "p":
            return "".join(w.capitalize() for w in words)
        if style == "K":
            return "-".join(words).upper()
        if style == "l":
            return "".join(words)
        return name

    # -- sensitive values ----------------------------------------------------
    def card(self, max_len: int = 19, networks: Sequence[str] | None = None) -> str:
        pool = ALL_CARDS if networks is None else tuple(c for n in networks for c in TEST_CARDS[n])
        return self.pick([c for c in pool if len(c) <= max_len])

    @staticmethod
    def fmt_card(pan: str, sep: str) -> str:
        if not sep or len(pan) not in CARD_GROUPS:
            return pan
        out: list[str] = []
        pos = 0
        for size in CARD_GROUPS[len(pan)]:
            out.append(pan[pos : pos + size])
            pos += size
        return sep.join(out)

    def cvv(self, amex: bool = False) -> str:
        return str(self.r.randint(1000, 9999) if amex else self.r.randint(100, 999))

    def pin(self) -> str:
        return f"{self.r.randint(0, 999999):06d}"[: self.r.choice((4, 4, 4, 6))]

    def pin_block(self) -> str:
        return self.s("0123456789ABCDEF", 16)

    def password(self) -> str:
        n = self.r.randint(10, 20)
        body = self.s(ALNUM + PASSWORD_PUNCT * 2, n - 2)
        return self.pick(ALNUM) + body + self.pick(string.digits)

    def stripe_key(self) -> str:
        prefix = self.pick(("sk_live_", "sk_test_", "rk_live_", "rk_test_"))
        return prefix + self.s(ALNUM, self.r.choice((24, 24, 32, 99)))

    def aws_key_id(self) -> str:
        return self.pick(("AKIA", "AKIA", "ASIA")) + self.s(string.ascii_uppercase + "234567", 16)

    def aws_secret(self) -> str:
        return self.s(ALNUM + "+/", 40)

    def github_token(self) -> str:
        style = self.r.randrange(3)
        if style == 0:
            return "ghp_" + self.s(ALNUM, 36)
        if style == 1:
            return "gho_" + self.s(ALNUM, 36)
        return "github_pat_" + self.s(ALNUM, 22) + "_" + self.s(ALNUM, 59)

    def gitlab_token(self) -> str:
        return "glpat-" + self.s(ALNUM + "-_", 20)

    def slack_token(self) -> str:
        if self.chance(0.6):
            return f"xoxb-{self.digits(12)}-{self.digits(13)}-{self.s(ALNUM, 24)}"
        return f"xoxp-{self.digits(12)}-{self.digits(12)}-{self.digits(13)}-{self.hex(32)}"

    def google_key(self) -> str:
        return "AIza" + self.s(ALNUM + "-_", 35)

    def opaque_token(self) -> str:
        return self.s(ALNUM, self.r.choice((32, 40, 48, 64)))

    def jwt(self) -> str:
        alg = self.pick(("HS256", "RS256", "ES256"))
        header: dict[str, str] = {"alg": alg, "typ": "JWT"}
        if alg != "HS256":
            header["kid"] = self.hex(16)
        iat = self.epoch_s(self.now) - self.r.randint(0, 3600)
        payload = {
            "sub": f"usr_{self.s(ALNUM, 12)}",
            "iat": iat,
            "exp": iat + 3600,
            "scope": self.pick(("payments:write", "read", "openid profile")),
        }

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        sig_len = {"HS256": 32, "RS256": 256, "ES256": 64}[alg]
        return ".".join(
            (
                b64(json.dumps(header, separators=(",", ":")).encode()),
                b64(json.dumps(payload, separators=(",", ":")).encode()),
                b64(self.r.randbytes(sig_len)),
            )
        )

    def basic_credentials(self) -> str:
        user = self.pick(("svc_payments", "api", "merchant_42", "webhook", "admin"))
        return base64.b64encode(f"{user}:{self.password()}".encode()).decode()

    def pem(self) -> tuple[str, str, str]:
        """Return (header, body_lines_joined_by_newline, footer)."""
        label = self.pick(("RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY"))
        raw = bytes((0x30, 0x82, 0x04, 0xA4)) + self.r.randbytes(self.r.randint(150, 420))
        b64 = base64.b64encode(raw).decode()
        body = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
        return f"-----BEGIN {label}-----", body, f"-----END {label}-----"

    def api_secret_value(self) -> str:
        """A value stored under api_key / token / client_secret style keys."""
        style = self.r.randrange(6)
        if style == 0:
            return self.stripe_key()
        if style == 1:
            return self.hex(32)
        if style == 2:
            return self.s(ALNUM, 40)
        if style == 3:
            return f"{self.s(ALNUM, 8)}.{self.s(ALNUM + '_-', 32)}"
        if style == 4:
            return self.jwt()
        return self.opaque_token()

    def vendor_token(self) -> str:
        """A token recognisable purely by its vendor prefix."""
        pickers: tuple[Callable[[], str], ...] = (
            self.stripe_key,
            self.aws_key_id,
            self.github_token,
            self.gitlab_token,
            self.slack_token,
            self.google_key,
            self.jwt,
        )
        return self.r.choice(pickers)()

    def iban(self) -> str:
        if self.chance(0.4):
            return self.pick(EXAMPLE_IBANS)
        country = self.pick(tuple(IBAN_LAYOUTS))
        bban = ""
        for count, kind in re.findall(r"(\d+)([nac])", IBAN_LAYOUTS[country]):
            alphabet = {
                "n": string.digits,
                "a": string.ascii_uppercase,
                "c": string.digits * 3 + string.ascii_uppercase,
            }[kind]
            bban += self.s(alphabet, int(count))
        return country + iban_check_digits(country, bban) + bban

    @staticmethod
    def spaced_iban(iban: str) -> str:
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))

    def routing_number(self) -> str:
        if self.chance(0.15):
            return "110000000"  # Stripe's published test routing number
        while True:
            prefix = self.pick(tuple(f"{n:02d}" for n in (*range(1, 13), *range(21, 33))))
            body = prefix + self.s(string.digits, 6)
            for check in string.digits:
                if aba_ok(body + check):
                    return body + check

    def account_number(self) -> str:
        if self.chance(0.1):
            return "000123456789"  # Stripe's published test account number
        return self.digits(self.r.randint(8, 12), lead_nonzero=False)

    def sort_code(self) -> str:
        a, b, c = (self.r.randint(0, 99) for _ in range(3))
        return f"{a:02d}-{b:02d}-{c:02d}" if self.chance(0.7) else f"{a:02d}{b:02d}{c:02d}"

    def ssn(self, dashed: bool = True) -> str:
        while True:
            area = self.r.randint(1, 899)
            if area != 666:
                break
        group = self.r.randint(1, 99)
        serial = self.r.randint(1, 9999)
        if dashed:
            return f"{area:03d}-{group:02d}-{serial:04d}"
        return f"{area:03d}{group:02d}{serial:04d}"

    def dni(self) -> str:
        n = self.r.randint(1_000_000, 99_999_999)
        return f"{n:08d}{dni_letter(n)}"

    def nie(self) -> str:
        prefix = self.pick("XYZ")
        n = self.r.randint(0, 9_999_999)
        return f"{prefix}{n:07d}{dni_letter(int(str('XYZ'.index(prefix)) + f'{n:07d}'))}"

    def passport(self) -> str:
        style = self.r.randrange(3)
        if style == 0:
            return self.digits(9)
        if style == 1:
            return self.pick("CFGHJKLMNPRTVWXYZ") + self.s("CFGHJKLMNPRTVWXYZ0123456789", 8)
        return self.s(string.ascii_uppercase, 2) + self.digits(7)

    def tax_id(self) -> str:
        style = self.r.randrange(3)
        if style == 0:
            return f"{self.r.randint(10, 99)}-{self.digits(7)}"  # US EIN shape
        if style == 1:
            return self.dni()  # Spanish NIF
        return self.digits(11)  # German Steuer-IdNr shape

    def email(self) -> str:
        first, last = self.pick(FIRST_NAMES), self.pick(LAST_NAMES)
        style = self.r.randrange(5)
        if style == 0:
            local = f"{first}.{last}"
        elif style == 1:
            local = f"{first}{last}+{self.pick(('receipts', 'shop', 'test', 'billing'))}"
        elif style == 2:
            local = f"{first[0]}.{last}{self.r.randint(1, 99)}"
        elif style == 3:
            local = f"{first}_{last}"
        else:
            local = f"{first}{self.r.randint(1970, 2005)}"
        return f"{local}@{self.pick(EMAIL_DOMAINS)}"

    def phone_e164(self, spaced: bool | None = None) -> str:
        """Fictional-range E.164 numbers (US 555-01xx, UK Ofcom drama ranges)."""
        if spaced is None:
            spaced = self.chance(0.4)
        style = self.r.randrange(3)
        if style == 0:
            area = self.pick(US_AREA_CODES)
            tail = f"01{self.r.randint(0, 99):02d}"
            return f"+1 {area} 555 {tail}" if spaced else f"+1{area}555{tail}"
        if style == 1:
            tail = f"0{self.r.randint(0, 999):03d}"
            return f"+44 20 7946 {tail}" if spaced else f"+44207946{tail}"
        tail = f"{self.r.randint(0, 999):03d}"
        return f"+44 7700 900{tail}" if spaced else f"+447700900{tail}"

    def phone_any(self) -> str:
        """A phone number in any local format (only found by key)."""
        style = self.r.randrange(5)
        if style == 0:
            return self.phone_e164()
        if style == 1:
            return f"({self.pick(US_AREA_CODES)}) 555-01{self.r.randint(0, 99):02d}"
        if style == 2:
            return f"{self.pick(US_AREA_CODES)}-555-01{self.r.randint(0, 99):02d}"
        if style == 3:
            return f"07700 900{self.r.randint(0, 999):03d}"
        return f"020 7946 0{self.r.randint(0, 999):03d}"

    # -- keep selection -------------------------------------------------------
    def keeps(
        self,
        cands: Sequence[tuple[str, str]],
        must: Sequence[tuple[str, str]] = (),
        lo: int = 1,
        hi: int = 4,
    ) -> list[tuple[str, str]]:
        chosen: list[tuple[str, str]] = []
        for item in must:
            if item not in chosen:
                chosen.append(item)
        rest = [c for c in cands if c not in chosen]
        n = max(0, min(len(rest), self.r.randint(lo, hi) - len(chosen)))
        chosen.extend(self.r.sample(rest, n))
        return chosen[:hi]


# ---------------------------------------------------------------------------
# Shared building blocks
# ---------------------------------------------------------------------------
TextPrefix = tuple[str, list[tuple[str, str]]]


def py_prefix(g: Gen, level: str, logger: str | None = None) -> TextPrefix:
    """``2026-11-22 15:09:38,123 INFO payments.api [req=...]`` prefix."""
    dt = g.tick()
    logger = logger or g.pick(LOGGERS_PY)
    rid = g.request_id()
    ts = g.ts_py(dt)
    style = g.r.randrange(3)
    if style == 0:
        text = f"{ts} {level} {logger} [req={rid}]"
    elif style == 1:
        text = f"{ts} {level} [{logger}] request_id={rid}"
    else:
        text = f"{ts} - {logger} - {level} - [{rid}]"
    return text, [("timestamp", ts), ("logger", logger), ("request_id", rid)]


def java_prefix(g: Gen, level: str) -> TextPrefix:
    """Spring Boot style prefix."""
    dt = g.tick()
    logger = g.pick(JAVA_LOGGERS)
    thread = g.pick(
        (f"nio-8080-exec-{g.r.randint(1, 40)}", "main", f"pool-3-thread-{g.r.randint(1, 9)}")
    )
    ts = g.ts_java(dt)
    tid = g.trace_id()
    text = f"{ts} {level:>5} 1 --- [{thread}] [{tid}] {logger} : "
    return text, [("timestamp", ts), ("logger", logger), ("trace_id", tid)]


def logfmt_prefix(g: Gen, level: str, msg: str) -> TextPrefix:
    dt = g.tick()
    ts = g.ts_iso(dt)
    logger = g.pick(LOGGERS_PY)
    rid = g.request_id()
    text = f'time={ts} level={level.lower()} logger={logger} request_id={rid} msg="{msg}"'
    return text, [("timestamp", ts), ("logger", logger), ("request_id", rid)]


def nginx_line(g: Gen, method: str, target: str, status: int, referer: str = "-") -> TextPrefix:
    dt = g.tick()
    ip = g.ipv4()
    ts = g.ts_nginx(dt)
    size = g.r.randint(0, 48000)
    rt = f"{g.r.randint(0, 2)}.{g.r.randint(1, 999):03d}"
    ua = g.pick(USER_AGENTS)
    text = (
        f'{ip} - - [{ts}] "{method} {target} HTTP/1.1" {status} {size} "{referer}" "{ua}" rt={rt}'
    )
    return text, [("ip", ip), ("timestamp", f"[{ts}]"), ("duration", f"rt={rt}")]


def json_base(
    g: Gen, level: str, message: str, logger: str | None = None
) -> tuple[dict[str, object], list[tuple[str, str]]]:
    """A structured-logger record: timestamp, level, logger, message, ids."""
    dt = g.tick()
    logger = logger or g.pick(LOGGERS_PY)
    rid = g.request_id()
    rec: dict[str, object] = {}
    cands: list[tuple[str, str]] = []
    style = g.r.randrange(4)
    if style == 0:
        ts = g.ts_iso(dt)
        rec["timestamp"] = ts
        cands.append(("timestamp", ts))
    elif style == 1:
        ts = g.ts_iso_offset(dt)
        rec["@timestamp"] = ts
        cands.append(("timestamp", ts))
    elif style == 2:
        ms = g.epoch_ms(dt)
        rec["ts"] = ms
        cands.append(("epoch_ms", str(ms)))
    else:
        ts = g.ts_iso(dt)
        rec["time"] = ts
        rec["epoch"] = g.epoch_s(dt)
        cands.append(("timestamp", ts))
        cands.append(("epoch_s", str(rec["epoch"])))
    rec["level"] = level if g.chance(0.7) else level.lower()
    rec[g.pick(("logger", "logger", "name", "logger_name"))] = logger
    rec[g.pick(("message", "message", "msg"))] = message
    rec[g.pick(("request_id", "request_id", "requestId", "req_id"))] = rid
    cands += [("logger", logger), ("request_id", rid)]
    if g.chance(0.5):
        tid = g.trace_id()
        rec["trace_id"] = tid
        rec["span_id"] = g.hex(16)
        cands.append(("trace_id", tid))
    if g.chance(0.5):
        pod = g.pod()
        rec["host"] = pod
        cands.append(("host", pod))
    if g.chance(0.3):
        rec["service"] = g.pick(SERVICES)
        rec["env"] = g.pick(("prod", "staging", "sandbox"))
    return rec, cands


def dumps(g: Gen, rec: object) -> str:
    if g.chance(0.3):
        return json.dumps(rec, separators=(",", ":"))
    return json.dumps(rec)


def q(value: str, sep: str) -> str:
    """Render a value for a URL query (only card spaces need care)."""
    return value.replace(" ", sep)


def card_sep(g: Gen, allow_url: bool = False) -> str:
    opts = ["", "", " ", "-"]
    if allow_url:
        opts += ["%20", "+"]
    return g.pick(opts)


def card_style_tag(pan: str, sep: str) -> str:
    name = {"": "plain", " ": "spaces", "-": "dashes", "%20": "pct20", "+": "plus"}[sep]
    if sep and len(pan) == 15:
        name += "-amex465"
    return name


# Key-based fields ---------------------------------------------------------
CVV_KEYS = (
    "cvv", "cvc", "cvv2", "cvc2", "cid", "security_code", "card_verification",
)  # fmt: skip
PIN_KEYS = ("pin", "pin", "pin_block")
SECRET_KEYS = (
    "x_api_key", "api_key", "apikey", "token", "access_token", "refresh_token",
    "client_secret", "secret", "private_key",
)  # fmt: skip
PASSWORD_KEYS = ("password", "password", "passwd", "pwd", "pass", "passphrase")
BANK_KEYS = ("account_number", "routing_number", "sort_code", "bank_account")
NATID_KEYS = ("passport", "id_number", "document_number", "tax_id", "national_id")
PHONE_KEYS = ("phone", "phone_number", "mobile")


def keyed_field(g: Gen, kind: str) -> tuple[str, str]:
    """Return (key, value) for a key-based sensitive field of ``kind``."""
    if kind == "cvv":
        base = g.pick(CVV_KEYS)
        k = g.key(base, "sssccckuKp") if "_" in base else g.pick((base, base, base.upper()))
        return k, g.cvv(amex=base == "cid")
    if kind == "pin":
        base = g.pick(PIN_KEYS)
        if base == "pin":
            return g.pick(("pin", "pin", "PIN", "Pin")), g.pin()
        return g.key(base, "ssccu"), g.pin_block()
    if kind == "secret":
        base = g.pick(SECRET_KEYS)
        if base == "x_api_key":
            k = g.pick(("x-api-key", "X-Api-Key", "X-API-KEY", "x_api_key"))
        elif base == "apikey":
            k = g.pick(("apikey", "apiKey", "APIKEY"))
        elif base == "private_key":
            k = g.key(base, "sscu")
            return k, g.hex(64)
        else:
            k = g.key(base, "ssscckup") if "_" in base else g.pick((base, base.upper()))
        return k, g.api_secret_value()
    if kind == "password":
        base = g.pick(PASSWORD_KEYS)
        return g.pick((base, base, base.capitalize(), base.upper())), g.password()
    if kind == "bank_account":
        base = g.pick(BANK_KEYS)
        k = g.key(base, "ssscckup")
        if base == "routing_number":
            return k, g.routing_number()
        if base == "sort_code":
            return k, g.sort_code()
        return k, g.account_number()
    if kind == "national_id":
        base = g.pick(NATID_KEYS)
        k = g.key(base, "ssscckup") if "_" in base else g.pick((base, base.capitalize()))
        if base == "passport":
            return k, g.passport()
        if base == "tax_id":
            return k, g.tax_id()
        return k, g.pick((g.dni(), g.nie(), g.ssn(dashed=g.chance(0.5)), g.passport()))
    if kind == "phone":
        base = g.pick(PHONE_KEYS)
        k = g.key(base, "ssscu") if "_" in base else g.pick((base, base.capitalize()))
        return k, g.phone_any()
    if kind == "email":
        return g.pick(("email", "email", "customer_email", "billingEmail")), g.email()
    if kind == "iban":
        iban = g.iban()
        return g.pick(("iban", "IBAN", "debtor_iban", "ibanNumber")), (
            g.spaced_iban(iban) if g.chance(0.35) else iban
        )
    raise ValueError(kind)


def pw_url(g: Gen, db_only: bool = False) -> tuple[str, str]:
    """(url, password) for a URL with userinfo credentials."""
    pw = g.password()
    scheme, host, port, path = g.pick(
        (
            ("postgresql", "db-primary.internal", 5432, "/payments"),
            ("postgres", "10.0.3.4", 5432, "/ledger"),
            ("mysql", "mysql-0.mysql.prod.svc", 3306, "/shop"),
            ("mongodb+srv", "cluster0.abcde.mongodb.example.net", 0, "/orders"),
            ("redis", "cache.internal", 6379, "/0"),
            ("amqp", "rabbitmq.prod.svc", 5672, "/%2F"),
            ("https", "artifacts.example.com", 443, "/simple/"),
            ("sftp", "sftp.bank.example.org", 22, "/outbound/settlement"),
        )[: 5 if db_only else 8]
    )
    user = g.pick(("app", "payments_app", "svc_ledger", "readonly", "deploy", "root"))
    if scheme == "redis" and g.chance(0.5):
        user = ""
    hostport = host if port in (0, 443) else f"{host}:{port}"
    return f"{scheme}://{user}:{pw}@{hostport}{path}", pw


# ---------------------------------------------------------------------------
# TEXT templates with secrets
# ---------------------------------------------------------------------------
def t_py_kv_card(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = py_prefix(g, g.pick(("INFO", "DEBUG", "WARNING")), "payments.api")
    pan = g.card()
    sep = card_sep(g)
    card = g.fmt_card(pan, sep)
    ck = g.key("card_number", "ssscckK")
    card_txt = f'"{card}"' if sep == " " else card
    amex = len(pan) == 15
    cv = g.cvv(amex)
    cvk = g.pick(("cid", "CID")) if amex else g.key(g.pick(CVV_KEYS[:-2]), "sscu")
    amt = g.amount()
    cur = g.pick(CURRENCIES)
    parts = [f"{prefix} authorize attempt {ck}={card_txt}"]
    c.secrets.append(("card", card))
    c.tags.append(card_style_tag(pan, sep) + "/text-kv")
    parts.append(f"exp={g.r.randint(1, 12):02d}/{g.r.randint(27, 33)}")
    if g.chance(0.7):
        parts.append(f"{cvk}={cv}")
        c.secrets.append(("cvv", cv))
    parts.append(f"amount={amt} currency={cur}")
    c.line = " ".join(parts)
    c.keep = g.keeps([*kc, ("amount", f"amount={amt}")])
    return c


def t_nginx_query_card(g: Gen) -> Case:
    c = Case("text")
    pan = g.card()
    sep = card_sep(g, allow_url=True)
    card = q(g.fmt_card(pan, " " if sep else ""), sep)
    oid = g.order_id()
    ck = g.pick(("card", "card_number", "cardNumber", "pan", "cc", "ccnum"))
    params = [f"order_id={oid}", f"{ck}={card}"]
    c.secrets.append(("card", card))
    c.tags.append(card_style_tag(pan, sep) + "/query")
    if g.chance(0.7):
        cv = g.cvv(len(pan) == 15)
        params.append(f"{g.key(g.pick(CVV_KEYS), 'ssscckK')}={cv}")
        c.secrets.append(("cvv", cv))
    if g.chance(0.25):
        em = g.email()
        params.append(f"email={em}")
        c.secrets.append(("email", em))
    params.append(f"locale={g.pick(('en_GB', 'de_DE', 'fr_FR', 'es_ES'))}")
    path = g.pick(("/checkout/complete", "/api/v1/pay", "/legacy/submit_payment.php"))
    text, kc = nginx_line(
        g, g.pick(("GET", "GET", "POST")), f"{path}?{'&'.join(params)}", g.pick((200, 302, 402))
    )
    c.line = text
    c.keep = g.keeps([*kc, ("order_id", f"order_id={oid}"), ("path", path)])
    return c


def t_nginx_query_secret(g: Gen) -> Case:
    c = Case("text")
    style = g.r.randrange(4)
    if style == 0:
        key = g.google_key()
        path = "/maps/api/geocode/json"
        params = [f"address={g.r.randint(1, 999)}+Main+St", f"key={key}"]
        kind = "secret"
    elif style == 1:
        key = g.api_secret_value()
        path = g.pick(("/v2/quotes", "/api/rates", "/export/transactions.csv"))
        params = [f"symbol={g.pick(STOCKS)}", f"{g.pick(('api_key', 'apikey', 'apiKey'))}={key}"]
        kind = "secret"
    elif style == 2:
        key = g.pick((g.jwt(), g.opaque_token()))
        path = g.pick(("/oauth/callback", "/ws/notifications", "/download/statement"))
        params = [
            f"{g.pick(('access_token', 'token', 'refresh_token'))}={key}",
            f"state={g.hex(16)}",
        ]
        kind = "secret"
    else:
        key = g.password()
        path = g.pick(("/login", "/legacy/auth.cgi", "/admin/login.php"))
        params = [f"user={g.pick(FIRST_NAMES)}", f"{g.pick(('password', 'pwd', 'pass'))}={key}"]
        kind = "password"
    g.r.shuffle(params)
    c.secrets.append((kind, key))
    text, kc = nginx_line(g, "GET", f"{path}?{'&'.join(params)}", g.pick((200, 401, 403, 302)))
    c.line = text
    c.keep = g.keeps([*kc, ("path", path)])
    return c


def t_logfmt_fields(g: Gen) -> Case:
    c = Case("text")
    kinds = g.r.sample(
        [
            "cvv",
            "pin",
            "secret",
            "password",
            "bank_account",
            "national_id",
            "phone",
            "email",
            "iban",
        ],
        g.r.randint(1, 3),
    )
    msg = g.pick(
        (
            "request payload",
            "customer updated",
            "payout created",
            "verification submitted",
            "credentials rotated",
            "form submitted",
        )
    )
    prefix, kc = logfmt_prefix(g, g.pick(("INFO", "DEBUG", "WARN")), msg)
    parts = [prefix]
    for kind in kinds:
        k, v = keyed_field(g, kind)
        parts.append(f'{k}="{v}"' if " " in v or g.chance(0.15) else f"{k}={v}")
        c.secrets.append((kind, v))
    dur = f"duration_ms={g.r.randint(3, 2500)}"
    parts.append(dur)
    if g.chance(0.5):
        st = f"status={g.pick((200, 201, 400, 422))}"
        parts.append(st)
        kc.append(("status", st))
    c.line = " ".join(parts)
    c.keep = g.keeps([*kc, ("duration", dur), ("message", f'msg="{msg}"')])
    return c


def t_java_card(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = java_prefix(g, g.pick(("ERROR", "WARN", "INFO")))
    pan = g.card()
    sep = card_sep(g)
    card = g.fmt_card(pan, sep)
    amex = len(pan) == 15
    cv = g.cvv(amex)
    cvk = g.pick(("cvv", "cvc", "securityCode", "cvv2", "CVV", "cardVerification"))
    pid = g.uuid4()
    amt = g.amount()
    holder = g.pick(("TEST CARDHOLDER", "J. TESTER", "QA USER"))
    if g.chance(0.5):
        body = (
            f"Authorization failed for PaymentRequest{{id={pid}, amount={amt}, "
            f"currency={g.pick(CURRENCIES)}, card=Card{{number={card}, "
            f"expiry={g.r.randint(1, 12):02d}/{g.r.randint(27, 33)}, {cvk}={cv}, "
            f"holder='{holder}'}}}} status=DECLINED"
        )
    else:
        body = (
            f"saving payment method {{cardNumber={card}, {cvk}={cv}, "
            f"brand={brand_of(pan)}, customerId={pid}}}"
        )
    c.line = prefix + body
    c.secrets += [("card", card), ("cvv", cv)]
    c.tags.append(card_style_tag(pan, sep) + "/java")
    c.keep = g.keeps([*kc, ("uuid", pid)])
    return c


def t_java_customer(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = java_prefix(g, g.pick(("INFO", "DEBUG")))
    cid = g.prefixed_id("cus", 14)
    em = g.email()
    ph = g.phone_any()
    fields = [f"id={cid}", f"email={em}", f"phone={ph}"]
    c.secrets += [("email", em), ("phone", ph)]
    extra = g.r.randrange(3)
    if extra == 0:
        k, v = keyed_field(g, "national_id")
        fields.append(f"{k}={v}")
        c.secrets.append(("national_id", v))
    elif extra == 1:
        iban = g.iban()
        fields.append(f"iban={iban}")
        c.secrets.append(("iban", iban))
    else:
        ssn = g.ssn()
        fields.append(f"ssn={ssn}")
        c.secrets.append(("national_id", ssn))
    fields.append(f"createdAt={g.ts_iso(g.now)}")
    c.line = prefix + f"Customer{{{', '.join(fields)}}} persisted"
    c.keep = g.keeps([*kc, ("customer_id", cid)])
    return c


def t_xml(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = py_prefix(g, "DEBUG", g.pick(("soap.gateway", "payments.gateway.adyen")))
    pan = g.card()
    sep = card_sep(g)
    card = g.fmt_card(pan, sep)
    ref = g.order_id()
    amt = g.amount()
    inner = [
        f"<Number>{card}</Number>",
        f"<ExpiryDate>{g.r.randint(27, 33)}{g.r.randint(1, 12):02d}</ExpiryDate>",
    ]
    c.secrets.append(("card", card))
    c.tags.append(card_style_tag(pan, sep) + "/xml")
    if g.chance(0.75):
        cv = g.cvv(len(pan) == 15)
        tag = g.pick(("cvv", "CVV2", "SecurityCode", "securityCode", "cvc"))
        inner.append(f"<{tag}>{cv}</{tag}>")
        c.secrets.append(("cvv", cv))
    body = (
        f"<AuthorizeRequest><MerchantRef>{ref}</MerchantRef><Card>{''.join(inner)}"
        f'</Card><Amount currency="{g.pick(CURRENCIES)}">{amt}</Amount>'
    )
    if g.chance(0.3):
        pw = g.password()
        body += f"<Auth><User>merchant01</User><Password>{pw}</Password></Auth>"
        c.secrets.append(("password", pw))
    body += "</AuthorizeRequest>"
    c.line = f"{prefix} request body: {body}"
    c.keep = g.keeps([*kc, ("order_id", ref), ("amount", amt)])
    return c


def t_text_embedded_json(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = py_prefix(g, g.pick(("INFO", "DEBUG")), "webhooks.receiver")
    eid = g.prefixed_id("evt", 24)
    payload: dict[str, object] = {"id": eid, "type": "payment_intent.created"}
    card_obj: dict[str, object] = {}
    pan = g.card(max_len=16)
    sep = card_sep(g)
    card = g.fmt_card(pan, sep)
    card_obj[g.pick(("number", "pan", "cardNumber", "card_number"))] = card
    c.secrets.append(("card", card))
    c.tags.append(card_style_tag(pan, sep) + "/text-embedded-json")
    if g.chance(0.7):
        k, v = keyed_field(g, "cvv")
        card_obj[k] = v
        c.secrets.append(("cvv", v))
    payload["card"] = card_obj
    amt = g.minor_amount()
    payload["amount"] = amt
    if g.chance(0.4):
        em = g.email()
        payload["receipt_email"] = em
        c.secrets.append(("email", em))
    c.line = f"{prefix} payload={json.dumps(payload, separators=(',', ':'))}"
    c.keep = g.keeps([*kc, ("event_id", eid), ("amount", str(amt))])
    return c


def t_exception_card(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = py_prefix(g, "ERROR", g.pick(("payments.tasks", "billing.worker")))
    pan = g.card()
    sep = card_sep(g)
    card = g.fmt_card(pan, sep)
    task = g.uuid4()
    style = g.r.randrange(3)
    if style == 0:
        msg = (
            f"Task charge_card[{task}] raised unexpected: CardError('Your card was "
            f"declined.', param='number', value='{card}')"
        )
    elif style == 1:
        msg = f"ValueError: could not tokenize card {card}: gateway returned 402 (task={task})"
    else:
        msg = f"payments.errors.GatewayError: issuer unavailable for PAN {card} [task {task}]"
    c.line = f"{prefix} {msg}"
    c.secrets.append(("card", card))
    c.tags.append(card_style_tag(pan, sep) + "/exception")
    c.keep = g.keeps([*kc, ("uuid", task)])
    return c


def t_exception_dsn(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = py_prefix(g, g.pick(("ERROR", "CRITICAL")), "db.pool")
    style = g.r.randrange(4)
    if style == 0:
        url, pw = pw_url(g)
        msg = (
            f"sqlalchemy.exc.OperationalError: could not connect url={url} "
            f"after 3 retries (timeout=30s)"
        )
    elif style == 1:
        pw = g.password()
        msg = (
            f"System.Data.SqlClient.SqlException: Login failed. ConnectionString="
            f"'Server=tcp:sql-prod.example.net,1433;Initial Catalog=payments;"
            f"User ID=svc_payments;Password={pw};Encrypt=True;Connection Timeout=30;'"
        )
    elif style == 2:
        pw = g.password()
        msg = (
            f"pyodbc.InterfaceError: ('28000', 'Login failed') dsn="
            f"'DRIVER={{ODBC Driver 18 for SQL Server}};SERVER=10.20.1.5;"
            f"UID=reporting;PWD={pw};TrustServerCertificate=yes'"
        )
    else:
        url, pw = pw_url(g)
        msg = f"ConnectionRefusedError: [Errno 111] Connection refused while opening {url}"
    c.line = f"{prefix} {msg}"
    c.secrets.append(("password", pw))
    c.keep = g.keeps(kc)
    return c


def t_http_headers(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = py_prefix(g, "DEBUG", g.pick(("http.client", "urllib3.connectionpool")))
    path = g.pick(("/v1/payment_intents", "/v1/charges", "/api/v3/payouts", "/v2/refunds"))
    host = g.pick(("api.stripe.example", "api.example.com", "psp.example.net"))
    headers = [f"POST {path} HTTP/1.1", f"Host: {host}"]
    style = g.r.randrange(4)
    if style == 0:
        tok = g.pick((g.stripe_key(), g.jwt(), g.opaque_token()))
        headers.append(f"{g.pick(('Authorization', 'authorization'))}: Bearer {tok}")
    elif style == 1:
        tok = g.basic_credentials()
        headers.append(f"Authorization: Basic {tok}")
    elif style == 2:
        tok = g.api_secret_value()
        headers.append(f"{g.pick(('X-Api-Key', 'x-api-key', 'X-API-KEY'))}: {tok}")
    else:
        tok = g.jwt()
        headers.append(f"Authorization: Bearer {tok}")
    c.secrets.append(("secret", tok))
    idem = g.uuid4()
    headers.append(f"Idempotency-Key: {idem}")
    headers.append("Content-Type: application/x-www-form-urlencoded")
    c.line = f"{prefix} send: b'" + "\\r\\n".join(headers) + "\\r\\n\\r\\n'"
    c.keep = g.keeps([*kc, ("path", path), ("host", host), ("uuid", idem)])
    return c


def t_env_dump(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = py_prefix(g, "WARNING", "settings.loader")
    region = g.pick(("eu-west-1", "us-east-1", "eu-central-1"))
    items = [f"AWS_REGION={region}"]
    choices = g.r.sample(
        ["aws", "stripe", "github", "gitlab", "slack", "db", "google"], g.r.randint(1, 3)
    )
    for ch in choices:
        if ch == "aws":
            kid, sec = g.aws_key_id(), g.aws_secret()
            items += [f"AWS_ACCESS_KEY_ID={kid}", f"AWS_SECRET_ACCESS_KEY={sec}"]
            c.secrets += [("secret", kid), ("secret", sec)]
        elif ch == "stripe":
            v = g.stripe_key()
            items.append(f"STRIPE_SECRET_KEY={v}")
            c.secrets.append(("secret", v))
        elif ch == "github":
            v = g.github_token()
            items.append(f"GITHUB_TOKEN={v}")
            c.secrets.append(("secret", v))
        elif ch == "gitlab":
            v = g.gitlab_token()
            items.append(f"CI_JOB_TOKEN={v}")
            c.secrets.append(("secret", v))
        elif ch == "slack":
            v = g.slack_token()
            items.append(f"SLACK_BOT_TOKEN={v}")
            c.secrets.append(("secret", v))
        elif ch == "google":
            v = g.google_key()
            items.append(f"MAPS_API_KEY={v}")
            c.secrets.append(("secret", v))
        else:
            url, pw = pw_url(g, db_only=True)
            items.append(f"DATABASE_URL={url}")
            c.secrets.append(("password", pw))
    ver = g.version()
    items.append(f"APP_VERSION={ver}")
    c.line = f"{prefix} environment loaded: " + " ".join(items)
    c.keep = g.keeps([*kc, ("version", f"APP_VERSION={ver}"), ("region", region)])
    return c


def t_track(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = py_prefix(g, "DEBUG", "pos.reader")
    pan = g.card(max_len=19, networks=("visa", "mastercard", "discover", "jcb"))
    yymm = f"{g.r.randint(27, 33)}{g.r.randint(1, 12):02d}"
    svc = g.pick(("101", "201", "120", "221"))
    term = f"T-{g.s(string.ascii_uppercase, 2)}{g.r.randint(10, 99)}"
    which = g.r.randrange(3)
    tracks: list[str] = []
    if which in (0, 2):
        t1 = f"%B{pan}^{g.pick(CARDHOLDER_NAMES)}^{yymm}{svc}{g.digits(g.r.randint(8, 14))}?"
        tracks.append(t1)
    if which in (1, 2):
        t2 = f";{pan}={yymm}{svc}{g.digits(g.r.randint(8, 13))}?"
        tracks.append(t2)
    c.secrets += [("track", t) for t in tracks]
    style = g.r.randrange(3)
    if style == 0:
        body = f"raw swipe terminal={term} data={''.join(tracks)}"
    elif style == 1:
        body = f"MSR read on {term}: " + " ".join(
            f"track{1 if t.startswith('%') else 2}={t}" for t in tracks
        )
    else:
        body = f"fallback to magstripe ({term}) tracks: " + " | ".join(tracks)
    c.line = f"{prefix} {body}"
    c.keep = g.keeps([*kc, ("terminal", term)])
    return c


def t_pin(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = py_prefix(g, "DEBUG", g.pick(("hsm.client", "pos.reader", "atm.switch")))
    style = g.r.randrange(3)
    zpk = f"zpk_index={g.r.randint(10, 99)}"
    if style == 0:
        pb = g.pin_block()
        k = g.pick(("pin_block", "pinBlock", "PIN_BLOCK", "pinblock"))
        body = f"translate request cmd=CA {k}={pb} format=ISO-0 {zpk}"
        c.secrets.append(("pin", pb))
    elif style == 1:
        pn = g.pin()
        k = g.pick(("pin", "PIN", "Pin"))
        body = f"offline verification {k}={pn} attempts_left={g.r.randint(1, 2)} {zpk}"
        c.secrets.append(("pin", pn))
    else:
        pb = g.pin_block()
        pn = g.pin()
        body = f"pin change: {{'pin': '{pn}', 'pin_block': '{pb}'}} {zpk}"
        c.secrets += [("pin", pn), ("pin", pb)]
    c.line = f"{prefix} {body}"
    c.keep = g.keeps([*kc, ("hsm", zpk)])
    return c


def t_iban_text(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = py_prefix(g, "INFO", "payouts.sepa")
    ib1 = g.iban()
    ib1s = g.spaced_iban(ib1) if g.chance(0.5) else ib1
    e2e = f"E2E-{g.order_id()}"
    bic = g.pick(("DEUTDEFFXXX", "COBADEFF", "BNPAFRPP", "INGBNL2A", "NWBKGB2L"))
    amt = g.amount()
    if g.chance(0.5):
        ib2 = g.iban()
        ib2s = g.spaced_iban(ib2) if g.chance(0.5) else ib2
        body = (
            f"SEPA credit transfer created debtor={ib1s} creditor={ib2s} "
            f"bic={bic} amount=EUR {amt} e2e={e2e}"
        )
        c.secrets += [("iban", ib1s), ("iban", ib2s)]
    else:
        body = f"mandate accepted for IBAN {ib1s} (bic {bic}), first collection EUR {amt} ref {e2e}"
        c.secrets.append(("iban", ib1s))
    c.line = f"{prefix} {body}"
    c.keep = g.keeps([*kc, ("bic", bic), ("reference", e2e), ("amount", amt)])
    return c


def t_bank_kv(g: Gen) -> Case:
    c = Case("text")
    if g.chance(0.5):
        prefix, kc = py_prefix(g, "INFO", g.pick(("ach.originator", "payouts.bacs")))
        sep_kv = "="
    else:
        prefix, kc = java_prefix(g, "INFO")
        sep_kv = ": "
    batch = f"batch_{g.hex(10)}"
    if g.chance(0.5):
        rn, an = g.routing_number(), g.account_number()
        rk, ak = g.key("routing_number", "sscuk"), g.key("account_number", "sscuk")
        body = f"ACH entry queued {batch} {rk}{sep_kv}{rn} {ak}{sep_kv}{an} account_type=checking"
        c.secrets += [("bank_account", rn), ("bank_account", an)]
    else:
        sc, an = g.sort_code(), g.digits(8, lead_nonzero=False)
        sk = g.key("sort_code", "sscuk")
        ak = g.key(g.pick(("account_number", "bank_account")), "sscuk")
        inv = f"INV-{g.r.randint(10000, 99999)}"
        body = f"BACS payment {batch} {sk}{sep_kv}{sc} {ak}{sep_kv}{an} reference={inv}"
        c.secrets += [("bank_account", sc), ("bank_account", an)]
    c.line = f"{prefix} {body}" if not prefix.endswith(": ") else prefix + body
    c.keep = g.keeps([*kc, ("batch", batch)])
    return c


def t_kyc_text(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = py_prefix(g, "INFO", "kyc.verify")
    cid = g.prefixed_id("cus", 14)
    style = g.r.randrange(5)
    if style == 0:
        v = g.dni()
        body = f"document {v} accepted for applicant {cid}"
    elif style == 1:
        v = g.nie()
        body = f"NIE {v} verified against registry for {cid}"
    elif style == 2:
        v = g.ssn()
        body = f"SSN {v} matched credit bureau record for {cid}"
    elif style == 3:
        v = g.ssn()
        body = f"applicant {cid} submitted ssn={v} score={g.r.randint(300, 850)}"
    else:
        k, v = keyed_field(g, "national_id")
        body = f"applicant {cid} {k}={v} country={g.pick(('ES', 'US', 'DE', 'FR'))}"
    c.secrets.append(("national_id", v))
    if g.chance(0.3):
        em = g.email()
        body += f" contact={em}"
        c.secrets.append(("email", em))
    c.line = f"{prefix} {body}"
    c.keep = g.keeps([*kc, ("customer_id", cid)])
    return c


def t_email_text(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = py_prefix(g, "INFO", g.pick(("notifications.email", "auth.service")))
    em = g.email()
    oid = g.order_id()
    style = g.r.randrange(4)
    phrase: tuple[str, str] | None = None
    if style == 0:
        body = f"password reset email sent to {em}"
        phrase = ("phrase", "password reset email sent")
    elif style == 1:
        body = f"sending receipt for order {oid} to <{em}>"
        kc.append(("order_id", oid))
    elif style == 2:
        body = f"User authenticated email={em} method=password mfa=totp"
        phrase = ("phrase", "User authenticated")
    else:
        body = f"bounce received from {em}: 550 5.1.1 mailbox unavailable"
    c.secrets.append(("email", em))
    c.line = f"{prefix} {body}"
    c.keep = g.keeps(kc, must=[phrase] if phrase else ())
    return c


def t_phone_text(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = py_prefix(g, "INFO", "notifications.sms")
    ph = g.phone_e164()
    sid = f"SM{g.hex(32)}"
    style = g.r.randrange(3)
    if style == 0:
        body = f"OTP sent to {ph} via twilio sid={sid}"
    elif style == 1:
        body = f"delivery failed for {ph}: carrier rejected (sid={sid})"
    else:
        k, v = keyed_field(g, "phone")
        ph = v
        body = f"profile updated {k}={v} sid={sid}"
    c.secrets.append(("phone", ph))
    c.line = f"{prefix} {body}"
    c.keep = g.keeps(kc)  # the Twilio sid is left neutral (neither secret nor keep)
    return c


def t_python_repr(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = py_prefix(g, "DEBUG", g.pick(("auth.views", "accounts.forms")))
    user = f"{g.pick(FIRST_NAMES)}.{g.pick(LAST_NAMES)}"
    pw = g.password()
    pk = g.pick(("password", "passwd", "pwd", "Password", "passphrase"))
    nxt = g.pick(("/dashboard", "/account/billing", "/checkout/step-2"))
    items = [f"'username': '{user}'", f"'{pk}': '{pw}'", f"'next': '{nxt}'", "'remember': True"]
    c.secrets.append(("password", pw))
    if g.chance(0.3):
        k, v = keyed_field(g, "phone")
        items.append(f"'{k}': '{v}'")
        c.secrets.append(("phone", v))
    c.line = f"{prefix} login form data: {{{', '.join(items)}}}"
    c.keep = g.keeps([*kc, ("username", user), ("path", nxt)])
    return c


def t_pem_text(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = py_prefix(g, "ERROR", g.pick(("crypto.keys", "settings.loader")))
    head, body, foot = g.pem()
    body_lit = body.replace("\n", "\\n")
    k = g.pick(("PRIVATE_KEY", "private_key", "privateKey"))
    c.line = (
        f"{prefix} failed to load signing key {k}={head}\\n{body_lit}\\n{foot}\\n "
        f"(len={len(body) + len(head) + len(foot) + 3})"
    )
    c.secrets.append(("secret", body_lit))
    c.keep = g.keeps(kc)
    return c


def t_vendor_token_text(g: Gen) -> Case:
    c = Case("text")
    style = g.r.randrange(5)
    if style == 0:
        prefix, kc = py_prefix(g, "INFO", "ci.deploy")
        tok = g.github_token()
        repo = g.pick(("acme/payments", "acme/ledger", "acme/infra"))
        body = f"cloning https://x-access-token:{tok}@github.com/{repo}.git"
        kc.append(("repo", repo))
    elif style == 1:
        prefix, kc = py_prefix(g, "INFO", "ci.deploy")
        tok = g.gitlab_token()
        body = f"git fetch https://oauth2:{tok}@gitlab.example.com/platform/payments.git"
    elif style == 2:
        prefix, kc = py_prefix(g, "DEBUG", "integrations.slack")
        tok = g.slack_token()
        chan = f"#{g.pick(('payments-alerts', 'ops', 'fraud-review'))}"
        body = f"posting to {chan} with token {tok}"
        kc.append(("channel", chan))
    elif style == 3:
        prefix, kc = py_prefix(g, "WARNING", "auth.service")
        tok = g.jwt()
        body = f"rejecting id_token={tok} reason=audience_mismatch"
    else:
        prefix, kc = py_prefix(g, "DEBUG", "aws.client")
        tok = g.aws_key_id()
        body = f"signing request with credentials AccessKeyId={tok} region=eu-west-1"
    c.secrets.append(("secret", tok))
    c.line = f"{prefix} {body}"
    c.keep = g.keeps(kc)
    return c


def t_card_free_text(g: Gen) -> Case:
    c = Case("text")
    pan = g.card()
    sep = card_sep(g)
    card = g.fmt_card(pan, sep)
    code = g.pick(("card_declined", "insufficient_funds", "do_not_honor", "expired_card"))
    if g.chance(0.5):
        prefix, kc = py_prefix(g, "WARNING", "payments.api")
        c.line = f"{prefix} charge failed for card {card}: card declined (code={code})"
    else:
        msg = f"charge failed for card {card}"
        prefix, kc = logfmt_prefix(g, "WARN", msg)
        c.line = f"{prefix} decline_code={code}"
        kc.append(("decline", f"decline_code={code}"))
    c.secrets.append(("card", card))
    c.tags.append(card_style_tag(pan, sep) + "/free-text")
    c.keep = g.keeps(kc, must=[("phrase", "card declined")] if "card declined" in c.line else ())
    return c


def t_syslog_mixed(g: Gen) -> Case:
    """syslog framing around a key: value message with a couple of fields."""
    c = Case("text")
    dt = g.tick()
    host = g.pod()
    pid = g.r.randint(1000, 65000)
    ts = dt.strftime("%b %d %H:%M:%S")
    kinds = g.r.sample(["cvv", "password", "secret", "bank_account", "phone", "pin"], 2)
    parts = []
    for kind in kinds:
        k, v = keyed_field(g, kind)
        parts.append(f"{k}: {v}")
        c.secrets.append((kind, v))
    c.line = f"{ts} {host} gateway[{pid}]: form fields -> " + "; ".join(parts)
    c.keep = g.keeps([("host", host), ("timestamp", ts)])
    return c


# ---------------------------------------------------------------------------
# JSON templates with secrets
# ---------------------------------------------------------------------------
def finish_json(
    g: Gen,
    c: Case,
    rec: dict[str, object],
    cands: list[tuple[str, str]],
    must: Sequence[tuple[str, str]] = (),
) -> Case:
    c.line = dumps(g, rec)
    # Labels are substrings of the *serialized* line (PEM newlines -> "\\n").
    c.secrets = [(k, json.dumps(s)[1:-1]) for k, s in c.secrets]
    c.keep = [(cat, json.dumps(k)[1:-1]) for cat, k in g.keeps(cands, must=must)]
    return c


def j_nested_payment(g: Gen) -> Case:
    c = Case("json")
    rec, cands = json_base(
        g,
        g.pick(("INFO", "DEBUG")),
        g.pick(("authorize request", "payment attempt", "creating charge")),
        "payments.api",
    )
    pan = g.card()
    sep = card_sep(g)
    card = g.fmt_card(pan, sep)
    card_obj: dict[str, object] = {
        g.pick(("number", "number", "pan", "cardNumber", "card_number", "CARD-NUMBER")): card,
        "exp_month": g.r.randint(1, 12),
        "exp_year": g.r.randint(2027, 2033),
    }
    c.secrets.append(("card", card))
    c.tags.append(card_style_tag(pan, sep) + "/json-string")
    if g.chance(0.8):
        base = g.pick(CVV_KEYS)
        k = g.key(base, "sssccckuKp") if "_" in base else g.pick((base, base.upper()))
        v = g.cvv(len(pan) == 15)
        card_obj[k] = int(v) if g.chance(0.25) else v
        c.secrets.append(("cvv", v))
    card_obj["brand"] = brand_of(pan)
    amt = g.minor_amount()
    oid = g.order_id()
    payment: dict[str, object] = {
        "card": card_obj,
        "amount": amt,
        "currency": g.pick(CURRENCIES).lower(),
        "order_id": oid,
    }
    rec["payment"] = payment
    if g.chance(0.3):
        em = g.email()
        payment["receipt_email"] = em
        c.secrets.append(("email", em))
    return finish_json(g, c, rec, [*cands, ("amount", str(amt)), ("order_id", oid)])


def j_card_number_int(g: Gen) -> Case:
    c = Case("json")
    rec, cands = json_base(
        g, "INFO", g.pick(("checkout submitted", "legacy form post")), "checkout.views"
    )
    pan = g.pick(JSON_NUMBER_CARDS)
    k = g.pick(("card_number", "cardNumber", "pan", "CardNumber", "cc_number"))
    form: dict[str, object] = {k: int(pan)}
    if g.chance(0.6):
        base = g.pick(("cvv", "cvc", "security_code", "cvv2"))
        v = g.cvv(len(pan) == 15)
        form[g.key(base, "ssscu") if "_" in base else base] = int(v)
        c.secrets.append(("cvv", v))
    amt = g.amount()
    form["amount"] = float(amt)
    if g.chance(0.5):
        rec["form"] = form
    else:
        rec.update(form)
    c.secrets.insert(0, ("card", pan))
    c.tags.append("plain/json-number")
    return finish_json(g, c, rec, [*cands, ("amount", amt)])


def j_http_headers(g: Gen) -> Case:
    c = Case("json")
    status = g.pick((200, 201, 401, 402, 429))
    rec, cands = json_base(g, "INFO", "outbound request", "http.client")
    headers: dict[str, str] = {"User-Agent": g.pick(USER_AGENTS)}
    style = g.r.randrange(3)
    if style == 0:
        tok = g.pick((g.stripe_key(), g.jwt(), g.opaque_token()))
        headers[g.pick(("Authorization", "authorization"))] = f"Bearer {tok}"
    elif style == 1:
        tok = g.basic_credentials()
        headers["Authorization"] = f"Basic {tok}"
    else:
        tok = g.api_secret_value()
        headers[g.pick(("X-Api-Key", "x-api-key", "X-API-KEY"))] = tok
    c.secrets.append(("secret", tok))
    rid = g.uuid4()
    headers["X-Request-Id"] = rid
    url = g.pick(
        (
            "https://api.example.com/v1/charges",
            "https://psp.example.net/payments",
            "https://api.example.org/v2/payouts",
        )
    )
    dur = round(g.r.uniform(5, 2500), 1)
    rec["http"] = {
        "method": "POST",
        "url": url,
        "status_code": status,
        "duration_ms": dur,
        "request_headers": headers,
    }
    return finish_json(g, c, rec, [*cands, ("url", url), ("uuid", rid)])


def j_payment_methods_list(g: Gen) -> Case:
    c = Case("json")
    rec, cands = json_base(g, "DEBUG", "customer payment methods", "customers.profile")
    cid = g.prefixed_id("cus", 14)
    methods: list[dict[str, object]] = []
    for kind in g.r.sample(["card", "sepa", "ach", "card2"], g.r.randint(2, 3)):
        if kind.startswith("card"):
            pan = g.card()
            sep = card_sep(g)
            card = g.fmt_card(pan, sep)
            if any(s == card for _, s in c.secrets):
                continue
            methods.append({"type": "card", "card": {"number": card, "brand": brand_of(pan)}})
            c.secrets.append(("card", card))
            c.tags.append(card_style_tag(pan, sep) + "/json-list")
        elif kind == "sepa":
            ib = g.iban()
            ibs = g.spaced_iban(ib) if g.chance(0.3) else ib
            methods.append({"type": "sepa_debit", "iban": ibs})
            c.secrets.append(("iban", ibs))
        else:
            rn, an = g.routing_number(), g.account_number()
            methods.append(
                {
                    "type": "us_bank_account",
                    "routing_number": rn,
                    "account_number": an,
                    "account_holder_type": "company",
                }
            )
            c.secrets += [("bank_account", rn), ("bank_account", an)]
    rec["customer_id"] = cid
    rec["payment_methods"] = methods
    return finish_json(g, c, rec, [*cands, ("customer_id", cid)])


def j_string_holding_json(g: Gen) -> Case:
    c = Case("json")
    status = g.pick((200, 400, 402, 502))
    rec, cands = json_base(g, "WARNING", "upstream response", "payments.gateway.adyen")
    inner: dict[str, object] = {}
    pan = g.card()
    sep = card_sep(g)
    card = g.fmt_card(pan, sep)
    inner[g.pick(("cardNumber", "card_number", "pan"))] = card
    c.secrets.append(("card", card))
    c.tags.append(card_style_tag(pan, sep) + "/json-in-string")
    if g.chance(0.7):
        k = g.pick(("securityCode", "cvc", "cvv", "security_code", "CVC2"))
        v = g.cvv(len(pan) == 15)
        inner[k] = v
        c.secrets.append(("cvv", v))
    if g.chance(0.4):
        em = g.email()
        inner["shopperEmail"] = em
        c.secrets.append(("email", em))
    psp = g.order_id()
    inner["pspReference"] = psp
    inner["resultCode"] = g.pick(("Refused", "Authorised", "Error"))
    rec["status"] = status
    rec[g.pick(("response_body", "body", "raw"))] = json.dumps(inner)
    return finish_json(g, c, rec, [*cands, ("reference", psp)])


def j_kyc(g: Gen) -> Case:
    c = Case("json")
    rec, cands = json_base(g, "INFO", "kyc profile submitted", "kyc.verify")
    cust: dict[str, object] = {"id": g.prefixed_id("cus", 14)}
    cands.append(("customer_id", str(cust["id"])))
    em = g.email()
    cust[g.pick(("email", "email", "emailAddress"))] = em
    c.secrets.append(("email", em))
    k, v = keyed_field(g, "phone")
    if re.fullmatch(r"\+\d+", v) and g.chance(0.3):
        v = v[1:]  # some CRMs store the number as a bare JSON integer
        cust[k] = int(v)
    else:
        cust[k] = v
    c.secrets.append(("phone", v))
    k, v = keyed_field(g, "national_id")
    cust[k] = v
    c.secrets.append(("national_id", v))
    if g.chance(0.3):
        ssn = g.ssn()
        cust["ssn"] = ssn
        c.secrets.append(("national_id", ssn))
    city = g.pick(("Springfield", "Madrid", "Berlin", "Lyon", "Leeds"))
    cust["address"] = {"city": city, "country": g.pick(("US", "ES", "DE", "FR", "GB"))}
    rec["customer"] = cust
    return finish_json(g, c, rec, [*cands, ("city", city)])


def j_auth(g: Gen) -> Case:
    c = Case("json")
    style = g.r.randrange(3)
    must: list[tuple[str, str]] = []
    if style == 0:
        rec, cands = json_base(g, "WARNING", "login failed", "auth.service")
        user = f"{g.pick(FIRST_NAMES)}.{g.pick(LAST_NAMES)}"
        pw = g.password()
        k = g.pick(("password", "password", "passwd", "pwd", "Password", "pass"))
        rec["event"] = {
            "type": "login_failed",
            "username": user,
            k: pw,
            "ip": g.ipv4(),
            "attempt": g.r.randint(1, 5),
        }
        c.secrets.append(("password", pw))
        cands.append(("username", user))
    elif style == 1:
        rec, cands = json_base(g, "DEBUG", "token issued", "auth.service")
        at, rt = g.jwt(), g.opaque_token()
        rec["response"] = {
            g.key("access_token", "ssc"): at,
            g.key("refresh_token", "ssc"): rt,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "payments:write refunds:read",
        }
        c.secrets += [("secret", at), ("secret", rt)]
        must.append(("token_type", "Bearer"))
    else:
        rec, cands = json_base(g, "DEBUG", "client credentials grant", "auth.service")
        cs = g.s(ALNUM, 48)
        cid = f"client_{g.hex(12)}"
        rec["client"] = {
            "client_id": cid,
            g.key("client_secret", "ssscpu"): cs,
            "grant_type": "client_credentials",
        }
        c.secrets.append(("secret", cs))
        cands.append(("client_id", cid))
    return finish_json(g, c, rec, cands, must)


def j_config(g: Gen) -> Case:
    c = Case("json")
    rec, cands = json_base(g, "INFO", "effective configuration", "settings.loader")
    cfg: dict[str, object] = {}
    for part in g.r.sample(
        ["db", "aws", "stripe", "slack", "pem", "google", "apikey"], g.r.randint(2, 3)
    ):
        if part == "db":
            url, pw = pw_url(g, db_only=True)
            cfg["database"] = {"url": url, "pool_size": g.r.randint(5, 40)}
            c.secrets.append(("password", pw))
        elif part == "aws":
            kid, sec = g.aws_key_id(), g.aws_secret()
            cfg["aws"] = {
                "aws_access_key_id": kid,
                g.key("aws_secret_access_key", "ssu"): sec,
                "region": "eu-west-1",
            }
            c.secrets += [("secret", kid), ("secret", sec)]
        elif part == "stripe":
            v = g.stripe_key()
            cfg["stripe"] = {"secret_key": v, "api_version": "2024-06-20"}
            c.secrets.append(("secret", v))
        elif part == "slack":
            v = g.slack_token()
            cfg["slack"] = {"bot_token": v, "channel": "#payments-alerts"}
            c.secrets.append(("secret", v))
        elif part == "google":
            v = g.google_key()
            cfg["maps"] = {"browser_key": v}
            c.secrets.append(("secret", v))
        elif part == "apikey":
            k, v = keyed_field(g, "secret")
            cfg["partner"] = {"base_url": "https://partner.example.net", k: v}
            c.secrets.append(("secret", v))
        else:
            head, body, foot = g.pem()
            cfg["signing"] = {
                g.key("private_key", "ssc"): f"{head}\n{body}\n{foot}\n",
                "alg": "RS256",
            }
            c.secrets.append(("secret", body))
    ver = g.version()
    cfg["version"] = ver
    rec["config"] = cfg
    return finish_json(g, c, rec, [*cands, ("version", ver)])


def j_message_free_text(g: Gen) -> Case:
    c = Case("json")
    style = g.r.randrange(4)
    must: list[tuple[str, str]] = []
    extra: list[tuple[str, str]] = []
    if style == 0:
        pan = g.card()
        sep = card_sep(g)
        card = g.fmt_card(pan, sep)
        msg = f"charge failed for card {card}: card declined"
        c.secrets.append(("card", card))
        c.tags.append(card_style_tag(pan, sep) + "/json-message")
        must.append(("phrase", "card declined"))
    elif style == 1:
        em = g.email()
        msg = f"password reset email sent to {em}"
        c.secrets.append(("email", em))
        must.append(("phrase", "password reset email sent"))
    elif style == 2:
        ph = g.phone_e164()
        msg = f"verification code sent to {ph}"
        c.secrets.append(("phone", ph))
    else:
        ib = g.iban()
        ibs = g.spaced_iban(ib) if g.chance(0.5) else ib
        msg = f"refund routed to IBAN {ibs}"
        c.secrets.append(("iban", ibs))
    rec, cands = json_base(g, g.pick(("INFO", "WARNING")), msg)
    if g.chance(0.5):
        oid = g.order_id()
        rec["order_id"] = oid if g.chance(0.5) else int(oid)
        extra.append(("order_id", oid))
    return finish_json(g, c, rec, cands + extra, must)


def j_track(g: Gen) -> Case:
    c = Case("json")
    rec, cands = json_base(g, "DEBUG", "card read", "pos.reader")
    pan = g.card(max_len=19, networks=("visa", "mastercard", "discover"))
    yymm = f"{g.r.randint(27, 33)}{g.r.randint(1, 12):02d}"
    svc = g.pick(("101", "201", "120"))
    term = f"T-{g.s(string.ascii_uppercase, 2)}{g.r.randint(10, 99)}"
    pos: dict[str, object] = {"terminal_id": term, "entry_mode": "magstripe"}
    if g.chance(0.5):
        t = f";{pan}={yymm}{svc}{g.digits(g.r.randint(8, 13))}?"
        pos[g.pick(("track2", "track_2", "track2Data"))] = t
    else:
        t = f"%B{pan}^{g.pick(CARDHOLDER_NAMES)}^{yymm}{svc}{g.digits(g.r.randint(8, 14))}?"
        pos[g.pick(("track1", "track_1", "trackData"))] = t
    c.secrets.append(("track", t))
    rec["pos"] = pos
    return finish_json(g, c, rec, [*cands, ("terminal", term)])


def j_pin(g: Gen) -> Case:
    c = Case("json")
    rec, cands = json_base(
        g,
        "DEBUG",
        g.pick(("pin verification", "pin translate")),
        g.pick(("hsm.client", "atm.switch")),
    )
    body: dict[str, object] = {"terminal_id": f"ATM{g.r.randint(1000, 9999)}"}
    if g.chance(0.5):
        pb = g.pin_block()
        body[g.pick(("pin_block", "pinBlock", "PinBlock", "PIN_BLOCK"))] = pb
        body["format"] = "ISO-0"
        c.secrets.append(("pin", pb))
    else:
        pn = g.pin()
        body[g.pick(("pin", "PIN", "pin"))] = pn
        c.secrets.append(("pin", pn))
    stan = g.order_id()
    body["stan_ref"] = stan
    rec["request"] = body
    return finish_json(g, c, rec, [*cands, ("reference", stan)])


def j_pem_service_account(g: Gen) -> Case:
    c = Case("json")
    rec, cands = json_base(g, "DEBUG", "loaded service account", "settings.loader")
    head, body, foot = g.pem()
    proj = f"payments-{g.s(string.ascii_lowercase, 6)}"
    em = f"svc-{g.s(string.ascii_lowercase, 5)}@{proj}.iam.example.com"
    rec["credentials"] = {
        "type": "service_account",
        "project_id": proj,
        "private_key": f"{head}\n{body}\n{foot}\n",
        "client_email": em,
    }
    c.secrets += [("secret", body), ("email", em)]
    return finish_json(g, c, rec, cands)


def j_query_in_json(g: Gen) -> Case:
    c = Case("json")
    rec, cands = json_base(g, "INFO", "request completed", "http.access")
    pan = g.card()
    sep = g.pick(("%20", "+", "", "-"))
    card = q(g.fmt_card(pan, " " if sep else ""), sep)
    params = [f"{g.pick(('card', 'pan', 'cardNumber'))}={card}"]
    c.secrets.append(("card", card))
    c.tags.append(card_style_tag(pan, sep) + "/json-query")
    if g.chance(0.6):
        cv = g.cvv(len(pan) == 15)
        params.append(f"{g.pick(('cvv', 'cvc', 'CVV2', 'security_code'))}={cv}")
        c.secrets.append(("cvv", cv))
    params.append(f"lang={g.pick(('en', 'de', 'fr'))}")
    path = g.pick(("/api/v1/checkout", "/pay/confirm", "/legacy/cc.php"))
    ip = g.ipv4()
    rec["http"] = {
        "method": "GET",
        "url": f"{path}?{'&'.join(params)}",
        "status": g.pick((200, 302, 400)),
        "client_ip": ip,
    }
    return finish_json(g, c, rec, [*cands, ("ip", ip)])


def j_xml_in_json(g: Gen) -> Case:
    c = Case("json")
    rec, cands = json_base(g, "DEBUG", "soap request", "soap.gateway")
    pan = g.card()
    sep = card_sep(g)
    card = g.fmt_card(pan, sep)
    cv = g.cvv(len(pan) == 15)
    tag = g.pick(("Cvv", "CVV2", "SecurityCode", "cvc"))
    ref = g.order_id()
    rec["soap_body"] = f"<Card><Number>{card}</Number><{tag}>{cv}</{tag}></Card><Ref>{ref}</Ref>"
    c.secrets += [("card", card), ("cvv", cv)]
    c.tags.append(card_style_tag(pan, sep) + "/json-xml")
    return finish_json(g, c, rec, [*cands, ("order_id", ref)])


def j_exception(g: Gen) -> Case:
    c = Case("json")
    rec, cands = json_base(g, "ERROR", "unhandled exception", "payments.tasks")
    style = g.r.randrange(3)
    if style == 0:
        pan = g.card()
        sep = card_sep(g)
        card = g.fmt_card(pan, sep)
        err = f"payments.errors.CardError: card {card} declined by issuer"
        c.secrets.append(("card", card))
        c.tags.append(card_style_tag(pan, sep) + "/json-exception")
    elif style == 1:
        url, pw = pw_url(g)
        err = f"OperationalError: connection to {url} failed: timeout expired"
        c.secrets.append(("password", pw))
    else:
        kind = g.pick(("cvv", "secret", "password"))
        k, v = keyed_field(g, kind)
        err = f"KeyError: unexpected field in payload {{'{k}': '{v}'}}"
        c.secrets.append((kind, v))
    line_no = g.r.randint(20, 400)
    rec["exc_info"] = (
        "Traceback (most recent call last):\n"
        f'  File "/app/payments/gateway.py", line {line_no}, in charge\n'
        "    resp = client.post(url, json=payload)\n" + err
    )
    return finish_json(g, c, rec, [*cands, ("path", "/app/payments/gateway.py")])


def j_bank(g: Gen) -> Case:
    c = Case("json")
    rec, cands = json_base(g, "INFO", "payout created", "payouts.service")
    po = g.prefixed_id("po", 20)
    dest: dict[str, object] = {"country": g.pick(("US", "GB", "IE"))}
    for kind in g.r.sample(
        ["account_number", "routing_number", "sort_code", "bank_account", "iban"], g.r.randint(1, 3)
    ):
        if kind == "routing_number":
            v = g.routing_number()
        elif kind == "sort_code":
            v = g.sort_code()
        elif kind == "iban":
            v = g.iban()
            dest["iban"] = v
            c.secrets.append(("iban", v))
            continue
        else:
            v = g.account_number()
        dest[g.key(kind, "ssscu")] = int(v) if v.isdigit() and v[0] != "0" and g.chance(0.2) else v
        c.secrets.append(("bank_account", v))
    amt = g.minor_amount()
    rec["payout"] = {"id": po, "amount": amt, "currency": "usd", "destination": dest}
    return finish_json(g, c, rec, [*cands, ("payout_id", po), ("amount", str(amt))])


def j_sms(g: Gen) -> Case:
    c = Case("json")
    rec, cands = json_base(g, "INFO", "sms dispatched", "notifications.sms")
    to = g.phone_e164()
    sid = f"SM{g.hex(32)}"
    sms: dict[str, object] = {
        "to": to,
        "template": g.pick(("otp_v2", "receipt", "dunning_1")),
        "sid": sid,
        "segments": g.r.randint(1, 3),
    }
    c.secrets.append(("phone", to))
    if g.chance(0.4):
        k, v = keyed_field(g, "phone")
        sms["customer"] = {k: v}
        c.secrets.append(("phone", v))
    rec["sms"] = sms
    return finish_json(g, c, rec, cands)  # sid: neutral, see t_phone_text


def j_vendor_misc(g: Gen) -> Case:
    c = Case("json")
    rec, cands = json_base(g, "DEBUG", "integration call", g.pick(LOGGERS_PY))
    style = g.r.randrange(4)
    if style == 0:
        tok = g.slack_token()
        rec["integration"] = {"name": "slack", "token": tok, "channel": "#ops"}
    elif style == 1:
        tok = g.github_token()
        rec["integration"] = {"name": "github", "auth": f"token {tok}", "repo": "acme/payments"}
    elif style == 2:
        tok = g.gitlab_token()
        rec["integration"] = {"name": "gitlab", "private_token_header": tok}
    else:
        k, v = keyed_field(g, "secret")
        tok = v
        rec["integration"] = {"name": "partner", k: v}
    c.secrets.append(("secret", tok))
    return finish_json(g, c, rec, cands)


def j_cvv_keyed(g: Gen) -> Case:
    """Flat-ish JSON with a couple of key-based values (cvv/pin/password/...)."""
    c = Case("json")
    rec, cands = json_base(g, "DEBUG", g.pick(("form submitted", "payload received")))
    fields: dict[str, object] = {}
    for kind in g.r.sample(
        ["cvv", "password", "bank_account", "national_id", "phone", "email", "secret", "pin"],
        g.r.randint(1, 3),
    ):
        k, v = keyed_field(g, kind)
        if k in fields:
            continue
        fields[k] = v
        c.secrets.append((kind, v))
    nested = g.chance(0.5)
    if nested:
        rec["data"] = fields
    else:
        rec.update({k: v for k, v in fields.items() if k not in rec})
        c.secrets = [(kd, v) for kd, v in c.secrets if v in rec.values()]
        if not c.secrets:
            raise Retry
    return finish_json(g, c, rec, cands)


# ---------------------------------------------------------------------------
# Negative templates (nothing sensitive; every keep token is a hard negative)
# ---------------------------------------------------------------------------
def n_text_py(g: Gen) -> Case:
    c = Case("text")
    level = g.pick(("INFO", "INFO", "DEBUG", "WARNING", "ERROR"))
    style = g.r.randrange(14)
    logger = (
        "auth.service", "auth.service", "payments.api", "risk.engine",
        "auth.middleware", "ci.deploy", "db.pool", "reports.cache", "pricing.feed",
        "ledger.settlement", "disputes.service", "http.ratelimit", "refunds.service",
        "ledger.settlement",
    )[style]  # fmt: skip
    prefix, kc = py_prefix(g, level, logger)
    must: list[tuple[str, str]] = []
    if style == 0:
        uid = g.prefixed_id("usr", 12)
        body = f"User authenticated user_id={uid} method=sso"
        must.append(("phrase", "User authenticated"))
        kc.append(("user_id", uid))
    elif style == 1:
        uid = g.prefixed_id("usr", 12)
        body = f"password reset email sent user_id={uid} template=reset_v3"
        must.append(("phrase", "password reset email sent"))
    elif style == 2:
        oid = g.order_id()
        body = f"card declined order_id={oid} decline_code=insufficient_funds status=402"
        must += [("phrase", "card declined"), ("order_id", f"order_id={oid}")]
    elif style == 3:
        pi = g.prefixed_id("pi", 24)
        body = f"cvv check failed for payment {pi}; requesting 3DS challenge"
        must += [("phrase", "cvv check failed"), ("payment_id", pi)]
    elif style == 4:
        jti = g.uuid4()
        exp = g.epoch_s(g.now) - g.r.randint(10, 5000)
        body = f"token expired jti={jti} exp={exp}"
        must += [("phrase", "token expired"), ("epoch_s", f"exp={exp}")]
    elif style == 5:
        ver, sha = g.version(), g.sha1()
        body = f"deploy finished version={ver} commit={sha} took {g.r.randint(20, 400)}s"
        must += [("version", f"version={ver}"), ("git_sha", sha)]
    elif style == 6:
        host, port = g.pod(), g.pick((5432, 6379, 8443, 9092, 27017))
        ms = g.r.randint(1, 900)
        body = f"health check ok host={host} port={port} latency={ms}ms"
        must += [("host", host), ("port", f"port={port}")]
    elif style == 7:
        digest = g.sha256()
        report = f"report:{g.r.randint(2020, 2026)}-Q{g.r.randint(1, 4)}"
        body = f"cache hit key={report} sha256={digest}"
        must.append(("hash", digest))
    elif style == 8:
        sym = g.pick(STOCKS)
        px = g.amount()
        body = f"quote received symbol={sym} price={px} exchange=XNAS"
        must += [("symbol", f"symbol={sym}"), ("amount", f"price={px}")]
    elif style == 9:
        ms = g.epoch_ms(g.now)
        oid = g.order_id()
        body = f"settlement row order={oid} captured_at_ms={ms} amount={g.amount()}"
        must += [("order_id", oid), ("epoch_ms", str(ms))]
    elif style == 10:
        arn = g.arn()
        body = f"chargeback received arn={arn} reason_code=10.4"
        must.append(("long_digits", f"arn={arn}"))
    elif style == 11:
        ip = g.ipv4()
        body = f"rate limit exceeded for {ip}: 429 Too Many Requests (limit=100/min)"
        must += [("ip", ip), ("status", "429 Too Many Requests")]
    elif style == 12:
        amt = g.amount()
        body = f"refund issued amount={amt} currency={g.pick(CURRENCIES)} status=succeeded"
        must.append(("amount", f"amount={amt}"))
    else:
        ledger = g.ledger_ref()
        body = f"ledger entry posted ref={ledger} balance_after={g.amount()}"
        must.append(("long_digits", ledger))
    c.line = f"{prefix} {body}"
    c.keep = g.keeps(kc, must=must)
    return c


def n_text_nginx(g: Gen) -> Case:
    c = Case("text")
    style = g.r.randrange(4)
    if style == 0:
        path = f"/api/v1/orders/{g.order_id()}"
        target = f"{path}?expand=items&page={g.r.randint(1, 9)}"
        extra = [("path", path)]
    elif style == 1:
        path = "/healthz"
        target = path
        extra = [("path", "/healthz")]
    elif style == 2:
        tx = g.order_id()
        path = "/v1/transactions"
        target = f"{path}?transaction_ref={tx}&sort=desc&limit=50"
        extra = [("order_id", f"transaction_ref={tx}")]
    else:
        sha = g.hex(12)
        path = f"/static/app.{sha}.js"
        target = path
        extra = [("path", path)]
    status = g.pick((200, 200, 204, 301, 304, 404, 500, 502))
    text, kc = nginx_line(g, "GET", target, status)
    c.line = text
    c.keep = g.keeps(kc + extra, must=extra[:1])
    return c


def n_text_logfmt(g: Gen) -> Case:
    c = Case("text")
    msg = g.pick(
        (
            "request completed",
            "job finished",
            "webhook delivered",
            "card declined",
            "token expired",
            "retrying upstream call",
        )
    )
    prefix, kc = logfmt_prefix(g, g.pick(("INFO", "WARN", "ERROR")), msg)
    status = f"status={g.pick((200, 201, 402, 408, 503))}"
    dur = f"duration={g.r.randint(1, 9000)}ms"
    parts = [prefix, status, dur]
    extra: list[tuple[str, str]] = [("status", status), ("duration", dur)]
    if g.chance(0.5):
        ms = g.epoch_ms(g.now)
        parts.append(f"ts_ms={ms}")
        extra.append(("epoch_ms", f"ts_ms={ms}"))
    if g.chance(0.5):
        oid = g.order_id()
        parts.append(f"order_id={oid}")
        extra.append(("order_id", f"order_id={oid}"))
    if g.chance(0.3):
        parts.append(f"upstream={g.ipv4()}:{g.pick((8080, 8443, 9000))}")
    c.line = " ".join(parts)
    c.keep = g.keeps(kc + extra, must=extra[:1])
    return c


def n_text_java(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = java_prefix(g, g.pick(("INFO", "WARN", "ERROR")))
    oid = g.order_id()
    style = g.r.randrange(3)
    if style == 0:
        amt = g.amount()
        body = (
            f"Order{{id={oid}, amount={amt}, currency={g.pick(CURRENCIES)}, "
            f"status=CAPTURED, createdAt={g.ts_iso(g.now)}}}"
        )
        extra = [("order_id", f"id={oid}"), ("amount", f"amount={amt}")]
    elif style == 1:
        host = g.pick(("psp.example.net", "api.example.org", "acquirer.example.com"))
        ms = g.r.randint(1000, 60000)
        body = (
            f"java.net.SocketTimeoutException: Read timed out after {ms} ms "
            f"connecting to {host}:443"
        )
        extra = [("host", host)]
    else:
        body = (
            f"Card{{brand=VISA, last4=4242, expMonth=12, expYear=2030, "
            f"fingerprint={g.s(ALNUM, 16)}}} attached to order {oid}"
        )
        extra = [("order_id", oid)]
    c.line = prefix + body
    c.keep = g.keeps(kc + extra, must=extra[:1])
    return c


def n_text_xml_json(g: Gen) -> Case:
    c = Case("text")
    prefix, kc = py_prefix(g, "DEBUG", g.pick(("soap.gateway", "webhooks.receiver")))
    oid = g.order_id()
    if g.chance(0.5):
        body = (
            f"response: <AuthorizeResponse><ResultCode>Refused</ResultCode>"
            f"<RefusalReason>CVC Declined</RefusalReason><PspReference>{oid}"
            f"</PspReference></AuthorizeResponse>"
        )
    else:
        payload = {
            "id": g.prefixed_id("evt", 24),
            "type": "charge.refunded",
            "order_id": oid,
            "amount": g.minor_amount(),
            "livemode": False,
        }
        body = f"payload={json.dumps(payload, separators=(',', ':'))}"
    c.line = f"{prefix} {body}"
    c.keep = g.keeps([*kc, ("order_id", oid)], must=[("order_id", oid)])
    return c


def j_negative(g: Gen) -> Case:
    c = Case("json")
    style = g.r.randrange(12)
    must: list[tuple[str, str]] = []
    if style == 0:
        rec, cands = json_base(g, "INFO", "request completed", "http.access")
        path = g.pick(("/v1/payment_intents", "/api/v2/orders", "/checkout/session"))
        ip = g.ipv4()
        rec["http"] = {
            "method": g.pick(("GET", "POST")),
            "path": path,
            "status": g.pick((200, 201, 204, 404)),
            "duration_ms": round(g.r.uniform(1, 900), 2),
            "client_ip": ip,
        }
        must += [("path", path), ("ip", ip)]
    elif style == 1:
        rec, cands = json_base(g, "DEBUG", "token issued", "auth.service")
        cid = f"client_{g.hex(12)}"
        rec["token_type"] = "Bearer"
        rec["expires_in"] = 3600
        rec["client_id"] = cid
        must += [("token_type", "Bearer"), ("client_id", cid)]
    elif style == 2:
        rec, cands = json_base(g, "WARNING", "card declined", "payments.api")
        ch = g.prefixed_id("ch", 24)
        fp = g.s(ALNUM, 16)
        rec["charge"] = {
            "id": ch,
            "amount": g.minor_amount(),
            "currency": "usd",
            "outcome": {"network_status": "declined_by_network", "reason": "generic_decline"},
            "payment_method_details": {
                "card": {
                    "brand": "visa",
                    "last4": "4242",
                    "exp_month": 12,
                    "exp_year": 2030,
                    "checks": {"cvc_check": "fail", "address_postal_code_check": "pass"},
                    "fingerprint": fp,
                }
            },
        }
        must += [("phrase", "card declined"), ("charge_id", ch), ("fingerprint", fp)]
    elif style == 3:
        rec, cands = json_base(g, "INFO", "deployment finished", "ci.deploy")
        ver, sha, dig = g.version(), g.sha1(), g.sha256()
        rec["version"] = ver
        rec["git_sha"] = sha
        rec["image"] = f"registry.example.com/payments@sha256:{dig}"
        must += [("version", ver), ("git_sha", sha), ("hash", dig)]
    elif style == 4:
        rec, cands = json_base(g, "INFO", "settlement batch closed", "ledger.settlement")
        ids = [g.order_id() for _ in range(g.r.randint(2, 4))]
        total = g.amount()
        ms = g.epoch_ms(g.now)
        rec["batch"] = {"order_ids": ids, "total": float(total), "closed_at_ms": ms}
        must += [("order_id", ids[0]), ("epoch_ms", str(ms)), ("amount", total)]
    elif style == 5:
        rec, cands = json_base(g, "DEBUG", "market data tick", "pricing.feed")
        sym = g.pick(STOCKS)
        px = g.amount()
        rec["symbol"] = sym
        rec["price"] = float(px)
        rec["volume"] = g.r.randint(100, 90000)
        must += [("symbol", sym), ("amount", px)]
    elif style == 6:
        rec, cands = json_base(g, "INFO", "User authenticated", "auth.service")
        uid, sid = g.prefixed_id("usr", 12), g.uuid4()
        rec["user_id"] = uid
        rec["session_id"] = sid
        rec["mfa"] = "totp"
        # session ids are arguably credentials: present but neutral (not keep)
        must += [("phrase", "User authenticated"), ("user_id", uid)]
    elif style == 7:
        rec, cands = json_base(g, "INFO", "password reset email sent", "auth.service")
        uid = g.prefixed_id("usr", 12)
        rec["user_id"] = uid
        rec["template"] = "reset_v3"
        must += [("phrase", "password reset email sent"), ("user_id", uid)]
    elif style == 8:
        rec, cands = json_base(g, "WARNING", "token expired", "auth.middleware")
        jti = g.uuid4()
        exp = g.epoch_s(g.now) - g.r.randint(5, 9000)
        rec["jti"] = jti
        rec["exp"] = exp
        must += [("phrase", "token expired"), ("epoch_s", str(exp))]
    elif style == 9:
        rec, cands = json_base(g, "ERROR", "upstream timeout", "payments.gateway.stripe")
        host = g.pick(("api.example.com", "psp.example.net"))
        rec["error"] = {
            "type": "ReadTimeout",
            "detail": (
                f"HTTPSConnectionPool(host='{host}', port=443): Read timed out. "
                f"(read timeout={g.r.randint(5, 60)})"
            ),
        }
        must += [("host", host)]
    elif style == 10:
        rec, cands = json_base(g, "INFO", "chargeback opened", "disputes.service")
        arn = g.arn()
        ref = g.ledger_ref()
        rec["dispute"] = {
            "arn": arn,
            "ledger_ref": ref,
            "reason_code": "10.4",
            "amount": g.minor_amount(),
        }
        must += [("long_digits", arn), ("long_digits", ref)]
    else:
        rec, cands = json_base(g, "INFO", "cvv check failed", "risk.engine")
        pi = g.prefixed_id("pi", 24)
        rec["payment_intent"] = pi
        rec["risk_score"] = g.r.randint(0, 99)
        rec["action"] = "challenge"
        must += [("phrase", "cvv check failed"), ("payment_id", pi)]
    return finish_json(g, c, rec, cands, must)


# ---------------------------------------------------------------------------
# Self-check
# ---------------------------------------------------------------------------
SEP_RE = r"(?: |-|%20|\+)"
GROUPED_DIGITS_RE = re.compile(rf"\d+(?:{SEP_RE}\d+)*")
ALNUM_CHARS = frozenset(ALNUM)

_KEYED = (
    "cvv", "cvc", "cvv2", "cvc2", "cid", "security_code", "card_verification",
    "pin", "pin_block", "aws_secret_access_key", "x_api_key", "api_key", "apikey",
    "token", "access_token", "refresh_token", "client_secret", "secret",
    "private_key", "password", "passwd", "pwd", "pass", "passphrase",
    "account_number", "routing_number", "sort_code", "bank_account", "passport",
    "id_number", "document_number", "tax_id", "national_id", "phone",
    "phone_number", "mobile", "authorization",
)  # fmt: skip
KEYED_RE = re.compile(
    r"(?<![A-Za-z0-9_\-/])(?:"
    + "|".join(
        r"[_\- ]?".join(re.escape(w) for w in k.split("_"))
        for k in sorted(_KEYED, key=len, reverse=True)
    )
    + r")(?![A-Za-z0-9_\-])(?P<sep>\\?[\"']?\s*[:=]\s*\\?[\"']?|>)",
    re.IGNORECASE,
)
PATTERN_CHECKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ssn", re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")),
    ("dni/nie", re.compile(r"(?<![A-Za-z0-9])[XYZ]?\d{7,8}[A-Z](?![A-Za-z0-9])")),
    ("email", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")),
    ("e164", re.compile(r"\+\d(?:[ -]?\d){6,14}")),
    ("aws", re.compile(r"(?:AKIA|ASIA)[A-Z0-9]{16}")),
    ("stripe", re.compile(r"[sr]k_(?:live|test)_")),
    ("github", re.compile(r"gh[po]_|github_pat_")),
    ("gitlab", re.compile(r"glpat-")),
    ("slack", re.compile(r"xox[bp]-")),
    ("google", re.compile(r"AIza[A-Za-z0-9_-]{35}")),
    ("jwt", re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.")),
    ("pem", re.compile(r"BEGIN [A-Z ]*PRIVATE KEY-----(?:\\n|\n)(?P<pw>.)")),
    ("userinfo", re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]*:(?P<pw>[^@\s/]+)@")),
    ("bearer", re.compile(r"(?:Bearer|Basic) (?P<pw>[A-Za-z0-9._~+/=-]{8,})")),
)
IBAN_SCAN_RE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}")


def _spans(line: str, needle: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    start = line.find(needle)
    while start != -1:
        out.append((start, start + len(needle)))
        start = line.find(needle, start + 1)
    return out


def _overlaps(a: tuple[int, int], spans: Iterable[tuple[int, int]]) -> bool:
    return any(a[0] < b[1] and b[0] < a[1] for b in spans)


def _card_windows(line: str) -> list[tuple[int, int, str, bool]]:
    """Luhn-valid 12-19 digit windows: (start, end, digits, clean_boundary)."""
    found: list[tuple[int, int, str, bool]] = []
    for m in GROUPED_DIGITS_RE.finditer(line):
        groups = list(re.finditer(r"\d+", m.group()))
        for i in range(len(groups)):
            for j in range(i, len(groups)):
                s = m.start() + groups[i].start()
                e = m.start() + groups[j].end()
                digits = re.sub(r"\D|%20", "", line[s:e].replace("%20", " "))
                if len(digits) > 19:
                    break
                if len(digits) < 12 or not luhn_ok(digits):
                    continue
                before = line[s - 1] if s else " "
                after = line[e] if e < len(line) else " "
                clean = before not in ALNUM_CHARS and after not in ALNUM_CHARS
                if i == 0 and j == len(groups) - 1 and not clean:
                    continue  # part of a longer run of letters/digits: not a PAN
                found.append((s, e, digits, clean))
    return found


def check_case(c: Case) -> list[str]:
    """Return a list of problems with ``c`` (empty when the case is valid)."""
    errs: list[str] = []
    line = c.line
    if "\n" in line or "\r" in line:
        errs.append("line contains a raw newline")
    if c.fmt == "json":
        try:
            if not isinstance(json.loads(line), dict):
                errs.append("json line is not an object")
        except ValueError as exc:
            errs.append(f"json line does not parse: {exc}")
    secret_spans: list[tuple[int, int]] = []
    for kind, s in c.secrets:
        if kind not in KINDS:
            errs.append(f"unknown kind {kind}")
        spans = _spans(line, s)
        if len(spans) != 1:
            errs.append(f"secret {s!r} occurs {len(spans)}x")
            continue
        if _overlaps(spans[0], secret_spans):
            errs.append(f"secret {s!r} overlaps another secret")
        secret_spans.append(spans[0])
        if kind == "card":
            digits = re.sub(r"\D", "", s.replace("%20", " "))
            seps = set(re.findall(SEP_RE, s))
            if not (12 <= len(digits) <= 19 and luhn_ok(digits)) or len(seps) > 1:
                errs.append(f"bad card {s!r}")
            m = next(
                (m for m in GROUPED_DIGITS_RE.finditer(line) if m.start() <= spans[0][0] < m.end()),
                None,
            )
            if m is None or (m.start(), m.end()) != spans[0]:
                errs.append(f"card {s!r} is part of a longer digit run")
            a, b = spans[0]
            if (a and line[a - 1] in ALNUM_CHARS) or (b < len(line) and line[b] in ALNUM_CHARS):
                errs.append(f"card {s!r} touches letters/digits")
        if kind == "iban" and not iban_ok(s):
            errs.append(f"bad iban {s!r}")
        if kind == "track" and not re.fullmatch(
            r"%B\d{12,19}\^[^^]{2,26}\^\d{7,}\?|;\d{12,19}=\d{7,}\?", s
        ):
            errs.append(f"bad track {s!r}")
        if len(s) < 3:
            errs.append(f"secret {s!r} too short")
    if not 1 <= len(c.keep) <= 4:
        errs.append(f"{len(c.keep)} keep tokens")
    for _cat, k in c.keep:
        spans = _spans(line, k)
        if len(spans) != 1:
            errs.append(f"keep {k!r} occurs {len(spans)}x")
        if len(k) < 4 or (k.isdigit() and len(k) < 5):
            errs.append(f"keep {k!r} too short")
        if _overlaps(spans[0] if spans else (0, 0), secret_spans):
            errs.append(f"keep {k!r} overlaps a secret")
        for _kind, s in c.secrets:
            if s in k or k in s:
                errs.append(f"keep {k!r} and secret {s!r} nest")
    if len({k for _, k in c.keep}) != len(c.keep):
        errs.append("duplicate keep tokens")
    # Unlabelled sensitive-looking content outside the labelled spans.
    for start, end, digits, clean in _card_windows(line):
        if not _overlaps((start, end), secret_spans):
            errs.append(f"unlabelled Luhn-valid digits {digits} (clean={clean})")
    for name, rx in PATTERN_CHECKS:
        for m in rx.finditer(line):
            span = m.span("pw") if "pw" in rx.groupindex else m.span()
            if not _overlaps(span, secret_spans):
                errs.append(f"unlabelled {name}: {m.group()!r}")
    for m in IBAN_SCAN_RE.finditer(line):
        cand = m.group().rstrip()
        for end in range(len(cand), 11, -1):
            if iban_ok(cand[:end]) and not _overlaps((m.start(), m.start() + end), secret_spans):
                errs.append(f"unlabelled IBAN {cand[:end]!r}")
                break
    for m in KEYED_RE.finditer(line):
        pos = m.end()
        rest = line[pos:]
        for prefix in ("Bearer ", "Basic ", "token "):
            if rest.startswith(prefix):
                pos += len(prefix)
        pem = re.match(r"-----BEGIN [A-Z ]+-----(?:\\n|\n)", line[pos:])
        if pem:
            pos += pem.end()
        if not any(a == pos for a, _ in secret_spans):
            errs.append(f"key {m.group()!r} without a labelled value at {pos}")
    return errs


# ---------------------------------------------------------------------------
# Plan and driver
# ---------------------------------------------------------------------------
Template = Callable[[Gen], Case]

TEXT_SENSITIVE: tuple[tuple[Template, int], ...] = (
    (t_py_kv_card, 18),
    (t_nginx_query_card, 20),
    (t_nginx_query_secret, 12),
    (t_logfmt_fields, 24),
    (t_java_card, 10),
    (t_java_customer, 8),
    (t_xml, 12),
    (t_text_embedded_json, 8),
    (t_exception_card, 8),
    (t_exception_dsn, 10),
    (t_http_headers, 10),
    (t_env_dump, 8),
    (t_track, 14),
    (t_pin, 10),
    (t_iban_text, 12),
    (t_bank_kv, 10),
    (t_kyc_text, 12),
    (t_email_text, 8),
    (t_phone_text, 8),
    (t_python_repr, 8),
    (t_pem_text, 5),
    (t_vendor_token_text, 10),
    (t_card_free_text, 10),
    (t_syslog_mixed, 6),
)
JSON_SENSITIVE: tuple[tuple[Template, int], ...] = (
    (j_nested_payment, 26),
    (j_card_number_int, 14),
    (j_http_headers, 14),
    (j_payment_methods_list, 12),
    (j_string_holding_json, 14),
    (j_kyc, 16),
    (j_auth, 16),
    (j_config, 12),
    (j_message_free_text, 18),
    (j_track, 14),
    (j_pin, 12),
    (j_pem_service_account, 6),
    (j_query_in_json, 14),
    (j_xml_in_json, 8),
    (j_exception, 12),
    (j_bank, 14),
    (j_sms, 10),
    (j_vendor_misc, 8),
    (j_cvv_keyed, 18),
)
NEGATIVE: tuple[tuple[Template, int], ...] = (
    (n_text_py, 75),
    (n_text_nginx, 35),
    (n_text_logfmt, 30),
    (n_text_java, 18),
    (n_text_xml_json, 12),
    (j_negative, 170),
)


def build(g: Gen) -> list[Case]:
    plan: list[Template] = []
    for group in (TEXT_SENSITIVE, JSON_SENSITIVE, NEGATIVE):
        for fn, count in group:
            plan.extend([fn] * count)
    g.r.shuffle(plan)
    cases: list[Case] = []
    for fn in plan:
        for _attempt in range(2000):
            try:
                case = fn(g)
            except Retry:
                continue
            if not check_case(case):
                cases.append(case)
                break
        else:  # pragma: no cover - a template that can never validate
            raise SystemExit(f"{fn.__name__}: could not produce a valid case: {check_case(case)}")
    return cases


def to_record(i: int, c: Case) -> dict[str, object]:
    return {
        "id": i,
        "format": c.fmt,
        "line": c.line,
        "secrets": [s for _, s in c.secrets],
        "keep": [k for _, k in c.keep],
        "kinds": [k for k, _ in c.secrets],
    }


def summarize(cases: Sequence[Case]) -> str:
    kinds = Counter(k for c in cases for k, _ in c.secrets)
    fmts = Counter(c.fmt for c in cases)
    negatives = sum(1 for c in cases if not c.secrets)
    keep_cats = Counter(cat for c in cases for cat, _ in c.keep)
    card_styles = Counter(t for c in cases for t in c.tags)
    lines = [
        f"lines: {len(cases)} (text={fmts['text']}, json={fmts['json']})",
        f"lines without secrets (hard-negative lines): {negatives} "
        f"({100 * negatives / len(cases):.1f}%)",
        f"secrets: {sum(kinds.values())}",
        "per kind: " + ", ".join(f"{k}={kinds[k]}" for k in KINDS),
        f"keep tokens: {sum(keep_cats.values())}",
        "keep categories: " + ", ".join(f"{k}={v}" for k, v in sorted(keep_cats.items())),
        "card styles: " + ", ".join(f"{k}={v}" for k, v in sorted(card_styles.items())),
    ]
    return "\n".join(lines)


def check_file(path: Path) -> list[str]:
    """Validate an existing lines.jsonl with the same rules."""
    errs: list[str] = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        rec = json.loads(raw)
        if len(rec["kinds"]) != len(rec["secrets"]):
            errs.append(f"line {n}: kinds/secrets length mismatch")
            continue
        pairs = list(zip(rec["kinds"], rec["secrets"], strict=True))
        c = Case(rec["format"], rec["line"], pairs, [("file", k) for k in rec["keep"]])
        errs += [f"id {rec['id']}: {e}" for e in check_case(c)]
    return errs


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT_PATH)
    ap.add_argument("--check", action="store_true", help="only validate --out")
    args = ap.parse_args(argv)
    if args.check:
        errs = check_file(args.out)
        for e in errs:
            print(e, file=sys.stderr)
        print(f"{args.out}: {'OK' if not errs else f'{len(errs)} problems'}")
        return 1 if errs else 0

    g = Gen(SEED)
    cases = build(g)
    kinds = Counter(k for c in cases for k, _ in c.secrets)
    short = {k: kinds[k] for k in KINDS if kinds[k] < MIN_PER_KIND[k]}
    if short:
        raise SystemExit(f"not enough secrets for kinds: {short}")
    text = "".join(
        json.dumps(to_record(i, c), ensure_ascii=False) + "\n" for i, c in enumerate(cases, 1)
    )
    args.out.write_text(text, encoding="utf-8")
    errs = check_file(args.out)
    if errs:
        for e in errs:
            print(e, file=sys.stderr)
        return 1
    print(f"wrote {args.out}")
    print(summarize(cases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
