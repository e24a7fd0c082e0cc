"""Differential fuzzing campaign (the long profile of tests/fuzz/test_differential.py).

    python bench/fuzz_campaign.py --graphs 10000 --seed 1            # resumes where it stopped
    python bench/fuzz_campaign.py --graphs 200 --seed 7 --train 0.25 --check 0.05 --minimise

Graph i of seed S is always the same graph (graphs.RandomDraw((S, i))), so a
campaign resumes from bench/out/fuzz/progress-S.jsonl: one line per graph
(status, disagreements), appended as it goes. Prints accepted / refused counts,
disagreements grouped by cause (with their oracle.LABELS label where a cause is
written up already: every one counts), and graphs per second; writes up to
three failing specs per cause, with their graph JSON, to bench/out/fuzz/<cause>/
(gitignored). ``--minimise`` also shrinks one spec per unlabelled cause (drops
outputs, dead layers and optional arguments while the cause stays) and writes
it as min.yaml. Exit status 1 when any graph disagrees.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# as tests/conftest.py: Keras on the kernels every CPU has (oneDNN runs some that fail elsewhere)
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def slug(cause: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", cause)[:90].strip("-")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--graphs", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-layers", type=int, default=8)
    p.add_argument("--train", type=float, default=1.0, help="fraction of accepted graphs given a training step")
    p.add_argument("--check", type=float, default=0.05, help="fraction of accepted graphs run through `nnspec check`")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "out", "fuzz"))
    p.add_argument("--fresh", action="store_true", help="ignore earlier progress for this seed")
    p.add_argument("--minimise", action="store_true", help="shrink one failing spec per unlabelled cause")
    args = p.parse_args(argv)

    warnings.filterwarnings("ignore")
    import keras
    import yaml

    from tests.fuzz.graphs import RandomDraw, generate, to_doc
    from tests.fuzz.oracle import label_of, run_graph
    keras.config.disable_interactive_logging()

    os.makedirs(args.out, exist_ok=True)
    progress_path = os.path.join(args.out, f"progress-{args.seed}.jsonl")
    done = {}
    if os.path.exists(progress_path) and not args.fresh:
        with open(progress_path) as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a line cut short by an interruption
                done[row["i"]] = row
    elif args.fresh and os.path.exists(progress_path):
        os.remove(progress_path)
    todo = [i for i in range(args.graphs) if i not in done]
    print(f"seed {args.seed}: {len(done)} graphs done earlier, {len(todo)} to run", flush=True)
    examples = collections.defaultdict(list)
    t0, ran = time.perf_counter(), 0
    with open(progress_path, "a") as log:
        for i in todo:
            graph = generate(RandomDraw(f"{args.seed}-{i}"), max_layers=args.max_layers)
            pick = RandomDraw(f"oracle-{args.seed}-{i}")
            result = run_graph(graph, train=pick.bool(args.train), check_cmd=pick.bool(args.check), seed=i)
            keras.backend.clear_session()
            ran += 1
            rows = []
            for cause, detail in result.disagreements:
                label = label_of(graph, cause, detail)
                rows.append({"cause": cause, "known": label, "detail": detail[:500]})
                folder = os.path.join(args.out, slug(f"{label or 'NEW'} {cause}"))
                os.makedirs(folder, exist_ok=True)
                if len(os.listdir(folder)) < 6:  # three examples (spec and graph) per cause
                    with open(os.path.join(folder, f"{args.seed}-{i}.yaml"), "w") as f:
                        f.write(f"# {cause}\n# {detail[:300]!r}\n" + result.text)
                    with open(os.path.join(folder, f"{args.seed}-{i}.json"), "w") as f:
                        json.dump(graph, f)
                if label is None:
                    examples[cause].append(graph)
            row = {"i": i, "status": result.status, "trained": result.trained, "disagreements": rows}
            if result.status == "refused-shape":
                row["codes"], row["keras"] = result.codes, result.keras
            if rows:
                row["graph"] = graph  # so a later report can re-classify with an updated oracle
            done[i] = row
            log.write(json.dumps(row) + "\n")
            log.flush()
            if ran % 25 == 0:
                rate = ran / (time.perf_counter() - t0)
                bad = sum(bool(r["disagreements"]) for r in done.values())
                print(f"  {len(done)} graphs, {bad} with disagreements, {rate:.2f} graphs/s", flush=True)
    elapsed = time.perf_counter() - t0
    for row in done.values():  # re-label with the current oracle.LABELS
        for x in row["disagreements"]:
            if "graph" in row:
                x["known"] = label_of(row["graph"], x["cause"], x["detail"])
    bad = report(done, ran, elapsed)
    if args.minimise:
        from tests.fuzz.minimise import minimise
        for cause, graphs in examples.items():
            small = minimise(graphs[0], cause)
            folder = os.path.join(args.out, slug(f"NEW {cause}"))
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "min.yaml"), "w") as f:
                f.write(f"# {cause}\n" + yaml.safe_dump(to_doc(small), sort_keys=False))
            print(f"minimised: {folder}/min.yaml")
    return 1 if bad else 0


def report(done: dict, ran: int, elapsed: float) -> int:
    """Prints the campaign's figures; returns the number of graphs with a disagreement."""
    status = collections.Counter(r["status"] for r in done.values())
    graphs_bad = sum(bool(r["disagreements"]) for r in done.values())
    by_cause = collections.Counter()
    known = collections.Counter()
    for r in done.values():
        for d in {(x["known"], x["cause"]) for x in r["disagreements"]}:  # a cause once per graph
            if d[0]:
                known[d[0]] += 1
            else:
                by_cause[d[1]] += 1
    n = len(done)
    print(f"\ngraphs: {n}  accepted: {status['accepted']}  refused for shape reasons: {status['refused-shape']}"
          f"  refused otherwise: {status['refused-other']}  internal: {status['internal']}")
    print(f"trained (one train_on_batch): {sum(r.get('trained', False) for r in done.values())}")
    print(f"graphs with a disagreement: {graphs_bad} ({100 * graphs_bad / max(n, 1):.1f}%)")
    print("disagreements by cause (graphs; a graph can have several causes):")
    for label, k in known.most_common():
        print(f"  {k:5d}  {label}")
    for cause, k in by_cause.most_common():
        print(f"  {k:5d}  NEW {cause}")
    if ran:
        print(f"this run: {ran} graphs in {elapsed:.0f} s, {ran / elapsed:.2f} graphs/s")
    return graphs_bad


if __name__ == "__main__":
    sys.exit(main())
