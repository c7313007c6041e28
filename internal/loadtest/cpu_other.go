//go:build !unix

package loadtest

import "time"

// CPUTime returns 0: the CPU time of a process is read with getrusage,
// which this system does not have.
func CPUTime() time.Duration { return 0 }
