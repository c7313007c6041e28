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
  # Each fuzz target runs briefly on top of its committed corpus. A new
  # input is minimized for at most 100 runs: by default the engine spends
  # up to a minute on one, and a run that ends while a worker minimizes
  # fails with "context deadline exceeded" though nothing was found.
  local t="${FUZZTIME:-10s}"
  go test -run '^$' -fuzz '^FuzzDecodeCookie$' -fuzztime "$t" -fuzzminimizetime 100x ./session
  go test -run '^$' -fuzz '^FuzzCookieValue$' -fuzztime "$t" -fuzzminimizetime 100x ./session
  go test -run '^$' -fuzz '^FuzzParse$' -fuzztime "$t" -fuzzminimizetime 100x ./token
  go test -run '^$' -fuzz '^FuzzDecodeJSON$' -fuzztime "$t" -fuzzminimizetime 100x ./httpapi
  go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime "$t" -fuzzminimizetime 100x ./revoke
  go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime "$t" -fuzzminimizetime 100x ./password
  go test -run '^$' -fuzz '^FuzzParseUserAgent$' -fuzztime "$t" -fuzzminimizetime 100x ./web
  go test -run '^$' -fuzz '^FuzzSafeReturn$' -fuzztime "$t" -fuzzminimizetime 100x ./web
  go test -run '^$' -fuzz '^FuzzNormalizePath$' -fuzztime "$t" -fuzzminimizetime 100x ./httpapi
  go test -run '^$' -fuzz '^FuzzVerifyImported$' -fuzztime "$t" -fuzzminimizetime 100x ./password
  go test -run '^$' -fuzz '^FuzzClean$' -fuzztime "$t" -fuzzminimizetime 100x ./store/internal/text
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
