package password

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valetauth/valet"
)

// vector is a password and its hash, made by another system.
type vector struct {
	name, password, encoded string
}

// loadVectors reads testdata/vectors.txt; see testdata/README.md.
func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	f, err := os.Open("testdata/vectors.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 3 {
			tb.Fatalf("vectors.txt: %q has %d fields, want 3", line, len(fields))
		}
		vs = append(vs, vector{fields[0], fields[1], fields[2]})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return vs
}

const firebaseVector = "$fbscrypt$v=1,n=14,r=8,p=1,ss=Bw==,sk=jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==$42xEC+ixf3L2lw==$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ=="

// cheapImported has one cheap vector of each imported scheme, from
// vectors.txt.
var cheapImported = []vector{
	{"argon2i", "pässwörd ✓", "$argon2i$v=19$m=1024,t=1,p=2$c2FsdHlzYWx0eXNhbHR5IQ$J+/cw56N98L6bXwNyRxsaQ"},
	{"bcrypt", "U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
	{"scrypt", "password", "$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ945ovKHmVEozHkePPbSqw"},
	{"pbkdf2_sha256", "password", "pbkdf2_sha256$1000$seasalt$YIWkt6M1JFXrHg5s0jZjBSc7C2Cz6QvchSJ0h8Y+i7c="},
	{"pbkdf2_sha1", "password", "pbkdf2_sha1$4096$salt$SwB5AbdlSJq+rUnZJvch0GWkKcE="},
	{"fbscrypt", "user1password", firebaseVector},
}

func TestImportedVectors(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, 2, 0)
	vs := loadVectors(t)
	if len(vs) < 30 {
		t.Fatalf("vectors.txt has %d vectors, want at least 30", len(vs))
	}
	seen := map[scheme]int{}
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			if err := ValidateImport(v.encoded); err != nil {
				t.Fatalf("ValidateImport: %v", err)
			}
			s, err := parseHash(v.encoded, true)
			if err != nil {
				t.Fatal(err)
			}
			seen[s.scheme]++
			if got, want := NeedsRehash(v.encoded, Params{}), s.scheme != schemeArgon2id; got != want {
				t.Errorf("NeedsRehash = %v, want %v", got, want)
			}
			if testing.Short() && !cheapToVerify(s) {
				t.Skip("costly to verify; not in -short")
			}
			ok, err := h.Verify(ctx, v.password, v.encoded)
			if err != nil || !ok {
				t.Errorf("Verify(right password) = %v, %v; want true, nil", ok, err)
			}
			// A change at the start, since bcrypt reads only 72 bytes.
			ok, err = h.Verify(ctx, "!"+v.password, v.encoded)
			if err != nil || ok {
				t.Errorf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
			}
		})
	}
	for _, sc := range []scheme{schemeArgon2id, schemeArgon2i, schemeBcrypt, schemeScrypt, schemeFirebase, schemePBKDF2SHA256, schemePBKDF2SHA1} {
		if seen[sc] == 0 {
			t.Errorf("no vector of scheme %d", sc)
		}
	}
}

func TestBcryptLongPassword(t *testing.T) {
	// bcrypt reads 72 bytes of the password: as crypt(3) made it, so it
	// verifies.
	ctx := context.Background()
	h := newTestHasher(t, 1, 0)
	var enc string
	for _, v := range loadVectors(t) {
		if v.name == "crypt bcrypt 80-byte password" {
			enc = v.encoded
		}
	}
	if enc == "" {
		t.Fatal("no 80-byte vector")
	}
	long := strings.Repeat("x", 80)
	tests := []struct {
		name, password string
		want           bool
	}{
		{"80 bytes", long, true},
		{"first 72 bytes", long[:72], true},
		{"100 bytes", strings.Repeat("x", 100), true},
		{"71 bytes", long[:71], false},
		{"72nd byte differs", long[:71] + "y" + long[72:], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := h.Verify(ctx, tc.password, enc)
			if err != nil || ok != tc.want {
				t.Errorf("Verify = %v, %v; want %v, nil", ok, err, tc.want)
			}
		})
	}
}

