package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/syncgate/syncgate/host/syncgate"
)

// MaxLifetime is the longest token lifetime the PowerSync service accepts.
const MaxLifetime = 24 * time.Hour

// maxTokenBytes bounds a presented token before any parsing.
const maxTokenBytes = 8 << 10

// maxUserIDBytes bounds user_id.
const maxUserIDBytes = 256

// Leeway is the clock skew tolerated on exp, nbf and iat.
const Leeway = 30 * time.Second

// Minter signs PowerSync tokens.
type Minter struct {
	keys     *Keys
	audience string
	issuer   string
	ttl      time.Duration
	now      func() time.Time
	method   jwt.SigningMethod
}

// NewMinter returns a minter for audience with tokens living ttl.
func NewMinter(keys *Keys, audience, issuer string, ttl time.Duration) (*Minter, error) {
	if ttl <= 0 || ttl > MaxLifetime {
		return nil, fmt.Errorf("TOKEN_TTL: %s is outside (0, 24h]", ttl)
	}
	m := jwt.GetSigningMethod(keys.Signing().Alg)
	if m == nil {
		return nil, fmt.Errorf("auth: no signing method for %q", keys.Signing().Alg)
	}
	return &Minter{keys: keys, audience: audience, issuer: issuer, ttl: ttl, now: time.Now, method: m}, nil
}

