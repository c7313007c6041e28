//go:build race

package token

// raceEnabled is whether the race detector is on; sync.Pool drops items at
// random under it, which changes allocation counts.
const raceEnabled = true
