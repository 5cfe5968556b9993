"""The web page in a real browser (Debian's chromium, driven by Playwright for Python).

Serves the built page (`make web`: target/web/) on 127.0.0.1, then: generates with fixed
seeds from the demo model and from a model file of every architecture opened through the
file input, and asserts the text equals `mynah sample`'s byte for byte; opens a corrupt file
and asserts the message; primes with a character the model lacks and asserts the message;
stops a long run; measures characters per second for the 1x128 reference model next to
`mynah bench`; saves a screenshot (target/web/screenshot.png).

Run by `make web-test` (in `make test`). Prints one line per check and `N passed, 0 failed`.
"""

import argparse
import functools
import http.server
import os
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Playwright's own browser download is unreachable here: Debian's chromium, with no network
# chatter (the machine has no network beyond the package registries).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
FINISHED = "['done', 'error', 'stopped'].includes(document.body.dataset.state)"

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok    {name}")
    else:
        failed += 1
        print(f"FAIL  {name}: {detail}")


def serve(site):
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm", ".js": "text/javascript"}

    def log_message(self, *args):
        pass


def mynah_sample(mynah, model, prime, temperature, seed, length, count, top_k):
    out = subprocess.run(
        [mynah, "sample", str(model), "--prime", prime, "--temperature", temperature,
         "--seed", str(seed), "--max-len", str(length), "--count", str(count),
         "--top-k", str(top_k)],
        check=True, capture_output=True,
    )
    return out.stdout


def generate(page, prime, temperature, seed, length, count, top_k, timeout=120_000):
    page.fill("#prime", prime)
    page.locator("#temperature").fill(temperature)
    page.fill("#seed", str(seed))
    page.fill("#length", str(length))
    page.fill("#count", str(count))
    page.fill("#top-k", str(top_k))
    page.click("#generate")
    page.wait_for_function(FINISHED, timeout=timeout)
    return page.eval_on_selector("#output", "e => e.textContent").encode("utf-8")


def open_model(page, path):
    page.set_input_files("#file", str(path))
    page.wait_for_function(f"{FINISHED} || document.body.dataset.state === 'ready'"
                           f" && document.getElementById('model-name').textContent === {str(Path(path).name)!r}")


