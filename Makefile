# umbra — build, run, test.
GO        ?= go
# safe.directory: `sudo make install` in a clone the user owns must still
# read its version (git refuses a repository of another owner otherwise).
VERSION   ?= $(shell git -c safe.directory='$(CURDIR)' describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
BIN       := bin/umbra
FUZZTIME  ?= 30s
empty     :=
space     := $(empty) $(empty)
# Packages with concurrency run under the race detector in `make test`.
RACE_PKGS := ./internal/queue/ ./internal/dumpster/ ./internal/smtp/ ./internal/delivery/ ./internal/clock/ ./internal/tracking/ ./internal/mailbox/ ./internal/admin/ ./internal/shadow/ ./internal/pickup/ ./internal/console/
RACE_PKGS += ./internal/signing/
RACE_PKGS += ./internal/ldapdir/ ./internal/ratelimit/
RACE_PKGS += ./internal/tlspolicy/
RACE_PKGS += ./internal/milter/
RACE_PKGS += ./internal/resolver/ ./internal/connfilter/ ./internal/msgauth/ ./internal/backpressure/
RACE_PKGS += ./internal/httprefusal/

.PHONY: all build run test vet race fuzz bench chaos chaos-receipt sim install demo clean

PREFIX    ?= /usr
UNITDIR   ?= /lib/systemd/system

all: build

# Without a C compiler the go command builds with CGO_ENABLED=0, and the
# binary lacks the constructor that takes a SIGHUP from the process's
# first instant (cmd/umbra/earlyhup_cgo.go): a logrotate or reload HUP in
# its first tens of milliseconds ends it. `make build` and `make run` say
# so; `make install` (a service binary) refuses such a build unless
# ALLOW_NOCGO=1.
NOCGO_WARNING := binary built without cgo (no C compiler: apt-get install gcc): a SIGHUP in its first tens of milliseconds ends it
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/umbra
	@$(GO) version -m $(BIN) | grep -q 'CGO_ENABLED=1' || echo "warning: $(NOCGO_WARNING)" >&2

# A hub on 127.0.0.1:2525 with the embedded default configuration:
# mail for example.test lands in ./umbra-data/maildir.
run: build
	./$(BIN) serve

# The whole suite: vet, formatting, unit, loopback, multi-process and
# interop tests (Postfix smtp-source/smtp-sink and swaks when installed),
# and the race detector on the concurrent packages. Each package runs once:
# the packages of RACE_PKGS only under the race detector (no test depends
# on the race build tag, so the plain run would repeat the same tests),
# every other package (PLAIN_PKGS: all of `go list ./...` but RACE_PKGS, so
# a new package is never left out) without it. The plain packages run one
# at a time (-p 1): the multi-process tests of cmd/umbra pick free loopback
# ports for their daemons, and another package's listeners must not take
# them meanwhile. Within cmd/umbra the multi-process tests that mostly
# wait (takeover bounds, heartbeats, hung peers: each calls t.Parallel)
# run four at a time once the others are done; those that change what
# the whole process shares (the environment, the umask, a package
# variable, nft rules on loopback, the repository's own build) stay one
# at a time (TestParallelTestsShareNothingGlobal). The 40-minute bound
# leaves room for a loaded machine.
PLAIN_PKGS = $(filter-out $(shell $(GO) list $(RACE_PKGS)),$(shell $(GO) list ./...))
test: vet
	@out=$$(gofmt -l cmd internal); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) test -count=1 -p 1 -parallel 4 -timeout 2400s $(PLAIN_PKGS)
	$(GO) test -count=1 -race -timeout 1500s $(RACE_PKGS)
	SIM_SEEDS=20 $(GO) test -count=1 -race -timeout 600s ./internal/sim/

vet:
	$(GO) vet ./...

