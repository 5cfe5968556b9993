# mynah from C: the C ABI (capi/), its header and static libraries, and the C examples.
# Included by the Makefile; see README.md, "mynah from C".
#
#   make capi          include/mynah.h (checked) and target/capi/<target>/libmynah_capi.a for
#                      x86_64-unknown-linux-gnu (release profile; native-libs next to it lists
#                      the system libraries to link), thumbv7em-none-eabihf and
#                      thumbv6m-none-eabi (the `web` profile: size first, fat LTO)
#   make capi-header   regenerate include/mynah.h with cbindgen after changing the C ABI
#   make capi-check    examples/c: the host program (gcc) and the Cortex-M4F firmware
#                      (arm-none-eabi-gcc, QEMU mps2-an386) print exactly what `mynah sample`
#                      prints (in make test)
#   make capi-lint     clippy -D warnings on the C ABI for the device targets

CAPI_OUT := $(CURDIR)/target/capi
CAPI_CARGO_TARGET := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
CAPI_HOST := x86_64-unknown-linux-gnu
CAPI_TARGETS := thumbv7em-none-eabihf thumbv6m-none-eabi

.PHONY: capi-setup capi capi-header capi-check capi-lint

# Debian's gcc-arm-none-eabi and qemu-system-arm, the Rust targets.
capi-setup:
	@missing=; for p in gcc-arm-none-eabi qemu-system-arm gcc; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "== apt-get install$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@for t in $(CAPI_TARGETS); do \
	  rustup target list --installed | grep -qx $$t || rustup target add $$t >/dev/null; \
	done

capi: capi-setup
	cargo test --quiet -p mynah-capi --test header
	@mkdir -p $(CAPI_OUT)/$(CAPI_HOST)
	@# rustc lists the system libraries std needs only when it compiles the crate, so the
	@# list is kept from the last build that printed it (the default is what it prints here).
	cargo rustc --quiet -p mynah-capi --release --crate-type staticlib -- --print native-static-libs 2>&1 \
	  | sed -n 's/.*native-static-libs: //p' > $(CAPI_OUT)/$(CAPI_HOST)/native-libs.new
	@if [ -s $(CAPI_OUT)/$(CAPI_HOST)/native-libs.new ]; then \
	  mv $(CAPI_OUT)/$(CAPI_HOST)/native-libs.new $(CAPI_OUT)/$(CAPI_HOST)/native-libs; \
	else \
	  rm -f $(CAPI_OUT)/$(CAPI_HOST)/native-libs.new; \
	  [ -s $(CAPI_OUT)/$(CAPI_HOST)/native-libs ] || echo "-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc" > $(CAPI_OUT)/$(CAPI_HOST)/native-libs; \
	fi
	cp $(CAPI_CARGO_TARGET)/release/libmynah_capi.a $(CAPI_OUT)/$(CAPI_HOST)/
	@for t in $(CAPI_TARGETS); do \
	  echo "== libmynah_capi.a for $$t"; \
	  cargo rustc --quiet -p mynah-capi --profile web --target $$t --crate-type staticlib && \
	  mkdir -p $(CAPI_OUT)/$$t && cp $(CAPI_CARGO_TARGET)/$$t/web/libmynah_capi.a $(CAPI_OUT)/$$t/ || exit 1; \
	done
	@ls -l $(CAPI_OUT)/*/libmynah_capi.a

capi-header:
	MYNAH_WRITE_HEADER=1 cargo test --quiet -p mynah-capi --test header

capi-check: capi
	cargo build --quiet --release -p mynah-tools --bin mynah
	bash scripts/c-examples.sh $(CAPI_OUT) $(CAPI_CARGO_TARGET)/release/mynah

capi-lint: capi-setup
	@for t in $(CAPI_TARGETS); do \
	  cargo clippy --quiet -p mynah-capi --target $$t --no-default-features -- -D warnings || exit 1; \
	done
