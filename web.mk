# mynah in the browser: the C ABI (capi/) compiled to wasm32-unknown-unknown with SIMD128,
# and a plain HTML/CSS/JS page (web/). Included by the Makefile.
#
#   make web         build the page into target/web/ (prints the .wasm size)
#   make web-serve   serve target/web/ on http://127.0.0.1:$(WEB_PORT)/ for a person to open
#   make web-test    the page in Debian's headless Chromium, driven by Playwright for Python:
#                    text equal to `mynah sample` byte for byte, the error messages, a
#                    screenshot (target/web/screenshot.png), chars/s (in make test)
#   make web-lint    clippy -D warnings on the runtime and the C ABI as the page builds them
#                    (wasm32 with SIMD128: the code only that build compiles)

WEB_OUT := $(CURDIR)/target/web
WEB_PORT ?= 8000
WEB_CARGO_TARGET := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
WEB_WASM := $(WEB_CARGO_TARGET)/wasm32-unknown-unknown/web/mynah_capi.wasm
WEB_MYNAH := $(WEB_CARGO_TARGET)/release/mynah
WEB_MODEL := tests/fixtures/shakespeare-1x128.int8.mynah
PLAYWRIGHT_VERSION := 1.65.2
PLAYWRIGHT_STAMP := $(VENV)/.playwright-$(PLAYWRIGHT_VERSION)
# The wasm engine's SIMD128 kernels (every current browser has them).
WEB_RUSTFLAGS := --config 'target.wasm32-unknown-unknown.rustflags=["-C", "target-feature=+simd128"]'
WASM_OPT_FLAGS := -O3 --enable-simd --enable-bulk-memory --enable-sign-ext \
  --enable-mutable-globals --enable-nontrapping-float-to-int

.PHONY: web-setup web web-serve web-test web-lint

# The Rust target (rustup), wasm-opt (Debian's binaryen) and, for the test, chromium.
web-setup:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || \
	  rustup target add wasm32-unknown-unknown >/dev/null
	@missing=; for p in binaryen chromium; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "== apt-get install$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

web: web-setup
	cargo rustc --quiet -p mynah-capi --profile web --target wasm32-unknown-unknown \
	  --crate-type cdylib --no-default-features $(WEB_RUSTFLAGS)
	mkdir -p $(WEB_OUT)/models
	wasm-opt $(WASM_OPT_FLAGS) $(WEB_WASM) -o $(WEB_OUT)/mynah.wasm
	cp web/index.html web/style.css web/app.js web/mynah.js $(WEB_OUT)/
	cp $(WEB_MODEL) $(WEB_OUT)/models/
	@echo "web: $(WEB_OUT)/mynah.wasm is $$(stat -c %s $(WEB_OUT)/mynah.wasm) bytes (before wasm-opt $$(stat -c %s $(WEB_WASM)))"

web-serve: web
	@echo "== open http://127.0.0.1:$(WEB_PORT)/ (Ctrl-C stops)"
	python3 -m http.server $(WEB_PORT) --bind 127.0.0.1 --directory $(WEB_OUT)

$(PLAYWRIGHT_STAMP): | $(TORCH_STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check playwright==$(PLAYWRIGHT_VERSION)
	touch $@

web-test: web $(PLAYWRIGHT_STAMP)
	cargo build --quiet --release -p mynah-tools --bin mynah
	$(PY) tests/web/test_page.py --site $(WEB_OUT) --mynah $(WEB_MYNAH) --fixtures tests/fixtures

web-lint: web-setup
	cargo clippy --quiet -p mynah-runtime -p mynah-capi --target wasm32-unknown-unknown \
	  --no-default-features $(WEB_RUSTFLAGS) -- -D warnings
