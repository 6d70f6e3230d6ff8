#!/usr/bin/env bash
# Checks mapfix eval's APE against evo (https://github.com/MichaelGrupp/evo), the reference
# trajectory evaluator: on a simulated truth and a noisy, drifting estimate (TUM files),
# `mapfix eval --align none|se3|sim3|origin` must give evo_ape's RMSE (no alignment, -a,
# -as, --align_origin) to 1e-6 relative. Installs evo with pip into a cached venv.
# MAPFIX=path/to/mapfix uses that binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=${EVO_VENV:-$HOME/.cache/mapfix-interop/evo-venv}
if [ ! -x "$venv/bin/evo_ape" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "evo==1.38.1"
fi
if [ -z "${MAPFIX:-}" ]; then
    cargo build --release --quiet
    MAPFIX=target/release/mapfix
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

python3 tests/interop/make_tum.py "$out" 7
failures=0
# check ALIGN EVO-FLAGS…: compares the APE RMSE of both tools.
check() {
    local align=$1
    shift
    "$venv/bin/evo_ape" tum "$out/truth.tum" "$out/estimate.tum" "$@" --no_warnings \
        --save_results "$out/evo-$align.zip" >"$out/evo-$align.log"
    "$MAPFIX" eval --truth "$out/truth.tum" "$out/estimate.tum" --align "$align" --json >"$out/mapfix-$align.json"
    if ! python3 - "$align" "$out/evo-$align.zip" "$out/mapfix-$align.json" <<'PY'
import json, sys, zipfile
align, evo_zip, mapfix_json = sys.argv[1:]
evo = json.loads(zipfile.ZipFile(evo_zip).read("stats.json"))["rmse"]
mapfix = json.loads(open(mapfix_json).readline())["ape_rmse_m"]
relative = abs(mapfix - evo) / abs(evo)
verdict = "ok" if relative <= 1e-6 else "FAIL"
print(f"{verdict} align {align:6}  evo_ape RMSE {evo:.9f} m  mapfix {mapfix:.9f} m  relative difference {relative:.2e}")
sys.exit(0 if verdict == "ok" else 1)
PY
    then
        failures=$((failures + 1))
    fi
}
check none
check se3 -a
check sim3 -as
check origin --align_origin
if [ "$failures" -gt 0 ]; then
    echo "evo.sh: $failures of 4 APE checks differ from evo" >&2
    exit 1
fi
echo "evo.sh: mapfix eval APE matches evo_ape"
