// Command testsummary reads `go test -json` on standard input and prints
// what `go test` would (a line per package, the output of what failed),
// then the tests that were skipped and why, and a closing line
// "N passed, N failed, N skipped", so that a green run cannot hide its
// skips. It exits 1 when a test or a build failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	Elapsed     float64
	ImportPath  string
	FailedBuild string
}

func main() {
	os.Exit(run(os.Stdin, os.Stdout))
}

func run(in io.Reader, out io.Writer) int {
	var (
		passed, failed, skipped int
		output                  = map[string][]string{} // package or package/test -> lines
		skips                   = map[string][]string{} // reason -> tests
		failedBuild             bool
	)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			fmt.Fprintln(out, string(line)) // not test2json: pass it on
			continue
		}
		key := e.Package
		if e.Test != "" {
			key += "/" + e.Test
		}
		switch e.Action {
		case "build-output":
			fmt.Fprint(out, e.Output)
		case "build-fail":
			failedBuild = true
		case "output":
			output[key] = append(output[key], e.Output)
		case "pass":
			if e.Test != "" {
				passed++
			} else {
				fmt.Fprintf(out, "ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
			}
			delete(output, key)
		case "skip":
			if e.Test == "" {
				fmt.Fprintf(out, "?   \t%s\t[no test files]\n", e.Package)
				break
			}
			skipped++
			r := skipReason(output[key])
			skips[r] = append(skips[r], e.Package+" "+e.Test)
			delete(output, key)
		case "fail":
			if e.Test != "" {
				failed++
				fmt.Fprint(out, strings.Join(output[key], ""))
			} else {
				if e.FailedBuild != "" {
					failedBuild = true
				}
				text := strings.Join(output[key], "")
				fmt.Fprint(out, text)
				if !strings.Contains(text, "FAIL\t"+e.Package) {
					fmt.Fprintf(out, "FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
				}
			}
			delete(output, key)
		}
	}
	if len(skips) > 0 {
		reasons := make([]string, 0, len(skips))
		for r := range skips {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		fmt.Fprintln(out, "== skipped tests, by reason")
		for _, r := range reasons {
			fmt.Fprintf(out, "%4d  %s\n", len(skips[r]), r)
		}
	}
	fmt.Fprintf(out, "%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || failedBuild {
		return 1
	}
	return 0
}

// skipReason is the message a skipped test gave: its last output line that
// is not go test's own "--- SKIP" line.
func skipReason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "--- SKIP") || strings.HasPrefix(l, "=== ") {
			continue
		}
		// "file_test.go:12: reason"
		if j := strings.Index(l, ".go:"); j >= 0 {
			if k := strings.Index(l[j+4:], ": "); k >= 0 {
				l = l[j+4+k+2:]
			}
		}
		return l
	}
	return "(no reason given)"
}
