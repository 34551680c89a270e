"""Pure checks that turn a regex candidate into a finding.

Validators are ``str -> bool`` functions with no regex and no I/O, so they are cheap to
call on the few candidates a scan produces and easy to property-test in isolation.
"""

from __future__ import annotations

from redactor.validators.bank import aba_routing_ok, iban_ok
from redactor.validators.card import card_ok, luhn_ok
from redactor.validators.identity import nie_ok, nif_ok, ssn_ok

__all__ = ["aba_routing_ok", "card_ok", "iban_ok", "luhn_ok", "nie_ok", "nif_ok", "ssn_ok"]
