"""Tests for redactor.policy: defaults, TOML loading, validation and rule bundles."""

from __future__ import annotations

import re

import pytest

from redactor import Policy, PolicyError, Redactor
from redactor.policy import BUILTIN_KINDS, BUNDLES

HASH_KEY = "policy-test-hmac-key-0123456789"
TOKEN = re.compile(r"\[(\w+):([\w-]+):([0-9a-f]{16})\]")


@pytest.fixture
def write_policy(tmp_path):
    """Return a function that writes TOML text to a policy file and returns its path."""

    def write(text: str):
        path = tmp_path / "policy.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def load(write_policy):
    """Return a function that loads a policy from TOML text."""

    def load(text: str) -> Policy:
        return Policy.from_toml(write_policy(text))

    return load


@pytest.fixture
def hash_key(monkeypatch):
    """Put a valid HMAC key in the environment variable REDACTOR_TEST_KEY."""
    monkeypatch.setenv("REDACTOR_TEST_KEY", HASH_KEY)
    return "REDACTOR_TEST_KEY"


class TestPolicyDefaults:
    def test_every_builtin_kind_enabled_with_its_default_masker(self):
        """The default policy turns on every built-in kind with its default masker."""
        policy = Policy.default()
        assert {k: (r.enabled, r.masker) for k, r in policy.kinds.items()} == {
            kind: (True, masker) for kind, masker in BUILTIN_KINDS.items()
        }

    def test_sensitive_authentication_data_and_credentials_are_removed(self):
        """Track, CVV, PIN, secrets and passwords default to full removal."""
        kinds = Policy.default().kinds
        for kind in ("track", "cvv", "pin", "secret", "password"):
            assert kinds[kind].masker == "remove"

    def test_default_settings(self):
        """Nothing is disabled or allowed, cards show first 6 and last 4, no hash key."""
        policy = Policy.default()
        assert policy.disable == frozenset()
        assert policy.allow_keys == frozenset()
        assert policy.allow_values == frozenset()
        assert policy.patterns == ()
        assert policy.hash_key_env is None
        assert policy.kinds["card"].keep == "first6_last4"

    def test_empty_file_equals_default(self, load):
        """An empty policy file gives the default kinds."""
        assert dict(load("").kinds) == dict(Policy.default().kinds)

    def test_source_is_recorded(self, write_policy):
        """A loaded policy remembers its file for later error messages."""
        path = write_policy("")
        assert Policy.from_toml(path).source == str(path)

    def test_redactor_uses_default_policy(self):
        """A Redactor built without a policy masks cards with the default mask."""
        assert Redactor().redact("pan 4111111111111111") == "pan 411111******1111"


