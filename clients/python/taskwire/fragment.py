"""Frames larger than one datagram (proto/taskwire.proto, Frame.fragment):
cutting an encoded frame into fragment datagrams, and putting the
engine's fragmented frames (large results, large deliveries) back
together, with the rules libtaskwire and the engine use.

Every piece but the last carries the same number of bytes (the chunk, at
least 512; we send 1,400), the last one the rest; piece i holds bytes
[i * chunk, min(total, (i + 1) * chunk)) of the whole frame.
"""
import struct
import time

from ._proto import FRAME_MAGIC, FRAME_VERSION, wire

DATAGRAM_MAX = 1472         # UDP payload of one datagram on a 1500-byte MTU
CHUNK = 1400                # bytes per piece we send (header and fields fit beside it)
MIN_CHUNK = 512
LIMIT = 8 << 20             # the largest frame anyone may send or take in pieces


def frame_id_of(data):
    """The frame_id of an encoded frame (0 when it has none): fields 1, 2
    and 3 open every frame, so it sits at a fixed place."""
    if len(data) >= 16 and data[7] == 0x19:
        return struct.unpack_from("<Q", data, 8)[0]
    return 0


def split(data, frame_id, msg_id, seal=None):
    """The datagrams that carry data: itself when it fits one, else its
    pieces under msg_id (non-zero; the same for a retransmit of the same
    frame, so that the engine fills in what it is missing), each passed
    through seal (the cookie jar's: the engine checks every piece's
    source cookie before it keeps it)."""
    if len(data) <= DATAGRAM_MAX:
        return [data]
    if len(data) > LIMIT:
        raise ValueError("a frame of %d bytes is over the %d bytes any frame may take"
                         % (len(data), LIMIT))
    total = len(data)
    count = (total + CHUNK - 1) // CHUNK
    out = []
    for i in range(count):
        f = wire.Frame(magic=FRAME_MAGIC, version=FRAME_VERSION, frame_id=frame_id)
        g = f.fragment
        g.message_id = msg_id
        g.index = i
        g.count = count
        g.total_len = total
        g.data = data[i * CHUNK:(i + 1) * CHUNK]
        d = f.SerializeToString()
        out.append(seal(d) if seal is not None else d)
    return out


def chunk_of(g):
    """The message's chunk from one piece, or None if the piece breaks the rules."""
    n, total, count = len(g.data), g.total_len, g.count
    if g.message_id == 0 or count == 0 or g.index >= count or total == 0 or n == 0 \
            or count > total:
        return None
    if count == 1:
        return total if n == total else None
    if g.index + 1 < count:
        if n * (count - 1) >= total or n * count < total:
            return None
        chunk = n
    else:
        rest = total - n
        if n > total or rest % (count - 1) or n > rest // (count - 1):
            return None
        chunk = rest // (count - 1)
    return chunk if chunk >= MIN_CHUNK else None


class Reassembler:
    """The engine's fragmented frames on one socket: a few messages at once,
    each dropped at its deadline; refusals and timeouts counted."""

    def __init__(self, max_frame=LIMIT, timeout_s=5.0, slots=16):
        self.max_frame = max_frame
        self.timeout_s = timeout_s
        self.slots = slots
        self.msgs = {}       # message id -> [deadline, total, count, chunk, buffer, seen set]
        self.refused = 0
        self.timed_out = 0
        self.completed = 0

    def take(self, g):
        """One Fragment message. @return the whole frame's bytes when this
        piece completes it, else None."""
        now = time.monotonic()
        for mid in [m for m, v in self.msgs.items() if v[0] <= now]:
            del self.msgs[mid]
            self.timed_out += 1
        chunk = chunk_of(g)
        if chunk is None or g.total_len > self.max_frame:
            self.refused += 1
            return None
        m = self.msgs.get(g.message_id)
        if m is None:
            if len(self.msgs) >= self.slots:
                oldest = min(self.msgs, key=lambda k: self.msgs[k][0])
                del self.msgs[oldest]
                self.timed_out += 1
            m = [now + self.timeout_s, g.total_len, g.count, chunk, bytearray(g.total_len), set()]
            self.msgs[g.message_id] = m
        elif (m[1], m[2], m[3]) != (g.total_len, g.count, chunk):
            self.refused += 1
            return None
        if g.index in m[5]:
            return None     # a duplicate
        m[5].add(g.index)
        m[4][g.index * chunk:g.index * chunk + len(g.data)] = g.data
        if len(m[5]) < m[2]:
            return None
        del self.msgs[g.message_id]
        self.completed += 1
        return bytes(m[4])
