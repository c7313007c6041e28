package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"run","Package":"p","Test":"TestPG"}`,
		`{"Action":"output","Package":"p","Test":"TestPG","Output":"    pg_test.go:12: service not configured: VALET_TEST_POSTGRES is not set\n"}`,
		`{"Action":"output","Package":"p","Test":"TestPG","Output":"--- SKIP: TestPG (0.00s)\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestPG"}`,
		`{"Action":"pass","Package":"p","Elapsed":0.5}`,
		`{"Action":"output","Package":"q","Test":"TestB","Output":"    q_test.go:3: got 1, want 2\n"}`,
		`{"Action":"fail","Package":"q","Test":"TestB"}`,
		`{"Action":"fail","Package":"q","Elapsed":0.1}`,
	}, "\n")
	var out bytes.Buffer
	if code := run(strings.NewReader(in), &out); code != 1 {
		t.Errorf("exit code %d, want 1 for a failed test", code)
	}
	got := out.String()
	for _, want := range []string{
		"ok  \tp\t0.500s",
		"got 1, want 2",
		"FAIL\tq",
		"1  service not configured: VALET_TEST_POSTGRES is not set",
		"1 passed, 1 failed, 1 skipped\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
