#!/usr/bin/env bash
# The live feed as a navigation app sees it: `mapfix serve` plays the demo drive in real
# time as NMEA over TCP, real gpsd reads it as it would a GNSS receiver on the network, and
# `gpspipe -w` shows gpsd's reports. A raw TCP client records what mapfix sent. Checks:
# - gpsd reports TPV fixes (mode >= 2) for the drive; those flagged as the camera's
#   (status 2) lie within 1 m of the fixture's truth at the same time (MAX_ERROR_M), the
#   others (GNSS alone, as before the first detection commits, or dead reckoning) within
#   their own 95 % radius, eph; all of them but a FRACTION_OUTSIDE share;
# - every epoch's flag reaches gpsd: GGA quality 2 (vision/fused) → TPV status 2 (DGPS),
#   6 (dead reckoning) → status 5 (DR), 1 (GNSS) → no status;
# - gpsd's eph is our 95 % radius (HDOP × 4.75 m for quality 2, × 19 m otherwise);
# - mapfix serve exits cleanly at the end of the drive and logs its latency percentiles.
# A second pass serves the drive from GNSS alone (--no-vision): through the tunnel it
# dead-reckons, and gpsd must show those fixes as status 5 (DR).
# Installs gpsd and gpsd-clients with apt-get when CI=true; skips (exit 0, saying so) when
# they are missing elsewhere. MAPFIX=path/to/mapfix uses that binary instead of building;
# MODEL=path/to/detector.safetensors another detector than the shipped one.
set -euo pipefail
cd "$(dirname "$0")/../.."

max_error_m=${MAX_ERROR_M:-1.0}
fraction_outside=${FRACTION_OUTSIDE:-0.05}
drive=fixtures/demo-drive
model=${MODEL:-models/detector.safetensors}

if ! command -v gpsd >/dev/null || ! command -v gpspipe >/dev/null; then
    if [ "${CI:-}" = true ]; then
        sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq gpsd gpsd-clients >/dev/null
    else
        echo "gpsd.sh: SKIPPED: gpsd and gpspipe are not installed (apt-get install gpsd gpsd-clients; CI=true installs them)"
        exit 0
    fi
fi
if [ -z "${MAPFIX:-}" ]; then
    cargo build --release --quiet --bin mapfix
    MAPFIX=target/release/mapfix
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# feed NAME SERVE-ARGS…: serves the drive through gpsd; leaves NAME.raw (what mapfix sent,
# as a plain TCP client records it), NAME.json (gpspipe -w) and NAME.log (serve's log).
feed() {
    local name=$1
    shift
    local serve_pid port gpsd_port serve_status=0 feed_pids=()
    "$MAPFIX" serve "$drive" --map maps/demo-town.geojson --model "$model" --realtime \
        --listen 127.0.0.1:0 "$@" >/dev/null 2>"$work/$name.log" &
    serve_pid=$!
    pids+=("$serve_pid")
    port=
    for _ in $(seq 600); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/$name.log" | head -n 1)
        [ -n "$port" ] && break
        kill -0 "$serve_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        echo "gpsd.sh: FAIL ($name): mapfix serve did not say where it listens" >&2
        cat "$work/$name.log" >&2
        exit 1
    fi
    python3 - "$port" "$work/$name.raw" <<'PY' &
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as s, open(sys.argv[2], "wb") as out:
    while data := s.recv(65536):
        out.write(data)
        out.flush()
PY
    feed_pids+=($!)
    gpsd_port=$(free_port)
    gpsd -N -n -S "$gpsd_port" "tcp://127.0.0.1:$port" 2>"$work/$name.gpsd.log" &
    feed_pids+=($!)
    sleep 0.5
    gpspipe -w "127.0.0.1:$gpsd_port" >"$work/$name.json" 2>"$work/$name.gpspipe.log" &
    feed_pids+=($!)
    pids+=("${feed_pids[@]}")

    wait "$serve_pid" || serve_status=$?
    sleep 1
    for pid in "${feed_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "-- $name: mapfix serve's log (tail)"
    tail -n 6 "$work/$name.log"
    if [ "$serve_status" -ne 0 ]; then
        echo "gpsd.sh: FAIL ($name): mapfix serve exited with status $serve_status" >&2
        exit 1
    fi
    if ! grep -q "latency" "$work/$name.log"; then
        echo "gpsd.sh: FAIL ($name): mapfix serve logged no latency percentiles" >&2
        exit 1
    fi
}

