"""Frame signing for engines started with --keys (taskwire/keys.py): the MAC
is HMAC-SHA256 truncated to 16 bytes (RFC 4231 test case 1), the keys file
is checked as the engine checks it, and a signed frame still decodes with
the generated classes, key_id and mac set (the mac field last)."""
import os

import pytest

from taskwire import keys
from taskwire._proto import FRAME_MAGIC, FRAME_VERSION, wire


def test_mac_is_truncated_hmac_sha256():
    signed = keys.sign(b"Hi There", b"\x0b" * 20)
    assert signed[:8] == b"Hi There"
    assert signed[8:10] == bytes([0x4a, 16])
    assert signed[10:].hex() == "b0344c61d8db38535ca8afceaf0bf12b"


def test_keys_file_checks(tmp_path):
    path = tmp_path / "keys"
    path.write_text("# publishers\n7 00112233445566778899aabbccddeeff\n")
    os.chmod(path, 0o644)
    with pytest.raises(keys.KeyFileError, match="chmod 600"):
        keys.load_key(str(path), 7)
    os.chmod(path, 0o600)
    assert keys.load_key(str(path), 7) == bytes.fromhex("00112233445566778899aabbccddeeff")
    with pytest.raises(keys.KeyFileError, match="no key with id 8"):
        keys.load_key(str(path), 8)
    path.write_text("7 0011\n")
    with pytest.raises(keys.KeyFileError, match="line 1: the key must be 16 to 64 bytes"):
        keys.load_key(str(path), 7)


def test_signed_frame_decodes():
    f = wire.Frame(magic=FRAME_MAGIC, version=FRAME_VERSION, frame_id=3, key_id=7)
    f.tasks.add(id=1, name="add")
    data = f.SerializeToString()
    signed = keys.sign(data, b"\x01" * 16)
    back = wire.Frame()
    back.ParseFromString(signed)
    assert back.key_id == 7 and len(back.mac) == 16 and back.tasks[0].name == "add"
