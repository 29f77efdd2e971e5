"""The engine's source cookie, as libtaskwire keeps it (client/tw_cookie_jar.c).

An engine answers a source that has not proved it can receive at its
address with no more bytes than the source sent: a frame without a valid
cookie is refused whole (a frame-level NACK retry-with-cookie) by a reply
that carries one. The client keeps it, sends the refused frame again at
once, and appends it to every frame after, until a reply brings a new one
(cookies expire). Until it has one, a frame is padded so that the reply
carrying the cookie fits in its size. Frames are kept for retransmission
without the cookie: each send appends the current one (before the MAC of
a signed frame).
"""
import threading

from ._proto import wire

PAD_TO = 64                     # the engine's TW_COOKIE_PAD_TO
PROBE_FRAME_ID = (1 << 64) - 1  # the frame id of the probe at open (libtaskwire's too)
MAX_LEN = 32
RETRY_WITH_COOKIE = wire.NACK_RETRY_WITH_COOKIE
_TAG_COOKIE = b"\xa2\x01"       # field 20, length-delimited
_TAG_PADDING = b"\xaa\x01"      # field 21


class CookieJar:
    def __init__(self):
        self._lock = threading.Lock()
        self.value = b""

    def take(self, frame):
        """Keep the cookie a reply frame carries, if any."""
        if 0 < len(frame.cookie) <= MAX_LEN:
            with self._lock:
                self.value = bytes(frame.cookie)

    def seal(self, data):
        """The packed frame with the cookie (or, with none yet, padding) appended."""
        with self._lock:
            c = self.value
        if c:
            return data + _TAG_COOKIE + bytes([len(c)]) + c
        pad = max(0, PAD_TO - len(data) - 3)
        return data + _TAG_PADDING + bytes([pad]) + bytes(pad)


def asked(frame):
    """Does this reply refuse its whole frame for want of a cookie?"""
    return any(cf.task_id == 0 and not cf.ack and cf.reason == RETRY_WITH_COOKIE
               for cf in frame.confirms)
