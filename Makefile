# make test runs every check that CI runs: formatting, vet, staticcheck, and
# the whole test suite under the race detector. Tests that need Postgres,
# Redis or Chromium skip unless those are configured (see scripts/test.sh).
.PHONY: test build serve lint fuzz bench

test:
	./scripts/test.sh

build:
	go build -o bin/valet ./cmd/valet

serve:
	go run ./cmd/valet serve

lint:
	./scripts/test.sh lint

fuzz:
	./scripts/test.sh fuzz

bench:
	go test -run '^$$' -bench . -benchmem ./...
