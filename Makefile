# infermeter — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/infermeter
FUZZTIME ?= 10m
SMOKETIME ?= 5s
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: help build run test test-short demo bench lint fuzz fuzz-smoke clean vendor-ui screenshots soak

help: ## list the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: ## build bin/infermeter, bin/simulator and bin/loadgen
	$(GO) build -o $(BIN) .
	$(GO) build -o bin/simulator ./examples/simulator
	$(GO) build -o bin/loadgen ./examples/loadgen

run: ## build and start the sidecar on its embedded defaults (proxy :8080, admin :9090)
	$(GO) build -o $(BIN) .
	./$(BIN)

test: ## run every test, with the race detector
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -count=1 -timeout 15m ./...

test-short: ## run the tests without the race detector
	$(GO) test -count=1 ./...

demo: build ## simulator + sidecar + a bounded traffic generator; the dashboard fills offline
	./examples/demo.sh

bench: ## measure infermeter on this machine: one report on stdout and in bin/bench-report.md (<= 10 min)
	$(GO) build -o $(BIN) .
	$(GO) run ./examples/bench -bin $(BIN) -go $(GO) -out bin/bench-report.md

lint: ## gofmt, go vet, staticcheck and the one-JSON-import rule
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@if git grep -n '"encoding/json"' -- '*.go'; then echo 'use github.com/goccy/go-json, not encoding/json'; exit 1; fi

fuzz: ## run every fuzzer for FUZZTIME each (default 10m)
	./scripts/fuzz.sh $(FUZZTIME)

fuzz-smoke: ## run every fuzzer briefly (SMOKETIME each, default 5s)
	./scripts/fuzz.sh $(SMOKETIME)

clean: ## remove build output and the demo data
	rm -rf bin data demo-data

UPLOT_DIST := dashboard/ui-src/node_modules/uplot

vendor-ui: ## copy the dashboard's chart library (uPlot, pinned in dashboard/ui-src) into dashboard/assets/vendor (needs npm)
	cd dashboard/ui-src && npm ci --ignore-scripts --no-audit --no-fund
	cp $(UPLOT_DIST)/dist/uPlot.esm.js dashboard/assets/vendor/uplot.esm.js
	cp $(UPLOT_DIST)/dist/uPlot.min.css dashboard/assets/vendor/uplot.min.css
	cp $(UPLOT_DIST)/LICENSE dashboard/assets/vendor/uplot.LICENSE.txt
	@echo "vendored uPlot $$(node -p 'require("./$(UPLOT_DIST)/package.json").version') into dashboard/assets/vendor"

screenshots: ## write a PNG of every dashboard page into docs/screenshots (needs chromium)
	mkdir -p docs/screenshots
	INFERMETER_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -timeout 10m -run 'TestDashboardScreenshots$$' -v .

SOAKFLAGS ?= -duration 30m -rate 2000 -stream-share 0.3

soak: ## 30 min at 2k req/s (30% streamed) through the simulator; RSS and goroutines each minute must stay flat (SOAKFLAGS; not in CI)
	$(GO) build -o $(BIN) .
	$(GO) run ./examples/soak -bin $(BIN) $(SOAKFLAGS)
