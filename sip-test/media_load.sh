#!/usr/bin/env bash
# Media load run (not part of the test command): N concurrent two-way G.711
# calls from outdial to a SIPp UAS that echoes every RTP packet
# (`-rtp_echo`), all on 127.0.0.1. Once every call is up, it measures over
# WINDOW seconds:
#   - RTP packets sent and received by the engine, and the loss (echo: every
#     packet sent should come back),
#   - p50/p99 send-interval error (|gap between two packets of a call - 20 ms|,
#     from the engine's histogram at /metrics),
#   - CPU of the media threads (user + system, so the kernel's send and
#     receive are included) per RTP packet handled (sent + received),
#   - engine RSS growth per call (everything a call holds: SIP dialog,
#     actor, RTP session, socket buffers in use are not counted by RSS).
#
# Usage: sip-test/media_load.sh [CALLS] [HOLD] [THREADS] [WINDOW] [ECHOS] [RT]
#        (defaults: 2000 60 2 15 1 0). HOLD is the agents'
#        max_call_duration_seconds; calls ramp up at 200 calls/s. ECHOS
#        SIPp instances share the calls (one trunk and one agent each), since
#        one SIPp echoes RTP on a single socket with a single thread. RT > 0
#        runs the media threads under SCHED_FIFO at that priority
#        (`[media] realtime_priority`) and the SIPp peers at the same one,
#        so that neither waits behind other work (root only).
set -euo pipefail
CALLS=${1:-2000}
HOLD=${2:-60}
THREADS=${3:-2}
WINDOW=${4:-15}
ECHOS=${5:-1}
RT=${6:-0}
PEER=()
[ "$RT" -gt 0 ] && PEER=(chrt -f "$RT")
PER_ECHO=$(( (CALLS + ECHOS - 1) / ECHOS ))
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
WORK=$(mktemp -d /tmp/outdial-media-load.XXXXXX)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
command -v sipp >/dev/null || { apt-get update && apt-get install -y sip-tester; }
cargo build --release --manifest-path "$ROOT/Cargo.toml" >/dev/null
cleanup() { kill $(jobs -p) 2>/dev/null || true; }
trap cleanup EXIT
TICK=$(getconf CLK_TCK)

# SIPp's -rtp_buffsize does not reach its echo socket, which then keeps the
# kernel's default receive buffer (about 200 packets): each media tick's
# burst (one packet per call) overflows it past a few hundred calls. Raise
# the default while SIPp creates its sockets (root only), then put it back.
RMEM=$(sysctl -n net.core.rmem_default)
sysctl -qw net.core.rmem_default=4194304 2>/dev/null || echo "note: cannot raise net.core.rmem_default; SIPp's echo socket may drop"
for e in $(seq 0 $((ECHOS - 1))); do
  "${PEER[@]}" sipp -sf "$HERE/uas_answer_rtp_echo.xml" -i 127.0.0.1 -p $((25200 + 2 * e)) -mp $((26000 + 1000 * e)) -rtp_echo \
    -m "$PER_ECHO" -buff_size 8388608 -rtp_buffsize 8388608 -nostdin -trace_stat -stf "$WORK/uas$e.csv" -fd 1 \
    >"$WORK/sipp$e.log" 2>&1 &
done
sleep 0.5
sysctl -qw net.core.rmem_default="$RMEM" 2>/dev/null || true
cat > "$WORK/outdial.toml" <<TOML
[api]
listen = "127.0.0.1:28180"
workers = 1
[store]
url = "sqlite://$WORK/outdial.db"
[sip]
listen = "127.0.0.1:25181"
[media]
rtp_ports = "30000-40000"
threads = $THREADS
TOML
[ "$RT" -gt 0 ] && echo "realtime_priority = $RT" >> "$WORK/outdial.toml"
for e in $(seq 0 $((ECHOS - 1))); do
  cat >> "$WORK/outdial.toml" <<TOML
[[trunks]]
name = "sipp$e"
uri = "sip:127.0.0.1:$((25200 + 2 * e))"
max_channels = 100000
cps = $((200 / ECHOS))
[[agents]]
id = "00000000-0000-4000-8000-$(printf '%012x' $((0xa001 + e)))"
name = "load$e"
timezone = "UTC"
max_concurrent_calls = 100000
caller_id = "+15550100000"
trunk = "sipp$e"
calling_window = "always"
max_call_duration_seconds = $HOLD
TOML
done
OUTDIAL_API_KEY="od_load_$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
export OUTDIAL_API_KEY
RUST_LOG=warn "$ROOT/target/release/outdial" serve --config "$WORK/outdial.toml" 2>"$WORK/outdial.log" &
OD=$!
for _ in $(seq 100); do curl -sf 127.0.0.1:28180/health >/dev/null && break; sleep 0.1; done
RSS0=$(awk '/VmRSS/{print $2}' /proc/$OD/status)

