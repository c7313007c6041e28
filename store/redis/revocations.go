package redis

import (
	"context"
	"math"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
)

// AddRevocation records r; an existing entry for the same session keeps the
// later Until. Until is kept to the microsecond. Entries that
// ended by Config.Now are trimmed on the way. It returns an error wrapping
// valet.ErrUnavailable when Redis fails.
func (s *Store) AddRevocation(ctx context.Context, r valet.Revocation) error {
	key := s.revokedKey()
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.ZAddGT(ctx, key, goredis.Z{Score: score(r.Until), Member: r.SessionID})
		p.ZRemRangeByScore(ctx, key, "-inf", formatScore(score(s.now())))
		return nil
	})
	if err != nil {
		return fail("add revocation", err)
	}
	return nil
}

// Revocations returns the entries whose Until is after now, and removes the
// others. It returns an error wrapping
// valet.ErrUnavailable when Redis fails.
func (s *Store) Revocations(ctx context.Context, now time.Time) ([]valet.Revocation, error) {
	key := s.revokedKey()
	cutoff := formatScore(score(now))
	var live *goredis.ZSliceCmd
	_, err := s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		// Entries that ended can never matter again: every token naming them
		// has expired. Trimming here keeps the set a starting node loads small.
		p.ZRemRangeByScore(ctx, key, "-inf", cutoff)
		live = p.ZRangeByScoreWithScores(ctx, key, &goredis.ZRangeBy{Min: "(" + cutoff, Max: "+inf"})
		return nil
	})
	if err != nil {
		return nil, fail("revocations", err)
	}
	zs := live.Val()
	if len(zs) == 0 {
		return nil, nil
	}
	revs := make([]valet.Revocation, 0, len(zs))
	for _, z := range zs {
		id, _ := z.Member.(string)
		revs = append(revs, valet.Revocation{SessionID: id, Until: fromScore(z.Score)})
	}
	return revs, nil
}

// score maps t to unix milliseconds with a fraction, to the microsecond: a
// float64 holds a count of microseconds exactly, and equal times give equal
// scores, so an entry whose Until is now is not after now.
func score(t time.Time) float64 { return float64(t.UnixMicro()) / 1e3 }

func formatScore(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// fromScore inverts score.
func fromScore(f float64) time.Time { return time.UnixMicro(int64(math.Round(f * 1e3))).UTC() }
