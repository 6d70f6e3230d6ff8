"""Writes two TUM trajectories for tests/interop/evo.sh: a smooth simulated drive
(truth.tum) and a noisy, drifting estimate of it at the same timestamps (estimate.tum).
Usage: make_tum.py OUT_DIR [SEED]. Only the standard library."""
import math
import random
import sys


def quaternion(yaw, pitch, roll):
    """(qx, qy, qz, qw) of Rz(yaw)·Ry(pitch)·Rx(roll)."""
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    return (
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
        cr * cp * cy + sr * sp * sy,
    )


def main():
    out = sys.argv[1]
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 7)
    start, rate, seconds, speed = 1_700_000_000.0, 10, 120, 12.0
    x = y = 0.0
    truth, estimate = [], []
    for k in range(seconds * rate + 1):
        t = k / rate
        yaw = 0.6 * math.sin(t / 15.0) + 0.004 * t
        pitch = 0.03 * math.sin(t / 9.0)
        x += speed / rate * math.cos(yaw)
        y += speed / rate * math.sin(yaw)
        z = 3.0 * math.sin(t / 20.0)
        truth.append((start + t, x, y, z, yaw, pitch, 0.0))
        # Drift: a slowly growing heading error turning the track about the start, a scale
        # error, an offset, and noise.
        drift = 0.0004 * t
        scale = 1.003
        ex = scale * (math.cos(drift) * x - math.sin(drift) * y) + 1.5 + rng.gauss(0, 0.4)
        ey = scale * (math.sin(drift) * x + math.cos(drift) * y) - 0.8 + rng.gauss(0, 0.4)
        ez = z + 0.2 + rng.gauss(0, 0.3)
        estimate.append((start + t, ex, ey, ez, yaw + drift + rng.gauss(0, 0.01), pitch + rng.gauss(0, 0.005), rng.gauss(0, 0.005)))
    for name, rows in (("truth.tum", truth), ("estimate.tum", estimate)):
        with open(f"{out}/{name}", "w") as f:
            f.write("# timestamp x y z qx qy qz qw\n")
            for t, px, py, pz, yaw, pitch, roll in rows:
                q = quaternion(yaw, pitch, roll)
                f.write(f"{t:.6f} {px:.9f} {py:.9f} {pz:.9f} {q[0]:.12f} {q[1]:.12f} {q[2]:.12f} {q[3]:.12f}\n")


if __name__ == "__main__":
    main()
