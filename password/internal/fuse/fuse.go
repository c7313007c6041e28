// Package fuse is a binary fuse filter with 16-bit fingerprints (Graf and
// Lemire, "Binary Fuse Filters: Fast and Smaller Than Xor Filters", 2022):
// a static set of 64-bit keys that answers "maybe present" for every key of
// the set and, for a key outside it, "maybe present" with probability about
// 2^-16, in about 18 bits a key.
//
// The serialized form is read in place, without copying or allocating, so a
// filter embedded in the binary costs no heap:
//
//	"VFU1"                 magic, 4 bytes
//	seed                   uint64
//	segment length         uint32, a power of two
//	segment count          uint32
//	array length           uint32, (segment count + 2) × segment length
//	key count              uint32, for information
//	fingerprints           array length × uint16
//
// with every integer little-endian.
package fuse

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"slices"
)

const (
	magic      = "VFU1"
	headerSize = 4 + 8 + 4*4
	arity      = 3
	// maxAttempts bounds the seeds Build tries. One attempt fails with a
	// probability well under 1% for distinct keys.
	maxAttempts = 100
)

// Filter is a built binary fuse filter. The zero Filter contains nothing.
type Filter struct {
	seed               uint64
	segmentLength      uint32
	segmentLengthMask  uint32
	segmentCountLength uint32
	keys               uint32
	// fp holds the fingerprints, little-endian, two bytes each.
	fp []byte
}

// Len returns the number of keys the filter was built from.
func (f *Filter) Len() int { return int(f.keys) }

// Size returns the size of the serialized filter in bytes.
func (f *Filter) Size() int { return headerSize + len(f.fp) }

// Contains reports whether key may be in the set: always true for a key of
// the set, and true with probability about 2^-16 for any other key.
func (f *Filter) Contains(key uint64) bool {
	if len(f.fp) == 0 {
		return false
	}
	h := mix(key, f.seed)
	h0, h1, h2 := f.positions(h)
	x := fingerprint(h) ^ f.at(h0) ^ f.at(h1) ^ f.at(h2)
	return x == 0
}

func (f *Filter) at(i uint32) uint16 { return binary.LittleEndian.Uint16(f.fp[2*i:]) }

// positions returns the three slots of hash h, one in each of three
// consecutive segments.
func (f *Filter) positions(h uint64) (h0, h1, h2 uint32) {
	hi, _ := bits.Mul64(h, uint64(f.segmentCountLength))
	h0 = uint32(hi)
	h1 = h0 + f.segmentLength
	h2 = h1 + f.segmentLength
	h1 ^= uint32(h>>18) & f.segmentLengthMask
	h2 ^= uint32(h) & f.segmentLengthMask
	return h0, h1, h2
}

