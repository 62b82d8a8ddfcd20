#!/usr/bin/env python3
"""Summarises scripts/sim_to_sim.sh tables: the mean of every figure per
configuration over the seeds, and paired differences between configurations
(the mean over seeds, its 95 % interval by the normal approximation, the t
statistic, and on how many seeds the violations went up and down).

With --frontier FILE (the output of scripts/hpa_frontier.sh for the same
seeds), each agent's violations on the unseen functions are also compared
with the HPA's at the agent's own replica-seconds (the HPA's frontier
interpolated linearly between CPU targets, clamped at its ends): an
equal-cost comparison that a shift along the cost–violation trade-off does
not move.

    scripts/sim_to_sim_stats.py [--reference LABEL] [--frontier FILE] TABLE...
"""
import argparse
import collections
import math
import sys


def cells(line):
    return [x.strip() for x in line.strip().strip('|').split('|')]


def read_tables(paths):
    rows = collections.defaultdict(dict)
    for path in paths:
        for line in open(path):
            p = cells(line)
            if len(p) < 7 or not p[0].isdigit():
                continue
            rows[p[1]][int(p[0])] = dict(sv=float(p[2].rstrip('%')), sr=float(p[3]), av=float(p[4].rstrip('%')),
                                         ar=float(p[5]), t=float(p[6].split()[0]))
    return rows


def read_frontier(path):
    points = collections.defaultdict(list)
    for line in open(path):
        p = cells(line)
        if len(p) < 4 or not p[0].isdigit():
            continue
        points[int(p[0])].append((float(p[3]), float(p[2].rstrip('%'))))
    return {seed: sorted(pts) for seed, pts in points.items()}


def hpa_at(points, rs):
    """The HPA's violations at `rs` replica-seconds, and whether rs lay outside the frontier."""
    if rs <= points[0][0]:
        return points[0][1], rs < points[0][0]
    if rs >= points[-1][0]:
        return points[-1][1], rs > points[-1][0]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= rs <= x1:
            return y0 + (y1 - y0) * (rs - x0) / (x1 - x0) if x1 > x0 else y0, False
    raise AssertionError


def mean_sd(xs):
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, sd


def describe(d, unit):
    m, sd = mean_sd(d)
    if sd == 0:
        return f"{m:+.2f}{unit}"
    h = 1.96 * sd / math.sqrt(len(d))
    return f"{m:+.2f}{unit} [{m - h:+.2f}, {m + h:+.2f}] (t {m / (sd / math.sqrt(len(d))):+.1f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--reference', help='the label the differences are taken against (default: today if present, else the first)')
    ap.add_argument('--frontier', help="scripts/hpa_frontier.sh output for the same seeds")
    ap.add_argument('tables', nargs='+')
    args = ap.parse_args()
    rows = read_tables(args.tables)
    if not rows:
        sys.exit('no sim_to_sim rows in ' + ', '.join(args.tables))
    labels = list(rows)
    reference = args.reference or ('today' if 'today' in rows else labels[0])
    if reference not in rows:
        sys.exit(f'no rows labelled {reference}')
    frontier = read_frontier(args.frontier) if args.frontier else {}
    excess = collections.defaultdict(dict)  # label -> seed -> violations minus the HPA's at the same cost
    outside = collections.Counter()
    for label, by_seed in rows.items():
        for seed, r in by_seed.items():
            if seed in frontier:
                v, out = hpa_at(frontier[seed], r['ar'])
                excess[label][seed] = r['av'] - v
                outside[label] += out

    head = "| configuration | seeds | scarlet-3fn violations | scarlet-3fn replica-seconds | azure-3fn violations (median) | azure-3fn replica-seconds |"
    line = "|---|---:|---:|---:|---:|---:|"
    if frontier:
        head += " azure-3fn: violations minus the HPA's at the same replica-seconds |"
        line += "---:|"
    print(head + " training wall clock |")
    print(line + "---:|")
    for label in labels:
        r = rows[label]
        seeds = sorted(r)
        avg = lambda k: mean_sd([r[s][k] for s in seeds])[0]
        v = sorted(r[s]['av'] for s in seeds)
        n = len(v)
        median = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
        row = (f"| {label} | {n} | {avg('sv'):.2f} % | {avg('sr'):,.0f} | {avg('av'):.2f} % ({median:.2f}) | {avg('ar'):,.0f} |")
        if frontier:
            e = [excess[label][s] for s in seeds if s in excess[label]]
            note = f" ({outside[label]} beyond the frontier)" if outside[label] else ""
            row += f" {mean_sd(e)[0]:+.2f} points{note} |" if e else " |"
        print(row + f" {avg('t'):.1f} s |")

    print()
    head = "| difference (paired over seeds) | seeds | azure-3fn violations | up / down | azure-3fn replica-seconds |"
    line = "|---|---:|---:|---:|---:|"
    if frontier:
        head += " azure-3fn violations minus the HPA's at the same cost |"
        line += "---:|"
    print(head + " scarlet-3fn violations | scarlet-3fn replica-seconds |")
    print(line + "---:|---:|")
    pairs = [(label, reference) for label in labels if label != reference]
    if 'request' in rows and reference != 'request':
        pairs += [(label, 'request') for label in labels if label not in (reference, 'request')]
    for label, ref in pairs:
        seeds = sorted(set(rows[label]) & set(rows[ref]))
        if not seeds:
            continue
        diff = lambda k: [rows[label][s][k] - rows[ref][s][k] for s in seeds]
        rel = lambda k: [100 * (rows[label][s][k] - rows[ref][s][k]) / rows[ref][s][k] for s in seeds]
        av = diff('av')
        row = (f"| {label} − {ref} | {len(seeds)} | {describe(av, ' pt')} | {sum(x > 0 for x in av)} / {sum(x < 0 for x in av)} |"
               f" {describe(rel('ar'), ' %')} |")
        if frontier:
            both = [s for s in seeds if s in excess[label] and s in excess[ref]]
            row += f" {describe([excess[label][s] - excess[ref][s] for s in both], ' pt')} |" if both else " |"
        print(row + f" {describe(diff('sv'), ' pt')} | {describe(rel('sr'), ' %')} |")


if __name__ == '__main__':
    main()
