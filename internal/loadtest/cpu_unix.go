//go:build unix

package loadtest

import (
	"syscall"
	"time"
)

// CPUTime returns the CPU time this process has used, user and system, on
// all threads; 0 when it cannot be read.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