// Minted is a signed token and when it expires.
type Minted struct {
	Token     string    `json:"token"`
	URL       string    `json:"powersync_url"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Mint signs a token for userID carrying extra, claims beyond the
// registered ones (nil: none). A registered name in extra is refused (the
// TokenAuth checked already; this is the last guard), and so is a token
// longer than the Verifier accepts (claims_too_large).
func (m *Minter) Mint(userID string, extra map[string]any) (Minted, error) {
	now := m.now().Truncate(time.Second)
	exp := now.Add(m.ttl)
	claims := make(jwt.MapClaims, len(extra)+5)
	for k, v := range extra {
		if IsRegistered(k) {
			return Minted{}, syncgate.Errorf(syncgate.Invalid, syncgate.CodeRegisteredClaim, "claims: %q is set by syncgate only", k)
		}
		claims[k] = v
	}
	claims["sub"] = userID
	claims["aud"] = jwt.ClaimStrings{m.audience}
	claims["iat"] = jwt.NewNumericDate(now)
	claims["exp"] = jwt.NewNumericDate(exp)
	if m.issuer != "" {
		claims["iss"] = m.issuer
	}
	t := jwt.NewWithClaims(m.method, claims)
	t.Header["kid"] = m.keys.Signing().KID
	s, err := t.SignedString(m.keys.Signing().Private)
	if err != nil {
		return Minted{}, fmt.Errorf("auth: sign: %w", err)
	}
	if len(s) > maxTokenBytes {
		return Minted{}, syncgate.Errorf(syncgate.Invalid, syncgate.CodeClaimsTooLarge,
			"claims: the token would be %d bytes, over the %d a token may have; send fewer or smaller claims (custom_data from USER_DATA_COLLECTION counts too)", len(s), maxTokenBytes)
	}
	return Minted{Token: s, URL: m.audience, ExpiresAt: exp.UTC()}, nil
}

// CheckUserID refuses user ids PowerSync or logs should not see.
func CheckUserID(id string) error {
	switch {
	case id == "":
		return syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidUserID, "user_id is missing or empty")
	case len(id) > maxUserIDBytes:
		return syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidUserID, "user_id is longer than %d bytes", maxUserIDBytes)
	case !utf8.ValidString(id):
		return syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidUserID, "user_id is not valid UTF-8")
	case strings.IndexFunc(id, unicode.IsControl) >= 0:
		return syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidUserID, "user_id contains control characters")
	}
	return nil
}

// Verifier checks the PowerSync tokens clients present to /upload against
// our own keys: signature, kid, the alg pinned to that key, exp/nbf/iat with
// a small leeway, aud, sub, and a lifetime of at most 24 h.
//
// A token that passed is remembered (at most maxVerified of them), so the
// same client's next requests skip the signature check: RS256 verification
// was ≈ 24 % of /upload's CPU against a fast database (BenchmarkGateway's
// profile), and a client sends the same token until it expires. The keys
// never change during a Verifier's life, so a remembered token is checked
// again only for its times (exp, nbf, iat with Leeway); one past them goes
// through the whole check, which says why it is refused.
type Verifier struct {
	keys     *Keys
	audience string
	parser   *jwt.Parser
	now      func() time.Time

	mu       sync.Mutex
	verified map[string]verifiedToken
}

// maxVerified bounds the remembered tokens (≤ maxTokenBytes each); when full
// the memory is cleared and refilled by the next requests.
const maxVerified = 4096

type verifiedToken struct {
	caller        syncgate.Caller
	exp, nbf, iat time.Time
}

// NewVerifier returns a verifier for tokens with audience.
func NewVerifier(keys *Keys, audience string) *Verifier {
	v := &Verifier{keys: keys, audience: audience, now: time.Now, verified: map[string]verifiedToken{}}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA"}),
		jwt.WithAudience(audience),
		jwt.WithLeeway(Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
	)
	return v
}

// remembered returns the caller of a token verified before whose times
// still hold now.
func (v *Verifier) remembered(tok string) (syncgate.Caller, bool) {
	v.mu.Lock()
	e, ok := v.verified[tok]
	v.mu.Unlock()
	if !ok {
		return syncgate.Caller{}, false
	}
	now := v.now()
	if !now.Before(e.exp.Add(Leeway)) || now.Add(Leeway).Before(e.nbf) || now.Add(Leeway).Before(e.iat) {
		v.mu.Lock()
		delete(v.verified, tok)
		v.mu.Unlock()
		return syncgate.Caller{}, false
	}
	return e.caller, true
}

func (v *Verifier) remember(tok string, e verifiedToken) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.verified) >= maxVerified {
		clear(v.verified)
	}
	v.verified[tok] = e
}

// unauthorized is the one error for every bad token: the client learns that
// the token was refused and why in general terms, nothing that helps forge one.
func unauthorized(format string, args ...any) *syncgate.Error {
	return &syncgate.Error{Kind: syncgate.Unauthorized, Code: syncgate.CodeInvalidToken, Message: fmt.Sprintf(format, args...)}
}

// BearerToken returns the token of an "Authorization: Bearer <t>" or
// "Token <t>" header.
func BearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", &syncgate.Error{Kind: syncgate.Unauthorized, Code: syncgate.CodeMissingToken, Message: "Authorization header is missing"}
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || (!strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "Token")) {
		return "", unauthorized("Authorization must be \"Bearer <token>\"")
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", &syncgate.Error{Kind: syncgate.Unauthorized, Code: syncgate.CodeMissingToken, Message: "Authorization header has no token"}
	}
	if len(tok) > maxTokenBytes {
		return "", unauthorized("token is longer than %d bytes", maxTokenBytes)
	}
	return tok, nil
}

// Verify checks a token and returns its caller.
func (v *Verifier) Verify(tok string) (syncgate.Caller, error) {
	if len(tok) > maxTokenBytes {
		return syncgate.Caller{}, unauthorized("token is longer than %d bytes", maxTokenBytes)
	}
	if c, ok := v.remembered(tok); ok {
		return c, nil
	}
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no kid")
		}
		k, ok := v.keys.Lookup(kid)
		if !ok {
			return nil, errors.New("unknown kid")
		}
		if t.Method.Alg() != k.Alg {
			return nil, errors.New("alg does not match the key")
		}
		return k.Public, nil
	})
	if err != nil {
		return syncgate.Caller{}, &syncgate.Error{Kind: syncgate.Unauthorized, Code: syncgate.CodeInvalidToken,
			Message: "token refused: " + tokenReason(err), Err: err}
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return syncgate.Caller{}, unauthorized("token refused: no sub")
	}
	iat, err := claims.GetIssuedAt()
	if err != nil || iat == nil {
		return syncgate.Caller{}, unauthorized("token refused: no iat")
	}
	exp, _ := claims.GetExpirationTime()
	if exp.Sub(iat.Time) > MaxLifetime {
		return syncgate.Caller{}, unauthorized("token refused: lifetime over 24h")
	}
	caller := syncgate.Caller{UserID: sub, Claims: claims}
	e := verifiedToken{caller: caller, exp: exp.Time, iat: iat.Time}
	if nbf, _ := claims.GetNotBefore(); nbf != nil {
		e.nbf = nbf.Time
	}
	v.remember(tok, e)
	return caller, nil
}

// tokenReason names the failed rule without echoing token content.
func tokenReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "a required claim is missing"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "no key verifies it (unknown or missing kid, or alg not allowed)"
	}
	return "invalid"
}

// Authenticate verifies the request's bearer token: upload.Authenticator.
func (v *Verifier) Authenticate(r *http.Request) (syncgate.Caller, error) {
	tok, err := BearerToken(r)
	if err != nil {
		return syncgate.Caller{}, err
	}
	return v.Verify(tok)
}

// APIKeys checks /token callers' secrets in constant time; the claims a
// caller may set are those of WithClaims.
type APIKeys struct {
	sums   [][32]byte
	claims ClaimNames
}

// NewAPIKeys keeps the SHA-256 of each key, so comparisons take the same
// time whatever the presented key's length.
func NewAPIKeys(keys []string) *APIKeys {
	a := &APIKeys{}
	for _, k := range keys {
		a.sums = append(a.sums, sha256.Sum256([]byte(k)))
	}
	return a
}

// WithClaims returns a copy of a whose callers may set the named claims
// in POST /token's body (TOKEN_CLAIMS); registered claims are refused.
func (a *APIKeys) WithClaims(names []string) (*APIKeys, error) {
	c, err := NewClaimNames(names)
	if err != nil {
		return nil, err
	}
	return &APIKeys{sums: a.sums, claims: c}, nil
}

// Check reports whether key is one of the keys; it compares against all.
func (a *APIKeys) Check(key string) bool {
	sum := sha256.Sum256([]byte(key))
	ok := 0
	for i := range a.sums {
		ok |= subtle.ConstantTimeCompare(sum[:], a.sums[i][:])
	}
	return ok == 1
}