# The seeded in-process simulation (internal/sim) with SEEDS seeds of one
# fault each (make test runs 200) and SEEDS/2 seeds of two faults
# (reported, not promised). SIM_SEED=N in the environment reruns one seed.
SEEDS ?= 1000
sim:
	SIM_SEEDS=$(SEEDS) $(GO) test -count=1 -timeout 0 -v -run '^TestSim' ./internal/sim/

# Every fuzz target for FUZZTIME each (go test runs one target at a time).
# The inputs a run found interesting (new coverage) are copied into the
# package's testdata/fuzz/TARGET, where every `go test` replays them:
# commit them.
FUZZ_TARGETS := \
	./internal/config/:FuzzParse ./internal/config/:FuzzParseDuration ./internal/config/:FuzzParseTopology \
	./internal/routing/:FuzzRoute ./internal/pickup/:FuzzParse ./internal/smtp/:FuzzSession \
	./internal/queue/:FuzzDecodeMessage ./internal/queue/:FuzzDecodeRequest ./internal/smtp/:FuzzParseAddress \
	./internal/smtp/:FuzzShadowReplies ./internal/smtp/:FuzzParseCredentials ./cmd/umbra/:FuzzParseSince \
	./internal/smtp/:FuzzDotStuffing ./internal/smtp/:FuzzUnstuffData \
	./internal/header/:FuzzRemove ./internal/smtp/:FuzzRcptPostmaster ./internal/queue/:FuzzReturnedContent \
	./internal/orgid/:FuzzStrip \
	./internal/recipients/:FuzzParseFile ./internal/queue/:FuzzRefusalReply \
	./internal/milter/:FuzzParseReply ./internal/milter/:FuzzParseOptNeg ./internal/milter/:FuzzHeaderEdits \
	./internal/queue/:FuzzDecodePeer
