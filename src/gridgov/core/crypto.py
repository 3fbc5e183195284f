"""Encryption at rest for personal data, with blind indexes for exact-match lookup.

**Tokens.** ``encrypt(value, context)`` returns ``g1.<key_id>.<base64url(nonce || ciphertext)>``
(no padding): AES-256-GCM with a random 96-bit nonce, and the caller's ``context`` (e.g.
``"accounts.user.phone"``) as associated data, so a token copied into another column does not
decrypt. The key id in the token picks the data key, so after a rotation old rows still decrypt
until ``reencrypt`` moves them to the active key. Random nonces keep a key safe for about 2³²
encryptions; rotate well before that.

**Blind index.** ``lookup_hash(value, purpose)`` is HMAC-SHA256 under a per-purpose key derived from
the keyring's index key: the same phone hashes differently for two purposes, and nothing about
the value is normalised here (callers pass normalised values). The index key does **not** rotate
with the data keys: rotating it means recomputing every stored hash from the decrypted values, in
one go, and that is not supported yet.

**Key material**, first match wins:

1. ``GRIDGOV_SECRET_KEY``: base64 of a keyring document, or base64 of one 32-byte master key (the
   data key ``k0`` and the index key are then derived from it with HKDF; a master key cannot be
   rotated — move to a keyring document first, see ``keyring_from_master_key``).
2. ``GRIDGOV_KEY_FILE``: path of a keyring document; refused if missing (a missing mount must not
   silently become fresh keys).
3. ``<var_dir>/keys/keyring.json``: created with fresh keys (mode 0600) when missing and
   ``create_if_missing`` is set, with a warning: production must provision its keys.

A keyring document is JSON: ``{"version": 1, "active": "k2", "data_keys": {"k1": "<b64>", "k2":
"<b64>"}, "index_key": "<b64>"}`` with standard base64 of 32-byte keys.

Errors are ``CryptoError`` and never carry plaintext, key bytes or the secret's text.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gridgov.core.errors import GridgovError
from gridgov.core.settings import get_settings

__all__ = [
    "KEY_FILE_ENV",
    "KEY_SIZE",
    "SECRET_KEY_ENV",
    "TOKEN_VERSION",
    "CryptoError",
    "Keyring",
    "decrypt",
    "default_key_file",
    "encrypt",
    "get_keyring",
    "key_file_path",
    "key_id_of",
    "keyring_from_document",
    "keyring_from_master_key",
    "load_keyring",
    "lookup_hash",
    "reencrypt",
    "save_keyring",
]

log = logging.getLogger(__name__)

SECRET_KEY_ENV = "GRIDGOV_SECRET_KEY"
KEY_FILE_ENV = "GRIDGOV_KEY_FILE"
KEY_SIZE = 32
TOKEN_VERSION = "g1"
MASTER_KEY_ID = "k0"

_NONCE_SIZE = 12
_TAG_SIZE = 16
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_PAYLOAD = re.compile(r"[A-Za-z0-9_-]+")
_DOCUMENT_FIELDS = {"version", "active", "data_keys", "index_key"}


class CryptoError(GridgovError):
    """Keys missing or malformed, or a token that does not decrypt: a server-side fault."""

    code = "crypto_error"
    http_status = 500


def _b64decode(text: object, what: str) -> bytes:
    """Standard base64, or base64url with or without padding; never echoes the text."""
    if not isinstance(text, str):
        raise CryptoError(f"{what} must be a base64 string")
    data = text.strip()
    with contextlib.suppress(binascii.Error, ValueError):
        return base64.b64decode(data, validate=True)
    # Unpadded, or the URL-safe alphabet: normalise to padded standard base64 and try once more.
    if re.fullmatch(r"[A-Za-z0-9+/_-]+={0,2}", data):
        unpadded = data.rstrip("=").replace("-", "+").replace("_", "/")
        with contextlib.suppress(binascii.Error, ValueError):
            return base64.b64decode(unpadded + "=" * (-len(unpadded) % 4), validate=True)
    raise CryptoError(f"{what} is not valid base64")


def _check_key_id(key_id: object) -> str:
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise CryptoError("key ids are 1–32 characters from A-Z, a-z, 0-9, '_' and '-'")
    return key_id


def _check_key(key: object, what: str) -> bytes:
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise CryptoError(f"{what} must be exactly {KEY_SIZE} bytes")
    return key


class Keyring:
    """Data keys by id (one active) and the blind-index key. Immutable; ``repr`` shows ids only."""

    __slots__ = ("_active", "_aead", "_data_keys", "_index_key", "_purpose_keys", "_source")

    def __init__(
        self, *, active: str, data_keys: Mapping[str, bytes], index_key: bytes, source: str = "memory"
    ) -> None:
        if not data_keys:
            raise CryptoError("a keyring needs at least one data key")
        keys = {_check_key_id(k): _check_key(v, f"data key {k!r}") for k, v in data_keys.items()}
        if active not in keys:
            raise CryptoError("the active key id is not among the data keys")
        self._active = active
        self._data_keys: Mapping[str, bytes] = MappingProxyType(keys)
        self._index_key = _check_key(index_key, "index key")
        self._aead = {k: AESGCM(v) for k, v in keys.items()}
        self._source = source
        # Per-purpose lookup keys, derived once (an import hashes millions of values for a few purposes).
        self._purpose_keys: dict[str, bytes] = {}

    # ------------------------------------------------------------ construction

    @classmethod
    def generate(cls, key_id: str = "k1") -> Keyring:
        """Fresh random keys: one data key (active) and an index key."""
        return cls(
            active=key_id,
            data_keys={key_id: secrets.token_bytes(KEY_SIZE)},
            index_key=secrets.token_bytes(KEY_SIZE),
        )

    def rotate(self) -> Keyring:
        """A new keyring with a fresh active data key; old keys stay for decryption, index key unchanged."""
        numbers = [int(k[1:]) for k in self._data_keys if re.fullmatch(r"k\d+", k)]
        n = max(numbers, default=0) + 1
        while f"k{n}" in self._data_keys:
            n += 1
        new_id = f"k{n}"
        return Keyring(
            active=new_id,
            data_keys={**self._data_keys, new_id: secrets.token_bytes(KEY_SIZE)},
            index_key=self._index_key,
            source=self.source,
        )

    def retire(self, key_id: str) -> Keyring:
        """A new keyring without ``key_id``: tokens under it stop decrypting. The active key stays."""
        if key_id == self._active:
            raise CryptoError("the active data key cannot be retired; rotate first")
        if key_id not in self._data_keys:
            raise CryptoError(f"no data key {_check_key_id(key_id)!r} in the keyring")
        return Keyring(
            active=self._active,
            data_keys={k: v for k, v in self._data_keys.items() if k != key_id},
            index_key=self._index_key,
            source=self.source,
        )

    # ------------------------------------------------------------ inspection

    @property
    def active(self) -> str:
        return self._active

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._data_keys)

    @property
    def source(self) -> str:
        """Where the keys came from (an env variable name or a file path), for messages."""
        return self._source

    def __repr__(self) -> str:
        return f"Keyring(active={self._active!r}, key_ids={list(self._data_keys)!r}, source={self.source!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Keyring):
            return NotImplemented
        return (
            self._active == other._active
            and dict(self._data_keys) == dict(other._data_keys)
            and hmac.compare_digest(self._index_key, other._index_key)
        )

    def to_document(self) -> dict[str, Any]:
        """The keyring document. It **contains the keys**: write it only to a 0600 file or a secret store."""
        return {
            "version": 1,
            "active": self._active,
            "data_keys": {k: base64.b64encode(v).decode("ascii") for k, v in self._data_keys.items()},
            "index_key": base64.b64encode(self._index_key).decode("ascii"),
        }

    # ------------------------------------------------------------ use

    def encrypt(self, value: str, context: str) -> str:
        """Encrypt ``value`` under the active key, bound to ``context``."""
        aad = _context_bytes(context)
        nonce = os.urandom(_NONCE_SIZE)
        sealed = self._aead[self._active].encrypt(nonce, value.encode("utf-8"), aad)
        payload = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
        return f"{TOKEN_VERSION}.{self._active}.{payload}"

    def decrypt(self, token: str, context: str) -> str:
        """The plaintext of a token made by ``encrypt`` with the same ``context``."""
        aad = _context_bytes(context)
        key_id, blob = _split_token(token)
        aead = self._aead.get(key_id)
        if aead is None:
            raise CryptoError(f"the value was encrypted with key {key_id!r}, which is not in the keyring")
        try:
            plain = aead.decrypt(blob[:_NONCE_SIZE], blob[_NONCE_SIZE:], aad)
        except InvalidTag:
            raise CryptoError(
                "the encrypted value does not decrypt: wrong context, wrong key or altered data"
            ) from None
        return plain.decode("utf-8")

    def reencrypt(self, token: str, context: str) -> str:
        """The token under the active key. One already under it is verified and returned unchanged,
        so a rotation walk can skip writing rows whose token did not change."""
        plain = self.decrypt(token, context)
        if key_id_of(token) == self._active:
            return token
        return self.encrypt(plain, context)

    def lookup_hash(self, value: str, purpose: str) -> str:
        """Keyed hash (64 hex characters) for exact-match lookup of ``value`` within ``purpose``."""
        if not isinstance(purpose, str) or not purpose:
            raise CryptoError("a lookup hash needs a non-empty purpose")
        # A per-purpose key (not purpose+value in one message) keeps the two inputs unambiguous.
        purpose_key = self._purpose_keys.get(purpose)
        if purpose_key is None:
            purpose_key = hmac.digest(
                self._index_key, b"gridgov blind index\x00" + purpose.encode("utf-8"), "sha256"
            )
            self._purpose_keys[purpose] = purpose_key
        return hmac.digest(purpose_key, value.encode("utf-8"), "sha256").hex()


def _context_bytes(context: str) -> bytes:
    if not isinstance(context, str) or not context:
        raise CryptoError("encryption needs a non-empty context")
    return context.encode("utf-8")


def _split_token(token: str) -> tuple[str, bytes]:
    parts = token.split(".", 2) if isinstance(token, str) else []
    if len(parts) != 3 or parts[0] != TOKEN_VERSION or not _KEY_ID.fullmatch(parts[1]):
        raise CryptoError(f"not an encrypted value (expected {TOKEN_VERSION}.<key id>.<data>)")
    payload = parts[2]
    # The decoder skips stray characters; checking first keeps one token per ciphertext.
    if not _PAYLOAD.fullmatch(payload):
        raise CryptoError("the encrypted value's data is not valid base64url")
    try:
        blob = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):
        raise CryptoError("the encrypted value's data is not valid base64url") from None
    if len(blob) < _NONCE_SIZE + _TAG_SIZE:
        raise CryptoError("the encrypted value is too short")
    return parts[1], blob


def key_id_of(token: str) -> str:
    """The id of the data key a token was encrypted with (the token is not decrypted)."""
    return _split_token(token)[0]


# ---------------------------------------------------------------- loading and saving


def keyring_from_document(document: object, *, source: str = "memory") -> Keyring:
    """A keyring from its parsed JSON document (see the module docstring)."""
    if not isinstance(document, dict):
        raise CryptoError(f"keyring ({source}) must be a JSON object")
    missing = sorted(_DOCUMENT_FIELDS - document.keys())
    unknown = sorted(str(k) for k in document.keys() - _DOCUMENT_FIELDS)
    if missing or unknown:
        raise CryptoError(
            f"keyring ({source}) must have exactly the fields {sorted(_DOCUMENT_FIELDS)}; "
            f"missing {missing}, unknown {unknown}"
        )
    if document["version"] != 1:
        raise CryptoError(f"keyring ({source}) has an unsupported version; this release reads version 1")
    data_keys = document["data_keys"]
    if not isinstance(data_keys, dict) or not data_keys:
        raise CryptoError(f"keyring ({source}) needs at least one data key")
    active = document["active"]
    if not isinstance(active, str) or active not in data_keys:
        raise CryptoError(f"keyring ({source}): the active key id is not among the data keys")
    keys = {
        _check_key_id(k): _check_key(_b64decode(v, f"data key {k!r}"), f"data key {k!r}")
        for k, v in data_keys.items()
    }
    index_key = _check_key(_b64decode(document["index_key"], "index key"), "index key")
    return Keyring(active=active, data_keys=keys, index_key=index_key, source=source)


def keyring_from_master_key(master: bytes, *, source: str = "memory") -> Keyring:
    """The keyring a single 32-byte master key stands for: data key ``k0`` and the index key, by HKDF.

    ``keyring_from_master_key(m).to_document()`` is the keyring document to move to before rotating:
    it decrypts everything the master key encrypted and keeps every lookup hash.
    """
    _check_key(master, "master key")

    def derive(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=info).derive(master)

    return Keyring(
        active=MASTER_KEY_ID,
        data_keys={MASTER_KEY_ID: derive(b"gridgov data key k0")},
        index_key=derive(b"gridgov blind index key"),
        source=source,
    )


def _keyring_from_secret(secret: str) -> Keyring:
    source = SECRET_KEY_ENV
    text = secret.strip()
    if text.startswith("{"):
        raw = text.encode("utf-8")  # a keyring document given as JSON directly
    else:
        try:
            raw = _b64decode(text, source)
        except CryptoError:
            raise CryptoError(
                f"{source} is neither base64 of a 32-byte key nor base64 of a keyring document"
            ) from None
    if len(raw) == KEY_SIZE:
        return keyring_from_master_key(raw, source=source)
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CryptoError(
            f"{source} is neither base64 of a 32-byte key nor base64 of a keyring document"
        ) from None
    return keyring_from_document(document, source=source)


def _read_key_file(path: Path) -> Keyring:
    source = str(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CryptoError(f"cannot read the key file {source}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("Key file %s is readable by group or others; it should be mode 0600.", source)
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        raise CryptoError(f"the key file {source} is not valid JSON") from None
    return keyring_from_document(document, source=source)


def default_key_file() -> Path:
    return get_settings().var_dir / "keys" / "keyring.json"


def key_file_path(environ: Mapping[str, str] | None = None) -> Path:
    """The key file in use: ``GRIDGOV_KEY_FILE`` or the default under var_dir."""
    env = os.environ if environ is None else environ
    configured = env.get(KEY_FILE_ENV, "")
    return Path(configured) if configured else default_key_file()


def _write_private(path: Path, data: bytes) -> Path:
    """Write ``data`` to a new 0600 temporary file next to ``path``; returns the temporary path."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".keyring-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(name)
        raise
    os.close(fd)
    return Path(name)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _document_bytes(keyring: Keyring) -> bytes:
    return (json.dumps(keyring.to_document(), indent=2) + "\n").encode("utf-8")