class TestPolicyErrors:
    @pytest.mark.parametrize(
        ("toml", "field"),
        [
            ("colour = 'red'", "colour"),
            ("rules = '@pci'", "rules"),
            ("rules = ['pci']", "rules[0]"),
            ("rules = ['@default', '@cards']", "rules[1]"),
            ("rules = ['@pci:mask']", "rules[0]"),
            ("[kinds.bogus]\nmasker = 'mask'", "kinds.bogus"),
            ("[kinds.card]\nmasker = 'blur'", "kinds.card.masker"),
            ("[kinds.card]\nshow = 'all'", "kinds.card.show"),
            ("[kinds.card]\nenabled = 'yes'", "kinds.card.enabled"),
            ("[kinds.card]\nkeep = 'first12'", "kinds.card.keep"),
            ("[kinds.card]\nmasker = 'replace'\nplaceholder = ''", "kinds.card.placeholder"),
            ("[kinds.cvv]\nmasker = 'mask'", "kinds.cvv.masker"),
            ("[kinds.pin]\nmasker = 'mask'", "kinds.pin.masker"),
            ("[kinds.track]\nmasker = 'mask'", "kinds.track.masker"),
            ("[kinds.secret]\nmasker = 'mask'", "kinds.secret.masker"),
            ("[kinds.password]\nmasker = 'mask'", "kinds.password.masker"),
            ("rules = ['@default', '@cvv:mask']", "kinds.cvv.masker"),
            ("[kinds.cvv]\nmasker = 'hash'\n[hash]\nkey_env = 'K'", "kinds.cvv.masker"),
            ("[kinds.track]\nmasker = 'hash'\n[hash]\nkey_env = 'K'", "kinds.track.masker"),
            ("[kinds.pin]\nmasker = 'hash'\n[hash]\nkey_env = 'K'", "kinds.pin.masker"),
            ("rules = ['@default', '@email:hash']", "hash.key_env"),
            ("[hash]\nkey_env = 'not a name'", "hash.key_env"),
            ("[hash]\nkey = 'inline-secret-key-value'", "hash.key"),
            ("[hash]\nkey_id = 'a b'", "hash.key_id"),
            ("[keys]\nsecret = 'x-auth'", "keys.secret"),
            ("[keys]\nvehicle = ['vin']", "keys.vehicle"),
            ("[keys]\nsecret = ['--']", "keys.secret[0]"),
            ("[allow]\nkeys = ['a']", "allow"),
            ("[allow]\nvalues = [1]", "allow.values"),
            ("[[patterns]]\nname = 'x'\nkind = 'x'\nregex = '(abc'", "patterns[0].regex"),
            ("[[patterns]]\nkind = 'x'\nregex = 'abc'", "patterns[0].name"),
            ("[[patterns]]\nname = 'x'\nkind = 'x-y'\nregex = 'abc'", "patterns[0].kind"),
            (
                "[[patterns]]\nname = 'x'\nkind = 'x'\nregex = 'abc'\nvalidator = 'crc32'",
                "patterns[0].validator",
            ),
            (
                "[[patterns]]\nname = 'x'\nkind = 'x'\nregex = 'a(b)'\ngroup = 2",
                "patterns[0].group",
            ),
            (
                "[[patterns]]\nname = 'x'\nkind = 'x'\nregex = 'abc'\nflags = 'i'",
                "patterns[0].flags",
            ),
            ("disable = ['card.nope']", "disable[0]"),
            ("disable = 'card.pan'", "disable"),
            ("timeout = 0", "timeout"),
            ("timeout = 60", "timeout"),
        ],
    )
    def test_invalid_field_names_file_and_field(self, write_policy, toml, field):
        """Each invalid field raises PolicyError naming both the file and the field."""
        path = write_policy(toml)
        with pytest.raises(PolicyError) as caught:
            Policy.from_toml(path)
        assert caught.value.field == field
        assert caught.value.source == str(path)
        assert str(path) in str(caught.value)
        assert field in str(caught.value)

    def test_hash_key_env_variable_missing(self, write_policy, monkeypatch):
        """A hash rule whose key variable is unset fails at load, naming hash.key_env."""
        monkeypatch.delenv("REDACTOR_TEST_KEY", raising=False)
        path = write_policy("rules = ['@email:hash']\n[hash]\nkey_env = 'REDACTOR_TEST_KEY'")
        with pytest.raises(PolicyError, match=r"hash\.key_env") as caught:
            Policy.from_toml(path)
        assert str(path) in str(caught.value)

    def test_hash_key_env_variable_too_short(self, write_policy, monkeypatch):
        """A key of fewer than 16 characters is refused without being echoed."""
        monkeypatch.setenv("REDACTOR_TEST_KEY", "short-key")
        path = write_policy("rules = ['@email:hash']\n[hash]\nkey_env = 'REDACTOR_TEST_KEY'")
        with pytest.raises(PolicyError, match=r"hash\.key_env") as caught:
            Policy.from_toml(path)
        assert str(path) in str(caught.value)
        assert "short-key" not in str(caught.value)

    def test_inline_key_is_not_echoed(self, write_policy):
        """A key written into the policy file is refused and not repeated in the error."""
        path = write_policy("[hash]\nkey = 'inline-secret-key-value'")
        with pytest.raises(PolicyError) as caught:
            Policy.from_toml(path)
        assert "inline-secret-key-value" not in str(caught.value)

    def test_invalid_toml(self, write_policy):
        """A syntax error is reported as invalid TOML with the file name."""
        path = write_policy("rules = [")
        with pytest.raises(PolicyError, match="invalid TOML") as caught:
            Policy.from_toml(path)
        assert str(path) in str(caught.value)

    def test_invalid_utf8(self, tmp_path):
        """A file that is not UTF-8 is reported with the file name."""
        path = tmp_path / "policy.toml"
        path.write_bytes(b"rules = ['\xff']")
        with pytest.raises(PolicyError) as caught:
            Policy.from_toml(path)
        assert str(path) in str(caught.value)

    def test_missing_file(self, tmp_path):
        """A file that does not exist is reported as unreadable with its name."""
        path = tmp_path / "missing.toml"
        with pytest.raises(PolicyError, match="cannot read") as caught:
            Policy.from_toml(path)
        assert str(path) in str(caught.value)

    def test_directory_instead_of_file(self, tmp_path):
        """A path that is not a readable file is reported with its name."""
        with pytest.raises(PolicyError, match="cannot read") as caught:
            Policy.from_toml(tmp_path)
        assert str(tmp_path) in str(caught.value)

    def test_from_dict_names_field_without_source(self):
        """Policies built from a mapping still name the field at fault."""
        with pytest.raises(PolicyError, match=r"^kinds\.cvv\.masker: "):
            Policy.from_dict({"kinds": {"cvv": {"masker": "mask"}}})

    def test_policy_error_is_a_redactor_error(self):
        """PolicyError derives from the package's base error."""
        from redactor import RedactorError

        assert issubclass(PolicyError, RedactorError)


