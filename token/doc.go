// Package token is valet's JSON Web Token codec: compact JWS signed with one
// of four algorithms (EdDSA, the default; ES256; RS256 with keys of 2048 bits
// or more; HS256), the keys that sign and verify them, the key set and its
// JWKS document, and the Manager that keeps signing keys in a valet.KeyStore,
// sealed at rest, and rotates them.
//
// The codec is strict in the manner of RFC 8725. Each key carries exactly one
// algorithm and a token's alg must be that one; kid is required; the jku,
// jwk, x5u, x5c and crit headers are refused rather than honoured; base64url
// must be canonical and unpadded; duplicated JSON members are refused; exp
// is required. A Verifier checks the signature before it decodes a single
// claim, and hands claims to the caller only when every check has passed.
//
// It is built on the standard library's crypto alone: this is the hot path
// of every request in token and hybrid mode, and the attack surface of both.
package token