def save_keyring(keyring: Keyring, path: Path) -> None:
    """Write the keyring document to ``path`` atomically (replace), mode 0600."""
    temp = _write_private(path, _document_bytes(keyring))
    try:
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _create_key_file(path: Path) -> Keyring:
    keyring = Keyring.generate()
    temp = _write_private(path, _document_bytes(keyring))
    try:
        # link() fails if the file exists: two processes starting at once end up sharing one keyring.
        os.link(temp, path)
    except FileExistsError:
        return _read_key_file(path)
    finally:
        temp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    log.warning(
        "No encryption keys were provisioned: created a new keyring at %s. Production must provision "
        "its keys (%s or %s) and back them up: data encrypted under lost keys cannot be recovered.",
        path,
        SECRET_KEY_ENV,
        KEY_FILE_ENV,
    )
    return _read_key_file(path)


def load_keyring(*, create_if_missing: bool = False, environ: Mapping[str, str] | None = None) -> Keyring:
    """The keyring from ``GRIDGOV_SECRET_KEY``, ``GRIDGOV_KEY_FILE`` or the default key file.

    Only the default key file is ever created (with ``create_if_missing``); a configured
    ``GRIDGOV_KEY_FILE`` that does not exist is refused.
    """
    env = os.environ if environ is None else environ
    secret = env.get(SECRET_KEY_ENV, "")
    if secret.strip():
        return _keyring_from_secret(secret)
    configured = env.get(KEY_FILE_ENV, "")
    if configured:
        path = Path(configured)
        if not path.exists():
            raise CryptoError(f"{KEY_FILE_ENV} names a key file that does not exist: {path}")
        return _read_key_file(path)
    path = default_key_file()
    if path.exists():
        return _read_key_file(path)
    if not create_if_missing:
        raise CryptoError(f"no encryption keys: set {SECRET_KEY_ENV} or {KEY_FILE_ENV}, or create {path}")
    return _create_key_file(path)


# ---------------------------------------------------------------- the process keyring


@lru_cache(maxsize=1)
def get_keyring() -> Keyring:
    """The process keyring (created under var_dir on first use when none is provisioned).

    Cached: call ``get_keyring.cache_clear()`` after the environment or settings change.
    """
    return load_keyring(create_if_missing=True)


def encrypt(value: str, context: str) -> str:
    return get_keyring().encrypt(value, context)


def decrypt(token: str, context: str) -> str:
    return get_keyring().decrypt(token, context)


def reencrypt(token: str, context: str) -> str:
    return get_keyring().reencrypt(token, context)


def lookup_hash(value: str, purpose: str) -> str:
    return get_keyring().lookup_hash(value, purpose)
