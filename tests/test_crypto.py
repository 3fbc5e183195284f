"""Encryption at rest: tokens, contexts, rotation, blind indexes, key material."""

from __future__ import annotations

import base64
import json
import logging
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridgov.core import crypto
from gridgov.core.crypto import (
    CryptoError,
    Keyring,
    key_id_of,
    keyring_from_document,
    keyring_from_master_key,
    load_keyring,
    save_keyring,
)
from gridgov.core.settings import get_settings

PHONE = "13812345678"
CONTEXT = "accounts.user.phone"
TOKEN = re.compile(r"g1\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]+")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.generate()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No provisioned keys, var_dir in a temporary directory; caches cleared before and after."""
    monkeypatch.delenv(crypto.SECRET_KEY_ENV, raising=False)
    monkeypatch.delenv(crypto.KEY_FILE_ENV, raising=False)
    monkeypatch.setenv("GRIDGOV_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    crypto.get_keyring.cache_clear()
    yield tmp_path / "var"
    monkeypatch.undo()
    get_settings.cache_clear()
    crypto.get_keyring.cache_clear()


# ---------------------------------------------------------------- tokens


@pytest.mark.parametrize(
    "value", [PHONE, "张三丰", "深圳市南山区粤海街道科技园社区10栋601", "", "😀 mixed ✓"]
)
def test_round_trip(keyring: Keyring, value: str) -> None:
    token = keyring.encrypt(value, CONTEXT)
    assert TOKEN.fullmatch(token)
    assert token.startswith("g1.k1.")
    assert value not in token or not value
    assert keyring.decrypt(token, CONTEXT) == value
    assert key_id_of(token) == "k1"


def test_fresh_nonce_every_time(keyring: Keyring) -> None:
    tokens = {keyring.encrypt(PHONE, CONTEXT) for _ in range(50)}
    assert len(tokens) == 50
    nonces = {crypto._split_token(t)[1][:12] for t in tokens}
    assert len(nonces) == 50


def test_tampering_is_detected(keyring: Keyring) -> None:
    token = keyring.encrypt(PHONE, CONTEXT)
    key_id, blob = crypto._split_token(token)
    for i in range(len(blob)):
        flipped = blob[:i] + bytes([blob[i] ^ 0x01]) + blob[i + 1 :]
        forged = f"g1.{key_id}.{base64.urlsafe_b64encode(flipped).rstrip(b'=').decode()}"
        with pytest.raises(CryptoError) as caught:
            keyring.decrypt(forged, CONTEXT)
        assert PHONE not in str(caught.value)
    truncated = f"g1.{key_id}.{base64.urlsafe_b64encode(blob[:-1]).rstrip(b'=').decode()}"
    with pytest.raises(CryptoError):
        keyring.decrypt(truncated, CONTEXT)


def test_wrong_context_fails(keyring: Keyring) -> None:
    token = keyring.encrypt(PHONE, CONTEXT)
    for other in ("accounts.user.id_number", "accounts.user.phon", "Accounts.user.phone"):
        with pytest.raises(CryptoError, match="wrong context") as caught:
            keyring.decrypt(token, other)
        assert PHONE not in str(caught.value)
    with pytest.raises(CryptoError, match="non-empty context"):
        keyring.encrypt(PHONE, "")
    with pytest.raises(CryptoError, match="non-empty context"):
        keyring.decrypt(token, "")


def test_relabelled_token_fails(keyring: Keyring) -> None:
    rotated = keyring.rotate()
    token = rotated.encrypt(PHONE, CONTEXT)
    relabelled = token.replace("g1.k2.", "g1.k1.", 1)
    with pytest.raises(CryptoError):
        rotated.decrypt(relabelled, CONTEXT)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "13812345678",
        "g2.k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "g1..AAAA",
        "g1.k!.AAAA",
        "g1.k1.AAAA",
        "g1.k1",
    ],
)
def test_malformed_tokens_are_refused(keyring: Keyring, token: str) -> None:
    with pytest.raises(CryptoError) as caught:
        keyring.decrypt(token, CONTEXT)
    assert not token or token not in str(caught.value)


def test_stray_characters_are_not_ignored(keyring: Keyring) -> None:
    token = keyring.encrypt(PHONE, CONTEXT)
    for forged in (token + "!", token[:10] + "+" + token[10:], token + "=="):
        with pytest.raises(CryptoError, match="not valid base64url"):
            keyring.decrypt(forged, CONTEXT)


def test_unknown_key_id(keyring: Keyring) -> None:
    token = Keyring.generate("k9").encrypt(PHONE, CONTEXT)
    with pytest.raises(CryptoError, match="'k9', which is not in the keyring"):
        keyring.decrypt(token, CONTEXT)


# ---------------------------------------------------------------- rotation


def test_rotation(keyring: Keyring) -> None:
    old_token = keyring.encrypt(PHONE, CONTEXT)
    rotated = keyring.rotate()
    assert rotated.active == "k2" and rotated.key_ids == ("k1", "k2")
    assert keyring.active == "k1"  # the original keyring is unchanged
    assert rotated.decrypt(old_token, CONTEXT) == PHONE
    assert key_id_of(rotated.encrypt(PHONE, CONTEXT)) == "k2"

    moved = rotated.reencrypt(old_token, CONTEXT)
    assert key_id_of(moved) == "k2" and rotated.decrypt(moved, CONTEXT) == PHONE
    assert rotated.reencrypt(moved, CONTEXT) == moved  # already active: unchanged

    retired = rotated.retire("k1")
    assert retired.key_ids == ("k2",)
    assert retired.decrypt(moved, CONTEXT) == PHONE
    with pytest.raises(CryptoError, match="not in the keyring"):
        retired.decrypt(old_token, CONTEXT)
    with pytest.raises(CryptoError, match="active data key cannot be retired"):
        retired.retire("k2")

    # The blind index does not rotate.
    assert rotated.lookup_hash(PHONE, "phone") == keyring.lookup_hash(PHONE, "phone")
    assert rotated.rotate().active == "k3"


def test_reencrypt_verifies_active_tokens(keyring: Keyring) -> None:
    token = keyring.encrypt(PHONE, CONTEXT)
    with pytest.raises(CryptoError):
        keyring.reencrypt(token, "another.context")


def test_rotation_skips_taken_ids() -> None:
    ring = Keyring(
        active="primary",
        data_keys={"primary": b"\x01" * 32, "k1": b"\x02" * 32},
        index_key=b"\x03" * 32,
    )
    assert ring.rotate().active == "k2"


# ---------------------------------------------------------------- blind index


def test_lookup_hash(keyring: Keyring) -> None:
    digest = keyring.lookup_hash(PHONE, "accounts.user.phone")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert keyring.lookup_hash(PHONE, "accounts.user.phone") == digest
    assert keyring.lookup_hash(PHONE, "registry.person.phone") != digest
    assert keyring.lookup_hash("13812345679", "accounts.user.phone") != digest
    assert Keyring.generate().lookup_hash(PHONE, "accounts.user.phone") != digest
    assert PHONE not in digest
    with pytest.raises(CryptoError, match="non-empty purpose"):
        keyring.lookup_hash(PHONE, "")


def test_lookup_hashes_stay_what_is_stored() -> None:
    # Stored hashes are looked up by recomputing them: the construction may never change. A known
    # vector, HMAC-SHA256(HMAC-SHA256(index key, label ‖ purpose), value), asked twice (the per-purpose
    # key is derived once and kept).
    ring = Keyring(active="k1", data_keys={"k1": b"\x01" * 32}, index_key=b"\x02" * 32)
    expected = "8ec75c39d72c216a5b46a7fcc58e6f196286ef3713b9f33f94af44c60c643903"
    assert ring.lookup_hash("13812345678", "phone") == expected
    assert ring.lookup_hash("13812345678", "phone") == expected


# ---------------------------------------------------------------- key material


def test_key_file_is_created_private_and_reused(clean_env: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = clean_env / "keys" / "keyring.json"
    with pytest.raises(CryptoError, match="no encryption keys"):
        load_keyring()
    assert not path.exists()

    with caplog.at_level(logging.WARNING, logger="gridgov.core.crypto"):
        created = load_keyring(create_if_missing=True)
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "Production must provision" in caplog.text
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["version"] == 1 and document["active"] == created.active
    assert not any(b64(k) in caplog.text for k in (base64.b64decode(document["index_key"]),))
    assert [p.name for p in path.parent.iterdir()] == ["keyring.json"]  # no temporary file left

    token = created.encrypt(PHONE, CONTEXT)
    again = load_keyring(create_if_missing=True)
    assert again == created and again.decrypt(token, CONTEXT) == PHONE
    assert again.source == str(path)


def test_creation_race_keeps_the_first_file(clean_env: Path) -> None:
    path = crypto.default_key_file()
    first = load_keyring(create_if_missing=True)
    # A second process that found no file a moment ago creates its own, then loses the race.
    assert crypto._create_key_file(path) == first
    assert [p.name for p in path.parent.iterdir()] == ["keyring.json"]


def test_configured_key_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "ring.json"
    monkeypatch.setenv(crypto.KEY_FILE_ENV, str(path))
    assert crypto.key_file_path() == path
    with pytest.raises(CryptoError, match="does not exist"):
        load_keyring(create_if_missing=True)
    assert not path.exists()  # a missing configured file is never replaced by fresh keys

    ring = Keyring.generate().rotate()
    save_keyring(ring, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyring() == ring

    rotated = ring.rotate()
    save_keyring(rotated, path)  # atomic replace of an existing file
    assert load_keyring().active == "k3"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["ring.json"]


def test_loose_permissions_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ring.json"
    save_keyring(Keyring.generate(), path)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="gridgov.core.crypto"):
        load_keyring(environ={crypto.KEY_FILE_ENV: str(path)})
    assert "0600" in caplog.text


def test_env_secret_single_key(clean_env: Path) -> None:
    master = bytes(range(32))
    for encoded in (b64(master), base64.urlsafe_b64encode(master).decode().rstrip("=")):
        ring = load_keyring(environ={crypto.SECRET_KEY_ENV: encoded})
        assert ring.active == "k0" and ring.source == crypto.SECRET_KEY_ENV
        assert ring == keyring_from_master_key(master)
    token = ring.encrypt("张三", CONTEXT)
    # Stable across loads (derived, not random), and movable to a keyring document for rotation.
    assert load_keyring(environ={crypto.SECRET_KEY_ENV: b64(master)}).decrypt(token, CONTEXT) == "张三"
    document = json.dumps(keyring_from_master_key(master).to_document()).encode()
    migrated = load_keyring(environ={crypto.SECRET_KEY_ENV: b64(document)})
    assert migrated.decrypt(token, CONTEXT) == "张三"
    assert migrated.lookup_hash(PHONE, "p") == ring.lookup_hash(PHONE, "p")
    assert not (clean_env / "keys").exists()  # the env secret wins; nothing is created


def test_env_secret_keyring_document(clean_env: Path) -> None:
    ring = Keyring.generate().rotate()
    text = json.dumps(ring.to_document())
    for secret in (b64(text.encode()), text):
        loaded = load_keyring(environ={crypto.SECRET_KEY_ENV: secret})
        assert loaded == ring and loaded.active == "k2"


def test_env_secret_wins_over_key_file(clean_env: Path, tmp_path: Path) -> None:
    path = tmp_path / "ring.json"
    save_keyring(Keyring.generate(), path)
    master = bytes(32)
    ring = load_keyring(environ={crypto.SECRET_KEY_ENV: b64(master), crypto.KEY_FILE_ENV: str(path)})
    assert ring == keyring_from_master_key(master)


def good_document() -> dict[str, object]:
    return {
        "version": 1,
        "active": "k2",
        "data_keys": {"k1": b64(b"\x11" * 32), "k2": b64(b"\x22" * 32)},
        "index_key": b64(b"\x33" * 32),
    }


SHORT_KEY = b64(b"\x44" * 16)


def bad_documents() -> list[tuple[object, str]]:
    cases: list[tuple[object, str]] = [([1, 2], "JSON object")]
    for field, value, reason in (
        ("version", 2, "unsupported version"),
        ("active", "k3", "active key id"),
        ("active", 5, "active key id"),
        ("data_keys", {}, "at least one data key"),
        ("data_keys", {"k2": SHORT_KEY}, "exactly 32 bytes"),
        ("data_keys", {"k2": "not base64!"}, "not valid base64"),
        ("data_keys", {"k2": 12}, "base64 string"),
        ("data_keys", {"k2": b64(b"\x22" * 32), "bad.id": b64(b"\x22" * 32)}, "key ids"),
        ("index_key", SHORT_KEY, "exactly 32 bytes"),
        ("index_key", b64(b"\x55" * 33), "exactly 32 bytes"),
    ):
        document = good_document()
        document[field] = value
        cases.append((document, reason))
    missing = good_document()
    del missing["index_key"]
    cases.append((missing, "missing ['index_key']"))
    extra = good_document()
    extra["data_key"] = {}
    cases.append((extra, "unknown ['data_key']"))
    return cases


@pytest.mark.parametrize(("document", "reason"), bad_documents())
def test_malformed_keyrings_are_refused(document: object, reason: str, tmp_path: Path) -> None:
    assert keyring_from_document(good_document()).active == "k2"
    with pytest.raises(CryptoError, match=re.escape(reason)) as caught:
        keyring_from_document(document)
    message = str(caught.value)
    for secret in (SHORT_KEY, b64(b"\x11" * 32), b64(b"\x22" * 32), b64(b"\x33" * 32), "not base64!"):
        assert secret not in message

    path = tmp_path / "ring.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CryptoError, match=re.escape(reason)):
        load_keyring(environ={crypto.KEY_FILE_ENV: str(path)})


@pytest.mark.parametrize(
    "secret",
    [
        "not base64 at all!",
        b64(b"\x01" * 16),
        b64(b"\x01" * 31),
        b64(b"[1, 2, 3]"),
        b64(b"\xff\xfe" * 20),
        "{oops",
    ],
)
def test_malformed_env_secrets_are_refused(secret: str) -> None:
    with pytest.raises(CryptoError) as caught:
        load_keyring(environ={crypto.SECRET_KEY_ENV: secret})
    assert secret not in str(caught.value)
    assert crypto.SECRET_KEY_ENV in str(caught.value)


def test_key_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "ring.json"
    path.write_text("k1=" + b64(b"\x01" * 32), encoding="utf-8")
    with pytest.raises(CryptoError, match="not valid JSON") as caught:
        load_keyring(environ={crypto.KEY_FILE_ENV: str(path)})
    assert b64(b"\x01" * 32) not in str(caught.value)


def test_keyring_constructor_refuses_bad_keys() -> None:
    with pytest.raises(CryptoError, match="exactly 32 bytes"):
        Keyring(active="k1", data_keys={"k1": b"\x01" * 16}, index_key=b"\x02" * 32)
    with pytest.raises(CryptoError, match="exactly 32 bytes"):
        Keyring(active="k1", data_keys={"k1": b"\x01" * 32}, index_key=b"")
    with pytest.raises(CryptoError, match="active key id"):
        Keyring(active="k2", data_keys={"k1": b"\x01" * 32}, index_key=b"\x02" * 32)
    with pytest.raises(CryptoError, match="at least one"):
        Keyring(active="k1", data_keys={}, index_key=b"\x02" * 32)


def test_repr_shows_no_key_material(keyring: Keyring) -> None:
    document = keyring.to_document()
    text = repr(keyring) + str(keyring)
    assert "k1" in text
    for value in (*document["data_keys"].values(), document["index_key"]):
        assert value not in text
    assert keyring.to_document() == keyring_from_document(document).to_document()


# ---------------------------------------------------------------- the process keyring


def test_module_level_accessors(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(crypto.SECRET_KEY_ENV, b64(b"\x07" * 32))
    token = crypto.encrypt(PHONE, CONTEXT)
    assert crypto.decrypt(token, CONTEXT) == PHONE
    assert crypto.reencrypt(token, CONTEXT) == token
    assert crypto.lookup_hash(PHONE, "p") == keyring_from_master_key(b"\x07" * 32).lookup_hash(PHONE, "p")
    assert crypto.get_keyring() is crypto.get_keyring()

    # A new secret takes effect only after the cache is cleared.
    monkeypatch.setenv(crypto.SECRET_KEY_ENV, b64(b"\x08" * 32))
    assert crypto.decrypt(token, CONTEXT) == PHONE
    crypto.get_keyring.cache_clear()
    with pytest.raises(CryptoError):
        crypto.decrypt(token, CONTEXT)


def test_process_keyring_is_created_under_var_dir(clean_env: Path) -> None:
    token = crypto.encrypt(PHONE, CONTEXT)
    assert (clean_env / "keys" / "keyring.json").exists()
    crypto.get_keyring.cache_clear()
    assert crypto.decrypt(token, CONTEXT) == PHONE