// attacks are hashes that ValidateImport and Verify must refuse, each with
// the sentence ValidateImport gives.
var attacks = []struct {
	name, encoded, want string
}{
	{"empty", "", "The password hash is empty."},
	{"plain text", "hunter2", "The password hash is in none of the supported formats: argon2id, argon2i, bcrypt, scrypt, Django's pbkdf2_sha256 or pbkdf2_sha1, and fbscrypt."},
	{"md5 crypt", "$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0", "The password hash is in none of the supported formats: argon2id, argon2i, bcrypt, scrypt, Django's pbkdf2_sha256 or pbkdf2_sha1, and fbscrypt."},
	{"django md5", "md5$seasalt$f5531bef9f3687d0ccf0f617f0e25573", "The password hash is in none of the supported formats: argon2id, argon2i, bcrypt, scrypt, Django's pbkdf2_sha256 or pbkdf2_sha1, and fbscrypt."},
	{"leading space", " $2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "The password hash is in none of the supported formats: argon2id, argon2i, bcrypt, scrypt, Django's pbkdf2_sha256 or pbkdf2_sha1, and fbscrypt."},

	// argon2
	{"argon2d", "$argon2d$v=19$m=1024,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$CKGe5/bX9YnCq2rxjW5yQXKxn31v1GKzhDCrMc6r6vA", "Argon2d hashes are not supported; only argon2id and argon2i are."},
	{"argon2i version 16", "$argon2i$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$iDoHsJkczCNRjwISH0IL7Bxa65e7yZ8nY0yRqC+7Odw", "Argon2 hashes of version 16, without v=19, are not supported."},
	{"argon2i v=16", "$argon2i$v=16$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$iDoHsJkczCNRjwISH0IL7Bxa65e7yZ8nY0yRqC+7Odw", "The argon2i hash must be of version 19 (v=19)."},
	{"argon2i truncated", "$argon2i$v=19$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA", "The argon2i hash must have the form $argon2i$v=19$m=…,t=…,p=…$salt$hash."},
	{"argon2i keyid", "$argon2i$v=19$m=4096,t=3,p=1,keyid=abc$c29tZXNhbHRzb21lc2FsdA$iDoHsJkczCNRjwISH0IL7Bxa65e7yZ8nY0yRqC+7Odw", "The argon2i parameters must be m, t and p, in that order, as decimal numbers."},
	{"argon2i huge memory", "$argon2i$v=19$m=4194304,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$iDoHsJkczCNRjwISH0IL7Bxa65e7yZ8nY0yRqC+7Odw", "The argon2i memory is 4194304 KiB; at most 1048576 KiB is accepted."},
	{"argon2i memory overflows", "$argon2i$v=19$m=99999999999,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$iDoHsJkczCNRjwISH0IL7Bxa65e7yZ8nY0yRqC+7Odw", "The argon2i parameters must be m, t and p, in that order, as decimal numbers."},
	{"argon2i huge time", "$argon2i$v=19$m=4096,t=100,p=1$c29tZXNhbHRzb21lc2FsdA$iDoHsJkczCNRjwISH0IL7Bxa65e7yZ8nY0yRqC+7Odw", "The argon2i time cost is 100; 1 to 16 is accepted."},
	{"argon2i many lanes", "$argon2i$v=19$m=65536,t=1,p=64$c29tZXNhbHRzb21lc2FsdA$iDoHsJkczCNRjwISH0IL7Bxa65e7yZ8nY0yRqC+7Odw", "The argon2i parallelism is 64; 1 to 16 is accepted."},
	{"argon2i too much work", "$argon2i$v=19$m=1048576,t=16,p=1$c29tZXNhbHRzb21lc2FsdA$iDoHsJkczCNRjwISH0IL7Bxa65e7yZ8nY0yRqC+7Odw", "The argon2i memory times time cost is 16777216; at most 4194304 is accepted."},
	{"argon2i no lanes", "$argon2i$v=19$m=4096,t=1,p=0$c29tZXNhbHRzb21lc2FsdA$iDoHsJkczCNRjwISH0IL7Bxa65e7yZ8nY0yRqC+7Odw", "The argon2i parallelism is 0; 1 to 16 is accepted."},
	{"argon2i too little memory", "$argon2i$v=19$m=31,t=1,p=4$c29tZXNhbHRzb21lc2FsdA$iDoHsJkczCNRjwISH0IL7Bxa65e7yZ8nY0yRqC+7Odw", "The argon2i memory is 31 KiB; at least 8 KiB per lane is needed."},
	{"argon2i bad base64", "$argon2i$v=19$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$iDoHsJkczCNRjwISH0IL7Bxa65e7yZ8nY0yRqC+7Od!", "The argon2i hash is not base64 without padding."},
	{"argon2i padded salt", "$argon2i$v=19$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA==$iDoHsJkczCNRjwISH0IL7Bxa65e7yZ8nY0yRqC+7Odw", "The argon2i salt is not base64 without padding."},
	{"argon2i short key", "$argon2i$v=19$m=4096,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$iDoHsJkczCNRjw", "The argon2i hash is 10 bytes; 16 to 128 is accepted."},
	{"argon2i short salt", "$argon2i$v=19$m=4096,t=3,p=1$c2FsdA$iDoHsJkczCNRjwISH0IL7Bxa65e7yZ8nY0yRqC+7Odw", "The argon2i salt is 4 bytes; 8 to 64 is accepted."},

	// bcrypt
	{"bcrypt truncated", "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhW", "The bcrypt hash must be 60 characters: $2b$ (or $2a$ or $2y$), two digits of cost, $, and 53 of salt and hash."},
	{"bcrypt too long", "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWyy", "The bcrypt hash must be 60 characters: $2b$ (or $2a$ or $2y$), two digits of cost, $, and 53 of salt and hash."},
	{"bcrypt bad alphabet", "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lh+y", "The bcrypt hash must be 60 characters: $2b$ (or $2a$ or $2y$), two digits of cost, $, and 53 of salt and hash."},
	{"bcrypt $2x$", "$2x$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "bcrypt $2x$ hashes, from a flawed implementation, are not supported."},
	{"bcrypt $2$", "$2$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWyy", "The bcrypt hash must be 60 characters: $2b$ (or $2a$ or $2y$), two digits of cost, $, and 53 of salt and hash."},
	{"bcrypt cost 15", "$2b$15$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "The bcrypt cost is 15; 4 to 14 is accepted."},
	{"bcrypt cost 31", "$2b$31$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "The bcrypt cost is 31; 4 to 14 is accepted."},
	{"bcrypt cost 03", "$2b$03$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "The bcrypt cost is 3; 4 to 14 is accepted."},
	{"bcrypt cost not digits", "$2b$1a$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "The bcrypt cost must be two digits."},

	// scrypt
	{"scrypt truncated", "$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg", "The scrypt hash must have the form $scrypt$ln=…,r=…,p=…$salt$hash."},
	{"scrypt N as a number", "$scrypt$n=1024,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ945ovKHmVEozHkePPbSqw", "The scrypt parameters must be ln, r and p, in that order, as decimal numbers."},
	{"scrypt N 2^18", "$scrypt$ln=18,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ945ovKHmVEozHkePPbSqw", "The scrypt N is 2^18; 2^1 to 2^17 is accepted."},
	{"scrypt N 2^64", "$scrypt$ln=64,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ945ovKHmVEozHkePPbSqw", "The scrypt N is 2^64; 2^1 to 2^17 is accepted."},
	{"scrypt N 1", "$scrypt$ln=0,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ945ovKHmVEozHkePPbSqw", "The scrypt N is 2^0; 2^1 to 2^17 is accepted."},
	{"scrypt huge r", "$scrypt$ln=10,r=1000000,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ945ovKHmVEozHkePPbSqw", "The scrypt block size r is 1000000; 1 to 16 is accepted."},
	{"scrypt huge p", "$scrypt$ln=10,r=8,p=4096$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ945ovKHmVEozHkePPbSqw", "The scrypt parallelism p is 4096; 1 to 16 is accepted."},
	{"scrypt too much work", "$scrypt$ln=17,r=16,p=16$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ945ovKHmVEozHkePPbSqw", "The scrypt work N·r·p is 33554432; at most 4194304 is accepted."},
	{"scrypt bad base64", "$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ945ovKHmVEozHkePPbSq_", "The scrypt hash is not base64 without padding."},
	{"scrypt empty salt", "$scrypt$ln=10,r=8,p=1$$ZEBCzLptWM7dhpNJDU2HbQ945ovKHmVEozHkePPbSqw", "The scrypt salt is 0 bytes; 1 to 64 is accepted."},
	{"scrypt short hash", "$scrypt$ln=10,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLpt", "The scrypt hash is 6 bytes; 16 to 128 is accepted."},

	// fbscrypt
	{"fbscrypt truncated", strings.TrimSuffix(firebaseVector, "$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ=="), "The fbscrypt hash must have the form $fbscrypt$v=1,n=…,r=…,p=…,ss=…,sk=…$salt$hash."},
	{"fbscrypt version 2", strings.Replace(firebaseVector, "v=1,", "v=2,", 1), "The fbscrypt hash must be of version 1 (v=1)."},
	{"fbscrypt no signer key", strings.Replace(firebaseVector, ",sk=jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==", "", 1), "The fbscrypt hash must have the form $fbscrypt$v=1,n=…,r=…,p=…,ss=…,sk=…$salt$hash."},
	{"fbscrypt N 2^18", strings.Replace(firebaseVector, "n=14", "n=18", 1), "The fbscrypt N is 2^18; 2^1 to 2^17 is accepted."},
	{"fbscrypt huge r", strings.Replace(firebaseVector, "r=8", "r=99", 1), "The fbscrypt block size r is 99; 1 to 16 is accepted."},
	{"fbscrypt unpadded salt", strings.Replace(firebaseVector, "42xEC+ixf3L2lw==", "42xEC+ixf3L2lw", 1), "The fbscrypt salt is not padded standard base64."},
	{"fbscrypt url-safe signer key", strings.Replace(firebaseVector, "vpjeJ9WmXA==", "vpjeJ9WmX_==", 1), "The fbscrypt signer key (sk) is not padded standard base64."},
	{"fbscrypt short hash", strings.Replace(firebaseVector, "JAdRuid5lQ==", "JAdRuid5", 1), "The fbscrypt hash is 63 bytes; it must be as long as the signer key, 64."},

	// Django
	{"django truncated", "pbkdf2_sha256$260000$Y9N0mGvvLd2cwb5sWD8mUe", "The Django hash must have the form pbkdf2_sha256$iterations$salt$hash."},
	{"django extra field", "pbkdf2_sha256$260000$Y9N0mGvvLd2cwb5sWD8mUe$bMKOR5e53svvbkjchmJMffMX5EMirjn70MotjOTsP2o=$", "The Django hash must have the form pbkdf2_sha256$iterations$salt$hash."},
	{"django too few iterations", "pbkdf2_sha256$999$seasalt$YIWkt6M1JFXrHg5s0jZjBSc7C2Cz6QvchSJ0h8Y+i7c=", "The PBKDF2 iteration count is 999; 1000 to 10000000 is accepted."},
	{"django absurd iterations", "pbkdf2_sha256$2000000000$seasalt$YIWkt6M1JFXrHg5s0jZjBSc7C2Cz6QvchSJ0h8Y+i7c=", "The PBKDF2 iteration count is 2000000000; 1000 to 10000000 is accepted."},
	{"django iterations overflow", "pbkdf2_sha256$99999999999999999999$seasalt$YIWkt6M1JFXrHg5s0jZjBSc7C2Cz6QvchSJ0h8Y+i7c=", "The PBKDF2 iteration count must be a decimal number."},
	{"django negative iterations", "pbkdf2_sha256$-1000$seasalt$YIWkt6M1JFXrHg5s0jZjBSc7C2Cz6QvchSJ0h8Y+i7c=", "The PBKDF2 iteration count must be a decimal number."},
	{"django empty salt", "pbkdf2_sha256$1000$$YIWkt6M1JFXrHg5s0jZjBSc7C2Cz6QvchSJ0h8Y+i7c=", "The PBKDF2 salt must be 1 to 128 characters, without control characters."},
	{"django unpadded hash", "pbkdf2_sha256$1000$seasalt$YIWkt6M1JFXrHg5s0jZjBSc7C2Cz6QvchSJ0h8Y+i7c", "The PBKDF2 hash is not padded standard base64."},
	{"django sha1 length for sha256", "pbkdf2_sha256$4096$salt$SwB5AbdlSJq+rUnZJvch0GWkKcE=", "The pbkdf2_sha256 hash is 20 bytes; it must be 32."},
	{"django sha256 length for sha1", "pbkdf2_sha1$1000$seasalt$YIWkt6M1JFXrHg5s0jZjBSc7C2Cz6QvchSJ0h8Y+i7c=", "The pbkdf2_sha1 hash is 32 bytes; it must be 20."},
	{"django unknown digest", "pbkdf2_sha512$1000$seasalt$YIWkt6M1JFXrHg5s0jZjBSc7C2Cz6QvchSJ0h8Y+i7c=", "The password hash is in none of the supported formats: argon2id, argon2i, bcrypt, scrypt, Django's pbkdf2_sha256 or pbkdf2_sha1, and fbscrypt."},
}

func TestValidateImportRefusals(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, 1, 0)
	for _, tc := range attacks {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateImport(tc.encoded)
			if !errors.Is(err, valet.ErrInvalidRequest) || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("ValidateImport = %v, want an error of kind valet.ErrInvalidRequest wrapping ErrMalformedHash", err)
			}
			if got, want := valet.Message(err), tc.want; got != want {
				t.Errorf("message = %q\nwant      %q", got, want)
			}
			ok, err := h.Verify(ctx, "password", tc.encoded)
			if ok || !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Verify = %v, %v; want false and an error wrapping ErrMalformedHash", ok, err)
			}
			if !NeedsRehash(tc.encoded, Params{}) {
				t.Error("NeedsRehash = false, want true")
			}
		})
	}
}

func TestValidateImportOwnHashes(t *testing.T) {
	// valet's own hashes import too, as long as they are within the import
	// bounds, which are tighter than Decode's.
	h := NewHasher(Params{}, 1, 0)
	enc, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateImport(enc); err != nil {
		t.Errorf("ValidateImport(own default hash) = %v", err)
	}
	tests := []struct{ name, encoded, want string }{
		{"2 GiB", "$argon2id$v=19$m=2097152,t=1,p=1$" + goodSalt + "$" + goodKey, "The argon2id memory is 2097152 KiB; at most 1048576 KiB is accepted."},
		{"100 passes", "$argon2id$v=19$m=4096,t=100,p=1$" + goodSalt + "$" + goodKey, "The argon2id time cost is 100; 1 to 16 is accepted."},
		{"64 lanes", "$argon2id$v=19$m=65536,t=1,p=64$" + goodSalt + "$" + goodKey, "The argon2id parallelism is 64; 1 to 16 is accepted."},
		{"too much work", "$argon2id$v=19$m=1048576,t=16,p=1$" + goodSalt + "$" + goodKey, "The argon2id memory times time cost is 16777216; at most 4194304 is accepted."},
	}
	for _, tc := range tests {
		if _, _, _, err := Decode(tc.encoded); err != nil {
			t.Errorf("%s: Decode = %v, want nil", tc.name, err)
		}
		if got := valet.Message(ValidateImport(tc.encoded)); got != tc.want {
			t.Errorf("%s: ValidateImport message = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestVerifyNormalization(t *testing.T) {
	ctx := context.Background()
	const (
		composed   = "caf\u00e9 au lait!" // é as one code point, NFKC
		decomposed = "cafe\u0301 au lait!"
		fullwidth  = "ｃａｆé au lait!" // NFKC folds full-width letters to ASCII
	)
	if Normalize(decomposed) != composed || Normalize(fullwidth) != composed {
		t.Fatal("test strings do not normalize as assumed")
	}

	t.Run("Hash normalizes", func(t *testing.T) {
		h := newTestHasher(t, 1, 0)
		enc, err := h.Hash(ctx, decomposed)
		if err != nil {
			t.Fatal(err)
		}
		for _, pw := range []string{composed, decomposed, fullwidth} {
			ok, rehash, err := h.VerifyUpgrade(ctx, pw, enc)
			if err != nil || !ok || rehash {
				t.Errorf("VerifyUpgrade(%q) = %v, %v, %v; want true, false, nil", pw, ok, rehash, err)
			}
		}
	})

	t.Run("raw form of an older hash", func(t *testing.T) {
		// A hash of the unnormalized bytes, as valet made before it
		// normalized, or as another system made.
		h := newTestHasher(t, 1, 0)
		salt := []byte("somesaltsomesalt")
		enc := encode(h.Params(), salt, idKey([]byte(decomposed), salt, h.Params()))
		var calls atomic.Int32
		real := h.derive
		h.derive = func(password, salt []byte, p Params) []byte {
			calls.Add(1)
			// Both tries run in the one slot that Verify holds.
			if got := len(h.slots); got != 1 {
				t.Errorf("derive ran with %d slots held, want 1", got)
			}
			return real(password, salt, p)
		}
		ok, rehash, err := h.VerifyUpgrade(ctx, decomposed, enc)
		if err != nil || !ok || !rehash {
			t.Errorf("VerifyUpgrade(raw) = %v, %v, %v; want true, true, nil", ok, rehash, err)
		}
		if got, want := calls.Load(), int32(2); got != want {
			t.Errorf("derivations = %d, want %d (normalized, then raw)", got, want)
		}
		// The composed form cannot match a hash of the decomposed bytes, and
		// is tried once since it is its own normal form.
		calls.Store(0)
		ok, err = h.Verify(ctx, composed, enc)
		if err != nil || ok {
			t.Errorf("Verify(composed) = %v, %v; want false, nil", ok, err)
		}
		if got, want := calls.Load(), int32(1); got != want {
			t.Errorf("derivations = %d, want %d", got, want)
		}
	})

	t.Run("imported hash of the raw form", func(t *testing.T) {
		// make_vectors.py style, of the decomposed bytes:
		// hashlib.pbkdf2_hmac("sha256", "cafe\u0301 au lait!".encode(), b"seasalt", 1000)
		const enc = "pbkdf2_sha256$1000$seasalt$uGPFeUuZ3iuxH9lZlpqe1GlpsiuoV091lxkUt+RgGQU="
		h := newTestHasher(t, 1, 0)
		ok, rehash, err := h.VerifyUpgrade(ctx, decomposed, enc)
		if err != nil || !ok || !rehash {
			t.Errorf("VerifyUpgrade(raw) = %v, %v, %v; want true, true, nil", ok, rehash, err)
		}
	})

	t.Run("VerifyDummy does the same work", func(t *testing.T) {
		h := newTestHasher(t, 1, 0)
		var calls atomic.Int32
		real := h.derive
		h.derive = func(password, salt []byte, p Params) []byte {
			calls.Add(1)
			return real(password, salt, p)
		}
		if err := h.VerifyDummy(ctx, decomposed); err != nil {
			t.Fatal(err)
		}
		if got, want := calls.Load(), int32(2); got != want {
			t.Errorf("derivations = %d, want %d, as a failed Verify of an unnormalized password", got, want)
		}
	})
}

func TestVerifyUpgrade(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, 1, 0)
	own, err := h.Hash(ctx, "a password of ours")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, password, encoded string
		ok, rehash              bool
	}{
		{"own, current", "a password of ours", own, true, false},
		{"own, wrong password", "not ours", own, false, false},
		{"imported bcrypt", "U*U", cheapImported[1].encoded, true, true},
		{"imported, wrong password", "U*U*", cheapImported[1].encoded, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := h.VerifyUpgrade(ctx, tc.password, tc.encoded)
			if err != nil || ok != tc.ok || rehash != tc.rehash {
				t.Errorf("VerifyUpgrade = %v, %v, %v; want %v, %v, nil", ok, rehash, err, tc.ok, tc.rehash)
			}
		})
	}
}

func TestVerifyImportedWrongPasswords(t *testing.T) {
	ctx := context.Background()
	h := newTestHasher(t, 1, 0)
	for _, v := range cheapImported {
		for _, pw := range []string{"", " ", strings.ToUpper(v.password), v.password + v.password, "\x00", strings.Repeat("x", 10000)} {
			if pw == v.password {
				continue
			}
			ok, err := h.Verify(ctx, pw, v.encoded)
			if err != nil || ok {
				t.Errorf("%s: Verify(%.20q) = %v, %v; want false, nil", v.name, pw, ok, err)
			}
		}
	}
}
