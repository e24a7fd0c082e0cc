"""Generate a long valid spec for benchmarks: N layers in a chain with a few
branches and merges, the mix of ops a real model has."""
from __future__ import annotations

import sys

PATTERN = [
    "  - Dense: {{units: 64, activation: relu, name: d{i}}}",
    "  - Dropout: {{rate: 0.1, name: drop{i}}}",
    "  - Dense: {{units: 64, kernel_regularizer: {{l2: 0.001}}, name: e{i}}}",
    "  - Add: {{from: [d{i}, e{i}], name: add{i}}}",
    "  - LayerNormalization: {{name: norm{i}}}",
]


def spec(n_layers: int) -> str:
    lines = ["nnspec: 1", f"name: chain_{n_layers}", "inputs:", "  x: [64]", "layers:"]
    i = 0
    count = 0
    while count < n_layers:
        for line in PATTERN:
            if count == n_layers:
                break
            lines.append(line.format(i=i))
            count += 1
        i += 1
    lines.append("  - Dense: {units: 1, name: out}")
    lines += ["outputs:", "  out: {loss: mse}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    out = sys.argv[2] if len(sys.argv) > 2 else "-"
    text = spec(n)
    if out == "-":
        sys.stdout.write(text)
    else:
        with open(out, "w") as f:
            f.write(text)
