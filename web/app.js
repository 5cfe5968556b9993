// The page: loads the demo model, any model opened or dropped, and streams samples.
import { Mynah } from './mynah.js';

const DEFAULT_MODEL = 'models/shakespeare-1x128.int8.mynah';
const $ = (id) => document.getElementById(id);
const el = {
  file: $('file'), name: $('model-name'), card: $('card'), tensors: $('tensors'),
  vocab: $('vocab'), form: $('form'), prime: $('prime'), temperature: $('temperature'),
  temperatureValue: $('temperature-value'), topK: $('top-k'), seed: $('seed'),
  length: $('length'), count: $('count'), generate: $('generate'), stop: $('stop'),
  stats: $('stats'), error: $('error'), output: $('output'),
};

let mynah = null;
let loaded = null; // the card of the model that streams run on
let running = false;

function setState(state) { document.body.dataset.state = state; }

function showError(text) {
  el.error.textContent = text;
  el.error.hidden = false;
}

function clearError() {
  el.error.hidden = true;
  el.error.textContent = '';
}

function row(cells, tag = 'td') {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = document.createElement(tag);
    td.textContent = c;
    if (typeof c === 'number') td.className = 'n';
    tr.append(td);
  }
  return tr;
}

function showCard(name, card) {
  el.name.textContent = name;
  el.card.replaceChildren(...(card ? card.describe().map((r) => row(r)) : []));
  el.tensors.replaceChildren(
    row(['name', 'dtype', 'shape', 'bytes', 'frac'], 'th'),
    ...(card ? card.tensors : []).map((t) => row([t.name, t.dtype, `[${t.shape.join(', ')}]`, t.bytes, t.fracBits])),
  );
  el.vocab.textContent = card ? JSON.stringify(card.vocab) : '';
}

/** Loads a model file's bytes; a refused file leaves no model to sample from. */
function openModel(name, bytes) {
  clearError();
  loaded = null;
  try {
    loaded = mynah.loadModel(bytes);
    showCard(name, loaded);
    setState('ready');
  } catch (e) {
    showCard(name, e.card ?? null);
    showError(`${name}: ${e.message}`);
    setState('error');
  }
  el.generate.disabled = !loaded;
}

/** The slider's value in thousandths, rounded as `mynah sample --temperature` does. */
function temperatureMilli() {
  return Math.round(parseFloat(el.temperature.value) * 1000);
}

function wholeNumber(input, what, min, max = Number.MAX_SAFE_INTEGER) {
  const v = input.value.trim();
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new Error(`${what} must be a whole number from ${min} to ${max}`);
  }
  return Number(v);
}

function seedValue() {
  const v = el.seed.value.trim();
  if (!/^\d+$/.test(v) || BigInt(v) >= 1n << 64n) {
    throw new Error('seed must be a whole number from 0 to 18446744073709551615');
  }
  return BigInt(v);
}

const nextFrame = () => new Promise((r) => requestAnimationFrame(() => r()));

async function generate() {
  if (!loaded || running) return;
  clearError();
  let settings;
  try {
    settings = {
      seed: seedValue(),
      temperature: temperatureMilli(),
      topK: wholeNumber(el.topK, 'top-k', 0, 4294967295),
      length: wholeNumber(el.length, 'length', 1, 100000000),
      count: wholeNumber(el.count, 'count', 1, 1000),
      prime: el.prime.value,
    };
    mynah.start(settings.seed, settings.temperature, settings.topK);
  } catch (e) {
    showError(e.message);
    return;
  }
  running = true;
  setState('running');
  el.generate.disabled = true;
  el.stop.disabled = false;
  el.output.textContent = '';
  let pending = '';
  const emit = (t) => { pending += t; };
  const flush = () => {
    if (pending) el.output.append(pending);
    pending = '';
  };
  const stats = { chars: 0, engine: 0, start: performance.now() };
  const report = () => {
    const secs = (performance.now() - stats.start) / 1000;
    const rate = secs > 0 ? Math.round(stats.chars / secs) : 0;
    const engine = stats.engine > 0 ? Math.round(stats.chars / (stats.engine / 1000)) : 0;
    el.stats.textContent = `${stats.chars.toLocaleString('en')} characters in ${secs.toFixed(2)} s: `
      + `${rate.toLocaleString('en')} chars/s (runtime alone ${engine.toLocaleString('en')} chars/s)`;
    window.mynahStats = { chars: stats.chars, seconds: secs, rate, engineRate: engine };
  };
  try {
    for (let i = 0; i < settings.count && running; i++) {
      if (i > 0 && !loaded.info.records) emit('----\n');
      mynah.reset(settings.prime);
      emit(settings.prime);
      let last = settings.prime;
      let left = settings.length;
      while (left > 0 && running) {
        const frameEnd = performance.now() + 100;
        while (left > 0 && performance.now() < frameEnd) {
          const t0 = performance.now();
          const r = mynah.generate(Math.min(left, 4096));
          stats.engine += performance.now() - t0;
          emit(r.text);
          if (r.text) last = r.text;
          left -= r.chars;
          stats.chars += r.chars;
          if (r.eos) left = 0;
        }
        flush();
        report();
        el.output.scrollTop = el.output.scrollHeight;
        await nextFrame();
      }
      if (!last.endsWith('\n')) emit('\n');
    }
    flush();
    report();
    setState(running ? 'done' : 'stopped');
  } catch (e) {
    flush();
    showError(e.message);
    setState('error');
  }
  running = false;
  el.generate.disabled = false;
  el.stop.disabled = true;
}

async function loadFile(file) {
  if (running) running = false;
  openModel(file.name, new Uint8Array(await file.arrayBuffer()));
}

el.temperature.addEventListener('input', () => {
  el.temperatureValue.textContent = (temperatureMilli() / 1000).toString();
});
el.form.addEventListener('submit', (ev) => { ev.preventDefault(); generate(); });
el.stop.addEventListener('click', () => { running = false; });
el.file.addEventListener('change', () => { if (el.file.files[0]) loadFile(el.file.files[0]); });
document.addEventListener('dragover', (ev) => { ev.preventDefault(); document.body.classList.add('dragging'); });
document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
document.addEventListener('drop', (ev) => {
  ev.preventDefault();
  document.body.classList.remove('dragging');
  const f = ev.dataTransfer.files[0];
  if (f) loadFile(f);
});

async function main() {
  setState('loading');
  el.generate.disabled = true;
  try {
    mynah = await Mynah.load('mynah.wasm');
    const response = await fetch(DEFAULT_MODEL);
    if (!response.ok) throw new Error(`${DEFAULT_MODEL}: ${response.status} ${response.statusText}`);
    openModel(DEFAULT_MODEL.split('/').pop(), new Uint8Array(await response.arrayBuffer()));
  } catch (e) {
    showError(`could not start: ${e.message}`);
    setState('error');
  }
}

main();
