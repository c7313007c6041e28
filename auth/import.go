package auth

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/revoke"
)

// The bounds of an import.
const (
	// MaxImportLineBytes is the longest line ImportUsers reads, newline
	// included; a longer line fails on its own, and the next is read.
	MaxImportLineBytes = 64 << 10
	// MaxImportFailures is how many failed lines an ImportReport lists;
	// Failed counts them all.
	MaxImportFailures = 1000
	// DefaultImportBatch is how many users ImportUsers stores in one
	// transaction when ImportOptions.BatchSize is 0.
	DefaultImportBatch = 1000
)

// unusablePasswordHash is the stored hash of an account imported without
// one. It is in none of the formats a hash may have (password.ValidateImport
// refuses it, so no import line can carry it), so no password matches it
// and the account cannot sign in with one until its password is set by
// recovery.
const unusablePasswordHash = "!"

// usablePassword reports whether hash can match a password.
func usablePassword(hash string) bool { return !strings.HasPrefix(hash, "!") }

// ImportOptions configures ImportUsers. The zero value stores the users and
// skips those whose email is taken.
type ImportOptions struct {
	// DryRun checks every line, and looks up which users would be created,
	// updated or skipped, without storing anything. Default false.
	DryRun bool
	// OnConflict is what to do with a user whose email is stored already:
	// valet.ConflictSkip (the default) keeps the stored user as it is;
	// valet.ConflictUpdate replaces its password hash (by the unusable
	// password when the line has none) and its roles with the line's, and
	// keeps its id, creation time and disabled state. An update ends no
	// session of the user.
	OnConflict valet.OnConflict
	// BatchSize is how many users are stored in one transaction. Default
	// DefaultImportBatch.
	BatchSize int
	// Progress, when set, is called with the report so far after each
	// batch, from the goroutine that called ImportUsers.
	Progress func(ImportReport)
	// Client is where the import comes from, for the audit event.
	Client Client
}

// ImportFailure is a line that was not imported.
type ImportFailure struct {
	// Line is the line's number, from 1.
	Line int
	// Reason is one sentence for a person, such as "The bcrypt cost is
	// 15; 4 to 14 is accepted." It never quotes a password hash.
	Reason string
}

// ImportReport is what an import did, or in a dry run would do.
type ImportReport struct {
	DryRun bool
	// Lines is how many lines were read, blank ones included.
	Lines int
	// Created, Updated and Skipped count the users by what happened to
	// them; Failed counts the lines that failed.
	Created, Updated, Skipped, Failed int
	// Failures are the first MaxImportFailures failed lines, in order.
	Failures []ImportFailure
}

// importLine is one line of the import format. Pointers tell a field that is
// absent from one that is empty.
type importLine struct {
	Email        *string  `json:"email"`
	PasswordHash *string  `json:"password_hash"`
	Roles        []string `json:"roles"`
	CreatedAt    *string  `json:"created_at"`
	Disabled     *bool    `json:"disabled"`
	// EmailVerified says that the other system had verified the address.
	EmailVerified *bool `json:"email_verified"`
}

// importFields are the fields of importLine, as the messages name them.
var importFields = map[string]string{
	"email": "a string", "password_hash": "a string", "roles": "an array of strings",
	"created_at": "a string", "disabled": "true or false", "email_verified": "true or false",
}

// ParseOnConflict returns the OnConflict named s ("" is valet.ConflictSkip),
// or an error of kind valet.ErrInvalidRequest.
func ParseOnConflict(s string) (valet.OnConflict, error) {
	switch c := valet.OnConflict(s); c {
	case "":
		return valet.ConflictSkip, nil
	case valet.ConflictSkip, valet.ConflictUpdate:
		return c, nil
	}
	return "", valet.Errorf(valet.ErrInvalidRequest, "on_conflict must be skip or update.")
}

