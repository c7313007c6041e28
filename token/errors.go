package token

import "github.com/valetauth/valet"

// tokenError is the type of this package's sentinel errors. Each links, by
// Unwrap, to the broader error it is an instance of: a token sentinel to
// valet.ErrTokenInvalid (or valet.ErrTokenExpired), a detailed reason to its
// token sentinel. The values are built once, so that refusing a token does
// not allocate.
type tokenError struct {
	msg    string
	parent error
}

func (e *tokenError) Error() string { return e.msg }
func (e *tokenError) Unwrap() error { return e.parent }

// Sentinel errors. Verify returns one of them, or a more detailed error that
// wraps one; check them with errors.Is. Every one except ErrTokenExpired and
// ErrInvalidKey also satisfies errors.Is(err, valet.ErrTokenInvalid).
var (
	// ErrMalformed: the token is not a compact JWS of canonical base64url
	// parts, or its header or payload is not a strict JSON object.
	ErrMalformed error = &tokenError{"token: malformed token", valet.ErrTokenInvalid}
	// ErrTooLarge: the token is longer than the verifier's maximum size.
	ErrTooLarge error = &tokenError{"token: token too large", valet.ErrTokenInvalid}
	// ErrUnsupportedHeader: the header has jku, jwk, x5u, x5c or crit, or a
	// typ other than JWT or at+jwt.
	ErrUnsupportedHeader error = &tokenError{"token: unsupported header", valet.ErrTokenInvalid}
	// ErrAlgorithm: alg is missing, none, unsupported, or not the key's.
	ErrAlgorithm error = &tokenError{"token: algorithm not allowed", valet.ErrTokenInvalid}
	// ErrUnknownKey: kid is missing or names no key of the key source.
	ErrUnknownKey error = &tokenError{"token: unknown key", valet.ErrTokenInvalid}
	// ErrSignatureInvalid: the signature does not verify.
	ErrSignatureInvalid error = &tokenError{"token: invalid signature", valet.ErrTokenInvalid}
	// ErrNotYetValid: nbf, or iat, is later than now plus the leeway.
	ErrNotYetValid error = &tokenError{"token: token not valid yet", valet.ErrTokenInvalid}
	// ErrIssuer: iss is not the issuer the verifier expects.
	ErrIssuer error = &tokenError{"token: wrong issuer", valet.ErrTokenInvalid}
	// ErrAudience: aud does not name the audience the verifier expects.
	ErrAudience error = &tokenError{"token: wrong audience", valet.ErrTokenInvalid}
	// ErrMissingClaim: a required claim (exp) is absent.
	ErrMissingClaim error = &tokenError{"token: missing claim", valet.ErrTokenInvalid}
	// ErrTokenExpired: exp plus the leeway has passed. It satisfies
	// errors.Is(err, valet.ErrTokenExpired), and not valet.ErrTokenInvalid,
	// so that a client knows to refresh.
	ErrTokenExpired error = &tokenError{"token: token expired", valet.ErrTokenExpired}
	// ErrInvalidKey: key material, a JWK or a JWKS document is malformed,
	// too weak, or of an unsupported algorithm. It satisfies
	// errors.Is(err, valet.ErrInvalidRequest).
	ErrInvalidKey error = &tokenError{"token: invalid key", valet.ErrInvalidRequest}
)

// because returns a fixed, more detailed error that wraps the sentinel base.
func because(base error, reason string) error {
	return &tokenError{msg: base.Error() + ": " + reason, parent: base}
}

// The detailed reasons for refusing a token, built once.
var (
	errParts        = because(ErrMalformed, "not three dot-separated parts")
	errAlphabet     = because(ErrMalformed, "character outside the base64url alphabet")
	errBase64       = because(ErrMalformed, "part is not canonical unpadded base64url")
	errHeaderJSON   = because(ErrMalformed, "header is not a strict JSON object")
	errPayloadJSON  = because(ErrMalformed, "payload is not a strict JSON object")
	errDuplicate    = because(ErrMalformed, "duplicated JSON member")
	errCaseVariant  = because(ErrMalformed, "member name differs from a known one only in case")
	errClaimType    = because(ErrMalformed, "claim of the wrong type")
	errNumericDate  = because(ErrMalformed, "time claim is not a whole number of seconds between 1970 and 9999")
	errHeaderType   = because(ErrMalformed, "header member of the wrong type")
	errNoAlg        = because(ErrAlgorithm, "alg missing")
	errAlgNone      = because(ErrAlgorithm, "alg none")
	errAlgUnknown   = because(ErrAlgorithm, "alg not supported")
	errAlgMismatch  = because(ErrAlgorithm, "alg is not the key's")
	errNoKid        = because(ErrUnknownKey, "kid missing")
	errJKU          = because(ErrUnsupportedHeader, "jku, jwk, x5u and x5c are never trusted")
	errCrit         = because(ErrUnsupportedHeader, "crit is not supported")
	errTyp          = because(ErrUnsupportedHeader, "typ is neither JWT nor at+jwt")
	errNoExp        = because(ErrMissingClaim, "exp")
	errIatFuture    = because(ErrNotYetValid, "iat is in the future")
	errNbfFuture    = because(ErrNotYetValid, "nbf is in the future")
	errNoSigningKey = because(ErrInvalidKey, "key set has no signing key")
)
