package password

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"

	"github.com/valetauth/valet"
)

// The bounds on the hashes of other systems that ValidateImport and Verify
// accept. They keep an imported hash, mistyped or tampered with, from
// making each login of its account cost unbounded memory or time; each is
// above what the usual libraries make by default.
const (
	// MaxImportBcryptCost is the highest bcrypt cost (2^14 rounds, about a
	// second).
	MaxImportBcryptCost = 14
	// MaxImportScryptLogN is the highest log2 of scrypt's N, for the scrypt
	// and fbscrypt formats: N at most 2^17 (128 MiB with r=8).
	MaxImportScryptLogN = 17
	// MaxImportScryptR and MaxImportScryptP bound scrypt's block size and
	// parallelism; MaxImportScryptWork bounds N·r·p, the work.
	MaxImportScryptR    = 16
	MaxImportScryptP    = 16
	MaxImportScryptWork = 1 << 22
	// MaxImportArgon2Memory is 1 GiB in KiB, libsodium's "sensitive" level.
	MaxImportArgon2Memory = 1 << 20
	// MaxImportArgon2Iterations and MaxImportArgon2Parallelism bound an
	// argon2 hash's time cost and lanes; MaxImportArgon2Work bounds memory
	// (KiB) × iterations.
	MaxImportArgon2Iterations  = 16
	MaxImportArgon2Parallelism = 16
	MaxImportArgon2Work        = 1 << 22
	// MinImportPBKDF2Iterations and MaxImportPBKDF2Iterations bound the
	// iteration count of a Django PBKDF2 hash.
	MinImportPBKDF2Iterations = 1000
	MaxImportPBKDF2Iterations = 10_000_000
)

// ValidateImport checks a password hash made by another system before it is
// stored, so that one Verify cannot read, or that would make each login cost
// too much, is refused at the import and not at the account's first login
// (when Verify and NeedsRehash replace it by argon2id). It accepts:
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>     argon2id and argon2i, PHC
//	$2b$12$<salt and hash>                          bcrypt, also $2a$ and $2y$
//	$scrypt$ln=16,r=8,p=1$<salt>$<hash>             scrypt, passlib's PHC form
//	pbkdf2_sha256$870000$<salt>$<hash>              Django, also pbkdf2_sha1
//	$fbscrypt$v=1,n=14,r=8,p=1,ss=<b64>,sk=<b64>$<salt>$<hash>
//	                                                Firebase scrypt, as Supabase Auth stores it
//
// within the bounds above (MaxImportBcryptCost and the rest). It returns nil
// for an acceptable hash, or an error of kind valet.ErrInvalidRequest, also
// wrapping ErrMalformedHash, whose message is one sentence that says what is
// wrong, such as "The bcrypt cost is 15; 4 to 14 is accepted."
func ValidateImport(encoded string) error {
	if _, err := parseHash(encoded, true); err != nil {
		return &valet.Error{Kind: valet.ErrInvalidRequest, Message: err.Error(), Err: ErrMalformedHash}
	}
	return nil
}

// scheme is a hash algorithm and format.
type scheme uint8

const (
	schemeArgon2id scheme = iota + 1
	schemeArgon2i
	schemeBcrypt
	schemeScrypt
	schemeFirebase
	schemePBKDF2SHA256
	schemePBKDF2SHA1
)

// stored is a parsed password hash of any scheme.
type stored struct {
	scheme scheme
	// argon are the parameters of argon2id and argon2i.
	argon Params
	// salt and key are the salt and the expected output of the derivation,
	// for every scheme but bcrypt.
	salt, key []byte
	// bcrypt is the whole bcrypt string.
	bcrypt []byte
	// logN, r and p are scrypt's, for scrypt and fbscrypt.
	logN, r, p int
	// iter is PBKDF2's iteration count.
	iter int
	// separator and signer are fbscrypt's salt separator and signer key.
	separator, signer []byte
}

// refusal is why a hash is refused: one sentence for a person.
type refusal string

func (r refusal) Error() string { return string(r) }

func refusef(format string, args ...any) error { return refusal(fmt.Sprintf(format, args...)) }

