"""Plain-PyTorch baseline for mynah-train's throughput: the same model, data and optimizer.

Trains embedding -> nn.GRU -> linear on random <BOS>-prefixed windows of the first 90% of a
corpus with Adam and gradient clipping, and prints training chars/s as JSON, so `make
bench-train` can compare mynah-train with PyTorch measured in the same run on the same CPU.

usage: train_baseline.py CORPUS [--steps N] [--batch B] [--seq-len T] [--hidden H] [--embed E]
"""

import argparse
import json
import time

import torch
from torch import nn

BOS, FIRST_CHAR = 1, 3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--embed", type=int, default=32)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1)

    text = open(args.corpus, encoding="utf-8").read()
    train = text[: len(text) * 9 // 10]
    chars = sorted(set(train))
    ids = {c: FIRST_CHAR + i for i, c in enumerate(chars)}
    data = torch.tensor([ids[c] for c in train], dtype=torch.long)
    vocab = FIRST_CHAR + len(chars)

    embed = nn.Embedding(vocab, args.embed)
    rnn = nn.GRU(args.embed, args.hidden, args.layers, batch_first=True)
    proj = nn.Linear(args.hidden, vocab)
    params = [*embed.parameters(), *rnn.parameters(), *proj.parameters()]
    opt = torch.optim.Adam(params, lr=3e-3)

    def step():
        starts = torch.randint(0, len(data) - args.seq_len - 1, (args.batch,))
        windows = torch.stack([data[s : s + args.seq_len] for s in starts.tolist()])
        x = torch.cat([torch.full((args.batch, 1), BOS), windows[:, :-1]], dim=1)
        out, _ = rnn(embed(x))
        loss = nn.functional.cross_entropy(proj(out).reshape(-1, vocab), windows.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    elapsed = time.perf_counter() - start
    chars = args.steps * args.batch * args.seq_len
    print(json.dumps({"chars_per_sec": chars / elapsed, "steps": args.steps, "seconds": elapsed, "loss": loss}))


if __name__ == "__main__":
    main()
