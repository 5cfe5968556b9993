"""Models trained in plain PyTorch, for `mynah-train import` tests.

Writes into OUTDIR:
  vocab.json                the characters of ids 3, 4, ... in the models' id order: first
                            appearance in the corpus (like torchtext's `vocab(Counter)`), so
                            NOT sorted, which import must fix by permuting rows
  textgen.safetensors       the seed tutorial's TextGenerator (embedding -> GRU -> linear),
                            2 layers, trained for --steps steps
  textgen.pt                the same state_dict saved with torch.save(dict(...)) (a plain dict)
  textgen_ordered.pt        the same saved with torch.save(model.state_dict()) (an OrderedDict)
  textgen_traced.pt         the same model as TorchScript: torch.jit.save(torch.jit.trace(...))
  onehot_gru.safetensors    the Microsoft tutorial's generator with a GRU instead of its LSTM:
                            one-hot input, no embedding, output layer named `fc`
  lstm.safetensors          the Microsoft tutorial's LSTMGenerator as written (one-hot nn.LSTM)
  bidirectional.safetensors a bidirectional nn.GRU (untrained), which import must refuse
  losses.json               {"textgen", "onehot_gru", "lstm": nats/char} of the validation
                            split (the last 10% of the characters) by mynah's evaluation
                            convention, computed here by PyTorch with the models' own ids

All of them use mynah's own ids (<PAD>, <BOS>, <EOS> at 0-2, then the characters), the
layout of mynah's exports; tests/pytorch/seed_models.py has the tutorials' own vocabularies.

usage: import_fixtures.py CORPUS OUTDIR [--steps N]
"""

import argparse
import json
import os

import torch
from safetensors.torch import save_file
from torch import nn

from textgen import BOS, FIRST_CHAR, TextGenerator


class OneHotGenerator(nn.Module):
    """The Microsoft tutorial's LSTMGenerator, with nn.GRU (or its nn.LSTM when lstm=True)."""

    def __init__(self, vocab_size, hidden, lstm=False):
        super().__init__()
        self.vocab_size = vocab_size
        cell = nn.LSTM if lstm else nn.GRU
        self.rnn = cell(vocab_size, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, vocab_size)

    def forward(self, x, s=None):
        x = nn.functional.one_hot(x, self.vocab_size).to(torch.float32)
        x, s = self.rnn(x, s)
        return self.fc(x), s


def train(model, data, vocab_size, steps, seq_len=48, batch=16, lr=1e-2):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        starts = torch.randint(0, len(data) - seq_len - 1, (batch,))
        windows = torch.stack([data[s : s + seq_len] for s in starts.tolist()])
        x = torch.cat([torch.full((batch, 1), BOS), windows[:, :-1]], dim=1)
        logits, _ = model(x)
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab_size), windows.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    model.eval()


def val_loss(model, tokens):
    """nats/char of <BOS> + tokens from a zero state, every character scored."""
    with torch.no_grad():
        x = torch.tensor([[BOS] + tokens[:-1]])
        logits, _ = model(x)
        nll = nn.functional.cross_entropy(
            logits[0].double(), torch.tensor(tokens), reduction="sum"
        )
    return nll.item() / len(tokens)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("outdir")
    ap.add_argument("--steps", type=int, default=150)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(5)
    os.makedirs(args.outdir, exist_ok=True)
    out = lambda name: os.path.join(args.outdir, name)

    text = open(args.corpus, encoding="utf-8").read()
    chars = list(dict.fromkeys(text))
    assert chars != sorted(chars), "the fixture must exercise an unsorted vocabulary"
    ids = {c: FIRST_CHAR + i for i, c in enumerate(chars)}
    vocab_size = FIRST_CHAR + len(chars)
    cut = len(text) * 9 // 10
    data = torch.tensor([ids[c] for c in text[:cut]], dtype=torch.long)
    val = [ids[c] for c in text[cut:]]
    with open(out("vocab.json"), "w", encoding="utf-8") as f:
        json.dump(chars, f, ensure_ascii=False)

    textgen = TextGenerator(vocab_size, 8, 32, 2)
    train(textgen, data, vocab_size, args.steps)
    state = {k: v.contiguous() for k, v in textgen.state_dict().items()}
    save_file(state, out("textgen.safetensors"))
    torch.save(dict(state), out("textgen.pt"))
    torch.save(textgen.state_dict(), out("textgen_ordered.pt"))
    example = torch.tensor([[BOS, FIRST_CHAR]])
    torch.jit.save(torch.jit.trace(textgen, example), out("textgen_traced.pt"))

    onehot = OneHotGenerator(vocab_size, 24)
    train(onehot, data, vocab_size, args.steps)
    save_file(dict(onehot.state_dict()), out("onehot_gru.safetensors"))

    lstm = OneHotGenerator(vocab_size, 16, lstm=True)
    train(lstm, data, vocab_size, args.steps)
    save_file(dict(lstm.state_dict()), out("lstm.safetensors"))

    bidirectional = TextGenerator(vocab_size, 8, 16, 1)
    bidirectional.rnn = nn.GRU(8, 16, 1, batch_first=True, bidirectional=True)
    save_file(dict(bidirectional.state_dict()), out("bidirectional.safetensors"))

    losses = {
        "textgen": val_loss(textgen, val),
        "onehot_gru": val_loss(onehot, val),
        "lstm": val_loss(lstm, val),
    }
    with open(out("losses.json"), "w") as f:
        json.dump(losses, f)
    print(json.dumps(losses))


if __name__ == "__main__":
    main()