// parseHash parses encoded in any supported scheme. imported selects the
// bounds of ValidateImport for argon2id too; otherwise an argon2id hash gets
// Decode's, which admit whatever NewHasher can make.
func parseHash(encoded string, imported bool) (*stored, error) {
	switch {
	case encoded == "":
		return nil, refusal("The password hash is empty.")
	case strings.HasPrefix(encoded, "$argon2id$"):
		lim := ownArgon2
		if imported {
			lim = importArgon2
		}
		p, salt, key, err := parseArgon2(encoded, "argon2id", lim)
		if err != nil {
			return nil, err
		}
		return &stored{scheme: schemeArgon2id, argon: p, salt: salt, key: key}, nil
	case strings.HasPrefix(encoded, "$argon2i$"):
		p, salt, key, err := parseArgon2(encoded, "argon2i", importArgon2)
		if err != nil {
			return nil, err
		}
		return &stored{scheme: schemeArgon2i, argon: p, salt: salt, key: key}, nil
	case strings.HasPrefix(encoded, "$argon2d$"):
		return nil, refusal("Argon2d hashes are not supported; only argon2id and argon2i are.")
	case strings.HasPrefix(encoded, "$2"):
		return parseBcrypt(encoded)
	case strings.HasPrefix(encoded, "$scrypt$"):
		return parseScrypt(encoded)
	case strings.HasPrefix(encoded, "$fbscrypt$"):
		return parseFirebase(encoded)
	case strings.HasPrefix(encoded, "pbkdf2_sha256$"), strings.HasPrefix(encoded, "pbkdf2_sha1$"):
		return parsePBKDF2(encoded)
	}
	return nil, refusal("The password hash is in none of the supported formats: argon2id, argon2i, bcrypt, scrypt, Django's pbkdf2_sha256 or pbkdf2_sha1, and fbscrypt.")
}

// argon2Limits are the bounds parseArgon2 applies besides Params.validate's.
type argon2Limits struct {
	memory, iterations, parallelism uint64
	work                            uint64 // memory × iterations; 0 for no bound
}

var (
	ownArgon2    = argon2Limits{memory: MaxMemory, iterations: MaxIterations, parallelism: 255}
	importArgon2 = argon2Limits{memory: MaxImportArgon2Memory, iterations: MaxImportArgon2Iterations, parallelism: MaxImportArgon2Parallelism, work: MaxImportArgon2Work}
)

// parseArgon2 parses the PHC string of alg strictly, the way Decode
// documents, and applies lim.
func parseArgon2(encoded, alg string, lim argon2Limits) (p Params, salt, key []byte, err error) {
	fail := func(format string, args ...any) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, refusef(format, args...)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) == 5 && parts[0] == "" && parts[1] == alg && strings.HasPrefix(parts[2], "m=") {
		return fail("Argon2 hashes of version 16, without v=19, are not supported.")
	}
	if len(parts) != 6 || parts[0] != "" || parts[1] != alg {
		return fail("The %s hash must have the form $%s$v=19$m=…,t=…,p=…$salt$hash.", alg, alg)
	}
	if parts[2] != "v=19" {
		return fail("The %s hash must be of version 19 (v=19).", alg)
	}
	fields := strings.Split(parts[3], ",")
	var vals [3]uint64
	for i, name := range [3]string{"m", "t", "p"} {
		var ok bool
		if len(fields) == 3 {
			var digits string
			if digits, ok = strings.CutPrefix(fields[i], name+"="); ok {
				vals[i], ok = parseDecimal(digits)
			}
		}
		if !ok {
			return fail("The %s parameters must be m, t and p, in that order, as decimal numbers.", alg)
		}
	}
	m, t, lanes := vals[0], vals[1], vals[2]
	switch {
	case m > lim.memory:
		return fail("The %s memory is %d KiB; at most %d KiB is accepted.", alg, m, lim.memory)
	case t < 1 || t > lim.iterations:
		return fail("The %s time cost is %d; 1 to %d is accepted.", alg, t, lim.iterations)
	case lanes < 1 || lanes > lim.parallelism:
		return fail("The %s parallelism is %d; 1 to %d is accepted.", alg, lanes, lim.parallelism)
	case m < 8*lanes:
		// The reference implementation refuses this; x/crypto would silently
		// raise it, so a hash would not mean what its parameters say.
		return fail("The %s memory is %d KiB; at least 8 KiB per lane is needed.", alg, m)
	case lim.work > 0 && m*t > lim.work:
		return fail("The %s memory times time cost is %d; at most %d is accepted.", alg, m*t, lim.work)
	}
	// The decoder skips newlines, which a strict parse must not.
	if salt, err = decodeStrict(b64, parts[4]); err != nil {
		return fail("The %s salt is not base64 without padding.", alg)
	}
	if key, err = decodeStrict(b64, parts[5]); err != nil {
		return fail("The %s hash is not base64 without padding.", alg)
	}
	if n := len(salt); n < MinSaltLen || n > MaxSaltLen {
		return fail("The %s salt is %d bytes; %d to %d is accepted.", alg, n, MinSaltLen, MaxSaltLen)
	}
	if n := len(key); n < MinKeyLen || n > MaxKeyLen {
		return fail("The %s hash is %d bytes; %d to %d is accepted.", alg, n, MinKeyLen, MaxKeyLen)
	}
	p = Params{Memory: uint32(m), Iterations: uint32(t), Parallelism: uint8(lanes), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	return p, salt, key, nil
}