def error_text(page):
    return page.eval_on_selector("#error", "e => e.hidden ? '' : e.textContent")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--site", required=True, type=Path)
    ap.add_argument("--mynah", required=True)
    ap.add_argument("--fixtures", required=True, type=Path)
    args = ap.parse_args()
    fixtures = args.fixtures
    reference = fixtures / "shakespeare-1x128.int8.mynah"
    server = serve(args.site)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("pageerror", lambda e: check("no uncaught page error", False, str(e)))
        page.goto(url)
        page.wait_for_function("['ready', 'error'].includes(document.body.dataset.state)")
        check("the demo model loads", page.evaluate("document.body.dataset.state") == "ready", error_text(page))
        card = page.eval_on_selector("#card", "e => e.textContent")
        check("the model card describes it", "GRU, 1 × 128" in card and "68 ids" in card and "115,028 bytes" in card, card)

        # Text equal to `mynah sample`, byte for byte: the demo model, then every
        # architecture opened through the file input.
        cases = [
            (None, "ROMEO:", "0.8", 7, 400, 2, 0),
            (None, "", "1", 1, 300, 3, 0),
            (None, "To be", "0.5", 12345678901234, 200, 1, 3),
            (None, "JULIET:\n", "0", 2, 150, 1, 0),
            ("tiny-int8.mynah", "the ", "1.25", 3, 80, 4, 5),
            ("tiny-int8-v1.mynah", "", "0.8", 4, 60, 3, 0),
            ("tiny-lstm-int8.mynah", "a", "1", 5, 80, 4, 0),
            ("tiny-rnn-int8.mynah", "mynah ", "0.8", 6, 80, 4, 2),
            ("tiny-ngram-int8.mynah", "zz, ", "1.5", 8, 80, 4, 0),
            # Format version 3: INT4 weights, and a factored input layer.
            ("tiny-int4.mynah", "the ", "0.9", 9, 80, 3, 0),
            ("tiny-lstm-factored-int4.mynah", "th", "1.1", 10, 80, 3, 4),
        ]
        # The shipped device model (INT4, factored) when the checkout has it.
        shipped = (fixtures.parent.parent / "models" / "shakespeare-128k.mynah").resolve()
        if shipped.is_file():
            cases.append((shipped, "ROMEO:", "0.7", 1, 400, 2, 0))
        for model, prime, t, seed, length, count, top_k in cases:
            path = reference
            if model is not None:
                path = fixtures / model
                open_model(page, path)
            got = generate(page, prime, t, seed, length, count, top_k)
            want = mynah_sample(args.mynah, path, prime, t, seed, length, count, top_k)
            name = f"{path.name} --prime {prime!r} --temperature {t} --seed {seed} --max-len {length} --count {count} --top-k {top_k}"
            check(f"equals mynah sample: {name}", got == want and error_text(page) == "",
                  f"page {got[:120]!r}... vs {want[:120]!r}... error {error_text(page)!r}")

        # A corrupt file: one flipped bit, caught by the checksum.
        bad = bytearray(reference.read_bytes())
        bad[len(bad) // 2] ^= 0x08
        corrupt = Path(tmp) / "corrupt.mynah"
        corrupt.write_bytes(bad)
        open_model(page, corrupt)
        msg = error_text(page)
        check("a corrupt file shows what is wrong",
              msg.startswith("corrupt.mynah: ") and re.search(r"checksum|crc", msg, re.I) is not None, msg)
        check("a corrupt file cannot be sampled", page.is_disabled("#generate"), "Generate is enabled")
        truncated = Path(tmp) / "truncated.mynah"
        truncated.write_bytes(reference.read_bytes()[:1000])
        open_model(page, truncated)
        msg = error_text(page)
        check("a truncated file shows what is wrong", msg.startswith("truncated.mynah: ") and len(msg) > 30, msg)

        # A prime character the model does not know.
        open_model(page, reference)
        generate(page, "héllo", "0.8", 1, 50, 1, 0)
        msg = error_text(page)
        check("an unknown prime character is named",
              "'é'" in msg and "position 1" in msg and "vocabulary" in msg, msg)

        # Stop.
        page.fill("#length", "100000000")
        page.fill("#prime", "ROMEO:")
        page.click("#generate")
        page.wait_for_timeout(500)
        page.click("#stop")
        page.wait_for_function(FINISHED)
        stats = page.evaluate("window.mynahStats")
        check("Stop ends a long run", page.evaluate("document.body.dataset.state") == "stopped"
              and 0 < stats["chars"] < 100_000_000, str(stats))

        # Characters per second for the 1x128 reference model (best of three runs, as
        # `mynah bench` takes the best of its runs: the machine is shared), and the same
        # text as the CLI.
        n = 200_000
        want = mynah_sample(args.mynah, reference, "ROMEO:", "0.8", 1, n, 1, 0)
        best = None
        for _ in range(3):
            got = generate(page, "ROMEO:", "0.8", 1, n, 1, 0)
            stats = page.evaluate("window.mynahStats")
            if best is None or stats["rate"] > best["rate"]:
                best = stats
        check(f"equals mynah sample over {n} characters", got == want, "texts differ")
        bench = subprocess.run([args.mynah, "bench", str(reference)], check=True,
                               capture_output=True, text=True).stdout
        us = re.search(r"mynah_us_per_char=([0-9.]+)", bench)
        native = f"{1e6 / float(us.group(1)):,.0f} chars/s ({us.group(1)} us/char)" if us else "?"
        print(f"speed: page {best['rate']:,} chars/s (runtime alone {best['engineRate']:,}), "
              f"{best['chars']:,} characters in {best['seconds']:.2f} s, best of 3; "
              f"mynah bench {native}")
        # Reported, not asserted: a test never depends on wall time (a loaded CI machine
        # is slower); the bar of 100k chars/s is checked by reading this line.
        print(f"speed bar (100k chars/s on this machine): "
              f"{'met' if best['rate'] >= 100_000 else 'NOT met'}")

        # The screenshot: the demo model, one sample.
        generate(page, "ROMEO:", "0.8", 1, 700, 1, 0)
        page.evaluate("document.getElementById('tensors-box').open = true")
        shot = args.site / "screenshot.png"
        page.screenshot(path=str(shot), full_page=True)
        check(f"screenshot saved ({shot})", shot.stat().st_size > 10_000)
        browser.close()
    server.shutdown()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
