#!/usr/bin/env bash
# Load run (not part of the test command): in one go on this machine,
#   1. SIPp UAC -> SIPp UAS, the reference;
#   2. outdial -> the same SIPp UAS scenario,
# and print for each: the call rate, CPU microseconds per call, failed calls
# and retransmissions. Everything stays on 127.0.0.1.
#
# Usage: sip-test/load.sh [RATE] [SECONDS] [HOLD] [TRANSPORT]
#        (defaults: 2000 60 1 udp; TRANSPORT udp or tcp: both runs use it,
#        SIPp with -t u1 or -t t1, the trunk with that `transport`)
# HOLD is how long each answered call stays up before the engine hangs up
# (the agent's max_call_duration_seconds); RATE * HOLD calls are up at once,
# so `load.sh 2000 20 5` holds about 10,000 established calls for the
# memory figure.
set -euo pipefail
RATE=${1:-2000}
SECS=${2:-60}
HOLD=${3:-1}
TRANSPORT=${4:-udp}
case "$TRANSPORT" in
udp) T=u1 ;;
tcp) T=t1 ;;
*) echo "TRANSPORT must be udp or tcp" >&2; exit 2 ;;
esac
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
WORK=$(mktemp -d /tmp/outdial-load.XXXXXX)
BUF=4194304
command -v sipp >/dev/null || { apt-get update && apt-get install -y sip-tester; }
cargo build --release --manifest-path "$ROOT/Cargo.toml" >/dev/null

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)
cleanup() { kill $(jobs -p) 2>/dev/null || true; }
trap cleanup EXIT

last_stat() { # file column -> value of the column in the last row of a SIPp -trace_stat CSV
  python3 - "$1" "$2" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
head, last = rows[0], rows[-1]
print(last[head.index(sys.argv[2])])
PY
}

echo "== reference: SIPp UAC -> SIPp UAS over $TRANSPORT at $RATE calls/s for $SECS s"
N=$((RATE * SECS))
sipp -sn uas -t $T -i 127.0.0.1 -p 25070 -buff_size $BUF -nostdin -trace_stat -stf "$WORK/ref_uas.csv" -fd 1 >/dev/null 2>&1 &
UAS_PID=$!
sleep 0.5
T0=$(date +%s.%N)
sipp -sn uac -t $T 127.0.0.1:25070 -i 127.0.0.1 -p 25071 -r "$RATE" -m "$N" -buff_size $BUF -nostdin \
  -trace_stat -stf "$WORK/ref_uac.csv" -fd 1 >/dev/null 2>&1 &
UAC_PID=$!
C0=$(cpu_ticks $UAC_PID)
C=0
while kill -0 $UAC_PID 2>/dev/null; do C=$(cpu_ticks $UAC_PID 2>/dev/null || echo "$C"); sleep 0.2; done
T1=$(date +%s.%N)
kill "$UAS_PID" 2>/dev/null || true
python3 - "$WORK/ref_uac.csv" "$T0" "$T1" "$C0" "$C" "$TICK" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
h, last = rows[0], rows[-1]
ok = int(last[h.index("SuccessfulCall(C)")]); failed = int(last[h.index("FailedCall(C)")])
retr = int(last[h.index("Retransmissions(C)")])
elapsed = float(sys.argv[3]) - float(sys.argv[2])
cpu_us = (int(sys.argv[5]) - int(sys.argv[4])) / int(sys.argv[6]) * 1e6
print(f"SIPp UAC: {ok} calls in {elapsed:.1f} s = {ok/elapsed:.0f} calls/s, failed {failed}, "
      f"retransmissions {retr}, UAC CPU {cpu_us/max(ok,1):.1f} us/call")
PY

echo "== outdial -> SIPp UAS over $TRANSPORT at $RATE calls/s for $SECS s"
sipp -sn uas -t $T -i 127.0.0.1 -p 25080 -buff_size $BUF -nostdin -trace_stat -stf "$WORK/od_uas.csv" -fd 1 >/dev/null 2>&1 &
UAS_PID=$!
sleep 0.5
cat > "$WORK/outdial.toml" <<TOML
[api]
listen = "127.0.0.1:28080"
workers = 1
[store]
url = "sqlite://$WORK/outdial.db"
[sip]
listen = "127.0.0.1:25081"
[sandbox]
enabled = false
listen = "127.0.0.1:25090"
[[trunks]]
name = "sipp"
uri = "sip:127.0.0.1:25080"
transport = "$TRANSPORT"
max_channels = 100000
[[agents]]
id = "00000000-0000-4000-8000-00000000a001"
name = "load"
timezone = "UTC"
max_concurrent_calls = 100000
caller_id = "+15550100000"
trunk = "sipp"
max_call_duration_seconds = $HOLD
# Dial at any hour: the default window (the callee's 9:00-21:00) would
# hold every call of a run made during the US night.
calling_window = "always"
TOML
# A key for this run only; the driver sends it as a Bearer token.
OUTDIAL_API_KEY="od_load_$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
export OUTDIAL_API_KEY
RUST_LOG=warn ${OUTDIAL_WRAP:-} "$ROOT/target/release/outdial" serve --config "$WORK/outdial.toml" 2>"$WORK/outdial.log" &
OD_PID=$!
for _ in $(seq 100); do curl -sf 127.0.0.1:28080/health >/dev/null && break; sleep 0.1; done
C0=$(cpu_ticks $OD_PID)
RSS0=$(awk '/VmRSS/{print $2}' /proc/$OD_PID/status)
PEAK=0
( while kill -0 $OD_PID 2>/dev/null; do awk '/VmRSS/{print $2}' /proc/$OD_PID/status; sleep 0.5; done ) > "$WORK/rss.txt" &
RESULT=$(python3 "$HERE/load_driver.py" http://127.0.0.1:28080 00000000-0000-4000-8000-00000000a001 "$RATE" "$SECS")
C1=$(cpu_ticks $OD_PID)
PEAK=$(sort -n "$WORK/rss.txt" | tail -1)
sleep 1
python3 - "$RESULT" "$C0" "$C1" "$TICK" "$WORK/od_uas.csv" "$RSS0" "$PEAK" <<'PY'
import csv, json, sys
r = json.loads(sys.argv[1]); s = r["stats"]
rows = list(csv.reader(open(sys.argv[5]), delimiter=';'))
h, last = rows[0], rows[-1]
retr = int(last[h.index("Retransmissions(C)")]); uas_failed = int(last[h.index("FailedCall(C)")])
done = s["Completed"]
cpu_us = (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4]) * 1e6
print(f"outdial: {r['submitted']} calls offered at {r['offered_rate']} calls/s; completed {done}, "
      f"failed {s['Failed']}, still live {s['Queued'] + s['Pending'] + s['InProgress']}; "
      f"UAS retransmissions {retr}, UAS failed calls {uas_failed}; "
      f"engine CPU {cpu_us / max(done, 1):.1f} us/call; RSS {int(sys.argv[6])//1024} MiB at start, "
      f"{int(sys.argv[7])//1024} MiB peak")
PY
echo "logs and CSVs in $WORK"