FUZZ_TARGETS += ./internal/smtp/:FuzzShadowVerbArgs
FUZZ_TARGETS += ./internal/admin/:FuzzSubjectOf ./cmd/umbra/:FuzzReadIDs
FUZZ_TARGETS += ./internal/smtp/:FuzzStuffReader
FUZZ_TARGETS += ./internal/topology/:FuzzLoad
FUZZ_TARGETS += ./internal/smtp/:FuzzFraming ./internal/smtp/:FuzzBareNewline
FUZZ_TARGETS += ./internal/smtp/:FuzzMailCopyParam ./internal/smtp/:FuzzMailFlagParams
FUZZ_TARGETS += ./internal/smtp/:FuzzCopyBatch
FUZZ_TARGETS += ./internal/pickup/:FuzzCRLFWriter
FUZZ_TARGETS += ./internal/smtp/:FuzzPipelineReplies
FUZZ_TARGETS += ./internal/smtp/:FuzzUnstuffStream ./internal/smtp/:FuzzBodySink ./internal/msgauth/:FuzzBodyHash ./internal/smtp/:FuzzStuffStream
FUZZ_TARGETS += ./internal/smtp/:FuzzSpoolDifferential ./internal/header/:FuzzFieldWalk
FUZZ_TARGETS += ./internal/tlspolicy/:FuzzParsePolicy ./internal/tlspolicy/:FuzzParseRecords
FUZZ_TARGETS += ./internal/ldapdir/:FuzzFilter ./internal/ratelimit/:FuzzRestore
FUZZ_TARGETS += ./internal/config/:FuzzParseReturnCode ./internal/connfilter/:FuzzValidHELO
FUZZ_TARGETS += ./internal/signing/:FuzzSign ./internal/signing/:FuzzRelaxedBodyHash ./internal/signing/:FuzzParseKey
FUZZ_TARGETS += ./internal/header/:FuzzRemoveAuthResults ./internal/header/:FuzzMailboxes ./internal/msgauth/:FuzzFromDomain
FUZZ_TARGETS += ./internal/resolver/:FuzzParseHosts
FUZZ_TARGETS += ./internal/msgauth/:FuzzSplitHeader ./internal/msgauth/:FuzzARC ./internal/msgauth/:FuzzParseTags ./internal/msgauth/:FuzzAuthResults
FUZZ_TARGETS += ./internal/tracking/:FuzzAppendEntry
FUZZ_TARGETS += ./internal/smtp/:FuzzParseHeldArgs
FUZZ_TARGETS += ./internal/smtp/:FuzzRcptLine
FUZZ_TARGETS += ./internal/smtp/:FuzzScanDataEnd ./internal/smtp/:FuzzUnstuffRuns ./internal/smtp/:FuzzFramingWide
fuzz:
	@set -e; cache=$$($(GO) env GOCACHE)/fuzz; for spec in $(FUZZ_TARGETS); do \
	  pkg=$${spec%%:*}; fn=$${spec##*:}; \
	  echo "== $$fn ($$pkg, $(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg; \
	  src=$$cache/umbra/$${pkg#./}$$fn; dst=$${pkg}testdata/fuzz/$$fn; \
	  if [ -d "$$src" ]; then mkdir -p "$$dst"; cp -n "$$src"/* "$$dst"/ 2>/dev/null || true; fi; \
	  echo "   corpus: $$(ls "$$dst" 2>/dev/null | wc -l) inputs in $$dst"; \
	done

# Benchmarks, the figures of BENCHMARKS.md: enqueue throughput at 1, 16
# and 128 writers; relay smtp-source → MTA → smtp-sink against a
# throwaway Postfix instance in the same run (4 and 100 KiB, 1/20/100
# sessions; Postfix needs root); shadow on and off through two hops;
# delayed-acknowledgement latency; memory, start and `queue list` with
# 100,000 and 1,000,000 messages queued; routing; the dumpster.
bench:
	$(GO) test -run '^$$' -bench 'Enqueue' -benchtime 3s ./internal/queue/
	$(GO) test -run '^$$' -bench 'RelayVsPostfix' -benchtime 1x -timeout 3600s ./cmd/umbra/
	UMBRA_BENCH_STRACE=1 $(GO) test -run '^$$' -bench 'IdleLatency' -benchtime 100x -timeout 600s ./cmd/umbra/
	$(GO) test -run '^$$' -bench 'RelayDefaults' -benchtime 1x -count 3 -timeout 900s ./cmd/umbra/
	$(GO) test -run '^$$' -bench 'SlowDestination' -benchtime 1x -count 3 -timeout 900s ./cmd/umbra/
	$(GO) test -run '^$$' -bench 'LargeMessagesMemory' -benchtime 1x -timeout 900s ./cmd/umbra/
	$(GO) test -run '^$$' -bench 'ShadowTwoHops' -benchtime 1x -timeout 900s ./cmd/umbra/
	$(GO) test -run '^$$' -bench 'DelayedAck' -benchtime 500x -timeout 300s ./cmd/umbra/
	$(GO) test -run '^$$' -bench 'QueuedMemory' -benchtime 1x -timeout 3600s ./cmd/umbra/
	$(GO) test -run '^$$' -bench . -benchmem ./internal/routing/
	$(GO) test -run '^$$' -bench 'DumpsterKeep' -benchtime 2000x -benchmem ./internal/dumpster/
	$(GO) test -run '^$$' -bench 'DumpsterPrune|Redeliver' -benchtime 3x -benchmem ./internal/dumpster/

# The chaos soak: five servers in three sites and a destination outside
# the organisation, steady load, one fault at a time at random moments for
# CHAOS_DURATION: kill -9 of a random server (restart with the same
# database, a wiped one, or never) or a partition of one link between two
# servers (nftables rules on loopback, dropped or refused, shorter or
# longer than the takeover delay; needs root and nft). Then drain and
# report acknowledged, delivered, lost, duplicates at the mailbox (must be
# 0), duplicates outside explained by the fault that allowed them, and
# latency. CHAOS_SEED repeats a run. make test runs a 40 s version with a
# fixed seed.
# Then the scale tests make test leaves out (UMBRA_SOAK=1 runs them;
# without it each skips, naming this target): SOAK_TESTS.
CHAOS_DURATION ?= 5m
SOAK_TESTS := TestQueueActionsOutlastTheWait
chaos:
	UMBRA_CHAOS_DURATION=$(CHAOS_DURATION) UMBRA_CHAOS_SEED=$(CHAOS_SEED) UMBRA_CHAOS_REPORT=$(CURDIR)/chaos-report.txt \
	  $(GO) test -count=1 -run '^TestChaos$$' -v -timeout 0 ./cmd/umbra/
	@cat chaos-report.txt
	UMBRA_SOAK=1 $(GO) test -count=1 -run '^($(subst $(space),|,$(strip $(SOAK_TESTS))))$$' -v -timeout 0 ./cmd/umbra/

# The same soak with shadow on receipt (SR-17) on every receive connector.
chaos-receipt:
	UMBRA_CHAOS_RECEIPT=prefer-remote UMBRA_CHAOS_DURATION=$(CHAOS_DURATION) UMBRA_CHAOS_SEED=$(CHAOS_SEED) \
	  UMBRA_CHAOS_REPORT=$(CURDIR)/chaos-report.txt $(GO) test -count=1 -run '^TestChaos$$' -v -timeout 0 ./cmd/umbra/
	@cat chaos-report.txt

# Shadow redundancy in a minute: an edge and two hubs on loopback; hub 1
# dies for good and the edge's shadow copies reach the mailbox via hub 2.
demo: build
	bash deploy/demo/run.sh

# Binary, systemd units, sysusers entry, configurations that start as they
# are (a loopback hub and an edge that relays to it, side by side, without
# TLS or secrets; never overwriting an existing one) with the full
# examples beside them as .example files,
# monitoring files and the README. The configurations hold no secrets and
# are world-readable (0644), so that the unit's start-up check, which runs
# as the umbra user, can read them; secrets go in the files they name.
install: build
	@$(GO) version -m $(BIN) | grep -q 'CGO_ENABLED=1' || [ "$(ALLOW_NOCGO)" = 1 ] || \
	  { echo "make install: $(NOCGO_WARNING); install gcc, or ALLOW_NOCGO=1 to install it anyway" >&2; exit 1; }
	install -Dm755 $(BIN) $(DESTDIR)$(PREFIX)/bin/umbra
	for role in hub edge; do \
	  sed 's|/usr/bin/umbra|$(PREFIX)/bin/umbra|g' deploy/umbra-$$role.service > umbra-$$role.service.tmp && \
	  install -Dm644 umbra-$$role.service.tmp $(DESTDIR)$(UNITDIR)/umbra-$$role.service && rm umbra-$$role.service.tmp; \
	  [ -e $(DESTDIR)/etc/umbra/$$role.yaml ] || install -Dm644 deploy/install/$$role.yaml $(DESTDIR)/etc/umbra/$$role.yaml; \
	  install -Dm644 configs/$$role.yaml $(DESTDIR)/etc/umbra/$$role.yaml.example; \
	done
	install -Dm644 deploy/umbra.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/umbra.conf
	install -Dm644 deploy/prometheus-rules.yaml $(DESTDIR)$(PREFIX)/share/umbra/prometheus-rules.yaml
	install -Dm644 deploy/grafana-dashboard.json $(DESTDIR)$(PREFIX)/share/umbra/grafana-dashboard.json
	install -Dm644 deploy/umbra.logrotate $(DESTDIR)$(PREFIX)/share/umbra/umbra.logrotate
	install -Dm644 deploy/dovecot/90-umbra-duplicate.conf $(DESTDIR)$(PREFIX)/share/umbra/dovecot/90-umbra-duplicate.conf
	install -Dm644 deploy/dovecot/umbra-duplicate.sieve $(DESTDIR)$(PREFIX)/share/umbra/dovecot/umbra-duplicate.sieve
	install -Dm644 README.md $(DESTDIR)$(PREFIX)/share/doc/umbra/README.md

clean:
	rm -rf bin umbra-data chaos-report.txt
