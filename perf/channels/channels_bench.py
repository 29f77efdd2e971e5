"""One Django Channels layer measured the same way for `make perf-channels`
(perf/channels-bench.sh runs it once per layer, same machine, same run):

  rtt     one message in flight: send to a channel of another layer
          instance, then receive it; round trips/s, p50/p99 of send -> received
  stream  a sender awaiting each send while a receiver takes them: messages/s
  fanout  group_send to N member channels spread over 4 layer instances
          (4 processes' worth), every member receiving its copy: per
          group_send the time until the last member has it (p50/p99), and
          deliveries/s

    channels_bench.py taskwire [--rtt N] [--stream N] [--fanout 100,1000] [--reps R]
    channels_bench.py redis --redis 127.0.0.1:PORT ...

Prints one JSON object. The taskwire layer takes its engine from $TW_ENGINE
and $TW_SOCKET (run inside the engine's namespace)."""
import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "clients", "python"))

MEMBER_LAYERS = 4


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * (len(sorted_values) - 1)))))
    return sorted_values[k]


def make_layer(kind, args):
    # a capacity no run reaches: the benchmark measures delivery, not ChannelFull
    if kind == "taskwire":
        from taskwire.contrib.channels import TaskwireChannelLayer
        return TaskwireChannelLayer(prefix="twbench", capacity=args.capacity)
    from channels_redis.core import RedisChannelLayer
    host, port = args.redis.rsplit(":", 1)
    return RedisChannelLayer(hosts=[(host, int(port))], prefix="twbench", capacity=args.capacity)


async def rtt(a, b, n):
    ch = await b.new_channel()
    for i in range(50):             # warm-up: queues declared, subscriptions made
        await a.send(ch, {"type": "warm", "i": i})
        await b.receive(ch)
    lat = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        await a.send(ch, {"type": "ping", "i": i})
        m = await b.receive(ch)
        lat.append(time.perf_counter() - t0)
        assert m["i"] == i, m
    seconds = time.perf_counter() - start
    lat.sort()
    return {"messages": n, "seconds": round(seconds, 3), "round_trips_per_sec": round(n / seconds, 1),
            "p50_us": round(percentile(lat, 50) * 1e6, 1), "p99_us": round(percentile(lat, 99) * 1e6, 1)}


async def stream(a, b, n):
    ch = await b.new_channel()

    async def receiver():
        for i in range(n):
            m = await b.receive(ch)
            assert m["i"] == i, m
    start = time.perf_counter()
    r = asyncio.ensure_future(receiver())
    for i in range(n):
        await a.send(ch, {"type": "data", "i": i})
    await r
    seconds = time.perf_counter() - start
    return {"messages": n, "seconds": round(seconds, 3), "messages_per_sec": round(n / seconds, 1)}


async def fanout(sender, members, size, reps, group):
    chans = []
    for i in range(size):
        layer = members[i % len(members)]
        ch = await layer.new_channel()
        await layer.group_add(group, ch)
        chans.append((layer, ch))
    state = {"rep": -1, "got": 0, "done": None, "wrong": 0}

    async def member(layer, ch):
        while True:
            m = await layer.receive(ch)
            if m["rep"] != state["rep"]:
                state["wrong"] += 1
                continue
            state["got"] += 1
            if state["got"] == size:
                state["done"].set()
    tasks = [asyncio.ensure_future(member(layer, ch)) for layer, ch in chans]
    times = []
    try:
        for rep in range(-2, reps):     # two warm-up rounds
            state.update(rep=rep, got=0, done=asyncio.Event())
            t0 = time.perf_counter()
            await sender.group_send(group, {"type": "fan", "rep": rep})
            await asyncio.wait_for(state["done"].wait(), 60)
            if rep >= 0:
                times.append(time.perf_counter() - t0)
    finally:
        for t in tasks:
            t.cancel()
        # bounded: channels_redis receives were seen to hang the run after
        # being cancelled (the members are not discarded: flush ends all)
        await asyncio.wait({asyncio.ensure_future(asyncio.gather(*tasks, return_exceptions=True))},
                           timeout=10)
    total = sum(times)
    times.sort()
    return {"members": size, "group_sends": reps, "wrong_round": state["wrong"],
            "deliveries_per_sec": round(size * reps / total, 1),
            "p50_ms": round(percentile(times, 50) * 1e3, 2),
            "p99_ms": round(percentile(times, 99) * 1e3, 2)}


async def main(args):
    a, b = make_layer(args.layer, args), make_layer(args.layer, args)
    members = [make_layer(args.layer, args) for _ in range(MEMBER_LAYERS)]
    out = {"layer": args.layer}
    try:
        out["rtt"] = await asyncio.wait_for(rtt(a, b, args.rtt), 240)
        out["stream"] = await asyncio.wait_for(stream(a, b, args.stream), 240)
        out["fanout"] = [await asyncio.wait_for(
            fanout(a, members, int(s), args.reps, "bench-%s" % s), 240)
            for s in args.fanout.split(",")]
    finally:
        await asyncio.wait_for(a.flush(), 60)
        for layer in [a, b] + members:
            await asyncio.wait_for(layer.close() if args.layer == "taskwire"
                                   else layer.close_pools(), 30)
    print(json.dumps(out))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("layer", choices=["taskwire", "redis"])
    p.add_argument("--redis", default="127.0.0.1:6379")
    p.add_argument("--rtt", type=int, default=2000)
    p.add_argument("--stream", type=int, default=5000)
    p.add_argument("--fanout", default="100,1000")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--capacity", type=int, default=10000)
    asyncio.run(main(p.parse_args()))
