"""Secrets encrypted at rest: Fernet (AES-128-CBC + HMAC-SHA256, `cryptography`) with the
keys of `settings.FIELD_ENCRYPTION_KEYS`, and a model field that stores its text that way.

The first key encrypts; every key decrypts (`MultiFernet`), so a new key goes first and the
old ones stay listed until `manage.py rotate_provider_keys` has re-encrypted every value.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

__all__ = ["EncryptedTextField", "InvalidToken", "decrypt", "encrypt", "fernet", "is_encrypted"]


def fernet(keys: list[str] | None = None) -> MultiFernet:
    """A MultiFernet of `keys` (default: `settings.FIELD_ENCRYPTION_KEYS`), first key first.

    Raises ImproperlyConfigured when there is no key or one is not a Fernet key (32 bytes,
    url-safe base64). Building one costs microseconds, so it is not kept.
    """
    keys = settings.FIELD_ENCRYPTION_KEYS if keys is None else keys
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty.")
    try:
        return MultiFernet([Fernet(key.strip().encode("ascii")) for key in keys])
    except (ValueError, UnicodeEncodeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must be comma-separated Fernet keys (32 bytes in url-safe base64; make one with "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
        ) from exc


def encrypt(plaintext: str) -> str:
    """`plaintext` encrypted with the first key, as the token's ASCII text."""
    return fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    """The plaintext of a token made by `encrypt` with any of the keys; InvalidToken otherwise."""
    return fernet().decrypt(token.encode("ascii")).decode("utf-8")


def is_encrypted(value: str) -> bool:
    """Whether `value` is a token one of the keys decrypts."""
    try:
        decrypt(value)
    except (InvalidToken, UnicodeEncodeError):
        return False
    return True


class EncryptedTextField(models.TextField):
    """Text stored encrypted (a Fernet token), read back as the plaintext.

    The empty string stays empty, so "no value" needs no key. A stored value none of the
    keys decrypts raises ImproperlyConfigured when the row is loaded: the key it was
    encrypted with is missing from FIELD_ENCRYPTION_KEYS (never a silent empty value).
    Lookups other than `exact=""` cannot work on it (each encryption differs).
    """

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        try:
            return decrypt(value)
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise ImproperlyConfigured(
                f"A stored {self.model.__name__}.{self.name} does not decrypt with any of FIELD_ENCRYPTION_KEYS: "
                "list the key it was encrypted with (after the new one) until rotate_provider_keys has run."
            ) from exc
