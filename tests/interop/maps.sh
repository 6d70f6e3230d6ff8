#!/usr/bin/env bash
# Imports every public map under ../shared/data/maps/ with the release binary and checks
# what each must contain. Needs no external program beyond python3 (to read the JSON).
set -euo pipefail
cd "$(dirname "$0")/../.."

data=../shared/data/maps
if [ ! -d "$data" ]; then
    echo "maps.sh: $data not found; nothing to check" >&2
    exit 1
fi
cargo build --release --quiet
mapfix=target/release/mapfix
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

failures=0
# check FILE PYTHON-CONDITION: imports FILE, then evaluates the condition on `info`.
check() {
    local source=$1 condition=$2
    local name
    name=$(basename "$source")
    if ! "$mapfix" map import "$source" -o "$out/$name.geojson" >"$out/$name.log" 2>&1; then
        echo "FAIL $name: import failed"; cat "$out/$name.log"; failures=$((failures + 1)); return
    fi
    "$mapfix" map info "$out/$name.geojson" --json >"$out/$name.json"
    if python3 - "$out/$name.json" "$out/$name.geojson" "$condition" "$name" <<'PY'
import json, sys
info = json.load(open(sys.argv[1]))
collection = json.load(open(sys.argv[2]))
assert collection["type"] == "FeatureCollection"
for feature in collection["features"]:
    geometry = feature["geometry"]
    coords = geometry["coordinates"]
    while isinstance(coords[0], list):
        coords = coords[0]
    assert len(coords) == 3, f"2-D coordinates in {feature.get('id')}"
    assert -180 <= coords[0] <= 180 and -90 <= coords[1] <= 90
passed = eval(sys.argv[3], {"info": info})
summary = " ".join(f"{key}={info[key]}" for key in ("signs", "lane_lines", "stop_lines", "classes", "levels"))
print(f"{'ok  ' if passed else 'FAIL'} {sys.argv[4]}: {summary}")
sys.exit(0 if passed else 1)
PY
    then
        :
    else
        echo "     expected: $condition"; failures=$((failures + 1))
    fi
}

check "$data/lanelet2-karlsruhe/mapping_example.osm" 'info["signs"] == 11 and info["lane_lines"] >= 180 and info["stop_lines"] >= 20'
check "$data/lanelet2-kashiwanoha/lanelet2_map.osm" 'info["signs"] == 1 and info["lane_lines"] >= 20'
# 127 signals, of which 68 are lights, 21 road markings and 17 stop lines (StVO 294).
check "$data/opendrive-esmini/multi_intersections.xodr" 'info["signs"] == 21 and info["stop_lines"] == 17'
check "$data/opendrive-esmini/straight_500m_signs.xodr" 'info["signs"] == 19'
# CARLA's signals are all traffic lights; its signs are `Speed_N` objects.
check "$data/opendrive-carla/Town01.xodr" 'info["signs"] == 22 and info["lane_lines"] >= 100'
check "$data/opendrive-carla/Town02.xodr" 'info["signs"] == 21 and info["lane_lines"] >= 100'
for other in e6mini fabriksgatan_traffic_lights soderleden some_signs; do
    check "$data/opendrive-esmini/$other.xodr" 'info["lane_lines"] >= 1'
done

if [ "$failures" -gt 0 ]; then
    echo "maps.sh: $failures map(s) failed"
    exit 1
fi
echo "maps.sh: every public map imported"
