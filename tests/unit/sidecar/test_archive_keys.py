"""Archive keys: ids, repr hygiene, loading from environment variables."""

from __future__ import annotations

import base64
import os

import pytest

from sidecar.archive.keys import ArchiveKey, key_id_of, load_key, load_keyring
from sidecar.errors import ConfigError

RAW = bytes(range(32))
B64 = base64.b64encode(RAW).decode()
OTHER = bytes(range(1, 33))
OTHER_B64 = base64.b64encode(OTHER).decode()


class TestArchiveKey:
    def test_key_id_is_16_hex_digits_derived_from_the_key(self):
        """The key id is 16 lowercase hex digits, stable for a key and different per key."""
        key = ArchiveKey.from_bytes(RAW)
        assert len(key.key_id) == 16
        assert set(key.key_id) <= set("0123456789abcdef")
        assert key.key_id == ArchiveKey.from_bytes(RAW).key_id
        assert key.key_id != ArchiveKey.from_bytes(OTHER).key_id

    def test_key_id_is_domain_separated(self):
        """The key id is not simply a prefix of SHA-256 over the key."""
        import hashlib

        assert key_id_of(RAW) != hashlib.sha256(RAW).hexdigest()[:16]

    def test_repr_hides_the_key(self):
        """repr and str show the key id but neither the raw key nor its base64 or hex."""
        key = ArchiveKey.from_bytes(RAW)
        for text in (repr(key), str(key)):
            assert key.key_id in text
            assert B64 not in text and RAW.hex() not in text and repr(RAW) not in text

    def test_rejects_wrong_length(self):
        """A key that is not 32 bytes is refused, without echoing it."""
        with pytest.raises(ValueError, match="32 bytes") as info:
            ArchiveKey.from_bytes(b"short-secret")
        assert "short-secret" not in str(info.value)

    def test_rejects_mismatched_id(self):
        """A key id that does not belong to the key is refused."""
        with pytest.raises(ValueError, match="key_id"):
            ArchiveKey(key_id="0" * 16, key=RAW)


class TestLoadKey:
    def test_loads_base64_of_32_bytes(self):
        """The variable's base64 (surrounding whitespace tolerated) becomes the key."""
        key = load_key("K", {"K": f"  {B64}\n"})
        assert key.key == RAW and key.key_id == key_id_of(RAW)

    def test_missing_variable_names_it(self):
        """An unset variable raises ConfigError whose field is the variable's name."""
        with pytest.raises(ConfigError, match="SIDECAR_ARCHIVE_KEY") as info:
            load_key("SIDECAR_ARCHIVE_KEY", {})
        assert info.value.field == "SIDECAR_ARCHIVE_KEY"

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "   ",
            "not base64 at all!",
            "c2VjcmV0LXZhbHVl",  # valid base64 of "secret-value": wrong length
            base64.b64encode(os.urandom(33)).decode(),
            base64.b64encode(RAW).decode().rstrip("="),  # padding missing: not strict base64
            base64.urlsafe_b64encode(b"\xff" * 32).decode(),  # '-'/'_' alphabet
        ],
    )
    def test_invalid_values_never_echoed(self, value):
        """Every bad value raises ConfigError naming the variable but not the value."""
        with pytest.raises(ConfigError) as info:
            load_key("MY_KEY", {"MY_KEY": value})
        message = str(info.value)
        assert message.startswith("MY_KEY:")
        if value.strip():
            assert value.strip() not in message


class TestLoadKeyring:
    def test_current_and_old_keys_by_id(self):
        """The ring holds the current key first and every old key, by key id."""
        env = {"CUR": B64, "OLD": f"{OTHER_B64}, ,{B64}"}
        ring = load_keyring("CUR", "OLD", env)
        assert list(ring) == [key_id_of(RAW), key_id_of(OTHER)]
        assert ring[key_id_of(OTHER)].key == OTHER

    def test_old_keys_variable_may_be_unset(self):
        """An unset or empty old-keys variable means no old keys."""
        assert list(load_keyring("CUR", "OLD", {"CUR": B64})) == [key_id_of(RAW)]
        assert list(load_keyring("CUR", "OLD", {"CUR": B64, "OLD": ""})) == [key_id_of(RAW)]

    def test_bad_old_key_names_its_index(self):
        """A bad item of the old keys is reported as VAR[i], without its value."""
        with pytest.raises(ConfigError, match=r"OLD\[1\]") as info:
            load_keyring(None, "OLD", {"OLD": f"{OTHER_B64},c2VjcmV0"})
        assert "c2VjcmV0" not in str(info.value)

    def test_current_key_required_when_named(self):
        """A named current key variable that is unset is an error, not an empty ring."""
        with pytest.raises(ConfigError, match="CUR"):
            load_keyring("CUR", None, {})

    def test_decrypt_only_ring(self):
        """Without a current key the ring holds just the old keys."""
        assert list(load_keyring(None, "OLD", {"OLD": OTHER_B64})) == [key_id_of(OTHER)]
