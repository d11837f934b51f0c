# yocho — build, test, lint.
#   make test    installs what the tests need (Debian packages), then runs every test
#   make fuzz    runs every fuzz target for FUZZTIME each
#   make bench   runs the benchmarks (figures go in docs/benchmarks.md)

GO        ?= go
FUZZTIME  ?= 30s
STATICCHECK_VERSION := v0.8.2
export CGO_ENABLED := 1

.PHONY: all build test deps lint vet fuzz bench clean

all: build

build:
	$(GO) build -o yocho ./cmd/yocho

deps:
	./scripts/test-deps.sh

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	cd bench && $(GO) vet ./...

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

test: deps lint
	$(GO) test -count=1 -timeout 40m ./...
	cd bench && $(GO) test -count=1 -run . -bench . -benchtime 1x ./...

# Every fuzz target of every package, FUZZTIME each (go test runs one fuzz target at a time).
# The fuzz cache is cleared first: inputs it gathered over earlier runs make the baseline-coverage
# pass outgrow a short FUZZTIME on a loaded machine ("context deadline exceeded").
# A target that fails without writing a failing input under testdata/fuzz is run once more: Go
# 1.26's fuzz coordinator can report its own -fuzztime deadline as a failure (golang/go#75804,
# fixed in Go 1.27). A target that writes a failing input fails at once.
fuzz:
	@$(GO) clean -fuzzcache
	@for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	    echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
	    before=$$(ls $$dir/testdata/fuzz/$$t 2>/dev/null | wc -l); \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg && continue; \
	    [ "$$(ls $$dir/testdata/fuzz/$$t 2>/dev/null | wc -l)" = "$$before" ] || exit 1; \
	    echo "fuzz $$pkg $$t: failed with no failing input written (golang/go#75804); once more"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	cd bench && $(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -f yocho
