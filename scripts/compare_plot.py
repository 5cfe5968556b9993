"""The validation curves of several mynah-train runs over training time, in one PNG.

usage: compare_plot.py OUT.png RUN_DIR...

Training time is summed from metrics.csv: each row's scored characters (steps since the
previous row x batch x seq-len, from config.json) over its chars_per_sec, validation time
excluded, so equal time limits end at the same x.
"""

import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def curve(run):
    with open(os.path.join(run, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    per_step = config["batch"] * config["seq_len"]
    xs, ys, minutes, last = [], [], 0.0, 0
    with open(os.path.join(run, "metrics.csv"), encoding="utf-8") as f:
        for row in csv.DictReader(f):
            step, cps = int(row["step"]), float(row["chars_per_sec"])
            if cps > 0:
                minutes += (step - last) * per_step / cps / 60
            last = step
            if row["val_loss"]:
                xs.append(minutes)
                ys.append(float(row["val_loss"]))
    return xs, ys


def main():
    out, runs = sys.argv[1], sys.argv[2:]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for run in runs:
        xs, ys = curve(run)
        ax.plot(xs, ys, marker="o", markersize=3, label=os.path.basename(run.rstrip("/")))
    ax.set_xlabel("training minutes (validation excluded)")
    ax.set_ylabel("validation nats/char")
    ax.set_title("tiny shakespeare, same int8 size (~115 KB)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
