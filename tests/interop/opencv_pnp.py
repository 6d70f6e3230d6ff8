"""Solve mapfix problem lines with cv2.solvePnPRansac; compare with mapfix's answers.

usage: opencv_pnp.py PROBLEMS.jsonl MAPFIX_RESULTS.jsonl
Exit status 1 if mapfix's success rate is below OpenCV's.
"""
import json
import sys
import time

import cv2
import numpy as np


def errors(rotation, centre, truth_rotation, truth_centre):
    """Rotation error (degrees) and position error (metres)."""
    cosine = (np.trace(rotation @ truth_rotation.T) - 1.0) / 2.0
    angle = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
    return angle, np.linalg.norm(centre - truth_centre)


def success(error, truth_centre, points):
    """Rotation error < 1 degree and position error < 1 % of the mean landmark distance."""
    distance = np.mean(np.linalg.norm(points - truth_centre, axis=1))
    return error[0] < 1.0 and error[1] < 0.01 * distance


def main(problems_path, mapfix_path):
    cv2.setNumThreads(1)
    problems = [json.loads(line) for line in open(problems_path)]
    answers = {a["id"]: a for a in map(json.loads, open(mapfix_path)) if "id" in a}
    cv_ok = mf_ok = 0
    cv_micros, mf_micros = [], []
    # Failed solves count as infinitely wrong in the error medians.
    cv_errors, mf_errors = [], []
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
        error = (np.inf, np.inf)
        if found:
            rotation = cv2.Rodrigues(rvec)[0]
            error = errors(rotation, -rotation.T @ tvec[:, 0], truth_r, truth_c)
            cv_ok += success(error, truth_c, points)
        cv_errors.append(error)

        answer = answers[p["id"]]
        mf_micros.append(answer["micros"])
        error = (np.inf, np.inf)
        if answer["ok"]:
            error = errors(np.array(answer["world_to_camera"]), np.array(answer["camera_position"]),
                           truth_r, truth_c)
            mf_ok += success(error, truth_c, points)
        mf_errors.append(error)

    n = len(problems)
    print(f"{n} problems ({len(problems[0]['pixels'])} landmarks each)")
    for name, ok, micros, errs in [("OpenCV solvePnPRansac (AP3P + LM)", cv_ok, cv_micros, cv_errors),
                                   ("mapfix solve (P3P + LO-RANSAC + LM)", mf_ok, mf_micros, mf_errors)]:
        rotation, position = np.median(np.array(errs), axis=0)
        print(f"{name}: success {100 * ok / n:.2f} %, median error {rotation:.4f} deg / "
              f"{100 * position:.2f} cm, median {np.median(micros):.1f} us, total {sum(micros) / 1e3:.1f} ms")
    print(f"time ratio OpenCV / mapfix: {sum(cv_micros) / sum(mf_micros):.1f}x total, "
          f"{np.median(cv_micros) / np.median(mf_micros):.1f}x median")
    # Less accurate: fewer successes, or a median position error more than 5 % worse.
    cv_median = np.median([e[1] for e in cv_errors])
    mf_median = np.median([e[1] for e in mf_errors])
    if mf_ok < cv_ok or mf_median > 1.05 * cv_median:
        print("FAIL: mapfix is less accurate than OpenCV", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
