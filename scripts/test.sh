#!/usr/bin/env bash
# The project's checks. With no argument: lint, then every test under the race
# detector, then a short run of each fuzz target on its seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:$(go env GOPATH)/bin"

lint() {
  echo "== gofmt"
  bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
  if [ -n "$bad" ]; then echo "gofmt would change: $bad"; exit 1; fi
  echo "== go vet"
  go vet ./...
  echo "== staticcheck"
  command -v staticcheck >/dev/null || go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
  staticcheck ./...
  echo "== go mod tidy"
  go mod tidy -diff || { echo "go.mod or go.sum is not tidy: run go mod tidy"; exit 1; }
}

fuzz() {
  # Each fuzz target runs briefly on top of its committed corpus, for a
  # number of executions (about 8 s each on a two-core machine) rather
  # than a time: Go 1.26's engine can fail a timed run that ends while a
  # worker is still busy with "context deadline exceeded", though nothing
  # was found (go.dev/issue/75804, fixed in Go 1.27). A count has no
  # deadline, so a slow machine only takes longer. A new input is minimized
  # for at most 100 runs: by default the engine spends up to a minute on
  # one. FUZZTIME=30s (or 1000000x) sets one budget for every target.
  one() {
    go test -run '^$' -fuzz "^$1\$" -fuzztime "${FUZZTIME:-$3}" -fuzzminimizetime 100x "$2"
  }
  one FuzzDecodeCookie ./session 250000x
  one FuzzCookieValue ./session 200000x
  one FuzzParse ./token 100000x
  one FuzzDecodeJSON ./httpapi 15000x
  one FuzzDecode ./revoke 75000x
  one FuzzDecode ./password 300000x
  one FuzzParseUserAgent ./web 50000x
  one FuzzSafeReturn ./web 40000x
  one FuzzNormalizePath ./httpapi 25000x
  one FuzzVerifyImported ./password 300000x
  one FuzzClean ./store/internal/text 400000x
}

unit() {
  echo "== go test -race"
  # The summary prints each package's result, the output of what failed,
  # every skipped test with its reason, and "N passed, N failed, N skipped".
  go build -o /tmp/valet-testsummary ./internal/testsummary
  set +e
  go test -race -count=1 -timeout 15m -json ./... | /tmp/valet-testsummary
  status=$?
  set -e
  [ "$status" = 0 ] || exit "$status"
  if [ -f bench/go.mod ]; then
    echo "== bench module (benchmarks compile and run once)"
    (cd bench && go vet ./... && go test -count=1 -run . -bench . -benchtime 1x ./...)
  fi
}

case "${1:-all}" in
  lint) lint ;;
  fuzz) fuzz ;;
  unit) unit ;;
  all) lint; unit; fuzz ;;
  *) echo "usage: $0 [lint|unit|fuzz|all]" >&2; exit 2 ;;
esac
