"""Summarise a py-spy `--format raw` profile (collapsed stacks): where the time goes.

    python -m bench.gateway.pyspy_top bench/results/<run>/sustained-gateway.pyspy.txt [--top 25]

Prints the functions with the most samples on top of the stack (self) and the functions with
the most samples anywhere in the stack (inclusive), as a share of all samples.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

_LINE_NUMBER = re.compile(r":\d+\)$")


def frame_name(frame: str) -> str:
    """`handle (ocpp_events/x.py:12)` -> `handle (ocpp_events/x.py)`: merge a function's lines."""
    return _LINE_NUMBER.sub(")", frame.strip())


def summarise(path: str) -> tuple[int, Counter[str], Counter[str]]:
    total, own, inclusive = 0, Counter[str](), Counter[str]()
    with open(path) as profile:
        for line in profile:
            stack, _, count_text = line.rstrip("\n").rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [frame_name(f) for f in stack.split(";") if f.strip()]
            total += count
            if frames:
                own[frames[-1]] += count
            for frame in set(frames):
                inclusive[frame] += count
    return total, own, inclusive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    total, own, inclusive = summarise(args.profile)
    print(f"{total} samples")
    for title, counter in (("self", own), ("inclusive", inclusive)):
        print(f"\n-- top {args.top} by {title} time")
        for frame, count in counter.most_common(args.top):
            print(f"{100 * count / max(total, 1):5.1f} %  {frame}")


if __name__ == "__main__":
    main()
