"""Publisher keys for engines started with `tw-dataplane --keys FILE`: the
same file format and checks as the engine (common/tw_keys.c), and the
frame MAC: HMAC-SHA256 under the key, its first 16 bytes, over every byte
of the frame before the mac field, which comes last.

    ID HEX        one key per line, ID 1..4294967295, HEX 32..128 hex digits

The file must be a regular file owned by root or by us and readable by no
one else (mode 600), or it is refused; keys never come from arguments.
"""
import hashlib
import hmac
import os
import stat

MAC_LEN = 16
_MAC_TAG = bytes([(9 << 3) | 2, MAC_LEN])   # Frame field 9 (mac), length-delimited


class KeyFileError(ValueError):
    """The keys file is unsafe or malformed; the message names the file and line."""


def load_key(path, key_id):
    """The key with key_id from the keys file at path (bytes)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError("keys file %s: not a regular file" % path)
        if (st.st_uid not in (0, os.geteuid())) or st.st_mode & 0o077:
            raise KeyFileError("keys file %s: mode %03o owner %d: it must belong to root or to "
                               "us and be readable by no one else (chmod 600)"
                               % (path, st.st_mode & 0o777, st.st_uid))
        with os.fdopen(fd, "r") as f:
            fd = None
            for n, line in enumerate(f, 1):
                fields = line.split()
                if not fields or fields[0].startswith("#"):
                    continue
                if len(fields) != 2 or not fields[0].isdigit():
                    raise KeyFileError("keys file %s, line %d: ID HEX expected" % (path, n))
                if int(fields[0]) == key_id:
                    key = bytes.fromhex(fields[1])
                    if not 16 <= len(key) <= 64:
                        raise KeyFileError("keys file %s, line %d: the key must be 16 to 64 "
                                           "bytes" % (path, n))
                    return key
    finally:
        if fd is not None:
            os.close(fd)
    raise KeyFileError("keys file %s: no key with id %d" % (path, key_id))


def sign(frame_bytes, key):
    """frame_bytes (packed with key_id set) followed by the mac field."""
    mac = hmac.new(key, frame_bytes, hashlib.sha256).digest()[:MAC_LEN]
    return frame_bytes + _MAC_TAG + mac