// ImportUsers reads users from r in JSON Lines, one object a line:
//
//	{"email":"ada@example.com","password_hash":"$2y$10$…","roles":["admin"],"created_at":"2021-03-04T05:06:07Z"}
//
// email is required and normalized (see NormalizeEmail). password_hash,
// when given, is a hash of another system that password.ValidateImport
// accepts (argon2id or argon2i PHC, bcrypt, scrypt PHC, Django PBKDF2,
// Firebase scrypt); it is stored as it is, never computed here, and
// replaced by argon2id at the account's first login. A user without one
// gets an unusable password: it cannot sign in until it sets a password by
// recovery. roles follow the rules of CreateUser; created_at is RFC 3339
// (default now); disabled and email_verified (default false, verified at
// the time of the import) apply to users created by the import only, which
// never changes them on a stored account. A field not named here fails
// the line.
//
// A line that fails (malformed JSON, a bad field, a line longer than
// MaxImportLineBytes, an email already on an earlier line) is reported by
// number with a reason and does not stop the others. Blank lines are
// skipped. Users are stored in batches (ImportOptions.BatchSize), each in
// one transaction when the user store is a valet.UserImporter. No password
// is hashed, so an import costs what its writes cost.
//
// Until its first sign-in, checking a password of an imported account
// costs what its old hash costs (a bcrypt of cost 12 takes longer than
// valet's argon2id), while an unknown email costs an argon2id: the time
// of a failed login can then tell that such an account exists.
//
// The error is for failures of the reader, of the store (wrapping
// valet.ErrUnavailable) and for bad options (valet.ErrInvalidRequest); the
// report then says what was stored before the failure.
func (s *Service) ImportUsers(ctx context.Context, r io.Reader, opts ImportOptions) (ImportReport, error) {
	onConflict, err := ParseOnConflict(string(opts.OnConflict))
	if err != nil {
		return ImportReport{}, err
	}
	size := opts.BatchSize
	if size <= 0 {
		size = DefaultImportBatch
	}
	im := &importer{
		s: s, opts: opts, onConflict: onConflict,
		report: ImportReport{DryRun: opts.DryRun},
		seen:   map[string]int{},
		batch:  make([]valet.User, 0, size),
		size:   size,
		now:    s.cfg.Now().UTC().Truncate(time.Microsecond),
	}
	err = im.run(ctx, r)
	rep := im.report
	kv := []any{"dry_run", rep.DryRun, "on_conflict", string(onConflict), "lines", rep.Lines,
		"created", rep.Created, "updated", rep.Updated, "skipped", rep.Skipped, "failed", rep.Failed}
	if err != nil {
		kv = append(kv, "err", err.Error())
	}
	s.audit(ctx, "user.import", "", "", opts.Client, kv...)
	return rep, err
}

// importer is the state of one ImportUsers call.
type importer struct {
	s          *Service
	opts       ImportOptions
	onConflict valet.OnConflict
	report     ImportReport
	// seen maps each email read so far to its line.
	seen  map[string]int
	batch []valet.User
	size  int
	now   time.Time
}

func (im *importer) run(ctx context.Context, r io.Reader) error {
	br := bufio.NewReaderSize(r, MaxImportLineBytes)
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		tooLong := false
		for errors.Is(err, bufio.ErrBufferFull) {
			// Drop the rest of the line, however long, without holding it.
			tooLong, line = true, nil
			_, err = br.ReadSlice('\n')
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading line %d: %w", n, err)
		}
		if len(line) > 0 || tooLong {
			im.report.Lines = n
			if tooLong {
				im.fail(n, fmt.Sprintf("The line is longer than %d KiB.", MaxImportLineBytes>>10))
			} else {
				im.line(n, line)
			}
			if len(im.batch) >= im.size {
				if ferr := im.flush(ctx); ferr != nil {
					return ferr
				}
			}
		}
		if err != nil { // io.EOF
			break
		}
	}
	return im.flush(ctx)
}

// fail records that line n was not imported, for reason.
func (im *importer) fail(n int, reason string) {
	im.report.Failed++
	if len(im.report.Failures) < MaxImportFailures {
		im.report.Failures = append(im.report.Failures, ImportFailure{Line: n, Reason: reason})
	}
}

