# mynah on devices: Cortex-M firmware under QEMU and a freestanding x86_64 Linux binary.
# Included by the Makefile; see device/README.md.
#
#   make device-check   firmware on mps2-an386 (M4F) and mps2-an385 (M3), and the tiny
#                       binary, print exactly what `mynah sample` prints (also in make test)
#   make size           flash/RAM/binary size and M4 instructions per character and per MAC
#                       (MODEL=path; default: the 1x128 reference fixture, else synthetic)
#   make size-all       make size for one model of each architecture (GRU, LSTM, RNN,
#                       n-gram MLP): a table, and docs/measurements/code-size.tsv rewritten
#                       (the code sizes `mynah inspect` prints; device-check checks it)
#   make device-demo    sample MODEL on the emulated Cortex-M4 and print the text
#   make device-count-validate   cross-check the instruction counter against QEMU's trace
#   make device-lint    rustfmt and clippy -D warnings on the device crates (each its own
#                       workspace, so the root `make lint` does not see them)

DEVICE_RUST_TARGETS := thumbv7em-none-eabihf thumbv7m-none-eabi thumbv6m-none-eabi
# Passed to the scripts only when given (they pick the default model themselves).
DEVICE_MODEL_ENV = $(if $(MODEL),MODEL="$(abspath $(MODEL))")

DEVICE_CRATES := common firmware tiny synth

.PHONY: device-setup device-check size size-all device-demo device-count-validate device-lint \
  seed-models-check

# qemu-system-arm from Debian's packages, the Rust targets from rustup, readelf/cc for the
# size script and the instruction-count plugin.
device-setup:
	@command -v qemu-system-arm >/dev/null || { \
	  echo "== installing qemu-system-arm (apt-get)"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends \
	    qemu-system-arm >/dev/null; }
	@command -v readelf >/dev/null && command -v cc >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends \
	    binutils gcc libc6-dev >/dev/null; }
	@for t in $(DEVICE_RUST_TARGETS); do \
	  rustup target list --installed | grep -qx $$t || rustup target add $$t >/dev/null; \
	done

device-check: device-setup
	@for c in $(DEVICE_CRATES); do (cd device/$$c && cargo fmt --check); done
	$(DEVICE_MODEL_ENV) bash scripts/device-check.sh

size: device-setup
	$(DEVICE_MODEL_ENV) bash scripts/device-size.sh

size-all: device-setup
	bash scripts/device-size-all.sh

# `make demo`'s first sample (seed 1, temperature 0.5, prime "ROMEO:", 300 characters) on
# the emulated Cortex-M4F.
device-demo: device-setup
	$(DEVICE_MODEL_ENV) bash scripts/device-demo.sh

device-count-validate: device-setup
	bash scripts/device-count-validate.sh

device-lint: device-setup
	@for c in $(DEVICE_CRATES); do \
	  echo "== device/$$c"; \
	  (cd device/$$c && cargo fmt --check && cargo clippy --quiet --release --all-targets -- -D warnings) || exit 1; \
	done
	cd device/firmware && cargo clippy --quiet --release --all-targets --target thumbv7m-none-eabi -- -D warnings
	cd device/firmware && cargo clippy --quiet --release --all-targets --target thumbv6m-none-eabi -- -D warnings

# The seed tutorials' four models (PyTorch -> mynah-train import -> int8) on the emulated
# Cortex-M4, each equal to mynah sample; the ToyRNN must say "hello" (in make test).
seed-models-check: setup device-setup
	bash scripts/seed-models-check.sh
