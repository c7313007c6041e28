package throttle_test

import (
	"testing"
	"time"

	"github.com/valetauth/valet/internal/testclock"
	"github.com/valetauth/valet/throttle"
	"github.com/valetauth/valet/throttle/throttletest"
)

func TestMemoryStore(t *testing.T) {
	c := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	throttletest.Store(t, throttle.NewMemory(throttle.MemoryConfig{Now: c.Now}), c.Advance)
}