// decodeStrict decodes s with enc, refusing the newlines that the decoders
// of encoding/base64 skip.
func decodeStrict(enc *base64.Encoding, s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("newline in base64")
	}
	return enc.DecodeString(s)
}

// bcryptAlphabet is bcrypt's base64 alphabet.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func parseBcrypt(encoded string) (*stored, error) {
	// $2b$10$ then 22 characters of salt and 31 of hash.
	if len(encoded) >= 4 && encoded[3] == '$' && encoded[2] == 'x' {
		return nil, refusal("bcrypt $2x$ hashes, from a flawed implementation, are not supported.")
	}
	minor := byte(0)
	if len(encoded) >= 3 {
		minor = encoded[2]
	}
	if len(encoded) != 60 || encoded[3] != '$' || (minor != 'a' && minor != 'b' && minor != 'y') ||
		encoded[6] != '$' || strings.Trim(encoded[7:], bcryptAlphabet) != "" {
		return nil, refusal("The bcrypt hash must be 60 characters: $2b$ (or $2a$ or $2y$), two digits of cost, $, and 53 of salt and hash.")
	}
	c1, c2 := encoded[4], encoded[5]
	if c1 < '0' || c1 > '9' || c2 < '0' || c2 > '9' {
		return nil, refusal("The bcrypt cost must be two digits.")
	}
	cost := int(c1-'0')*10 + int(c2-'0')
	if cost < bcrypt.MinCost || cost > MaxImportBcryptCost {
		return nil, refusef("The bcrypt cost is %d; %d to %d is accepted.", cost, bcrypt.MinCost, MaxImportBcryptCost)
	}
	return &stored{scheme: schemeBcrypt, bcrypt: []byte(encoded)}, nil
}

// scryptParams checks scrypt's parameters against the import bounds.
func scryptParams(name string, logN, r, p uint64) error {
	switch {
	case logN < 1 || logN > MaxImportScryptLogN:
		return refusef("The %s N is 2^%d; 2^1 to 2^%d is accepted.", name, logN, MaxImportScryptLogN)
	case r < 1 || r > MaxImportScryptR:
		return refusef("The %s block size r is %d; 1 to %d is accepted.", name, r, MaxImportScryptR)
	case p < 1 || p > MaxImportScryptP:
		return refusef("The %s parallelism p is %d; 1 to %d is accepted.", name, p, MaxImportScryptP)
	case (1<<logN)*r*p > MaxImportScryptWork:
		return refusef("The %s work N·r·p is %d; at most %d is accepted.", name, (1<<logN)*r*p, MaxImportScryptWork)
	}
	return nil
}

// parseScrypt parses passlib's form, $scrypt$ln=16,r=8,p=1$<salt>$<hash>,
// with the salt and hash in standard base64 without padding.
func parseScrypt(encoded string) (*stored, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 5 || parts[0] != "" || parts[1] != "scrypt" {
		return nil, refusal("The scrypt hash must have the form $scrypt$ln=…,r=…,p=…$salt$hash.")
	}
	vals, ok := parseParams(parts[2], "ln", "r", "p")
	if !ok {
		return nil, refusal("The scrypt parameters must be ln, r and p, in that order, as decimal numbers.")
	}
	if err := scryptParams("scrypt", vals[0], vals[1], vals[2]); err != nil {
		return nil, err
	}
	salt, err := decodeStrict(b64, parts[3])
	if err != nil {
		return nil, refusal("The scrypt salt is not base64 without padding.")
	}
	key, err := decodeStrict(b64, parts[4])
	if err != nil {
		return nil, refusal("The scrypt hash is not base64 without padding.")
	}
	if n := len(salt); n < 1 || n > MaxSaltLen {
		return nil, refusef("The scrypt salt is %d bytes; 1 to %d is accepted.", n, MaxSaltLen)
	}
	if n := len(key); n < MinKeyLen || n > MaxKeyLen {
		return nil, refusef("The scrypt hash is %d bytes; %d to %d is accepted.", n, MinKeyLen, MaxKeyLen)
	}
	return &stored{scheme: schemeScrypt, salt: salt, key: key, logN: int(vals[0]), r: int(vals[1]), p: int(vals[2])}, nil
}

