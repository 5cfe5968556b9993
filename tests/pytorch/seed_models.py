"""The seed tutorials' char-level models, built, trained and saved the way their users do, for
`mynah-train import` tests (tests/tests/seed_models.rs, scripts/seed-models-check.sh).

Each model keeps its tutorial's class name, module names, input form (embedding or one-hot)
and vocabulary form:

  csc321_textgen      CSC321 `TextGenerator` (tweet generator): embed (nn.Embedding) -> rnn
                      (nn.GRU) -> proj; vocabulary list(set(text)) + ["<BOS>", "<EOS>"]
                      (unsorted, specials at the end, no <PAD>) as a JSON array; one tweet per
                      line (records); saved with torch.save(dict(model.state_dict())).
  ms_lstm_generator   Microsoft `LSTMGenerator`: one-hot -> rnn (nn.LSTM(vocab_size, H,
                      batch_first=True)) -> fc; torchtext vocabulary (<unk> = 0, <pad> = 1,
                      then the characters by frequency) as vocab.get_stoi(); text; primed
                      with "today "; safetensors.
  toy_rnn             `ToyRNN`: one-hot over h, e, l, o -> rnn (nn.RNN, tanh) -> fc; no special
                      tokens; trained on "hello" until it predicts it; vocabulary the list
                      ["h", "e", "l", "o"]; TorchScript (torch.jit.trace).
  newsgroups_lstm     20 Newsgroups `lstm_char_predict`: one-hot -> lstm (nn.LSTM(V, H, 2,
                      batch_first=True, dropout=0.5)) -> output (nn.Linear); vocabulary
                      dict(enumerate(set(chars))) as its JSON (an itos dict); text; safetensors.

Also toy_rnn_relu.pt: the ToyRNN built with nonlinearity='relu', as TorchScript (import must
refuse it: mynah's RNN cell is tanh).

usage: seed_models.py CORPUS HELLO_CORPUS OUTDIR [--steps N]

CORPUS is read as text (the Microsoft and 20 Newsgroups models) and as lines (the CSC321
tweets); HELLO_CORPUS holds "hello" lines. Writes the weights and OUTDIR/<name>.vocab.json,
and OUTDIR/manifest.json (also printed):
  {name: {"class", "weights", "vocab", "mode", "corpus", "prime", "pytorch_val_loss"}}
where pytorch_val_loss is the validation loss (nats/char) by mynah's evaluation convention,
computed here by PyTorch with the model's own ids: the last 10% (characters in text mode,
records in lines mode); each text or record from a zero state, <BOS> first when the model has
one (else its first character is fed, not scored), <EOS> last for records when it has one.
"""

import argparse
import collections
import json
import os

import torch
from safetensors.torch import save_file
from torch import nn
from torch.nn import functional as F


# --- the tutorials' models ---------------------------------------------------------------


class TextGenerator(nn.Module):
    """CSC321's tweet generator."""

    def __init__(self, vocab_size, emb_size, hidden_size, num_layers=1):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, emb_size)
        self.rnn = nn.GRU(emb_size, hidden_size, num_layers, batch_first=True)
        self.proj = nn.Linear(hidden_size, vocab_size)

    def forward(self, inp, hidden=None):
        out, hidden = self.rnn(self.embed(inp), hidden)
        return self.proj(out), hidden


class LSTMGenerator(nn.Module):
    """Microsoft's generative network: one-hot characters into an LSTM."""

    def __init__(self, vocab_size, hidden_dim):
        super().__init__()
        self.vocab_size = vocab_size
        self.rnn = nn.LSTM(vocab_size, hidden_dim, batch_first=True)
        self.fc = nn.Linear(hidden_dim, vocab_size)

    def forward(self, x, s=None):
        x = F.one_hot(x, self.vocab_size).to(torch.float32)
        x, s = self.rnn(x, s)
        return self.fc(x), s


class ToyRNN(nn.Module):
    """The "hello" toy: one-hot input of 4 characters, a tanh RNN (or relu, to be refused)."""

    def __init__(self, input_size, hidden_size, nonlinearity="tanh"):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size, batch_first=True, nonlinearity=nonlinearity)
        self.fc = nn.Linear(hidden_size, input_size)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out)


