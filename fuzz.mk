# `make fuzz`: libFuzzer on the model reader and the integer runtime (fuzz/, nightly).
# Included by the Makefile; not part of `make test`.
#
#   make fuzz                     each target for FUZZ_SECONDS (default 60) from the seeds
#   make fuzz FUZZ_SECONDS=600    longer
#   make fuzz-parse / fuzz-runtime   one target
#
# Seeds (real files, read only) are in fuzz/seeds/<target>/, regenerated with
# `cargo run -p mynah-tools --example fuzz_seeds -- fuzz/seeds`; what the fuzzer learns
# goes to fuzz/corpus/<target>/ (ignored by git). A crash fails the run and its input is
# copied to the regression directory of the crate at fault, replayed by `cargo test`:
# format/tests/regressions/ (parse) or runtime/tests/regressions/ (runtime). Fix the
# bug, then commit the file with the fix.

FUZZ_SECONDS ?= 60
FUZZ_TARGETS := parse runtime
# Debug assertions (-a) make integer overflow a crash, as in tests.
FUZZ_FLAGS ?= -a
# libFuzzer: a hang of 10 s or 2 GB of memory counts as a crash.
FUZZ_LIBFUZZER_FLAGS ?= -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
FUZZ_REGRESSIONS_parse := format/tests/regressions
FUZZ_REGRESSIONS_runtime := runtime/tests/regressions

.PHONY: fuzz fuzz-setup $(addprefix fuzz-,$(FUZZ_TARGETS))

fuzz: $(addprefix fuzz-,$(FUZZ_TARGETS))
	@echo "make fuzz: $(FUZZ_TARGETS) ran $(FUZZ_SECONDS)s each without a crash"

fuzz-setup:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

# cargo fuzz keeps its own target dir (fuzz/target): a CARGO_TARGET_DIR from the
# environment would mix sanitizer builds into a normal one. Old artifacts are cleared so
# that only this run's crash is copied.
$(addprefix fuzz-,$(FUZZ_TARGETS)): fuzz-%: fuzz-setup
	@mkdir -p fuzz/corpus/$*
	@rm -rf fuzz/artifacts/$*
	@echo "== fuzzing $* for $(FUZZ_SECONDS)s"
	@cd fuzz && if ! env -u CARGO_TARGET_DIR cargo +nightly fuzz run $(FUZZ_FLAGS) $* \
	    corpus/$* seeds/$* -- -max_total_time=$(FUZZ_SECONDS) $(FUZZ_LIBFUZZER_FLAGS); then \
	  mkdir -p ../$(FUZZ_REGRESSIONS_$*); \
	  for f in artifacts/$*/*; do \
	    [ -f "$$f" ] && cp -v "$$f" ../$(FUZZ_REGRESSIONS_$*)/$*-$$(basename "$$f"); \
	  done; \
	  echo "fuzz-$*: crash; its input was copied to $(FUZZ_REGRESSIONS_$*)/ (fix, then commit it)"; \
	  exit 1; \
	fi