# check NAME POSITIONS DEAD_RECKONING: POSITIONS yes compares them with the truth;
# DEAD_RECKONING required wants dead-reckoned fixes among them.
check() {
    python3 - "$1" "$work/$1.json" "$work/$1.raw" "$drive" "$max_error_m" "$fraction_outside" "$2" "$3" <<'PY'
import bisect, csv, datetime, json, math, sys

name, pipe, raw, drive, max_error_m, fraction_outside, positions, dead_reckoning = sys.argv[1:]
max_error_m, fraction_outside = float(max_error_m), float(fraction_outside)
start_unix_s = json.load(open(f"{drive}/sim.json"))["gnss"]["start_unix_s"]

truth = [(float(r["time_s"]), float(r["lat"]), float(r["lon"])) for r in csv.DictReader(open(f"{drive}/truth.csv"))]
truth_times = [t for t, _, _ in truth]

def truth_at(time_s):
    if not truth_times[0] <= time_s <= truth_times[-1]:
        return None
    k = min(max(bisect.bisect_right(truth_times, time_s), 1), len(truth) - 1)
    (t0, a0, o0), (t1, a1, o1) = truth[k - 1], truth[k]
    w = (time_s - t0) / (t1 - t0)
    return a0 + w * (a1 - a0), o0 + w * (o1 - o0)

def horizontal_m(lat0, lon0, lat1, lon1):
    r = 6_371_000.0
    return math.hypot(math.radians(lat1 - lat0) * r, math.radians(lon1 - lon0) * r * math.cos(math.radians(lat0)))

def seconds_of_day(hhmmss):
    return int(hhmmss[:2]) * 3600 + int(hhmmss[2:4]) * 60 + float(hhmmss[4:])

# What mapfix sent: GGA quality and HDOP by time of day (checksums checked).
sent = {}
for line in open(raw, encoding="ascii"):
    line = line.strip()
    body, _, checksum = line[1:].partition("*")
    value = 0
    for ch in body:
        value ^= ord(ch)
    if f"{value:02X}" != checksum:
        sys.exit(f"gpsd.sh: FAIL ({name}): bad checksum in what mapfix sent: {line}")
    fields = body.split(",")
    if fields[0].endswith("GGA"):
        sent[round(seconds_of_day(fields[1]), 2)] = (int(fields[6]), float(fields[8]) if fields[8] else None)
if not sent:
    sys.exit(f"gpsd.sh: FAIL ({name}): the raw client received no GGA sentence")

# gpsd's reports. gpsd 3.22 writes malformed ATT objects when HDT and GST come together
# (its attitude and GST share storage); only TPV reports matter here.
reports = []
for line in open(pipe):
    if '"class":"TPV"' not in line:
        continue
    report = json.loads(line)
    if "time" in report:
        reports.append(report)
fixes = [r for r in reports if r.get("mode", 0) >= 2]
print(f"{name}: gpsd: {len(reports)} TPV reports, {len(fixes)} with a fix (mode >= 2); mapfix sent {len(sent)} epochs")
if len(fixes) < 0.5 * len(sent):
    sys.exit(f"gpsd.sh: FAIL ({name}): gpsd reported a fix for fewer than half of the epochs mapfix sent")

failures = []
errors = []
# Error against what the fix claims: 1 m for the camera's, eph for the others.
beyond_claim = []
flags = {}
for r in fixes:
    when = datetime.datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp()
    time_s = when - start_unix_s
    expected = truth_at(time_s)
    if expected is None:
        failures.append(f"TPV at {r['time']} lies outside the drive's truth")
        continue
    error = horizontal_m(expected[0], expected[1], r["lat"], r["lon"])
    errors.append(error)
    of_day = round(when % 86400, 2)
    if of_day not in sent:
        failures.append(f"TPV at {r['time']} matches no epoch mapfix sent")
        continue
    quality, hdop = sent[of_day]
    status = r.get("status", 1)
    wanted = {1: 1, 2: 2, 6: 5}[quality]
    flags[(quality, status)] = flags.get((quality, status), 0) + 1
    if status != wanted:
        failures.append(f"TPV at {r['time']}: status {status}, expected {wanted} for GGA quality {quality}")
    claim = max_error_m if quality == 2 else r.get("eph", 0.0)
    beyond_claim.append((error > claim, quality == 2))
    uere = 4.75 if quality == 2 else 19.0
    if hdop is not None and abs(r.get("eph", -1) - hdop * uere) > 0.01 + 1e-3 * hdop * uere:
        failures.append(f"TPV at {r['time']}: eph {r.get('eph')} is not HDOP {hdop} x {uere} m")

if not errors:
    sys.exit(f"gpsd.sh: FAIL ({name}): no fix to compare with the truth")
errors.sort()
outside = sum(e > max_error_m for e in errors)
camera_outside = sum(beyond for beyond, camera in beyond_claim if camera)
camera = sum(camera for _, camera in beyond_claim)
others_outside = sum(beyond for beyond, camera in beyond_claim if not camera)
print(f"{name}: horizontal error against truth: median {errors[len(errors) // 2]:.3f} m, "
      f"p95 {errors[int(0.95 * (len(errors) - 1))]:.3f} m, max {errors[-1]:.3f} m; "
      f"{outside} of {len(errors)} beyond {max_error_m} m; the camera's fixes: {camera_outside} "
      f"of {camera} beyond {max_error_m} m; the others: {others_outside} of "
      f"{len(beyond_claim) - camera} beyond their eph")
print(f"{name}: GGA quality -> gpsd status:", ", ".join(f"{q} -> {s}: {n}" for (q, s), n in sorted(flags.items())))
beyond = camera_outside + others_outside
if positions == "yes" and beyond > fraction_outside * len(beyond_claim):
    failures.append(f"{beyond} of {len(beyond_claim)} fixes are further from the truth than they claim")
if dead_reckoning == "required" and not any(s == 5 for (_, s) in flags):
    failures.append("no dead-reckoned fix reached gpsd as status 5 (DR)")
if failures:
    print("\n".join(failures[:20]), file=sys.stderr)
    sys.exit(f"gpsd.sh: FAIL ({name}): {len(failures)} problems")
print(f"gpsd.sh: {name}: gpsd shows mapfix's positions with their flags and accuracy")
PY
}

feed vision
check vision yes any
feed gnss-only --no-vision
check gnss-only yes required