// parseParams parses "a=1,b=2,c=3" with exactly the names given, in order,
// as canonical decimals.
func parseParams(s string, names ...string) ([]uint64, bool) {
	fields := strings.Split(s, ",")
	if len(fields) != len(names) {
		return nil, false
	}
	vals := make([]uint64, len(names))
	for i, name := range names {
		digits, ok := strings.CutPrefix(fields[i], name+"=")
		if !ok {
			return nil, false
		}
		if vals[i], ok = parseDecimal(digits); !ok {
			return nil, false
		}
	}
	return vals, true
}

var stdB64 = base64.StdEncoding.Strict()

// parseFirebase parses Supabase Auth's form of a Firebase scrypt hash,
//
//	$fbscrypt$v=1,n=14,r=8,p=1,ss=<separator>,sk=<signer key>$<salt>$<hash>
//
// where n is Firebase's mem_cost (log2 N), r its rounds, and every binary
// field standard base64 with padding, as Firebase exports them. The salt
// separator may be left out (an empty one).
func parseFirebase(encoded string) (*stored, error) {
	const form = "The fbscrypt hash must have the form $fbscrypt$v=1,n=…,r=…,p=…,ss=…,sk=…$salt$hash."
	parts := strings.Split(encoded, "$")
	if len(parts) != 5 || parts[0] != "" || parts[1] != "fbscrypt" {
		return nil, refusal(form)
	}
	params := parts[2]
	if !strings.HasPrefix(params, "v=1,") {
		return nil, refusal("The fbscrypt hash must be of version 1 (v=1).")
	}
	params = params[len("v=1,"):]
	// The separator and the key are base64, which has no comma.
	fields := strings.Split(params, ",")
	var ss, sk string
	switch {
	case len(fields) == 5 && strings.HasPrefix(fields[3], "ss=") && strings.HasPrefix(fields[4], "sk="):
		ss, sk = fields[3][3:], fields[4][3:]
	case len(fields) == 4 && strings.HasPrefix(fields[3], "sk="):
		sk = fields[3][3:]
	default:
		return nil, refusal(form)
	}
	vals, ok := parseParams(strings.Join(fields[:3], ","), "n", "r", "p")
	if !ok {
		return nil, refusal("The fbscrypt parameters must be n, r and p, in that order, as decimal numbers.")
	}
	if err := scryptParams("fbscrypt", vals[0], vals[1], vals[2]); err != nil {
		return nil, err
	}
	separator, err := decodeStrict(stdB64, ss)
	if err != nil {
		return nil, refusal("The fbscrypt salt separator (ss) is not padded standard base64.")
	}
	signer, err := decodeStrict(stdB64, sk)
	if err != nil {
		return nil, refusal("The fbscrypt signer key (sk) is not padded standard base64.")
	}
	salt, err := decodeStrict(stdB64, parts[3])
	if err != nil {
		return nil, refusal("The fbscrypt salt is not padded standard base64.")
	}
	key, err := decodeStrict(stdB64, parts[4])
	if err != nil {
		return nil, refusal("The fbscrypt hash is not padded standard base64.")
	}
	switch {
	case len(separator) > MaxSaltLen:
		return nil, refusef("The fbscrypt salt separator is %d bytes; at most %d is accepted.", len(separator), MaxSaltLen)
	case len(salt) < 1 || len(salt) > MaxSaltLen:
		return nil, refusef("The fbscrypt salt is %d bytes; 1 to %d is accepted.", len(salt), MaxSaltLen)
	case len(signer) < MinKeyLen || len(signer) > MaxKeyLen:
		return nil, refusef("The fbscrypt signer key is %d bytes; %d to %d is accepted.", len(signer), MinKeyLen, MaxKeyLen)
	case len(key) != len(signer):
		// The hash is the signer key encrypted, so of its length.
		return nil, refusef("The fbscrypt hash is %d bytes; it must be as long as the signer key, %d.", len(key), len(signer))
	}
	return &stored{
		scheme: schemeFirebase, salt: salt, key: key, separator: separator, signer: signer,
		logN: int(vals[0]), r: int(vals[1]), p: int(vals[2]),
	}, nil
}

