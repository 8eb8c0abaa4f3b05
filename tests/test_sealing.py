"""Secrets at rest: AES-256-GCM, bound to their column, unreadable without the key."""

import multiprocessing
import os
import stat

import pytest

from bridge import sealing
from bridge.sealing import Sealer, SealingError

KEY_A = "a" * 16 + "key-A-for-tests-0123456789"
KEY_B = "b" * 16 + "key-B-for-tests-0123456789"


def test_seal_round_trip_and_fresh_nonce_each_time():
    sealer = Sealer(KEY_A)
    one = sealer.seal("access-token-123", "t.c")
    two = sealer.seal("access-token-123", "t.c")
    assert one != two  # random nonce: equal secrets do not look equal at rest
    assert "access-token-123" not in one
    assert sealer.open(one, "t.c") == sealer.open(two, "t.c") == "access-token-123"


def test_wrong_key_is_a_clear_error_never_garbage():
    sealed = Sealer(KEY_A).seal("tok", "t.c")
    other = Sealer(KEY_B)
    with pytest.raises(SealingError) as err:
        other.open(sealed, "t.c")
    assert Sealer(KEY_A).key_id in str(err.value)
    assert other.key_id in str(err.value)
    assert "BRIDGE_SECRET_KEY" in str(err.value)


def test_tampered_value_fails_authentication():
    sealer = Sealer(KEY_A)
    sealed = sealer.seal("tok", "t.c")
    prefix, blob = sealed.rsplit(".", 1)
    flipped = blob[:-2] + ("A" if blob[-2] != "A" else "B") + blob[-1]
    with pytest.raises(SealingError, match="failed authentication"):
        sealer.open(f"{prefix}.{flipped}", "t.c")


def test_value_moved_to_another_column_does_not_open():
    sealer = Sealer(KEY_A)
    sealed = sealer.seal("client-secret", "jira_instance.client_secret")
    with pytest.raises(SealingError):
        sealer.open(sealed, "asana_user.access_token")


def test_plain_text_is_not_mistaken_for_a_sealed_value():
    with pytest.raises(SealingError, match="not a sealed secret"):
        Sealer(KEY_A).open("plain-token", "t.c")


def test_short_secret_is_refused():
    with pytest.raises(ValueError):
        Sealer("too-short")


def test_generated_key_file_is_private_and_stable(tmp_path):
    first = sealing.load_or_create_secret(tmp_path)
    mode = stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode)
    assert mode == 0o600
    assert len(first) >= 32
    assert sealing.load_or_create_secret(tmp_path) == first


def test_key_file_readable_by_others_is_refused(tmp_path):
    sealing.load_or_create_secret(tmp_path)
    os.chmod(tmp_path / "secret_key", 0o644)
    with pytest.raises(SealingError, match="chmod 600"):
        sealing.load_or_create_secret(tmp_path)


def _race(path, queue):
    queue.put(sealing.load_or_create_secret(path))


def test_workers_starting_together_agree_on_one_key(tmp_path):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(tmp_path, queue)) for _ in range(6)]
    for p in procs:
        p.start()
    keys = {queue.get(timeout=20) for _ in procs}
    for p in procs:
        p.join()
    assert len(keys) == 1
    assert list(tmp_path.glob(".secret_key.*")) == []


# Sealed by the earlier pycryptodome implementation (the same format and key derivation):
# databases written by it must still open after the move to OpenSSL's AES-GCM.
EARLIER_KEY = "vector-key-for-sealing-tests-0123456789"
EARLIER_SEALED = ("s1.5c50d192.HI9c4wKGvp2f-aD_zraEopaUJKCJCMYsE_1OcmlNEqStTXwfekMQBJySl2E3BW_3Y-"
                  "QUwThhANgTtVYE3ERNHL5z")


def test_values_sealed_by_the_earlier_implementation_still_open():
    sealer = Sealer(EARLIER_KEY)
    assert sealer.key_id == "5c50d192"
    assert (sealer.open(EARLIER_SEALED, "jira_credential.access_token")
            == "an access token, sealed before 2026-12")
    with pytest.raises(SealingError, match="failed authentication"):
        sealer.open(EARLIER_SEALED, "jira_credential.token")


def test_a_sealed_value_is_standard_aes_gcm_under_the_hkdf_key():
    """Checked with an independent implementation (pycryptodome, also a dependency):
    nonce | ciphertext | 16-byte tag, the column as associated data, the key HKDF-SHA256
    of the secret."""
    import base64

    from Crypto.Cipher import AES
    from Crypto.Hash import SHA256
    from Crypto.Protocol.KDF import HKDF

    sealed = Sealer(KEY_A).seal("refresh-token-456", "jira_credential.refresh_token")
    blob = sealed.split(".")[2]
    raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
    key = HKDF(KEY_A.encode(), 32, salt=b"asana-jira-bridge", hashmod=SHA256,
               context=b"sealing v1")
    cipher = AES.new(key, AES.MODE_GCM, nonce=raw[:12], mac_len=16)
    cipher.update(b"jira_credential.refresh_token")
    assert cipher.decrypt_and_verify(raw[12:-16], raw[-16:]) == b"refresh-token-456"
