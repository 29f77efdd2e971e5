#!/usr/bin/env python3
"""Load a page in headless Chromium for a number of real seconds, then
write its DOM and a screenshot: what --dump-dom and --screenshot do, but
on the wall clock. Those flags take their snapshot at the load event, or,
with --virtual-time-budget, when virtual time has run out, and virtual
time stands still while any request is pending: a page holding an event
stream (SSE) open never gets there. This drives Chromium over the DevTools
protocol on a pipe (--remote-debugging-pipe: JSON messages ended by NUL,
commands in on fd 3, answers and events out on fd 4), so no port is
opened and nothing but the standard library is needed.

    dashboard_cdp.py --chromium PATH --profile DIR --wait S [--until JS]
                     [--dom FILE] [--screenshot FILE] URL

Exit 0 when both were written, 1 on any failure (message on stderr).
Chromium is always stopped: Browser.close, then SIGTERM, then SIGKILL.
"""
import argparse
import base64
import fcntl
import json
import os
import select
import subprocess
import sys
import time

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-pipe"]


class Pipe:
    """One DevTools connection: send a command, wait for its answer."""

    def __init__(self, wfd, rfd):
        self.wfd, self.rfd = wfd, rfd
        self.buf = b""
        self.next_id = 0

    def send(self, method, params=None, session=None, timeout=30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.wfd, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages(deadline - time.monotonic()):
                if m.get("id") == self.next_id:
                    if "error" in m:
                        raise RuntimeError("%s: %s" % (method, m["error"]))
                    return m.get("result", {})
            if time.monotonic() >= deadline:
                raise RuntimeError("%s: no answer within %d s" % (method, timeout))

    def messages(self, timeout):
        """Messages that arrive within timeout seconds (events are dropped
        by the caller); raises when Chromium closed the pipe."""
        r, _, _ = select.select([self.rfd], [], [], max(0.0, timeout))
        if not r:
            return []
        chunk = os.read(self.rfd, 1 << 20)
        if not chunk:
            raise RuntimeError("chromium closed the DevTools pipe")
        self.buf += chunk
        *done, self.buf = self.buf.split(b"\0")
        return [json.loads(d) for d in done if d]

    def idle(self, seconds):
        """Let the page run for seconds of wall-clock time."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.messages(deadline - time.monotonic())


def run(a):
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    # Chromium reads fd 3 and writes fd 4. Its ends of the pipes go to fds
    # above 9 first, so that bash's redirections to 3 and 4 overwrite
    # nothing; bash then execs Chromium (so proc is Chromium itself).
    cr = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
    cw = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
    for fd in (to_chrome_r, from_chrome_w):
        os.close(fd)
    cmd = ["bash", "-c", 'exec "$@" 3<&%d 4>&%d %d<&- %d>&-' % (cr, cw, cr, cw), "bash",
           a.chromium] + FLAGS + ["--user-data-dir=" + a.profile, "about:blank"]
    log = open(a.log, "ab") if a.log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                            pass_fds=(cr, cw))
    os.close(cr)
    os.close(cw)
    p = Pipe(to_chrome_w, from_chrome_r)
    try:
        # the tab Chromium opened at start (a new one would be a background
        # tab, whose timers are throttled to one run a minute)
        pages = [t for t in p.send("Target.getTargets")["targetInfos"] if t["type"] == "page"]
        if not pages:
            raise RuntimeError("chromium has no page target")
        session = p.send("Target.attachToTarget", {"targetId": pages[0]["targetId"],
                                                   "flatten": True})["sessionId"]
        p.send("Page.enable", session=session)
        p.send("Page.bringToFront", session=session)
        p.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900,
                                                      "deviceScaleFactor": 1, "mobile": False},
               session=session)
        t0 = time.monotonic()
        missed = None
        p.send("Page.navigate", {"url": a.url}, session=session)
        if a.until:
            # the page's own condition, checked a few times a second; --wait bounds it
            deadline = t0 + a.wait
            while True:
                r = p.send("Runtime.evaluate", {"expression": "!!(%s)" % a.until,
                                                "returnByValue": True}, session=session)
                if r.get("result", {}).get("value") is True:
                    break
                if time.monotonic() >= deadline:
                    # the DOM and screenshot are still written: they show where it stopped
                    missed = "the page did not reach %s in %.0f s" % (a.until, a.wait)
                    break
                p.idle(0.2)
        else:
            p.idle(a.wait)
        if a.verbose:
            print("dashboard_cdp: page ran %.1f s" % (time.monotonic() - t0), file=sys.stderr)
        if a.dom:
            r = p.send("Runtime.evaluate", {"expression": "document.documentElement.outerHTML",
                                            "returnByValue": True}, session=session)
            with open(a.dom, "w", encoding="utf-8") as f:
                f.write(r["result"]["value"])
        if a.screenshot:
            r = p.send("Page.captureScreenshot", {"format": "png"}, session=session)
            with open(a.screenshot, "wb") as f:
                f.write(base64.b64decode(r["data"]))
        if a.verbose:
            print("dashboard_cdp: snapshot at %.1f s" % (time.monotonic() - t0), file=sys.stderr)
        if missed:
            raise RuntimeError(missed)
        try:
            p.send("Browser.close", timeout=5)
        except RuntimeError:
            pass   # closing may end the pipe before the answer
    finally:
        try:
            proc.wait(timeout=10)
            if a.verbose:
                print("dashboard_cdp: chromium ended", file=sys.stderr)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        os.close(to_chrome_w)
        os.close(from_chrome_r)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--profile", required=True, help="a fresh --user-data-dir (the caller removes it)")
    ap.add_argument("--wait", type=float, default=5, help="wall-clock seconds the page runs")
    ap.add_argument("--until", help="a JavaScript condition: stop waiting as soon as it holds "
                    "(failing if --wait seconds pass first)")
    ap.add_argument("--dom", help="write the serialized DOM here")
    ap.add_argument("--screenshot", help="write a PNG of the 1280x900 viewport here")
    ap.add_argument("--log", help="append Chromium's stderr here")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("url")
    a = ap.parse_args()
    try:
        run(a)
    except (RuntimeError, OSError, KeyError, ValueError) as e:
        print("dashboard_cdp: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