// mix is the finalizer of MurmurHash3 applied to key+seed: a bijection of
// key for a given seed, so distinct keys never share a hash.
func mix(key, seed uint64) uint64 {
	h := key + seed
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func fingerprint(h uint64) uint16 { return uint16(h ^ h>>32) }

// splitmix64 returns the next value of the SplitMix64 sequence at *state.
func splitmix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// String returns the key of a string: 64-bit FNV-1a of its bytes. Two of
// the half million or so strings of a password list share a key with a
// probability of about 10^-8, and Build drops the duplicate.
func String(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// layout returns the segment length and count for n keys, the sizes the
// paper found to build at the first attempt almost always.
func layout(n uint32) (segmentLength, segmentCount uint32) {
	if n <= 1 {
		return 4, 1
	}
	segmentLength = uint32(1) << int(math.Floor(math.Log(float64(n))/math.Log(3.33)+2.25))
	segmentLength = min(segmentLength, 1<<18)
	sizeFactor := math.Max(1.125, 0.875+0.25*math.Log(1e6)/math.Log(float64(n)))
	capacity := uint32(math.Round(float64(n) * sizeFactor))
	initSegments := (capacity+segmentLength-1)/segmentLength - (arity - 1)
	arrayLength := (initSegments + arity - 1) * segmentLength
	segmentCount = (arrayLength + segmentLength - 1) / segmentLength
	if segmentCount <= arity-1 {
		segmentCount = 1
	} else {
		segmentCount -= arity - 1
	}
	return segmentLength, segmentCount
}

// Build returns a filter of keys; duplicates are dropped. It fails only in
// the unlikely case that no seed of the fixed sequence it tries works. The
// result depends on keys alone, not on their order.
func Build(keys []uint64) (*Filter, error) {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if len(keys) > math.MaxUint32/2 {
		return nil, errors.New("fuse: too many keys")
	}
	n := uint32(len(keys))
	segmentLength, segmentCount := layout(n)
	arrayLength := (segmentCount + arity - 1) * segmentLength
	f := &Filter{
		segmentLength:      segmentLength,
		segmentLengthMask:  segmentLength - 1,
		segmentCountLength: segmentCount * segmentLength,
		keys:               n,
	}
	if n == 0 {
		f.fp = make([]byte, 2*arrayLength)
		return f, nil
	}

	// Per slot: how many keys map to it, the xor of their hashes, and the xor
	// of which of their three positions (0, 1 or 2) the slot is; a slot with
	// one key then names that key and its position.
	count := make([]uint32, arrayLength)
	xorHash := make([]uint64, arrayLength)
	xorWhich := make([]uint8, arrayLength)
	stack := make([]uint64, 0, n)
	stackWhich := make([]uint8, 0, n)
	queue := make([]uint32, 0, arrayLength)

	state := uint64(0x76616c6574) // any fixed start keeps builds reproducible
	for attempt := 0; ; attempt++ {
		if attempt == maxAttempts {
			return nil, errors.New("fuse: no seed worked")
		}
		f.seed = splitmix64(&state)
		clear(count)
		clear(xorHash)
		clear(xorWhich)
		stack, stackWhich, queue = stack[:0], stackWhich[:0], queue[:0]

		for _, k := range keys {
			h := mix(k, f.seed)
			h0, h1, h2 := f.positions(h)
			for which, i := range [3]uint32{h0, h1, h2} {
				count[i]++
				xorHash[i] ^= h
				xorWhich[i] ^= uint8(which)
			}
		}
		for i, c := range count {
			if c == 1 {
				queue = append(queue, uint32(i))
			}
		}
		// Peel: a slot with one key fixes that key's fingerprint last, so
		// remove the key from its other two slots and go on.
		for len(queue) > 0 {
			i := queue[len(queue)-1]
			queue = queue[:len(queue)-1]
			if count[i] != 1 {
				continue
			}
			h, which := xorHash[i], xorWhich[i]
			stack = append(stack, h)
			stackWhich = append(stackWhich, which)
			h0, h1, h2 := f.positions(h)
			for w, j := range [3]uint32{h0, h1, h2} {
				count[j]--
				xorHash[j] ^= h
				xorWhich[j] ^= uint8(w)
				if count[j] == 1 {
					queue = append(queue, j)
				}
			}
		}
		if uint32(len(stack)) == n {
			break
		}
	}

	fp := make([]uint16, arrayLength)
	for k := len(stack) - 1; k >= 0; k-- {
		h := stack[k]
		h0, h1, h2 := f.positions(h)
		pos := [5]uint32{h0, h1, h2, h0, h1}
		w := stackWhich[k]
		fp[pos[w]] = fingerprint(h) ^ fp[pos[w+1]] ^ fp[pos[w+2]]
	}
	f.fp = make([]byte, 2*arrayLength)
	for i, v := range fp {
		binary.LittleEndian.PutUint16(f.fp[2*i:], v)
	}
	return f, nil
}

// MarshalBinary returns the serialized filter.
func (f *Filter) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, f.Size())
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint64(b, f.seed)
	b = binary.LittleEndian.AppendUint32(b, f.segmentLength)
	segmentCount := uint32(0)
	if f.segmentLength > 0 {
		segmentCount = f.segmentCountLength / f.segmentLength
	}
	b = binary.LittleEndian.AppendUint32(b, segmentCount)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(f.fp)/2))
	b = binary.LittleEndian.AppendUint32(b, f.keys)
	return append(b, f.fp...), nil
}

// Parse returns the filter serialized in b, which it keeps and reads in
// place: b must not change afterwards. It fails if b is not a consistent
// serialized filter.
func Parse(b []byte) (*Filter, error) {
	if len(b) < headerSize || string(b[:4]) != magic {
		return nil, errors.New("fuse: not a filter")
	}
	le := binary.LittleEndian
	seed := le.Uint64(b[4:])
	segmentLength := le.Uint32(b[12:])
	segmentCount := le.Uint32(b[16:])
	arrayLength := le.Uint32(b[20:])
	keys := le.Uint32(b[24:])
	fp := b[headerSize:]
	switch {
	case segmentLength == 0 || segmentLength&(segmentLength-1) != 0 || segmentLength > 1<<18:
		return nil, errors.New("fuse: bad segment length")
	case segmentCount == 0 || uint64(segmentCount)+arity-1 > math.MaxUint32/uint64(segmentLength):
		return nil, errors.New("fuse: bad segment count")
	case arrayLength != (segmentCount+arity-1)*segmentLength:
		return nil, errors.New("fuse: bad array length")
	case uint64(len(fp)) != 2*uint64(arrayLength):
		return nil, errors.New("fuse: truncated")
	}
	return &Filter{
		seed:               seed,
		segmentLength:      segmentLength,
		segmentLengthMask:  segmentLength - 1,
		segmentCountLength: segmentCount * segmentLength,
		keys:               keys,
		fp:                 fp,
	}, nil
}
