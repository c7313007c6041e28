package redis

import (
	"context"
	"errors"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// errMalformedReply is what Sweep reports for a script reply it cannot read.
var errMalformedReply = errors.New("malformed script reply")

// pruneBatch is how many members of an index one run of pruneIndex looks
// at, so that no script keeps Redis busy for long.
const pruneBatch = 256

// pruneIndex removes from one index (a zset of session ids, or a set of
// family ids) a batch of the members whose record key is gone, and returns
// the cursor to go on from ("0" when done) and how many it removed.
//
//	KEYS: index
//	ARGV: cursor, record key prefix, "z" for a zset or "s" for a set, batch
var pruneIndex = goredis.NewScript(`
local zset = ARGV[3] == 'z'
local r
if zset then
	r = redis.call('ZSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[4])
else
	r = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[4])
end
local step = 1
if zset then step = 2 end
local gone = {}
for i = 1, #r[2], step do
	local id = r[2][i]
	if redis.call('EXISTS', ARGV[2] .. id) == 0 then table.insert(gone, id) end
end
if #gone > 0 then
	if zset then
		redis.call('ZREM', KEYS[1], unpack(gone))
	else
		redis.call('SREM', KEYS[1], unpack(gone))
	end
end
return {r[1], #gone}
`)

// Sweep deletes no record: Redis expires every session, refresh family, token
// hash and index by itself, and the revocation set is trimmed on every write
// and read. What Redis cannot see is an index entry whose record has
// expired: a user's session and family indexes live as long as the latest
// record in them, so for a user who signs in again and again and never lists
// their sessions they would grow without bound. Sweep removes those entries,
// whatever now is (a record whose key is still there is kept, as lookups
// decide by Config.Now), and returns 0, since it deleted no record. It
// returns an error wrapping valet.ErrUnavailable when Redis fails; the
// entries pruned before the failure stay pruned.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	if _, err := s.pruneIndexes(ctx); err != nil {
		return 0, err
	}
	return 0, nil
}

// pruneIndexes removes, from every index under the prefix, the entries whose
// record is gone, and returns how many it removed. It pipelines the runs of
// pruneIndex for the indexes of each page of SCAN, so that the sweep of a
// large keyspace takes a round trip per page, not per index.
func (s *Store) pruneIndexes(ctx context.Context) (int, error) {
	// EVALSHA in a pipeline cannot fall back to EVAL, so the script is
	// loaded first.
	if err := pruneIndex.Load(ctx, s.client).Err(); err != nil {
		return 0, fail("sweep", err)
	}
	pruned := 0
	match := globEscape(s.prefix) + "*"
	for cursor := uint64(0); ; {
		keys, next, err := s.client.Scan(ctx, cursor, match, 1000).Result()
		if err != nil {
			return pruned, fail("sweep", err)
		}
		n, err := s.prune(ctx, s.indexes(keys))
		pruned += n
		if err != nil {
			return pruned, err
		}
		if next == 0 {
			return pruned, nil
		}
		cursor = next
	}
}

// indexScan is where the pruning of one index has got to.
type indexScan struct {
	key          string
	recordPrefix string // of the keys of the records the index names
	kind         string // "z" for a zset, "s" for a set
	cursor       string
}

// indexes returns the keys among keys that are indexes, each with the
// prefix of the records it names.
func (s *Store) indexes(keys []string) []indexScan {
	var out []indexScan
	for _, key := range keys {
		rest, ok := strings.CutPrefix(key, s.prefix)
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(rest, "u:") && strings.HasSuffix(rest, ":s"):
			out = append(out, indexScan{key, s.prefix + "s:", "z", "0"})
		case strings.HasPrefix(rest, "u:") && strings.HasSuffix(rest, ":rf"),
			strings.HasPrefix(rest, "sr:"):
			out = append(out, indexScan{key, s.prefix + "rf:", "s", "0"})
		}
	}
	return out
}

// prune runs pruneIndex on every index of todo until each is done, and
// returns how many entries it removed.
func (s *Store) prune(ctx context.Context, todo []indexScan) (int, error) {
	pruned := 0
	for len(todo) > 0 {
		cmds := make([]*goredis.Cmd, len(todo))
		_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i, ix := range todo {
				cmds[i] = pruneIndex.EvalSha(ctx, p, []string{ix.key}, ix.cursor, ix.recordPrefix, ix.kind, pruneBatch)
			}
			return nil
		})
		if err != nil {
			return pruned, fail("sweep", err)
		}
		var more []indexScan
		for i, cmd := range cmds {
			r, err := cmd.Slice()
			if err != nil {
				return pruned, fail("sweep", err)
			}
			if len(r) != 2 {
				return pruned, fail("sweep", errMalformedReply)
			}
			next, ok1 := r[0].(string)
			n, ok2 := r[1].(int64)
			if !ok1 || !ok2 {
				return pruned, fail("sweep", errMalformedReply)
			}
			pruned += int(n)
			if next != "0" {
				ix := todo[i]
				ix.cursor = next
				more = append(more, ix)
			}
		}
		todo = more
	}
	return pruned, nil
}

// globEscape quotes the characters that SCAN's MATCH pattern treats
// specially, so that a prefix matches only itself.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\^`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}
