# mezzo — see README.md. Every target works on a fresh machine after .ci/run's
# installs (Go is the only prerequisite for demo/test/bench).
GO        ?= go
BIN       := $(CURDIR)/bin
STATICCHECK_VERSION := v0.8.2
export PATH := $(BIN):$(PATH)

.PHONY: demo test bench lint vet staticcheck build proto figures

build:
	$(GO) build -o $(BIN)/mezzo ./cmd/mezzo

demo: build
	$(BIN)/mezzo demo

test: lint
	$(GO) test -count=1 ./...

lint: vet staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(BIN)/staticcheck
	$(BIN)/staticcheck ./...

# Every simulated experiment at full size into reports/figures, then the
# report reports/README.md from reports/README.tmpl.md and those fragments.
figures: build
	$(BIN)/mezzo experiment all --out reports/figures
	$(BIN)/mezzo experiment report --template reports/README.tmpl.md --out reports/figures --report reports/README.md

# A fixed small set CI can compare with bench-compare: the offer-latency
# benchmark (100 emulated agents, real master), the allocator's cycles and
# the simulator's engine, BENCH_COUNT runs each (benchstat wants >= 6), into
# bench/latest.txt (the allocator at 1,000 agents only: the larger sizes'
# set-up takes minutes). About 2 minutes on 2 cores.
BENCH_COUNT     ?= 6
BENCH_THRESHOLD ?= 0.2
BENCHSTAT_VERSION := v0.0.0-20250813145418-2f7363a06fe1
bench:
	@mkdir -p bench
	{ $(GO) test -run '^$$' -bench 'BenchmarkOffers' -benchtime 1x -count $(BENCH_COUNT) ./runtime/bench/ && \
	  $(GO) test -run '^$$' -bench 'Benchmark(DeclineOffers|OneTask|AddAgents)/agents=1000$$' -benchtime 5x -benchmem -count $(BENCH_COUNT) ./alloc/ && \
	  $(GO) test -run '^$$' -bench 'BenchmarkEngine$$' -benchmem -count $(BENCH_COUNT) ./sim/ ; } > bench/latest.txt.tmp
	mv bench/latest.txt.tmp bench/latest.txt
	@echo "wrote bench/latest.txt"

$(BIN)/benchstat:
	GOBIN=$(BIN) GOFLAGS=-mod=mod $(GO) install golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION)

# make bench-compare OLD=base.txt NEW=bench/latest.txt: benchstat's table,
# then fail when a gated metric (mezzo bench compare --help) got worse by
# more than BENCH_THRESHOLD or by more than the runs' own spread.
.PHONY: bench-compare
bench-compare: build $(BIN)/benchstat
	@test -n "$(OLD)" -a -n "$(NEW)" || { echo "usage: make bench-compare OLD=file NEW=file"; exit 2; }
	$(BIN)/benchstat $(OLD) $(NEW)
	$(BIN)/mezzo bench compare --threshold $(BENCH_THRESHOLD) $(OLD) $(NEW)

# Protobuf code generation for runtime/api. protoc comes from Debian's
# protobuf-compiler (apt-get install -y protobuf-compiler); the Go plugins are
# pinned and installed into ./bin so regenerated code is byte-identical.
PROTOC_VERSION          := 3.21.12
PROTOC_GEN_GO_VERSION   := v1.36.12
PROTOC_GEN_GRPC_VERSION := v1.5.1
PROTO_DIR               := runtime/api

$(BIN)/protoc-gen-go:
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(BIN)/protoc-gen-go-grpc:
	GOBIN=$(BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GRPC_VERSION)

proto: $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler (want $(PROTOC_VERSION))"; exit 1; }
	@protoc --version | grep -q '$(PROTOC_VERSION)' || echo "warning: protoc is $$(protoc --version), generated code was made with $(PROTOC_VERSION)"
	protoc -I $(PROTO_DIR) \
		--plugin=protoc-gen-go=$(BIN)/protoc-gen-go --go_out=$(PROTO_DIR) --go_opt=paths=source_relative \
		--plugin=protoc-gen-go-grpc=$(BIN)/protoc-gen-go-grpc --go-grpc_out=$(PROTO_DIR) --go-grpc_opt=paths=source_relative \
		$(PROTO_DIR)/*.proto

# Execute every notebook headless on a small input; fails if a cell fails.
# Needs Debian's python3-pandas python3-matplotlib python3-nbconvert
# python3-ipykernel (see notebooks/README.md); NB_PYTHON is Debian's python,
# not a pyenv or venv one that lacks them. Executed copies go to a temp dir,
# so the committed notebooks stay output-free.
NB_PYTHON ?= /usr/bin/python3
.PHONY: notebooks
notebooks: build
	@out=$$(mktemp -d); set -e; for nb in notebooks/*.ipynb; do \
		echo "== $$nb"; \
		MEZZO=$(BIN)/mezzo MEZZO_NOTEBOOK_OUT=$$out/runs PYDEVD_DISABLE_FILE_VALIDATION=1 \
		$(NB_PYTHON) -Xfrozen_modules=off -m nbconvert --to notebook --execute \
			--ExecutePreprocessor.timeout=600 --output-dir $$out $$nb; \
	done; rm -rf $$out

# Every fuzz target for FUZZTIME each (corpora under each package's
# testdata/fuzz/; new failing inputs land there too).
FUZZTIME ?= 10s
FUZZ_TARGETS := .:FuzzParseResources runtime/security:FuzzParseACL runtime/security:FuzzParseCredentials \
	traces:FuzzSWIM traces:FuzzGoogle traces:FuzzAlibaba runtime/master:FuzzMasterRequests
.PHONY: fuzz-short
fuzz-short:
	@log=$$(mktemp); for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$fn ($$pkg, $(FUZZTIME))"; \
		if ! $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg >$$log 2>&1; then cat $$log; rm -f $$log; exit 1; fi; \
		grep -v 'gathering baseline' $$log | tail -3; \
	done; rm -f $$log

# make attack: every probe of runtime/attack, the hostile-tenant and
# broken-machine suite, the slow ones included (make test runs the fast ones).
.PHONY: attack
attack:
	MEZZO_ATTACK=all $(GO) test ./runtime/attack/ -count=1 -timeout 25m

# make chaos: kill random masters and agents (-9) for CHAOS_TIME while two
# frameworks run short tasks (runtime/e2e TestChaos); not part of make test.
# CHAOS_RECOVER=cleanup has restarted agents kill, not adopt, the executors
# their killed run left.
CHAOS_TIME ?= 2m
CHAOS_RECOVER ?= reconnect
.PHONY: chaos
chaos:
	MEZZO_CHAOS=$(CHAOS_TIME) MEZZO_CHAOS_RECOVER=$(CHAOS_RECOVER) $(GO) test ./runtime/e2e/ -run '^TestChaos$$' -v -count=1 -timeout 30m
