"""Score a mynah safetensors export with plain PyTorch, by mynah's evaluation convention.

The model class is the seed tutorial's `TextGenerator` (embedding -> nn.GRU -> linear), so this
proves a PyTorch user can load what `mynah-train export --safetensors` writes.

usage: textgen.py MODEL.safetensors CORPUS --mode text|lines [--split val|all]
prints one JSON object: {"nats_per_char": x, "bits_per_char": y, "chars": n}
"""

import argparse
import json
import math

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

PAD, BOS, EOS, FIRST_CHAR = 0, 1, 2, 3


class TextGenerator(nn.Module):
    def __init__(self, vocab_size, emb_size, hidden_size, num_layers):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, emb_size)
        self.rnn = nn.GRU(emb_size, hidden_size, num_layers, batch_first=True)
        self.proj = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens, hidden=None):
        out, hidden = self.rnn(self.embed(tokens), hidden)
        return self.proj(out), hidden


def sequences(text, mode, split):
    """The token streams to score: text = one stream, records = one per record."""
    if mode == "text":
        if split == "val":
            text = text[len(text) * 9 // 10 :]
        return [text], False
    records = [line for line in text.split("\n") if line.strip()]
    if split == "val":
        records = records[len(records) * 9 // 10 :]
    return records, True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("corpus")
    ap.add_argument("--mode", default="text", choices=["text", "lines"])
    ap.add_argument("--split", default="val", choices=["val", "all"])
    args = ap.parse_args()

    with safe_open(args.model, framework="pt") as f:
        meta = f.metadata()
    vocab = json.loads(meta["vocab"])
    ids = {c: FIRST_CHAR + i for i, c in enumerate(vocab)}
    state = load_file(args.model)
    vocab_size, emb = state["embed.weight"].shape
    hidden = state["rnn.weight_hh_l0"].shape[1]
    layers = sum(1 for k in state if k.startswith("rnn.weight_hh_l"))
    model = TextGenerator(vocab_size, emb, hidden, layers)
    model.load_state_dict(state)
    model.eval()

    with open(args.corpus, encoding="utf-8") as f:
        text = f.read()
    streams, records = sequences(text, args.mode, args.split)
    total_nats, count = 0.0, 0
    with torch.no_grad():
        for s in streams:
            tokens = [BOS] + [ids[c] for c in s] + ([EOS] if records else [])
            h = None
            # Chunks with the hidden state carried through score exactly the whole stream.
            for start in range(0, len(tokens) - 1, 4096):
                chunk = tokens[start : start + 4097]
                x = torch.tensor([chunk[:-1]])
                y = torch.tensor(chunk[1:])
                logits, h = model(x, h)
                nll = nn.functional.cross_entropy(logits[0].double(), y, reduction="sum")
                total_nats += nll.item()
                count += len(chunk) - 1
    nats = total_nats / count
    print(json.dumps({"nats_per_char": nats, "bits_per_char": nats / math.log(2), "chars": count}))


if __name__ == "__main__":
    main()
