# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Every install comes from a lock with hashes (requirements/*.lock); `make lock` rewrites them.
# .venv holds the worker, its test tools and the development kit (devkit/: embedded broker,
# emulator, demo, workload generator), which neither the worker's wheel nor the image carries.
DEV_LOCK := requirements/dev.lock
WORKER_LOCK := requirements/worker.lock
TOOLS_LOCK := requirements/lock-tools.lock
BUILD_LOCK := requirements/build.lock

# The AsyncAPI parser (npm, tools/asyncapi/package-lock.json) that tests/contract/test_asyncapi.py
# runs offline; installed exactly as locked, without install scripts.
ASYNCAPI_TOOLS := tools/asyncapi
ASYNCAPI_STAMP := $(ASYNCAPI_TOOLS)/node_modules/.installed

# Apache Kafka for the tests and the benchmarks: one version pinned in devkit/kafka/pom.xml,
# resolved once from Maven Central into devkit/kafka/target/lib (Maven checks the checksums
# and keeps ~/.m2 across runs); Java 17 runs it (streams_devkit.kafka).
KAFKA_POM := devkit/kafka/pom.xml
KAFKA_STAMP := devkit/kafka/target/lib/.resolved

.PHONY: demo test lint typecheck bench bench-quick soak examples lock lock-tools clean asyncapi-parser kafka bench-peer

# Exactly the locked versions (pip refuses anything without a matching hash), with the build
# backend from its own lock, then the worker and the devkit themselves without resolving or
# fetching anything (no build isolation: the locked setuptools builds them); pip check fails when
# the lock no longer satisfies their pyproject.toml. Packages dropped from the lock stay in an
# existing .venv: `make clean` first for an exact one.
$(STAMP): pyproject.toml devkit/pyproject.toml $(DEV_LOCK) $(BUILD_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(DEV_LOCK) -r $(BUILD_LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . -e ./devkit
	$(BIN)/pip check
	touch $(STAMP)

$(ASYNCAPI_STAMP): $(ASYNCAPI_TOOLS)/package.json $(ASYNCAPI_TOOLS)/package-lock.json
	cd $(ASYNCAPI_TOOLS) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(ASYNCAPI_STAMP)

asyncapi-parser: $(ASYNCAPI_STAMP)

$(KAFKA_STAMP): $(KAFKA_POM)
	rm -rf devkit/kafka/target/lib
	mvn -q -B -f $(KAFKA_POM) dependency:copy-dependencies
	touch $(KAFKA_STAMP)

kafka: $(KAFKA_STAMP)

# The benchmark's Kafka Streams peer (bench/peers/README.md): kafka-streams 4.4.0 pinned in its
# pom.xml, compiled and its jars copied into target/lib by Maven (Maven Central, checksums
# checked, ~/.m2 kept across runs); rebuilt when its pom or a source changes.
PEER := bench/peers/kafka-streams
PEER_STAMP := $(PEER)/target/.built
$(PEER_STAMP): $(PEER)/pom.xml $(shell find $(PEER)/src -name '*.java')
	rm -rf $(PEER)/target
	mvn -q -B -f $(PEER)/pom.xml package dependency:copy-dependencies
	touch $(PEER_STAMP)

bench-peer: $(PEER_STAMP)

demo: $(STAMP)
	$(BIN)/streams demo

lint: $(STAMP)
	$(BIN)/ruff check streams tests bench devkit
	$(BIN)/ruff format --check streams tests bench devkit

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collects no tests; that is a failure here, never a pass.
# Two pytest processes (pytest-xdist), one test module at a time each, each with its own brokers:
# most tests wait on brokers, workers and windows rather than on a core, so two share the
# machine's two cores. `.venv/bin/pytest tests/...` alone still runs in one process.
test: lint typecheck $(ASYNCAPI_STAMP) $(KAFKA_STAMP)
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=25

# Benchmarks (not part of `make test`: tests never time anything). Writes bench/RESULTS.md.
bench: $(STAMP) $(KAFKA_STAMP) $(PEER_STAMP)
	$(BIN)/python -m bench.run

bench-quick: $(STAMP) $(KAFKA_STAMP) $(PEER_STAMP)
	$(BIN)/python -m bench.run --quick

# Longer reliability variants (crash/rebalance soaks); not part of `make test`.
soak: $(STAMP) $(KAFKA_STAMP)
	STREAMS_SOAK=1 $(BIN)/pytest -q tests/reliability -m soak

# Clients from three ecosystems end to end against Apache Kafka and a real worker: Java
# (kafka-clients, Maven), Go (franz-go, Go module proxy) and confluent-kafka (librdkafka) with
# murmur2_random and with its default partitioner (examples/README.md). Not part of `make test`;
# needs Java 17+, Maven and Go.
examples: $(STAMP) $(KAFKA_STAMP)
	examples/run.sh

# Rewrites the locks from both pyproject.toml files and requirements/*.in, keeping every version
# already locked that still fits; `make lock UPGRADE=--upgrade` moves everything to the newest
# allowed, `make lock UPGRADE='--upgrade-package aiohttp'` one package. uv runs from a throwaway
# venv (requirements/lock-tools.lock), never from .venv. The worker's lock is compiled with the
# dev lock as constraints, so the image runs the versions the tests ran. Commit the locks with
# the dependency change that needed them.
UPGRADE ?=
# uv in a throwaway venv, removed on exit; "$$tools/bin/uv" in the rest of the recipe.
WITH_UV := tools=$$(mktemp -d) && trap 'rm -rf "$$tools"' EXIT \
	&& $(PYTHON) -m venv "$$tools" \
	&& "$$tools/bin/pip" install --quiet --require-hashes -r $(TOOLS_LOCK)
COMPILE := --universal --python-version 3.11 --generate-hashes --quiet
LOCK_FLAGS := $(COMPILE) --custom-compile-command 'make lock' \
	--no-emit-package conversation-custom-data-streams \
	--no-emit-package conversation-custom-data-streams-devkit
lock:
	@$(WITH_UV) \
	&& "$$tools/bin/uv" pip compile $(LOCK_FLAGS) $(UPGRADE) requirements/dev.in -o $(DEV_LOCK) \
	&& "$$tools/bin/uv" pip compile $(LOCK_FLAGS) requirements/worker.in -c $(DEV_LOCK) \
		-o $(WORKER_LOCK) \
	&& "$$tools/bin/uv" pip compile $(COMPILE) --custom-compile-command 'make lock' $(UPGRADE) \
		requirements/build.in -o $(BUILD_LOCK) \
	&& echo "wrote $(DEV_LOCK), $(WORKER_LOCK) and $(BUILD_LOCK)"

# After changing uv's version in requirements/lock-tools.in.
lock-tools:
	@$(WITH_UV) \
	&& "$$tools/bin/uv" pip compile $(COMPILE) --custom-compile-command 'make lock-tools' \
		requirements/lock-tools.in -o $(TOOLS_LOCK)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(ASYNCAPI_TOOLS)/node_modules devkit/kafka/target
