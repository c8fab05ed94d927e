package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/syncgate/syncgate/host/syncgate"
)

// TokenAuth decides who may mint a token, for which user id and with
// which claims.
type TokenAuth interface {
	// Grant returns the user a token may be minted for and its claims, or
	// an error (nothing is minted).
	Grant(r *http.Request) (Grant, error)
}

// Dev lets anyone mint a token for any user_id, as the public template
// does, with the claims of Claims in a POST. For development only.
type Dev struct{ Claims ClaimNames }

// Grant returns the user_id query parameter (GET) or the POST body's user
// and claims.
func (d Dev) Grant(r *http.Request) (Grant, error) { return readGrant(r, d.Claims) }

// Grant requires "Authorization: Bearer <api key>", then reads the user
// (GET: user_id; POST: the JSON body) and the claims the calling backend
// vouches for, within the allow-list of WithClaims.
func (a *APIKeys) Grant(r *http.Request) (Grant, error) {
	tok, err := BearerToken(r)
	if err != nil {
		return Grant{}, err
	}
	if !a.Check(tok) {
		return Grant{}, &syncgate.Error{Kind: syncgate.Unauthorized, Code: syncgate.CodeInvalidAPIKey, Message: "API key refused"}
	}
	return readGrant(r, a.claims)
}

// Upstream exchanges an identity provider's ID token for a PowerSync token:
// the ID token is verified against the provider's JWKS (fetched, cached,
// refreshed on an unknown kid), its issuer and audience checked, and the
// user id taken from one of its claims, never from the query string; the
// claims WithClaims names are copied from it into the minted token.
type Upstream struct {
	url, issuer, audience, claim string
	copied                       []string
	client                       *http.Client
	parser                       *jwt.Parser
	mu                           sync.Mutex
	keys                         map[string]jose.JSONWebKey
	fetched                      time.Time
	minRefresh, maxAge           time.Duration
}

// NewUpstream returns a token exchange against the JWKS at url.
func NewUpstream(url, issuer, audience, claim string, client *http.Client) *Upstream {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if claim == "" {
		claim = "sub"
	}
	return &Upstream{url: url, issuer: issuer, audience: audience, claim: claim, client: client,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA", "PS256", "PS384", "PS512"}),
			jwt.WithIssuer(issuer), jwt.WithAudience(audience), jwt.WithLeeway(Leeway), jwt.WithExpirationRequired()),
		minRefresh: 30 * time.Second, maxAge: 10 * time.Minute}
}

// WithClaims returns a copy of u that copies the named claims, when the ID
// token has them, into the minted token (TOKEN_CLAIMS). Registered claims
// are refused (NewClaimNames).
func (u *Upstream) WithClaims(names []string) (*Upstream, error) {
	if _, err := NewClaimNames(names); err != nil {
		return nil, err
	}
	c := &Upstream{url: u.url, issuer: u.issuer, audience: u.audience, claim: u.claim, client: u.client, parser: u.parser,
		minRefresh: u.minRefresh, maxAge: u.maxAge, copied: slices.Clone(names)}
	return c, nil
}

// Grant verifies the bearer ID token and returns its user claim and the
// claims WithClaims names that it carries. A request body is refused: the
// user and the claims come from the ID token only.
func (u *Upstream) Grant(r *http.Request) (Grant, error) {
	tok, err := BearerToken(r)
	if err != nil {
		return Grant{}, err
	}
	if r.Method == http.MethodPost {
		if n, _ := r.Body.Read(make([]byte, 1)); n > 0 {
			return Grant{}, syncgate.Errorf(syncgate.Invalid, syncgate.CodeInvalidBody, "POST /token: TOKEN_AUTH=jwks takes the user and the claims from the ID token; send no body")
		}
	}
	claims := jwt.MapClaims{}
	_, err = u.parser.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, err := u.key(r.Context(), kid)
		if err != nil {
			return nil, err
		}
		if k.Algorithm != "" && k.Algorithm != t.Method.Alg() {
			return nil, errors.New("alg does not match the key")
		}
		return k.Key, nil
	})
	if err != nil {
		var se *syncgate.Error
		if errors.As(err, &se) {
			return Grant{}, se
		}
		return Grant{}, &syncgate.Error{Kind: syncgate.Unauthorized, Code: syncgate.CodeInvalidIDToken,
			Message: "ID token refused: " + tokenReason(err), Err: err}
	}
	id, _ := claims[u.claim].(string)
	if id == "" {
		return Grant{}, &syncgate.Error{Kind: syncgate.Unauthorized, Code: syncgate.CodeInvalidIDToken,
			Message: fmt.Sprintf("ID token has no string claim %q", u.claim)}
	}
	g := Grant{UserID: id}
	for _, name := range u.copied {
		if v, ok := claims[name]; ok {
			if g.Claims == nil {
				g.Claims = map[string]any{}
			}
			g.Claims[name] = v
		}
	}
	return g, CheckUserID(id)
}