// line checks line n and adds its user to the batch, or records why not.
func (im *importer) line(n int, raw []byte) {
	if n == 1 {
		raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return
	}
	u, err := im.user(raw)
	if err != nil {
		im.fail(n, valet.Message(err))
		return
	}
	if first, dup := im.seen[u.Email]; dup {
		im.fail(n, fmt.Sprintf("The email is on line %d already.", first))
		return
	}
	im.seen[u.Email] = n
	im.batch = append(im.batch, u)
}

// user parses and checks one line.
func (im *importer) user(raw []byte) (valet.User, error) {
	bad := func(format string, args ...any) (valet.User, error) {
		return valet.User{}, valet.Errorf(valet.ErrInvalidRequest, format, args...)
	}
	if !utf8.Valid(raw) {
		return bad("The line is not valid UTF-8.")
	}
	var in importLine
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return bad("%s", jsonReason(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("The line holds more than one JSON value.")
	}
	if in.Email == nil {
		return bad("The email is missing.")
	}
	email, err := NormalizeEmail(*in.Email)
	if err != nil {
		return valet.User{}, err
	}
	hash := unusablePasswordHash
	if in.PasswordHash != nil {
		if err := password.ValidateImport(*in.PasswordHash); err != nil {
			return valet.User{}, err
		}
		hash = *in.PasswordHash
	}
	if err := validRoles(in.Roles); err != nil {
		return valet.User{}, err
	}
	roles := dedupe(in.Roles)
	if roles == nil {
		roles = []string{}
	}
	created := im.now
	if in.CreatedAt != nil {
		t, err := time.Parse(time.RFC3339, *in.CreatedAt)
		if err != nil {
			return bad("The created_at is not an RFC 3339 time such as 2021-03-04T05:06:07Z.")
		}
		// A day of leeway for the clocks of the systems involved.
		if t.After(im.now.Add(24 * time.Hour)) {
			return bad("The created_at is in the future.")
		}
		created = t.UTC().Truncate(time.Microsecond)
	}
	u := valet.User{
		ID: newShortID(), Email: email, PasswordHash: hash, Roles: roles,
		CreatedAt: created, UpdatedAt: im.now,
	}
	if in.Disabled != nil {
		u.Disabled = *in.Disabled
	}
	if in.EmailVerified != nil && *in.EmailVerified {
		u.EmailVerified, u.EmailVerifiedAt = true, im.now
	}
	return u, nil
}

// jsonReason is the sentence for a line that is not an object of the
// format. It names a field only when it is one of the format's, or a short
// unknown one, quoted, so that a line cannot write what it likes into a
// report.
func jsonReason(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "The line is not valid JSON."
	case errors.As(err, &typ):
		if want, ok := importFields[typ.Field]; ok {
			return fmt.Sprintf("The field %s must be %s.", typ.Field, want)
		}
		if strings.HasPrefix(typ.Field, "roles") {
			return fmt.Sprintf("The field roles must be %s.", importFields["roles"])
		}
		return "The line must be a JSON object."
	}
	if quoted, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if name, err := strconv.Unquote(quoted); err == nil {
			if r := []rune(name); len(r) > 40 {
				name = string(r[:40]) + "…"
			}
			return fmt.Sprintf("The field %q is not one of email, password_hash, roles, created_at, disabled and email_verified.", name)
		}
	}
	return "The line is not a JSON object of the import format."
}