class lstm_char_predict(nn.Module):  # noqa: N801 (the notebook's name)
    """The 20 Newsgroups notebook's character LSTM: one-hot input, dropout between layers."""

    def __init__(self, tokens, n_hidden=48, n_layers=2, drop_prob=0.5):
        super().__init__()
        self.chars = tokens
        self.int2char = dict(enumerate(self.chars))
        self.char2int = {ch: ii for ii, ch in self.int2char.items()}
        self.n_hidden = n_hidden
        self.lstm = nn.LSTM(len(self.chars), n_hidden, n_layers, dropout=drop_prob, batch_first=True)
        self.dropout = nn.Dropout(drop_prob)
        self.output = nn.Linear(n_hidden, len(self.chars))

    def forward(self, x, hidden=None):
        r_output, hidden = self.lstm(x, hidden)
        out = self.dropout(r_output)
        return self.output(out), hidden


# --- mynah's splits and evaluation convention --------------------------------------------


def train_count(n):
    """mynah's split point: floor(0.9 n), at least 1 and at most n - 1."""
    return min(max(n * 9 // 10, 1), max(n - 1, 1))


def records_of(text):
    """mynah's lines mode: every non-empty line, without a trailing '\\r'."""
    lines = (line.removesuffix("\r") for line in text.split("\n"))
    return [line for line in lines if line]


def parts(text, mode):
    """(training streams, validation streams)."""
    if mode == "text":
        cut = train_count(len(text))
        return [text[:cut]], [text[cut:]]
    records = records_of(text)
    cut = train_count(len(records))
    return records[:cut], records[cut:]


def mynah_loss(logits_of, stoi, streams, records):
    """nats/char of `streams` by mynah's evaluation convention; `logits_of(ids)` gives the
    logits [T, V] of the ids fed from a zero state."""
    bos, eos = stoi.get("<BOS>"), stoi.get("<EOS>")
    total, count = 0.0, 0
    with torch.no_grad():
        for s in streams:
            seq = ([bos] if bos is not None else []) + [stoi[c] for c in s]
            if records and eos is not None:
                seq.append(eos)
            if len(seq) < 2:
                continue
            logits = logits_of(seq[:-1])
            target = torch.tensor(seq[1:])
            total += F.cross_entropy(logits.double(), target, reduction="sum").item()
            count += len(seq) - 1
    return total / count


# --- training ----------------------------------------------------------------------------


def windows(ids, batch, seq_len):
    """Random windows of seq_len + 1 ids: (inputs, targets), each [batch, seq_len]."""
    starts = torch.randint(0, len(ids) - seq_len - 1, (batch,)).tolist()
    w = torch.stack([ids[s : s + seq_len + 1] for s in starts])
    return w[:, :-1], w[:, 1:]


def fit(model, batches, steps, lr=1e-2):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        logits, target = batches()
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    model.eval()


def csc321_textgen(corpus, out, steps):
    text = open(corpus, encoding="utf-8").read()
    train, val = parts(text, "lines")
    vocab = list(set("".join(records_of(text)))) + ["<BOS>", "<EOS>"]
    stoi = {t: i for i, t in enumerate(vocab)}
    bos, eos = stoi["<BOS>"], stoi["<EOS>"]
    model = TextGenerator(len(vocab), 16, 64)

    def batches():
        picks = torch.randint(0, len(train), (16,)).tolist()
        seqs = [[bos] + [stoi[c] for c in train[i]] + [eos] for i in picks]
        width = max(len(s) for s in seqs) - 1
        # No <PAD>: inputs are padded with <EOS>, whose targets are ignored.
        x = torch.tensor([s[:-1] + [eos] * (width - len(s) + 1) for s in seqs])
        y = torch.tensor([s[1:] + [-100] * (width - len(s) + 1) for s in seqs])
        return model(x)[0], y

    fit(model, batches, steps)
    torch.save(dict(model.state_dict()), out("csc321_textgen.pt"))
    loss = mynah_loss(lambda ids: model(torch.tensor([ids]))[0][0], stoi, val, True)
    return vocab, "csc321_textgen.pt", "lines", "the ", loss


def ms_lstm_generator(corpus, out, steps):
    text = open(corpus, encoding="utf-8").read()
    train, val = parts(text, "text")
    # torchtext.vocab.build_vocab_from_iterator(..., specials=["<unk>", "<pad>"]): the
    # specials, then the tokens by decreasing frequency (ties alphabetically).
    counts = collections.Counter(text)
    by_freq = sorted(counts, key=lambda c: (-counts[c], c))
    itos = ["<unk>", "<pad>"] + by_freq
    stoi = {t: i for i, t in enumerate(itos)}
    model = LSTMGenerator(len(itos), 64)
    ids = torch.tensor([stoi[c] for c in train[0]])

    def batches():
        x, y = windows(ids, 16, 64)
        return model(x)[0], y

    fit(model, batches, steps)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out("ms_lstm_generator.safetensors"))
    loss = mynah_loss(lambda ids: model(torch.tensor([ids]))[0][0], stoi, val, False)
    return stoi, "ms_lstm_generator.safetensors", "text", "today ", loss


def toy_rnn(corpus, out, steps):
    text = open(corpus, encoding="utf-8").read()
    _, val = parts(text, "lines")
    idx2char = ["h", "e", "l", "o"]
    char2idx = {c: i for i, c in enumerate(idx2char)}
    eye = torch.eye(len(idx2char))
    x = eye[[char2idx[c] for c in "hell"]].unsqueeze(0)
    y = torch.tensor([[char2idx[c] for c in "ello"]])
    model = ToyRNN(4, 8)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    learned = None
    for step in range(max(steps, 1000)):
        logits = model(x)
        if "".join(idx2char[i] for i in logits[0].argmax(-1).tolist()) == "ello":
            learned = step
            break
        loss = F.cross_entropy(logits[0], y[0])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert learned is not None, "the ToyRNN did not learn 'hello'"
    model.eval()
    torch.jit.save(torch.jit.trace(model, x), out("toy_rnn.pt"))
    relu = ToyRNN(4, 8, nonlinearity="relu")
    torch.jit.save(torch.jit.trace(relu, x), out("toy_rnn_relu.pt"))
    loss = mynah_loss(lambda ids: model(eye[ids].unsqueeze(0))[0], char2idx, val, True)
    return idx2char, "toy_rnn.pt", "lines", "h", loss


def newsgroups_lstm(corpus, out, steps):
    text = open(corpus, encoding="utf-8").read()
    train, val = parts(text, "text")
    chars = tuple(set(text))
    model = lstm_char_predict(chars)
    ids = torch.tensor([model.char2int[c] for c in train[0]])
    one_hot = lambda t: F.one_hot(t, len(chars)).to(torch.float32)

    def batches():
        x, y = windows(ids, 16, 64)
        return model(one_hot(x))[0], y

    fit(model, batches, steps)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out("newsgroups_lstm.safetensors"))
    loss = mynah_loss(lambda ids: model(one_hot(torch.tensor([ids])))[0][0], model.char2int, val, False)
    return model.int2char, "newsgroups_lstm.safetensors", "text", "the ", loss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("hello")
    ap.add_argument("outdir")
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.outdir, exist_ok=True)
    out = lambda name: os.path.join(args.outdir, name)

    manifest = {}
    seeds = [
        ("csc321_textgen", "TextGenerator", csc321_textgen, args.corpus),
        ("ms_lstm_generator", "LSTMGenerator", ms_lstm_generator, args.corpus),
        ("toy_rnn", "ToyRNN", toy_rnn, args.hello),
        ("newsgroups_lstm", "lstm_char_predict", newsgroups_lstm, args.corpus),
    ]
    for i, (name, cls, build, corpus) in enumerate(seeds):
        torch.manual_seed(100 + i)
        vocab, weights, mode, prime, loss = build(corpus, out, args.steps)
        with open(out(f"{name}.vocab.json"), "w", encoding="utf-8") as f:
            json.dump(vocab, f, ensure_ascii=False)
        manifest[name] = {
            "class": cls,
            "weights": out(weights),
            "vocab": out(f"{name}.vocab.json"),
            "mode": mode,
            "corpus": os.path.abspath(corpus),
            "prime": prime,
            "pytorch_val_loss": loss,
        }
    with open(out("manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
    print(json.dumps(manifest, ensure_ascii=False))


if __name__ == "__main__":
    main()
