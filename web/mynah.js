// mynah in the browser: the C ABI of capi/ (include/mynah.h) compiled to WebAssembly, and a
// small wrapper that lays the handles out in the module's memory. No allocator: memory past
// __heap_base is ours, laid out again for every model.

const OK = 0;
const EOS = 1;
const ARCHS = ['GRU', 'LSTM', 'tanh RNN', 'n-gram MLP'];
const ACTIVATIONS = ['', 'ReLU', 'tanh'];
const INFO_FIELDS = [
  'version', 'arch', 'weights', 'records', 'vocab_size', 'embed_dim', 'hidden_dim',
  'num_layers', 'context', 'activation', 'specials', 'first_char_id', 'bos', 'eos',
  'tensor_count', 'file_size', 'checksum', 'state_bytes', 'scratch_bytes', 'stream_bytes',
  'runnable', 'factored',
];
const SPECIALS = [[1, '<PAD>'], [2, '<BOS>'], [4, '<EOS>'], [8, '<UNK>']];

const utf8 = new TextDecoder('utf-8');
const encoder = new TextEncoder();

/** Thrown for a status other than OK/EOS; `message` is the runtime's own sentence. */
export class MynahError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export class Mynah {
  static async load(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: ${response.status} ${response.statusText}`);
    const { instance } = await WebAssembly.instantiate(await response.arrayBuffer(), {});
    return new Mynah(instance.exports);
  }

  constructor(exports) {
    this.e = exports;
    this.base = exports.__heap_base.value;
    this.model = 0;
    this.stream = 0;
  }

  // --- memory -------------------------------------------------------------------------------

  alloc(bytes, align = 8) {
    this.top = Math.ceil(this.top / align) * align;
    const at = this.top;
    this.top += bytes;
    const short = this.top - this.e.memory.buffer.byteLength;
    if (short > 0) this.e.memory.grow(Math.ceil(short / 65536));
    return at;
  }

  u8(at, n) { return new Uint8Array(this.e.memory.buffer, at, n); }
  u32(at) { return new Uint32Array(this.e.memory.buffer, at, 1)[0]; }
  usize(at) { return this.u32(at); }

  text(at, n) { return utf8.decode(this.u8(at, n)); }

  cString(at, cap) {
    const bytes = this.u8(at, cap);
    const end = bytes.indexOf(0);
    return utf8.decode(bytes.subarray(0, end < 0 ? cap : end));
  }

  statusMessage(status) {
    const at = this.e.mynah_status_message(status);
    return this.cString(at, 400);
  }

  check(status, detail) {
    if (status === OK || status === EOS) return status;
    throw new MynahError(status, detail ? detail() : this.statusMessage(status));
  }

  // --- models -------------------------------------------------------------------------------

  /** Loads a model file (bytes); returns its card. Throws MynahError for a refused file
   *  (with the card still in `error.card` when the file parsed, e.g. a float one). */
  loadModel(bytes) {
    const e = this.e;
    this.top = this.base;
    this.model = this.stream = 0;
    this.io = this.alloc(64);
    this.msg = this.alloc(2048);
    this.out = this.alloc(1 << 16);
    const handle = this.alloc(e.mynah_model_bytes());
    const file = this.alloc(bytes.length, 64);
    this.u8(file, bytes.length).set(bytes);
    const status = e.mynah_model_load(handle, e.mynah_model_bytes(), file, bytes.length, this.io);
    const card = this.card(handle);
    if (status !== OK) {
      const n = e.mynah_model_message(handle, this.msg, 2048);
      const err = new MynahError(status, this.cString(this.msg, Math.min(n + 1, 2048)));
      err.card = card;
      throw err;
    }
    this.model = handle;
    this.info = card.info;
    this.mark = this.top;
    return card;
  }

  card(handle) {
    const e = this.e;
    const infoAt = this.alloc(4 * INFO_FIELDS.length);
    if (e.mynah_model_info(handle, infoAt) !== OK) return null;
    const words = new Uint32Array(e.memory.buffer, infoAt, INFO_FIELDS.length);
    const info = {};
    INFO_FIELDS.forEach((k, i) => { info[k] = words[i]; });
    e.mynah_model_vocab(handle, this.io, this.io + 4);
    const vocab = this.text(this.u32(this.io), this.usize(this.io + 4));
    const tensors = [];
    const t = this.alloc(72);
    for (let i = 0; i < info.tensor_count; i++) {
      if (e.mynah_model_tensor(handle, i, t) !== OK) break;
      const w = new Uint32Array(e.memory.buffer, t + 40, 8);
      tensors.push({
        name: this.cString(t, 32),
        dtype: this.cString(t + 32, 8),
        shape: Array.from(w.subarray(1, 1 + w[0])),
        bytes: w[5],
        fracBits: new Int32Array(e.memory.buffer, t + 64, 1)[0],
      });
    }
    return { info, vocab, tensors, describe: () => describe(info, vocab) };
  }

  // --- streams ------------------------------------------------------------------------------

  streamError(status) {
    return () => {
      const n = this.e.mynah_stream_message(this.stream, this.msg, 2048);
      return this.cString(this.msg, Math.min(n + 1, 2048));
    };
  }

  /** A new stream of the loaded model: seed (a decimal string or BigInt), temperature in
   *  thousandths, top-k. */
  start(seed, temperatureMilli, topK) {
    const e = this.e;
    this.top = this.mark;
    this.check(e.mynah_stream_bytes(this.model, this.io));
    const bytes = this.usize(this.io);
    const at = this.alloc(bytes);
    this.check(e.mynah_stream_init(at, bytes, this.model, this.io));
    this.stream = at;
    this.primeAt = this.top;
    this.check(e.mynah_stream_seed(at, BigInt.asUintN(64, BigInt(seed))), this.streamError());
    this.check(e.mynah_stream_sampling(at, temperatureMilli, topK), this.streamError());
  }

  /** Zero state (<BOS> fed), then the prime; throws for an unknown character. */
  reset(prime) {
    const e = this.e;
    this.check(e.mynah_stream_reset(this.stream), this.streamError());
    const bytes = encoder.encode(prime);
    this.top = this.primeAt;
    const at = this.alloc(bytes.length + 1, 1);
    this.u8(at, bytes.length).set(bytes);
    this.check(e.mynah_stream_prime(this.stream, at, bytes.length), this.streamError());
  }

  /** Up to maxChars characters: { text, chars, eos }. */
  generate(maxChars) {
    const e = this.e;
    const status = this.check(
      e.mynah_stream_generate(this.stream, maxChars, this.out, 1 << 16, this.io, this.io + 4),
      this.streamError(),
    );
    const n = this.usize(this.io);
    return { text: this.text(this.out, n), chars: this.u32(this.io + 4), eos: status === EOS };
  }
}

/** The weights kind and input layer, as `mynah inspect` names them. */
function weightsOf(info) {
  if (info.weights === 0) return 'FLOAT (quantize it to run here)';
  const kind = info.weights === 2 ? 'INT4' : 'INT8';
  const input = info.factored ? ', factored input layer' : '';
  return `${kind} (integer runtime${input})`;
}

/** Rows of the model card: what `mynah inspect` shows. */
function describe(info, vocab) {
  const specials = SPECIALS.filter(([bit]) => info.specials & bit).map(([, n]) => n);
  const arch = ARCHS[info.arch] ?? `arch ${info.arch}`;
  const shape = info.arch === 3
    ? `context ${info.context}, ${info.hidden_dim} hidden (${ACTIVATIONS[info.activation]})`
    : `${info.num_layers} × ${info.hidden_dim}`;
  return [
    ['architecture', `${arch}, ${shape}, embedding ${info.embed_dim}`],
    ['weights', weightsOf(info)],
    ['mode', info.records ? 'records (stops at <EOS>)' : 'text'],
    ['vocabulary', `${info.vocab_size} ids: ${specials.join(' ') || 'no specials'}, `
      + `${[...vocab].length} characters from id ${info.first_char_id}`],
    ['file', `${info.file_size.toLocaleString('en')} bytes, format v${info.version}, `
      + `crc32 0x${info.checksum.toString(16).padStart(8, '0')}`],
    ['RAM per stream', `${info.state_bytes} B state + ${info.scratch_bytes} B scratch`],
  ];
}
