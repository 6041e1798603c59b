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

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./alloc/ ./sim/

proto:
	@echo "proto: see runtime/api (filled in by the runtime work)"
