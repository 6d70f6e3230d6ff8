"""Solve mapfix problem lines with cv2.solvePnPRansac; compare with mapfix's answers.

usage: opencv_pnp.py PROBLEMS.jsonl MAPFIX_RESULTS.jsonl
Exit status 1 if mapfix's success rate is below OpenCV's.
"""
import json
import sys
import time

import cv2
import numpy as np


def success(rotation, centre, truth_rotation, truth_centre, points):
    """Rotation error < 1 degree and position error < 1 % of the mean landmark distance."""
    cosine = (np.trace(rotation @ truth_rotation.T) - 1.0) / 2.0
    angle = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
    distance = np.mean(np.linalg.norm(points - truth_centre, axis=1))
    return angle < 1.0 and np.linalg.norm(centre - truth_centre) < 0.01 * distance


def main(problems_path, mapfix_path):
    cv2.setNumThreads(1)
    problems = [json.loads(line) for line in open(problems_path)]
    answers = {a["id"]: a for a in map(json.loads, open(mapfix_path)) if "id" in a}
    cv_ok = mf_ok = 0
    cv_micros, mf_micros = [], []
    for p in problems:
        c = p["camera"]
        k = np.array([[c["fx"], 0, c["cx"]], [0, c["fy"], c["cy"]], [0, 0, 1]], dtype=np.float64)
        pixels = np.array(p["pixels"], dtype=np.float64)
        points = np.array(p["points"], dtype=np.float64)
        truth_r = np.array(p["truth"]["world_to_camera"])
        truth_c = np.array(p["truth"]["camera_position"])

        start = time.perf_counter()
        found, rvec, tvec, inliers = cv2.solvePnPRansac(
            points, pixels, k, None, iterationsCount=1000, reprojectionError=4.0,
            confidence=0.9999, flags=cv2.SOLVEPNP_AP3P)
        if found and inliers is not None and len(inliers) >= 4:
            idx = inliers[:, 0]
            rvec, tvec = cv2.solvePnPRefineLM(points[idx], pixels[idx], k, None, rvec, tvec)
        cv_micros.append((time.perf_counter() - start) * 1e6)
        if found:
            rotation = cv2.Rodrigues(rvec)[0]
            centre = -rotation.T @ tvec[:, 0]
            cv_ok += success(rotation, centre, truth_r, truth_c, points)

        answer = answers[p["id"]]
        mf_micros.append(answer["micros"])
        if answer["ok"]:
            mf_ok += success(np.array(answer["world_to_camera"]), np.array(answer["camera_position"]),
                             truth_r, truth_c, points)

    n = len(problems)
    print(f"{n} problems ({len(problems[0]['pixels'])} landmarks each)")
    print(f"OpenCV solvePnPRansac (AP3P + LM): success {100 * cv_ok / n:.2f} %, "
          f"median {np.median(cv_micros):.1f} us, total {sum(cv_micros) / 1e3:.1f} ms")
    print(f"mapfix solve (P3P + LO-RANSAC + LM): success {100 * mf_ok / n:.2f} %, "
          f"median {np.median(mf_micros):.1f} us, total {sum(mf_micros) / 1e3:.1f} ms")
    print(f"time ratio OpenCV / mapfix: {sum(cv_micros) / sum(mf_micros):.1f}x total, "
          f"{np.median(cv_micros) / np.median(mf_micros):.1f}x median")
    if mf_ok < cv_ok:
        print("FAIL: mapfix is less accurate than OpenCV", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
