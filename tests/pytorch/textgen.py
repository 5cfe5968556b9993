"""Score a mynah safetensors export with plain PyTorch, by mynah's evaluation convention.

The model classes are the seed tutorials' own: the CSC321 `TextGenerator` (embedding ->
nn.GRU / nn.LSTM / nn.RNN -> linear) and the 20 Newsgroups notebook's n-gram MLP (the
embeddings of the last N characters, concatenated -> linear -> ReLU or tanh -> linear),
so this proves a PyTorch user can load what `mynah-train export --safetensors` writes.

The metadata says which: `arch` (gru, lstm, rnn, ngram; absent = gru), `context` and
`activation` (ngram), and `vocab`, the token of every id in id order (specials included;
exports of mynah before format version 2 listed only the characters, after `specials`).

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

# mynah's own id layout (every model it trains): <PAD> = 0, <BOS> = 1, <EOS> = 2, characters from 3.
PAD, BOS, EOS, FIRST_CHAR = 0, 1, 2, 3

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}


class TextGenerator(nn.Module):
    def __init__(self, vocab_size, emb_size, hidden_size, num_layers, cell="gru"):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, emb_size)
        self.rnn = CELLS[cell](emb_size, hidden_size, num_layers, batch_first=True)
        self.proj = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens, hidden=None):
        out, hidden = self.rnn(self.embed(tokens), hidden)
        return self.proj(out), hidden


class NgramMLP(nn.Module):
    """The last `context` tokens' embeddings, oldest first, concatenated -> hidden -> proj."""

    def __init__(self, vocab_size, emb_size, context, hidden_size, activation, bos):
        super().__init__()
        self.context, self.bos = context, bos
        self.embed = nn.Embedding(vocab_size, emb_size)
        self.hidden = nn.Linear(context * emb_size, hidden_size)
        self.act = nn.ReLU() if activation == "relu" else nn.Tanh()
        self.proj = nn.Linear(hidden_size, vocab_size)

    def forward(self, tokens, hidden=None):
        # `hidden` carries the last context-1 ids of the previous chunk; a sequence starts
        # with a context of <BOS> only.
        batch = tokens.shape[0]
        if hidden is None:
            hidden = torch.full((batch, self.context - 1), self.bos, dtype=tokens.dtype)
        ids = torch.cat([hidden, tokens], dim=1)
        windows = ids.unfold(1, self.context, 1)  # [B, T, context], oldest first
        x = self.embed(windows).flatten(2)
        out = self.proj(self.act(self.hidden(x)))
        return out, ids[:, ids.shape[1] - (self.context - 1) :]


def id_order(meta):
    """Every id's token, in id order."""
    vocab = json.loads(meta["vocab"])
    if "specials" in meta and not any(len(t) > 1 for t in vocab):
        vocab = json.loads(meta["specials"]) + vocab  # the layout before format version 2
    return vocab


def load(path):
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    tokens = id_order(meta)
    state = load_file(path)
    vocab_size, emb = state["embed.weight"].shape
    assert vocab_size == len(tokens), f"{len(tokens)} tokens for {vocab_size} rows"
    arch = meta.get("arch", "gru")
    if arch == "ngram":
        context = int(meta["context"])
        hidden = state["hidden.weight"].shape[0]
        model = NgramMLP(vocab_size, emb, context, hidden, meta["activation"], tokens.index("<BOS>"))
    else:
        hidden = state["rnn.weight_hh_l0"].shape[1]
        layers = sum(1 for k in state if k.startswith("rnn.weight_hh_l"))
        model = TextGenerator(vocab_size, emb, hidden, layers, arch)
    model.load_state_dict(state)
    model.eval()
    return model, tokens


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


def score(model, tokens, streams, records):
    """Total nats and scored symbols: each stream from a zero state, <BOS> first when the
    model has one (else its first character is fed, not scored), <EOS> last for records."""
    ids = {t: i for i, t in enumerate(tokens)}
    total_nats, count = 0.0, 0
    with torch.no_grad():
        for s in streams:
            seq = [ids["<BOS>"]] if "<BOS>" in ids else []
            seq += [ids[c] for c in s]
            if records and "<EOS>" in ids:
                seq.append(ids["<EOS>"])
            h = None
            # Chunks with the state carried through score exactly the whole stream.
            for start in range(0, len(seq) - 1, 4096):
                chunk = seq[start : start + 4097]
                x = torch.tensor([chunk[:-1]])
                y = torch.tensor(chunk[1:])
                logits, h = model(x, h)
                nll = nn.functional.cross_entropy(logits[0].double(), y, reduction="sum")
                total_nats += nll.item()
                count += len(chunk) - 1
    return total_nats, count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("corpus")
    ap.add_argument("--mode", default="text", choices=["text", "lines"])
    ap.add_argument("--split", default="val", choices=["val", "all"])
    args = ap.parse_args()

    model, tokens = load(args.model)
    with open(args.corpus, encoding="utf-8") as f:
        text = f.read()
    streams, records = sequences(text, args.mode, args.split)
    total_nats, count = score(model, tokens, streams, records)
    nats = total_nats / count
    print(json.dumps({"nats_per_char": nats, "bits_per_char": nats / math.log(2), "chars": count}))


if __name__ == "__main__":
    main()