// flush stores the batch (or, in a dry run, looks up what storing it would
// do) and reports progress.
func (im *importer) flush(ctx context.Context) error {
	if len(im.batch) == 0 {
		return nil
	}
	var c, u, sk int
	var err error
	switch imp, ok := im.s.users.(valet.UserImporter); {
	case im.opts.DryRun:
		c, u, sk, err = im.lookUp(ctx)
	case ok:
		c, u, sk, err = imp.ImportUsers(ctx, im.batch, im.onConflict)
	default:
		c, u, sk, err = im.oneByOne(ctx)
	}
	im.report.Created += c
	im.report.Updated += u
	im.report.Skipped += sk
	im.batch = im.batch[:0]
	if u > 0 {
		// Updated users have new roles, and the counts do not say which.
		if cerr := im.s.userChanged(ctx, revoke.AllUsers); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	if im.opts.Progress != nil {
		rep := im.report
		rep.Failures = slices.Clone(rep.Failures)
		im.opts.Progress(rep)
	}
	return nil
}

// lookUp counts what storing the batch would do, storing nothing.
func (im *importer) lookUp(ctx context.Context) (created, updated, skipped int, err error) {
	for _, u := range im.batch {
		_, err := im.s.users.UserByEmail(ctx, u.Email)
		switch {
		case errors.Is(err, valet.ErrNotFound):
			created++
		case err != nil:
			return created, updated, skipped, err
		case im.onConflict == valet.ConflictUpdate:
			updated++
		default:
			skipped++
		}
	}
	return created, updated, skipped, nil
}

// oneByOne stores the batch through the UserStore interface alone, for a
// store that is no valet.UserImporter.
func (im *importer) oneByOne(ctx context.Context) (created, updated, skipped int, err error) {
	for _, u := range im.batch {
		err := im.s.users.CreateUser(ctx, u)
		switch {
		case err == nil:
			created++
			continue
		case !errors.Is(err, valet.ErrConflict):
			return created, updated, skipped, err
		case im.onConflict != valet.ConflictUpdate:
			skipped++
			continue
		}
		old, err := im.s.users.UserByEmail(ctx, u.Email)
		if errors.Is(err, valet.ErrNotFound) {
			// The conflict was the id's, which is astronomically unlikely;
			// the user's next import will have another.
			return created, updated, skipped, fmt.Errorf("%w: import: a user id clashed", valet.ErrUnavailable)
		}
		if err != nil {
			return created, updated, skipped, err
		}
		old.PasswordHash, old.Roles, old.UpdatedAt = u.PasswordHash, u.Roles, u.UpdatedAt
		if err := im.s.users.UpdateUser(ctx, old); err != nil {
			return created, updated, skipped, err
		}
		updated++
	}
	return created, updated, skipped, nil
}

// exportLine is one line of ExportUsers, in the import format.
type exportLine struct {
	Email        string   `json:"email"`
	PasswordHash string   `json:"password_hash,omitempty"`
	Roles        []string `json:"roles"`
	Disabled     bool     `json:"disabled,omitempty"`
	// EmailVerified is written only when true, as imports read it.
	EmailVerified bool   `json:"email_verified,omitempty"`
	CreatedAt     string `json:"created_at"`
}

// ExportUsers writes every user to w in the format that ImportUsers reads,
// oldest first, one line each: its email, its stored password hash
// (argon2id, or the hash it was imported with while it has not signed in
// since; none for an account without a password), its roles, whether it
// is disabled and its address verified, and when it was created. The output holds password hashes:
// it is as secret as the database. It returns how many users it wrote, and
// the error of the store or of w. Users created or deleted while it runs
// may be missed or written twice.
func (s *Service) ExportUsers(ctx context.Context, w io.Writer) (int, error) {
	const page = 1000
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	n := 0
	for offset := 0; ; offset += page {
		users, _, err := s.users.ListUsers(ctx, valet.UserQuery{Offset: offset, Limit: page})
		if err != nil {
			return n, err
		}
		for _, u := range users {
			l := exportLine{Email: u.Email, Roles: u.Roles, Disabled: u.Disabled, EmailVerified: u.EmailVerified,
				CreatedAt: u.CreatedAt.UTC().Format(time.RFC3339Nano)}
			if usablePassword(u.PasswordHash) {
				l.PasswordHash = u.PasswordHash
			}
			if l.Roles == nil {
				l.Roles = []string{}
			}
			if err := enc.Encode(l); err != nil {
				return n, err
			}
			n++
		}
		if len(users) < page {
			break
		}
	}
	return n, bw.Flush()
}
