//go:build !unix

package httpapi_test

import "time"

// cpuTime returns 0 where getrusage does not exist.
func cpuTime() time.Duration { return 0 }