// parsePBKDF2 parses Django's pbkdf2_sha256$<iterations>$<salt>$<hash> and
// pbkdf2_sha1$…, where the salt is text used as its UTF-8 bytes and the
// hash, of the digest's length, is standard base64 with padding.
func parsePBKDF2(encoded string) (*stored, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 {
		return nil, refusal("The Django hash must have the form pbkdf2_sha256$iterations$salt$hash.")
	}
	s := &stored{scheme: schemePBKDF2SHA256}
	size := sha256.Size
	if parts[0] == "pbkdf2_sha1" {
		s.scheme, size = schemePBKDF2SHA1, sha1.Size
	}
	iter, ok := parseDecimal(parts[1])
	if !ok {
		return nil, refusal("The PBKDF2 iteration count must be a decimal number.")
	}
	if iter < MinImportPBKDF2Iterations || iter > MaxImportPBKDF2Iterations {
		return nil, refusef("The PBKDF2 iteration count is %d; %d to %d is accepted.", iter, MinImportPBKDF2Iterations, MaxImportPBKDF2Iterations)
	}
	salt := parts[2]
	if salt == "" || len(salt) > 128 || strings.ContainsFunc(salt, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, refusal("The PBKDF2 salt must be 1 to 128 characters, without control characters.")
	}
	key, err := decodeStrict(stdB64, parts[3])
	if err != nil {
		return nil, refusal("The PBKDF2 hash is not padded standard base64.")
	}
	if len(key) != size {
		return nil, refusef("The %s hash is %d bytes; it must be %d.", parts[0], len(key), size)
	}
	s.iter, s.salt, s.key = int(iter), []byte(salt), key
	return s, nil
}

// matches reports whether password derives s's key, comparing in constant
// time. It runs one derivation; the caller holds a hashing slot.
func (h *Hasher) matches(s *stored, password []byte) bool {
	var got []byte
	switch s.scheme {
	case schemeArgon2id:
		got = h.derive(password, s.salt, s.argon)
	case schemeArgon2i:
		p := s.argon
		got = argon2.Key(password, s.salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
	case schemeBcrypt:
		// bcrypt reads at most 72 bytes of the password; cut it here too, so
		// a longer one keeps matching as it did where the hash was made.
		if len(password) > 72 {
			password = password[:72]
		}
		// CompareHashAndPassword compares in constant time.
		return bcrypt.CompareHashAndPassword(s.bcrypt, password) == nil
	case schemeScrypt:
		var err error
		if got, err = scrypt.Key(password, s.salt, 1<<s.logN, s.r, s.p, len(s.key)); err != nil {
			return false
		}
	case schemeFirebase:
		got = firebaseScrypt(password, s)
	case schemePBKDF2SHA256, schemePBKDF2SHA1:
		var err error
		if s.scheme == schemePBKDF2SHA1 {
			got, err = pbkdf2.Key(sha1.New, string(password), s.salt, s.iter, len(s.key))
		} else {
			got, err = pbkdf2.Key(sha256.New, string(password), s.salt, s.iter, len(s.key))
		}
		if err != nil {
			return false
		}
	default:
		return false
	}
	return subtle.ConstantTimeCompare(got, s.key) == 1
}

// firebaseScrypt is Firebase's modified scrypt: the scrypt key of the
// password under the salt followed by the separator is the AES-256 key, in
// CTR mode from a zero IV, that encrypts the project's signer key; the
// result is the hash.
func firebaseScrypt(password []byte, s *stored) []byte {
	salt := make([]byte, 0, len(s.salt)+len(s.separator))
	salt = append(append(salt, s.salt...), s.separator...)
	key, err := scrypt.Key(password, salt, 1<<s.logN, s.r, s.p, 32)
	if err != nil {
		return nil
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil
	}
	out := make([]byte, len(s.signer))
	// A fixed IV is Firebase's design: each key encrypts one message.
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(out, s.signer)
	return out
}
