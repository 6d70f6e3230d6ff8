#!/usr/bin/env bash
# Side by side on the same problem file: OpenCV's solvePnPRansac (AP3P minimal solver,
# EPnP on the inliers, then solvePnPRefineLM) against `mapfix solve` (Lambda Twist P3P,
# LO-RANSAC, Levenberg–Marquardt). Both get a 4 px threshold, 0.9999 confidence and at
# most 1000 iterations, on one thread. Prints both success rates and the time ratio;
# exits non-zero if mapfix is less accurate than OpenCV.
#
# Environment: COUNT (problems, default 1000), OUTLIERS (0.3), NOISE_PX (1), SEED (7),
# INTEROP_VENV (default target/interop-venv; needs network once for pip).
set -euo pipefail
cd "$(dirname "$0")/../.."

count=${COUNT:-1000}
outliers=${OUTLIERS:-0.3}
noise_px=${NOISE_PX:-1}
seed=${SEED:-7}
venv=${INTEROP_VENV:-target/interop-venv}

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -c "import cv2, numpy" 2>/dev/null ||
    "$venv/bin/pip" install --quiet --disable-pip-version-check opencv-python-headless numpy

cargo build --release --quiet --bin mapfix
mapfix=target/release/mapfix

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$mapfix" bench solver --write-problems "$work/problems.jsonl" \
    --count "$count" --outliers "$outliers" --noise-px "$noise_px" --seed "$seed"
"$mapfix" solve --problems "$work/problems.jsonl" --json \
    --threshold-px 4 --confidence 0.9999 --max-iterations 1000 >"$work/mapfix.jsonl"
"$venv/bin/python" tests/interop/opencv_pnp.py "$work/problems.jsonl" "$work/mapfix.jsonl"
