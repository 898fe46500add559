#!/usr/bin/env python3
"""Feed calls to a running outdial at a steady rate and wait for them to end.

Usage: load_driver.py API_BASE AGENT_ID RATE SECONDS

Posts bulk requests of RATE/20 calls every 50 ms for SECONDS, then polls the
status statistics until nothing is live. Prints one JSON line with the
counts and the achieved rate. Only talks to the API address it is given,
with the API key in the environment variable OUTDIAL_API_KEY.
"""
import json
import os
import sys
import time
import urllib.request


AUTH = {"authorization": "Bearer " + os.environ.get("OUTDIAL_API_KEY", "")}


def post(url, body):
    headers = {"content-type": "application/json", **AUTH}
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def get(url):
    with urllib.request.urlopen(urllib.request.Request(url, headers=AUTH), timeout=30) as r:
        return json.load(r)


def main():
    base, agent, rate, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    batch = max(1, rate // 20)
    sent, n = 0, 0
    start = time.monotonic()
    deadline = start + seconds
    while time.monotonic() < deadline:
        calls = [{"endpoint": "+1555%07d" % ((n + i) % 10_000_000)} for i in range(batch)]
        n += batch
        res = post(base + "/api/v1/calls/bulk", {"agentId": agent, "calls": calls})
        if res["failed"]:
            print("bulk items failed:", res["failed"][:3], file=sys.stderr)
            sys.exit(1)
        sent += len(res["created"])
        next_at = start + (sent / rate)
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    submit_s = time.monotonic() - start
    while True:
        stats = get(base + "/api/v1/calls/statistics/statuses")
        live = stats["Created"] + stats["Queued"] + stats["Pending"] + stats["InProgress"]
        if live == 0:
            break
        if time.monotonic() - start > seconds + 120:
            print("calls still live after the run:", stats, file=sys.stderr)
            break
        time.sleep(0.5)
    total_s = time.monotonic() - start
    print(json.dumps({"submitted": sent, "submit_seconds": round(submit_s, 2),
                      "offered_rate": round(sent / submit_s, 1), "total_seconds": round(total_s, 2),
                      "stats": stats}))


if __name__ == "__main__":
    main()
