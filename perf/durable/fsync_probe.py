"""The disk's own fsync latency where a journal lives: 4 KiB written at the
end of a file then fdatasync, COUNT times; one JSON line (us).

  fsync_probe.py DIR COUNT"""
import json
import os
import sys
import time

d, count = sys.argv[1], int(sys.argv[2])
path = os.path.join(d, "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
buf = b"\0" * 4096
lat = []
try:
    for _ in range(count):
        os.write(fd, buf)
        t = time.monotonic()
        os.fdatasync(fd)
        lat.append((time.monotonic() - t) * 1e6)
finally:
    os.close(fd)
    os.unlink(path)
lat.sort()
print(json.dumps({"fsyncs": count, "fdatasync_p50_us": round(lat[len(lat) // 2]),
                  "fdatasync_p99_us": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))])}))