class TestPolicyRules:
    def test_pci_bundle_enables_only_card_data(self, load):
        """@pci enables card, track, cvv and pin and nothing else."""
        policy = load("rules = ['@pci']")
        enabled = {kind for kind, rule in policy.kinds.items() if rule.enabled}
        assert enabled == set(BUNDLES["pci"]) == {"card", "track", "cvv", "pin"}

    def test_pci_bundle_leaves_email_alone(self, load):
        """With only @pci, cards are masked but email and passwords pass through."""
        redactor = Redactor(load("rules = ['@pci']"))
        line = "user jane.doe@example.com paid 4111111111111111 cvv=123 password=hunter2"
        assert redactor.redact(line) == (
            "user jane.doe@example.com paid 411111******1111 cvv=[REDACTED] password=hunter2"
        )

    def test_secrets_and_pii_bundles(self, load):
        """@secrets and @pii together enable everything except card data."""
        policy = load("rules = ['@secrets', '@pii']")
        enabled = {kind for kind, rule in policy.kinds.items() if rule.enabled}
        assert enabled == set(BUILTIN_KINDS) - {"card", "track", "cvv", "pin"}
        redactor = Redactor(policy)
        assert redactor.redact("pan 4111111111111111") == "pan 4111111111111111"
        assert redactor.redact("mail jane.doe@example.com") == "mail ***@example.com"

    def test_email_hash_rule_produces_keyed_tokens(self, load, hash_key):
        """@email:hash replaces addresses with [email:<keyid>:<16 hex>] tokens."""
        policy = load(
            "rules = ['@default', '@email:hash']\n"
            f"[hash]\nkey_env = '{hash_key}'\nkey_id = '2026-11'"
        )
        out = Redactor(policy).redact("from jane.doe@example.com to jane.doe@example.com")
        tokens = TOKEN.findall(out)
        assert len(tokens) == 2
        assert tokens[0] == tokens[1]
        assert tokens[0][:2] == ("email", "2026-11")
        assert "jane.doe" not in out
        assert "example.com" not in out

    def test_hash_token_depends_on_environment_key(self, load, monkeypatch, hash_key):
        """The HMAC key comes from the environment: another key gives another token."""
        toml = f"rules = ['@email:hash']\n[hash]\nkey_env = '{hash_key}'"
        first = Redactor(load(toml)).redact("jane.doe@example.com")
        monkeypatch.setenv(hash_key, "another-hmac-key-9876543210")
        second = Redactor(load(toml)).redact("jane.doe@example.com")
        assert TOKEN.fullmatch(first)
        assert TOKEN.fullmatch(second)
        assert first != second

    def test_email_hash_keeps_distinct_addresses_apart(self, load, hash_key):
        """Different addresses get different tokens (only card-like separators are ignored)."""
        redactor = Redactor(load(f"rules = ['@email:hash']\n[hash]\nkey_env = '{hash_key}'"))
        tokens = {
            redactor.redact(address)
            for address in ("jane.doe@example.com", "janedoe@example.com", "jane-doe@example.com")
        }
        assert len(tokens) == 3

    def test_hash_key_id_defaults_to_k1(self, load, hash_key):
        """Without key_id the token carries the key id k1."""
        out = Redactor(load(f"rules = ['@email:hash']\n[hash]\nkey_env = '{hash_key}'")).redact(
            "jane.doe@example.com"
        )
        assert out.startswith("[email:k1:")

    def test_card_hash_normalizes_separators(self, load, hash_key):
        """Hashed cards give one token whatever the separators."""
        redactor = Redactor(load(f"[kinds.card]\nmasker = 'hash'\n[hash]\nkey_env = '{hash_key}'"))
        spaced = redactor.redact("4111 1111 1111 1111")
        assert TOKEN.fullmatch(spaced)
        assert redactor.redact("4111111111111111") == spaced
        assert redactor.redact("4111-1111-1111-1111") == spaced

    def test_disabled_kind_with_hash_needs_no_key(self, load, monkeypatch):
        """A hash masker on a disabled kind does not require the key."""
        monkeypatch.delenv("REDACTOR_TEST_KEY", raising=False)
        policy = load(
            "[kinds.email]\nenabled = false\nmasker = 'hash'\n[hash]\nkey_env = 'REDACTOR_TEST_KEY'"
        )
        assert Redactor(policy).redact("jane.doe@example.com") == "jane.doe@example.com"

    @pytest.mark.parametrize(
        ("keep", "line", "expected"),
        [
            ("first8_last4", "4111111111111111", "41111111****1111"),
            ("first8_last4", "378282246310005", "378282*****0005"),
            ("last4", "4111111111111111", "************1111"),
            ("last4", "4111 1111 1111 1111", "************1111"),
            ("first6_last4", "4111111111111111", "411111******1111"),
        ],
    )
    def test_card_keep(self, load, keep, line, expected):
        """kinds.card.keep chooses which digits the card mask shows."""
        assert Redactor(load(f"[kinds.card]\nkeep = '{keep}'")).redact(line) == expected

    def test_replace_masker_with_placeholder(self, load):
        """A replace masker uses the configured placeholder text."""
        policy = load("[kinds.card]\nmasker = 'replace'\nplaceholder = '[PAN]'")
        assert Redactor(policy).redact("pan 4111111111111111") == "pan [PAN]"

    def test_replace_masker_default_placeholder(self, load):
        """Without a placeholder, replace writes the kind name in brackets."""
        policy = load("rules = ['@default', '@card:replace']")
        assert Redactor(policy).redact("pan 4111111111111111") == "pan [card]"

    def test_kind_disabled(self, load):
        """enabled = false switches one kind off and leaves the others on."""
        redactor = Redactor(load("[kinds.email]\nenabled = false"))
        line = "jane.doe@example.com 4111111111111111"
        assert redactor.redact(line) == "jane.doe@example.com 411111******1111"

    def test_disable_detector(self, load):
        """disable switches one detector off and leaves the rest of its kind on."""
        redactor = Redactor(load("disable = ['national_id.es_dni']"))
        assert redactor.redact("dni 12345678Z") == "dni 12345678Z"
        assert redactor.redact("ssn 123-45-6789") == "ssn ***-**-6789"