// key returns the provider key with kid, refetching the JWKS when it is old
// or the kid is unknown (at most once per minRefresh).
func (u *Upstream) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	k, ok := u.keys[kid]
	stale := time.Since(u.fetched) > u.maxAge
	if ok && !stale {
		return k, nil
	}
	if u.keys == nil || stale || time.Since(u.fetched) > u.minRefresh {
		if err := u.fetch(ctx); err != nil {
			if ok { // keep serving a known key while the provider is down
				return k, nil
			}
			return jose.JSONWebKey{}, err
		}
		if k, ok = u.keys[kid]; ok {
			return k, nil
		}
	}
	return jose.JSONWebKey{}, errors.New("unknown kid")
}

func (u *Upstream) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.url, nil)
	if err != nil {
		return err
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return &syncgate.Error{Kind: syncgate.Unavailable, Code: syncgate.CodeUpstreamUnavailable, Message: "the identity provider's JWKS could not be fetched", Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &syncgate.Error{Kind: syncgate.Unavailable, Code: syncgate.CodeUpstreamUnavailable, Message: "the identity provider's JWKS could not be fetched",
			Err: fmt.Errorf("status %d", resp.StatusCode)}
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return &syncgate.Error{Kind: syncgate.Unavailable, Code: syncgate.CodeUpstreamUnavailable, Message: "the identity provider's JWKS is not valid", Err: err}
	}
	keys := make(map[string]jose.JSONWebKey, len(set.Keys))
	for _, k := range set.Keys {
		if (k.Use == "" || k.Use == "sig") && k.IsPublic() {
			keys[k.KeyID] = k
		}
	}
	u.keys, u.fetched = keys, time.Now()
	return nil
}

// Handlers serves /jwks and /token.
type Handlers struct {
	Keys   *Keys
	Minter *Minter
	Auth   TokenAuth
	// UserData, when set (USER_DATA_COLLECTION), is read at every mint and
	// embedded as the custom_data claim; it stays in the token, stale,
	// until the token expires.
	UserData UserData
}

// JWKS serves the public key set, cacheable for a few minutes.
func (h *Handlers) JWKS(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, err := w.Write(h.Keys.JWKS())
	return err
}

// Token mints a PowerSync token for the user the TokenAuth grants, with
// the granted claims and the user's custom data. Every refusal comes
// before signing: nothing is minted.
func (h *Handlers) Token(w http.ResponseWriter, r *http.Request) error {
	g, err := h.Auth.Grant(r)
	if err != nil {
		return err
	}
	claims := g.Claims
	if h.UserData != nil {
		data, err := h.UserData(r.Context(), g.UserID)
		if err != nil {
			if e := (*syncgate.Error)(nil); errors.As(err, &e) && e.Kind == syncgate.Unavailable {
				return e
			}
			return &syncgate.Error{Kind: syncgate.Unavailable, Code: syncgate.CodeDatabaseUnavailable,
				Message: "the user's custom data could not be read; retry later", Err: err}
		}
		if data != nil {
			claims = maps.Clone(claims)
			if claims == nil {
				claims = map[string]any{}
			}
			claims[CustomDataClaim] = data
		}
	}
	m, err := h.Minter.Mint(g.UserID, claims)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(m)
}