python3 - "$OD" "$CALLS" "$WINDOW" "$TICK" "$RSS0" "$ECHOS" <<'PY'
import json, os, sys, time, urllib.request
pid, calls, window, tick, rss0 = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
echos = int(sys.argv[6])
base, key = "http://127.0.0.1:28180", os.environ["OUTDIAL_API_KEY"]
def req(path, body=None):
    r = urllib.request.Request(base + path, method="POST" if body else "GET",
        data=json.dumps(body).encode() if body else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    return urllib.request.urlopen(r, timeout=60).read().decode()
per_echo = -(-calls // echos)
for e in range(echos):
    agent = f"00000000-0000-4000-8000-{0xa001 + e:012x}"
    mine = range(e * per_echo, min(calls, (e + 1) * per_echo))
    for i in range(mine.start, mine.stop, 5000):
        n = min(5000, mine.stop - i)
        items = [{"endpoint": f"+1555{2000000 + i + j:07d}"} for j in range(n)]
        out = json.loads(req("/api/v1/calls/bulk", {"agentId": agent, "calls": items}))
        assert not out["failed"], out["failed"][:3]
def metrics():
    m = {}
    for line in req("/metrics").splitlines():
        if line.startswith("outdial_media_"):
            name, v = line.rsplit(" ", 1)
            m[name] = float(v)
    return m
def media_cpu():
    t = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            if open(f"/proc/{pid}/task/{tid}/comm").read().startswith("outdial-media"):
                f = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
                t += int(f[11]) + int(f[12])
        except FileNotFoundError:
            pass
    return t / tick
def proc_cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
def rss():
    return int([l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1])
t0 = time.time()
while metrics().get("outdial_media_sessions", 0) < calls:
    if time.time() - t0 > calls / 100 + 60:
        sys.exit(f"only {metrics().get('outdial_media_sessions')} of {calls} calls came up")
    time.sleep(0.5)
time.sleep(2)
def hist(m, name):
    return sorted(((float(k.split('le="')[1].split('"')[0]) if "+Inf" not in k else float("inf")), v)
                  for k, v in m.items() if k.startswith(name + "_bucket"))
def quantile(b0, b1, q):
    d = [(le, c1 - c0) for (le, c0), (_, c1) in zip(b0, b1)]
    total = d[-1][1]
    for le, c in d:
        if c >= q * total:
            return le * 1e3
echo_ports = {26000 + 1000 * e for e in range(echos)}
def udp_drops():
    """Kernel receive-buffer drops: SIPp's echo socket, the engine's RTP sockets."""
    echo = engine = 0
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        for line in open(path).read().splitlines()[1:]:
            f = line.split()
            port = int(f[1].rsplit(":", 1)[1], 16)
            if port in echo_ports:
                echo += int(f[-1])
            elif 30000 <= port <= 40000:
                engine += int(f[-1])
    return echo, engine
d0 = udp_drops()
m0, c0, p0, r_up = metrics(), media_cpu(), proc_cpu(), rss()
time.sleep(window)
m1, c1, p1 = metrics(), media_cpu(), proc_cpu()
up = m1["outdial_media_sessions"]
sent = m1["outdial_media_packets_sent_total"] - m0["outdial_media_packets_sent_total"]
recv = m1["outdial_media_packets_received_total"] - m0["outdial_media_packets_received_total"]
name = "outdial_media_send_interval_error_seconds"
b0, b1 = hist(m0, name), hist(m1, name)
late0, late1 = hist(m0, "outdial_media_tick_lateness_seconds"), hist(m1, "outdial_media_tick_lateness_seconds")
skipped = m1["outdial_media_skipped_ticks_total"] - m0["outdial_media_skipped_ticks_total"]
cpu = c1 - c0
print(f"calls up: {up:.0f} of {calls}; window {window:.0f} s")
print(f"RTP sent {sent:.0f} ({sent / window / max(up, 1):.1f} packets/s per call), received {recv:.0f}; "
      f"loss {max(0.0, 1 - recv / max(sent, 1)) * 100:.3f} %")
print(f"send-interval error p50 <= {quantile(b0, b1, 0.5):.1f} ms, p99 <= {quantile(b0, b1, 0.99):.1f} ms, "
      f"p99.9 <= {quantile(b0, b1, 0.999):.1f} ms; tick lateness p99 <= {quantile(late0, late1, 0.99):.1f} ms; "
      f"skipped ticks {skipped:.0f}")
print(f"media threads CPU {cpu:.2f} s = {cpu / window * 100:.0f} % of one core; "
      f"{cpu * 1e6 / max(sent + recv, 1):.2f} us per RTP packet (sent + received, kernel included)")
d1 = udp_drops()
print(f"kernel receive drops in the window: SIPp echo sockets {d1[0] - d0[0]}, engine RTP sockets {d1[1] - d0[1]}")
print(f"whole engine CPU {(p1 - p0) / window * 100:.0f} % of one core")
print(f"RSS {rss0 // 1024} MiB idle, {r_up // 1024} MiB with {up:.0f} calls up: "
      f"{(r_up - rss0) / max(up, 1):.1f} KiB per call")
PY
echo "logs in $WORK"