class TestPolicyPatterns:
    def test_custom_pattern_whole_match(self, load):
        """A custom pattern replaces its whole match with its kind's masker."""
        policy = load(
            "[[patterns]]\nname = 'employee_id'\nkind = 'employee_id'\nregex = 'EMP-\\d{6}'"
        )
        redactor = Redactor(policy)
        assert redactor.redact("by EMP-123456 at noon") == "by [REDACTED] at noon"
        findings = redactor.scan("by EMP-123456 at noon")
        assert [(f.kind, f.rule, f.start, f.end) for f in findings] == [
            ("employee_id", "employee_id", 3, 13)
        ]

    def test_custom_pattern_named_group(self, load):
        """With group set, only that group is replaced."""
        policy = load(
            "[[patterns]]\nname = 'emp'\nkind = 'employee_id'\n"
            "regex = 'EMP-(?P<num>\\d{6})'\ngroup = 'num'"
        )
        assert Redactor(policy).redact("by EMP-123456 at noon") == "by EMP-[REDACTED] at noon"

    def test_custom_pattern_with_validator(self, load):
        """A validator keeps candidates that fail it untouched."""
        policy = load(
            "rules = ['@secrets']\n"
            "[[patterns]]\nname = 'loyalty'\nkind = 'loyalty'\n"
            "regex = 'LC(\\d{16})'\ngroup = 1\nvalidator = 'luhn'"
        )
        out = Redactor(policy).redact("LC4111111111111111 LC4111111111111112")
        assert out == "LC[REDACTED] LC4111111111111112"

    def test_custom_pattern_kind_masker_configurable(self, load):
        """A custom kind can take the replace masker through kinds.<kind>."""
        policy = load(
            "[kinds.employee_id]\nmasker = 'replace'\n"
            "[[patterns]]\nname = 'emp'\nkind = 'employee_id'\nregex = 'EMP-\\d{6}'"
        )
        assert Redactor(policy).redact("EMP-123456") == "[employee_id]"

    def test_custom_pattern_for_builtin_kind(self, load):
        """A pattern of a built-in kind uses that kind's masker."""
        policy = load("[[patterns]]\nname = 'acct'\nkind = 'bank_account'\nregex = 'ACCT\\d{10}'")
        assert Redactor(policy).redact("to ACCT1234567890 now") == "to **********7890 now"


