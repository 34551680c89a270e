"""Archive encryption keys: loaded from environment variables, named by a key id.

Theory of operation: an archive key is 32 random bytes (AES-256), given to the sidecar
as the base64 text of an environment variable, never in the configuration file. Each
key has a *key id*, the first 16 hex digits of SHA-256 over a domain-separation prefix
and the key. The id is written in the clear into every encrypted file's header, so a
reader holding several keys (the current one and older ones kept after a rotation)
picks the right key without trial decryption, and a reader without it fails with
"unknown key id" instead of a vague authentication error. The id reveals nothing useful
about the key: it is a truncated hash of 256 random bits.

Rotation: put the new key in the current variable and append the old one to the
variable of old keys (comma-separated base64). New files use the current key; old keys
only ever decrypt.

Generate a key with::

    python3 -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"

Errors raise :class:`~sidecar.errors.ConfigError` naming the variable (and the item's
index for the list of old keys), never its value; :class:`ArchiveKey`'s repr shows only
the key id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from sidecar.errors import ConfigError

__all__ = ["KEY_BYTES", "ArchiveKey", "key_id_of", "load_key", "load_keyring"]

#: Length of an archive key in bytes (AES-256).
KEY_BYTES = 32

# Domain separation: the key id is a hash of the key that no other use of the same bytes
# (a future MAC, a KDF input) would ever produce.
_ID_PREFIX = b"pci-redactor archive key id v1\x00"
_ID_HEX = 16


def key_id_of(key: bytes) -> str:
    """Return the key id of ``key``: 16 lowercase hex digits.

    Args:
        key: the raw 32-byte key.

    Returns:
        The first 16 hex digits of SHA-256(prefix || key).
    """
    return hashlib.sha256(_ID_PREFIX + key).hexdigest()[:_ID_HEX]


@dataclass(frozen=True, slots=True)
class ArchiveKey:
    """A 32-byte archive key and its id; the repr shows the id only.

    Build one with :meth:`from_bytes` (which computes the id) or :func:`load_key`.

    Attributes:
        key_id: :func:`key_id_of` the key; written into the header of every file the
            key encrypts.
        key: the raw key bytes. Never logged, never in a repr or an error.

    Raises:
        ValueError: the key is not 32 bytes, or ``key_id`` is not the key's id.
    """

    key_id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise ValueError(f"an archive key is {KEY_BYTES} bytes, got {len(self.key)}")
        if key_id_of(self.key) != self.key_id:
            raise ValueError("key_id does not match the key")

    @classmethod
    def from_bytes(cls, key: bytes) -> ArchiveKey:
        """Wrap raw key bytes, computing the key id.

        Args:
            key: exactly 32 bytes, e.g. from ``os.urandom(32)``.

        Returns:
            The key with its id.

        Raises:
            ValueError: the key is not 32 bytes.
        """
        return cls(key_id=key_id_of(key), key=bytes(key))


def _decode(field_name: str, text: str) -> ArchiveKey:
    value = text.strip()
    if not value:
        raise ConfigError(field_name, "is empty; expected the base64 of 32 random bytes")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        # The decoder's own message is generic, but nothing from the value is repeated.
        raise ConfigError(
            field_name, "is not valid base64; expected the base64 of 32 random bytes"
        ) from None
    if len(raw) != KEY_BYTES:
        raise ConfigError(
            field_name, f"decodes to {len(raw)} bytes; an archive key is exactly {KEY_BYTES}"
        )
    return ArchiveKey.from_bytes(raw)


def load_key(env_name: str, env: Mapping[str, str]) -> ArchiveKey:
    """Load the archive key from the environment variable ``env_name``.

    Args:
        env_name: the variable's name (``sinks[i].encryption_key_env``).
        env: the environment, usually ``os.environ``; passed in so tests and the CLI
            choose it explicitly.

    Returns:
        The key.

    Raises:
        ConfigError: the variable is unset or empty, not base64, or not 32 bytes. The
            error's field is the variable's name; its value is never repeated.
    """
    text = env.get(env_name)
    if text is None:
        raise ConfigError(env_name, "environment variable is not set (archive key)")
    return _decode(env_name, text)


def load_keyring(
    current_env: str | None, old_keys_env: str | None, env: Mapping[str, str]
) -> dict[str, ArchiveKey]:
    """Load every key a reader may need, by key id.

    Args:
        current_env: variable holding the current key (required to be set when named);
            None when only old keys are wanted.
        old_keys_env: variable holding older keys as comma-separated base64, accepted for
            decryption only. Unset or empty means no old keys; empty items are skipped.
        env: the environment, usually ``os.environ``.

    Returns:
        Keys by key id, the current key first; a key listed twice appears once.

    Raises:
        ConfigError: a named variable (or item ``OLD_KEYS[i]`` of the old keys) is
            invalid; see :func:`load_key`.
    """
    ring: dict[str, ArchiveKey] = {}
    if current_env is not None:
        key = load_key(current_env, env)
        ring[key.key_id] = key
    if old_keys_env is not None:
        for i, item in enumerate(env.get(old_keys_env, "").split(",")):
            if item.strip():
                key = _decode(f"{old_keys_env}[{i}]", item)
                ring.setdefault(key.key_id, key)
    return ring
