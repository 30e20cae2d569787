# The Gesundheitsamt portal. `make run` and `make test` are the two commands
# a newcomer needs; both install what is missing first (see .ci/install-deps).

SHELL         := /bin/bash
.SHELLFLAGS   := -eo pipefail -c

GO      ?= go
BIN     := bin/portal
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run test drill fuzz fuzz-short bench pgo deps-run deps-test clean

all: build

## build: bin/portal, its version from git describe (make alone does this)
build:
	$(GO) build -trimpath -pgo=cmd/portal/media.pgo -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/portal

## run: the portal on http://localhost:8080 with its own PostgreSQL under ./var and demo data
run: deps-run build
	PORTAL_DEMO=$${PORTAL_DEMO:-1} ./$(BIN) serve

## test: vet and all tests with the race detector, browser and accessibility tests included
test: deps-test
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) fuzz-short

## drill: the fault drill at full size against bin/portal (two processes, one killed,
## PostgreSQL and the relay stopped; a few minutes); make test runs its short form
drill: deps-run build
	$(GO) test -count=1 -run '^TestDrill$$' -v -timeout 30m ./cmd/portal/ -args -drill.full -drill.bin=$(CURDIR)/$(BIN)

## fuzz: a run of the fuzz targets of parsers of outside input, and of the
## receipt PDF with what citizens type (FuzzRender); FUZZTIME=5m for a long one
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./forms/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeValidate$$' -fuzztime $(FUZZTIME) ./forms/
	$(GO) test -run '^$$' -fuzz '^FuzzSniff$$' -fuzztime $(FUZZTIME) ./forms/
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME) ./internal/crypto/
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) ./internal/formpost/
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime $(FUZZTIME) ./internal/backup/
	$(GO) test -run '^$$' -fuzz '^FuzzPDFCheck$$' -fuzztime $(FUZZTIME) ./internal/scan/
	$(GO) test -run '^$$' -fuzz '^FuzzImage$$' -fuzztime $(FUZZTIME) ./internal/scan/
	$(GO) test -run '^$$' -fuzz '^FuzzParseUsername$$' -fuzztime $(FUZZTIME) ./internal/video/turn/
	$(GO) test -run '^$$' -fuzz '^FuzzHandle$$' -fuzztime $(FUZZTIME) ./internal/video/sfu/
	$(GO) test -run '^$$' -fuzz '^FuzzKeyframe$$' -fuzztime $(FUZZTIME) ./internal/video/sfu/
	$(GO) test -run '^$$' -fuzz '^FuzzFeedback$$' -fuzztime $(FUZZTIME) ./internal/video/bwe/
	$(GO) test -run '^$$' -fuzz '^FuzzRushTicket$$' -fuzztime $(FUZZTIME) ./portal/
	$(GO) test -run '^$$' -fuzz '^FuzzRender$$' -fuzztime $(FUZZTIME) ./internal/receipt/

# fuzz-short: what make test runs, a few seconds a target. Counts, not
# durations: Go 1.26's fuzzing coordinator can fail a target with a bare
# "context deadline exceeded" when a -fuzztime duration ends under load
# (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
fuzz-short:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 20000x ./forms/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeValidate$$' -fuzztime 20000x ./forms/
	$(GO) test -run '^$$' -fuzz '^FuzzSniff$$' -fuzztime 150000x ./forms/
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime 500000x ./internal/crypto/
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime 200000x ./internal/formpost/
	$(GO) test -run '^$$' -fuzz '^FuzzRead$$' -fuzztime 50000x ./internal/backup/
	$(GO) test -run '^$$' -fuzz '^FuzzPDFCheck$$' -fuzztime 50000x ./internal/scan/
	$(GO) test -run '^$$' -fuzz '^FuzzImage$$' -fuzztime 20000x ./internal/scan/
	$(GO) test -run '^$$' -fuzz '^FuzzParseUsername$$' -fuzztime 50000x ./internal/video/turn/
	$(GO) test -run '^$$' -fuzz '^FuzzHandle$$' -fuzztime 20000x ./internal/video/sfu/
	$(GO) test -run '^$$' -fuzz '^FuzzKeyframe$$' -fuzztime 200000x ./internal/video/sfu/
	$(GO) test -run '^$$' -fuzz '^FuzzFeedback$$' -fuzztime 200000x ./internal/video/bwe/
	$(GO) test -run '^$$' -fuzz '^FuzzRushTicket$$' -fuzztime 100000x ./portal/

## pgo: rewrite cmd/portal/media.pgo, the CPU profile of the media server under load
## that make build optimises the portal by (.ci/pgo, about a minute)
pgo:
	.ci/pgo

## bench: Go benchmarks of the hot paths, then the figures of the real binary under load
## (.ci/bench-http, .ci/bench-inbox, .ci/bench-mail, .ci/bench-video, .ci/bench-booking) and the hostile-load test at full size
bench: deps-run build
	@mkdir -p bin
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./portal/ ./forms/ ./internal/... | tee bin/bench.txt
	.ci/bench-http
	.ci/bench-inbox
	.ci/bench-mail
	.ci/bench-video
	.ci/bench-booking
	PORTAL_HOSTILE_URLS=100000 $(GO) test -count=1 -run '^TestHostileLoadLeavesMemoryBounded$$' -v ./cmd/portal/ | grep -E 'hostile_test|^(ok|FAIL|---)'

# deps-run, deps-test: the installs of make run and make test alone (.ci/install-deps)
deps-run:
	@.ci/install-deps postgres

deps-test:
	@.ci/install-deps postgres chromium node clamav

## clean: remove bin/ (var/, the local database and keys, stays)
clean:
	rm -rf bin