class TestPolicyKeysAndAllow:
    def test_keys_addition(self, load):
        """Keys listed under a kind are treated as sensitive keys of that kind."""
        redactor = Redactor(load("[keys]\nsecret = ['x-internal-auth']"))
        assert redactor.redact("x-internal-auth=abcdefg") == "x-internal-auth=[REDACTED]"
        assert redactor.redact('{"X-Internal-Auth": "abcdefg"}') == (
            '{"X-Internal-Auth": "[REDACTED]"}'
        )

    def test_keys_allow(self, load):
        """Keys under allow are never sensitive, other keys still are."""
        redactor = Redactor(load("[keys]\nallow = ['next_page_token']"))
        line = "next_page_token=abc123def token=zzz"
        assert redactor.redact(line) == "next_page_token=abc123def token=[REDACTED]"

    def test_allow_values(self, load):
        """Exact allowed values are left alone; other values are still masked."""
        redactor = Redactor(load("[allow]\nvalues = ['4242424242424242']"))
        line = "test 4242424242424242 real 4111111111111111"
        assert redactor.redact(line) == "test 4242424242424242 real 411111******1111"

    def test_policy_is_parsed_to_plain_data(self, load):
        """Loaded fields land in the policy's typed attributes."""
        policy = load(
            "disable = ['national_id.es_dni']\ntimeout = 1.5\n"
            "[keys]\nallow = ['Next-Page-Token']\n[allow]\nvalues = ['x']"
        )
        assert policy.disable == frozenset({"national_id.es_dni"})
        assert policy.timeout == 1.5
        assert policy.allow_keys == frozenset({"nextpagetoken"})
        assert policy.allow_values == frozenset({"x"})
