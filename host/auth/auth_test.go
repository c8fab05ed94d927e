package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/golang-jwt/jwt/v5"

	"github.com/syncgate/syncgate/host/syncgate"
)

const aud = "https://example.powersync.test"

// templateKeys reads the fixture made by testdata/template-keygen.mjs, the
// public PowerSync template's generator run with the npm jose package.
func templateKeys(t testing.TB) (pub, priv string) {
	b, err := os.ReadFile("testdata/template-keys.env")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "POWERSYNC_PUBLIC_KEY="); ok {
			pub = v
		}
		if v, ok := strings.CutPrefix(l, "POWERSYNC_PRIVATE_KEY="); ok {
			priv = v
		}
	}
	return pub, priv
}

func templateKeySet(t testing.TB) *Keys {
	pubS, privS := templateKeys(t)
	priv, err := ParseKey(privS)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParseKey(pubS)
	if err != nil {
		t.Fatal(err)
	}
	k, err := Pair(priv, pub)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := NewKeys(k)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// TestTemplateKeysMintVerifiableTokens loads the template's key format and
// verifies a minted token with go-jose, independently of golang-jwt, against
// every rule the PowerSync service enforces.
func TestTemplateKeysMintVerifiableTokens(t *testing.T) {
	ks := templateKeySet(t)
	if !strings.HasPrefix(ks.Signing().KID, "powersync-") || len(ks.Signing().KID) != len("powersync-")+10 || ks.Signing().Alg != "RS256" {
		t.Fatalf("kid %q alg %q", ks.Signing().KID, ks.Signing().Alg)
	}
	m, err := NewMinter(ks, aud, "", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	minted, err := m.Mint("user-1", nil)
	if err != nil {
		t.Fatal(err)
	}

	// The JWKS as the PowerSync service reads it.
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(ks.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.ParseSigned(minted.Token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	h := tok.Headers[0]
	keys := set.Key(h.KeyID)
	if h.KeyID == "" || len(keys) != 1 {
		t.Fatalf("token kid %q does not match one JWKS key", h.KeyID)
	}
	if keys[0].Algorithm != h.Algorithm || keys[0].Use != "sig" {
		t.Fatalf("JWK alg %q use %q, token alg %q", keys[0].Algorithm, keys[0].Use, h.Algorithm)
	}
	var claims josejwt.Claims
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("go-jose does not verify the token: %v", err)
	}
	if err := claims.ValidateWithLeeway(josejwt.Expected{AnyAudience: josejwt.Audience{aud}, Time: time.Now()}, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if claims.Subject != "user-1" || claims.IssuedAt == nil || claims.Expiry == nil {
		t.Fatalf("claims %+v", claims)
	}
	life := claims.Expiry.Time().Sub(claims.IssuedAt.Time())
	if life != 5*time.Minute || life > 24*time.Hour || life < 30*time.Second {
		t.Fatalf("lifetime %s", life)
	}
	if minted.URL != aud || !minted.ExpiresAt.Equal(claims.Expiry.Time()) {
		t.Fatalf("minted %+v", minted)
	}
}

func TestJWKSHasNoPrivateMembers(t *testing.T) {
	ks := templateKeySet(t)
	for _, alg := range []string{"ES256", "EdDSA"} {
		extra, err := Generate(alg, "")
		if err != nil {
			t.Fatal(err)
		}
		ks, err = NewKeys(ks.Signing(), extra)
		if err != nil {
			t.Fatal(err)
		}
	}
	var raw struct{ Keys []map[string]any }
	if err := json.Unmarshal(ks.JWKS(), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Keys) != 2 {
		t.Fatalf("%d keys", len(raw.Keys))
	}
	for _, k := range raw.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS key %v has private member %q", k["kid"], private)
			}
		}
		for _, need := range []string{"kty", "kid", "alg", "use"} {
			if _, ok := k[need]; !ok {
				t.Fatalf("JWKS key lacks %q: %v", need, k)
			}
		}
	}
}

func TestGenerateRoundTripsEveryAlg(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			k, err := Generate(alg, "my-kid")
			if err != nil {
				t.Fatal(err)
			}
			pubS, privS, err := k.EnvLines()
			if err != nil {
				t.Fatal(err)
			}
			raw, err := base64.StdEncoding.DecodeString(pubS)
			if err != nil || strings.Contains(string(raw), `"d"`) {
				t.Fatalf("public line: %v %s", err, raw)
			}
			priv, err := ParseKey(privS)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := ParseKey(pubS)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Pair(priv, pub); err != nil || priv.KID != "my-kid" || priv.Alg != alg {
				t.Fatalf("pair: %v kid %q alg %q", err, priv.KID, priv.Alg)
			}
			ks, _ := NewKeys(priv)
			m, _ := NewMinter(ks, aud, "", time.Minute)
			minted, _ := m.Mint("u", nil)
			if c, err := NewVerifier(ks, aud).Verify(minted.Token); err != nil || c.UserID != "u" {
				t.Fatalf("verify: %v %+v", err, c)
			}
		})
	}
}

func pemOf(t *testing.T, typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestParseKeyPEMAndErrors(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(rk)
	pubDER, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	priv, err := ParseKey(pemOf(t, "PRIVATE KEY", der))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParseKey(pemOf(t, "PUBLIC KEY", pubDER))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Pair(priv, pub); err != nil || !strings.HasPrefix(priv.KID, "powersync-") {
		t.Fatalf("PEM pair: %v kid %q", err, priv.KID)
	}
	file := t.TempDir() + "/key.pem"
	os.WriteFile(file, []byte(pemOf(t, "PRIVATE KEY", der)), 0o600)
	if k, err := ParseKey(file); err != nil || k.KID != priv.KID {
		t.Fatalf("PEM file: %v", err)
	}

	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallDER, _ := x509.MarshalPKCS8PrivateKey(small)
	other, _ := Generate("RS256", "")
	otherPub, otherPriv, _ := other.EnvLines()
	_, tplPriv := templateKeys(t)
	tplJWK, _ := base64.StdEncoding.DecodeString(tplPriv)
	var m map[string]any
	json.Unmarshal(tplJWK, &m)
	delete(m, "kid")
	noKid, _ := json.Marshal(m)
	m["kid"], m["alg"] = "x", "ES256"
	wrongAlg, _ := json.Marshal(m)
	hs, _ := json.Marshal(map[string]string{"kty": "oct", "k": "c2VjcmV0", "kid": "h", "alg": "HS256"})

	bad := []struct{ name, value, want string }{
		{"not base64", "%%%not-a-key%%%", "not base64"},
		{"base64 not JSON", base64.StdEncoding.EncodeToString([]byte("hello")), "not a JWK"},
		{"bad PEM", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "PEM"},
		{"RSA 1024", pemOf(t, "PRIVATE KEY", smallDER), "1024 bits"},
		{"missing kid", base64.StdEncoding.EncodeToString(noKid), "no kid"},
		{"alg does not fit", base64.StdEncoding.EncodeToString(wrongAlg), "does not fit"},
		{"symmetric", base64.StdEncoding.EncodeToString(hs), "symmetric"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ParseKey(c.value); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want error with %q", err, c.want)
			}
		})
	}
	t.Run("not a pair", func(t *testing.T) {
		tplPub, tplPrivS := templateKeys(t)
		p1, _ := ParseKey(tplPrivS)
		p2, _ := ParseKey(otherPub)
		if _, err := Pair(p1, p2); err == nil || !strings.Contains(err.Error(), "not one key pair") {
			t.Fatalf("got %v", err)
		}
		p3, _ := ParseKey(otherPriv)
		p4, _ := ParseKey(tplPub)
		if _, err := Pair(p3, p4); err == nil {
			t.Fatal("mismatched pair accepted")
		}
	})
}

// forge signs claims with key under header fields, bypassing the Minter.
func forge(t *testing.T, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestVerifierRefusesAttacks: every attack gets an Unauthorized error.
func TestVerifierRefusesAttacks(t *testing.T) {
	ks := templateKeySet(t)
	v := NewVerifier(ks, aud)
	k := ks.Signing()
	rk := k.Private
	now := time.Now()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "u1", "aud": aud, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
	}
	with := func(f func(c jwt.MapClaims)) jwt.MapClaims { c := good(); f(c); return c }
	kid := map[string]any{"kid": k.KID}
	valid := forge(t, jwt.SigningMethodRS256, rk, kid, good())
	if c, err := v.Verify(valid); err != nil || c.UserID != "u1" {
		t.Fatalf("valid token refused: %v", err)
	}
	parts := strings.Split(valid, ".")

	// HS256 signed with the public key's bytes as the HMAC secret.
	pubDER, _ := x509.MarshalPKIXPublicKey(k.Public)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hsHead := b64(`{"alg":"HS256","typ":"JWT","kid":"` + k.KID + `"}`)
	mac := hmac.New(sha256.New, pubPEM)
	mac.Write([]byte(hsHead + "." + parts[1]))
	hsToken := hsHead + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	sameKid, _ := rsa.GenerateKey(rand.Reader, 2048)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	tamperedPayload := parts[0] + "." + b64(`{"sub":"admin","aud":"`+aud+`","iat":`+itoa(now.Unix())+`,"exp":`+itoa(now.Add(time.Hour).Unix())+`}`) + "." + parts[2]
	sig := []byte(parts[2])
	sig[10] ^= 1
	tamperedSig := parts[0] + "." + parts[1] + "." + string(sig)

	attacks := map[string]string{
		"alg none":              b64(`{"alg":"none","typ":"JWT","kid":"`+k.KID+`"}`) + "." + parts[1] + ".",
		"HS256 with public key": hsToken,
		"expired": forge(t, jwt.SigningMethodRS256, rk, kid, with(func(c jwt.MapClaims) {
			c["iat"] = now.Add(-2 * time.Hour).Unix()
			c["exp"] = now.Add(-time.Hour).Unix()
		})),
		"nbf in future":         forge(t, jwt.SigningMethodRS256, rk, kid, with(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })),
		"iat in future":         forge(t, jwt.SigningMethodRS256, rk, kid, with(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() })),
		"wrong aud":             forge(t, jwt.SigningMethodRS256, rk, kid, with(func(c jwt.MapClaims) { c["aud"] = "https://other" })),
		"no aud":                forge(t, jwt.SigningMethodRS256, rk, kid, with(func(c jwt.MapClaims) { delete(c, "aud") })),
		"no exp":                forge(t, jwt.SigningMethodRS256, rk, kid, with(func(c jwt.MapClaims) { delete(c, "exp") })),
		"no sub":                forge(t, jwt.SigningMethodRS256, rk, kid, with(func(c jwt.MapClaims) { delete(c, "sub") })),
		"no iat":                forge(t, jwt.SigningMethodRS256, rk, kid, with(func(c jwt.MapClaims) { delete(c, "iat") })),
		"unknown kid":           forge(t, jwt.SigningMethodRS256, rk, map[string]any{"kid": "powersync-0000000000"}, good()),
		"no kid":                forge(t, jwt.SigningMethodRS256, rk, nil, good()),
		"tampered payload":      tamperedPayload,
		"tampered signature":    tamperedSig,
		"other key same kid":    forge(t, jwt.SigningMethodRS256, sameKid, kid, good()),
		"ES256 key same kid":    forge(t, jwt.SigningMethodES256, ec, kid, good()),
		"EdDSA key same kid":    forge(t, jwt.SigningMethodEdDSA, ed, kid, good()),
		"RS512 on an RS256 key": forge(t, jwt.SigningMethodRS512, rk, kid, good()),
		"lifetime over 24h":     forge(t, jwt.SigningMethodRS256, rk, kid, with(func(c jwt.MapClaims) { c["exp"] = now.Add(25 * time.Hour).Unix() })),
		"header not JSON":       b64(`{not json`) + "." + parts[1] + "." + parts[2],
		"claims not JSON":       parts[0] + "." + b64(`[1,2`) + "." + parts[2],
		"1 MB token":            strings.Repeat("a", 1<<20),
		"empty":                 "",
		"two parts":             parts[0] + "." + parts[1],
	}
	for name, tok := range attacks {
		t.Run(name, func(t *testing.T) {
			c, err := v.Verify(tok)
			if err == nil {
				t.Fatalf("accepted, caller %+v", c)
			}
			if e := syncgate.AsError(err); e.Kind != syncgate.Unauthorized {
				t.Fatalf("kind %d: %v", e.Kind, err)
			}
		})
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestRotationKeepsOldKeyVerifying(t *testing.T) {
	old, _ := Generate("RS256", "powersync-old0000000")
	next, _ := Generate("ES256", "powersync-new0000000")
	// The new key signs; the old one is published beside it and still verifies.
	ks, err := NewKeys(next, &Key{KID: old.KID, Alg: old.Alg, Public: old.Public})
	if err != nil {
		t.Fatal(err)
	}
	oldKS, _ := NewKeys(old)
	mOld, _ := NewMinter(oldKS, aud, "", time.Minute)
	tok, _ := mOld.Mint("u", nil)
	if _, err := NewVerifier(ks, aud).Verify(tok.Token); err != nil {
		t.Fatalf("token of the rotated-out key refused: %v", err)
	}
	if _, err := NewKeys(next, next); err == nil {
		t.Fatal("duplicate kid accepted")
	}
}

func TestBearerSchemes(t *testing.T) {
	ks := templateKeySet(t)
	m, _ := NewMinter(ks, aud, "", time.Minute)
	tok, _ := m.Mint("u", nil)
	v := NewVerifier(ks, aud)
	for _, h := range []string{"Bearer " + tok.Token, "Token " + tok.Token, "bearer " + tok.Token} {
		r := httptest.NewRequest("POST", "/upload", nil)
		r.Header.Set("Authorization", h)
		if _, err := v.Authenticate(r); err != nil {
			t.Errorf("%.10s…: %v", h, err)
		}
	}
	for _, h := range []string{"", "Basic abc", "Bearer", "Bearer "} {
		r := httptest.NewRequest("POST", "/upload", nil)
		r.Header.Set("Authorization", h)
		if _, err := v.Authenticate(r); syncgate.AsError(err).Kind != syncgate.Unauthorized {
			t.Errorf("%q: %v", h, err)
		}
	}
}

func TestTokenEndpointModes(t *testing.T) {
	ks := templateKeySet(t)
	m, _ := NewMinter(ks, aud, "", time.Minute)
	call := func(a TokenAuth, query, authz string) (*httptest.ResponseRecorder, error) {
		r := httptest.NewRequest("GET", "/token"+query, nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		w := httptest.NewRecorder()
		return w, (&Handlers{Keys: ks, Minter: m, Auth: a}).Token(w, r)
	}
	if w, err := call(Dev{}, "?user_id=alice", ""); err != nil || !strings.Contains(w.Body.String(), `"token"`) {
		t.Fatalf("dev: %v %s", err, w.Body)
	}
	for _, q := range []string{"", "?user_id=", "?user_id=" + strings.Repeat("a", 300), "?user_id=a%0Ab", "?user_id=%ff"} {
		if _, err := call(Dev{}, q, ""); syncgate.AsError(err).Kind != syncgate.Invalid {
			t.Errorf("dev %q: %v, want 400", q, err)
		}
	}
	keys := NewAPIKeys([]string{"key-one-0123456789", "key-two-0123456789"})
	if _, err := call(keys, "?user_id=alice", "Bearer key-two-0123456789"); err != nil {
		t.Fatalf("api-key: %v", err)
	}
	for _, h := range []string{"", "Bearer key-two-012345678", "Bearer key-two-0123456789x", "Bearer key-two-0123456788"} {
		if _, err := call(keys, "?user_id=alice", h); syncgate.AsError(err).Kind != syncgate.Unauthorized {
			t.Errorf("api-key %q: %v, want 401", h, err)
		}
	}
}

// TestUpstreamExchange runs an identity provider on loopback: its ID tokens
// are exchanged; wrong issuer, audience or key are refused.
func TestUpstreamExchange(t *testing.T) {
	idp, _ := Generate("ES256", "idp-1")
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{idp.PublicJWK()}})
	fetches := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fetches++; w.Write(set) }))
	defer srv.Close()
	u := NewUpstream(srv.URL, "https://idp.test", "my-app", "email", srv.Client())
	now := time.Now()
	idToken := func(key any, kid string, c jwt.MapClaims) string {
		base := jwt.MapClaims{"iss": "https://idp.test", "aud": "my-app", "sub": "s1", "email": "a@b.test", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range c {
			base[k] = v
		}
		return forge(t, jwt.SigningMethodES256, key, map[string]any{"kid": kid}, base)
	}
	req := func(tok string) *http.Request {
		r := httptest.NewRequest("GET", "/token?user_id=mallory", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}
	g, err := u.Grant(req(idToken(idp.Private, "idp-1", nil)))
	if err != nil || g.UserID != "a@b.test" || g.Claims != nil {
		t.Fatalf("exchange: %+v %v (the user id comes from the claim, not the query; no claims copied without WithClaims)", g, err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, tok := range map[string]string{
		"wrong issuer":   idToken(idp.Private, "idp-1", jwt.MapClaims{"iss": "https://evil.test"}),
		"wrong audience": idToken(idp.Private, "idp-1", jwt.MapClaims{"aud": "other-app"}),
		"expired":        idToken(idp.Private, "idp-1", jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()}),
		"other key":      idToken(other, "idp-1", nil),
		"unknown kid":    idToken(other, "idp-2", nil),
		"no claim":       idToken(idp.Private, "idp-1", jwt.MapClaims{"email": 5}),
	} {
		if _, err := u.Grant(req(tok)); syncgate.AsError(err).Kind != syncgate.Unauthorized {
			t.Errorf("%s: %v, want 401", name, err)
		}
	}
	if fetches > 2 {
		t.Errorf("JWKS fetched %d times; refetch on unknown kid must be rate limited", fetches)
	}
}

// TestVerifierRemembersTokens: a verified token is remembered, so the
// signature is not checked again; a remembered token past its expiry is
// refused as expired; a token differing only in its signature is refused;
// the memory is bounded.
func TestVerifierRemembersTokens(t *testing.T) {
	ks := templateKeySet(t)
	m, err := NewMinter(ks, aud, "", 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	minted, err := m.Mint("u", nil)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(ks, aud)
	for range 2 {
		if c, err := v.Verify(minted.Token); err != nil || c.UserID != "u" {
			t.Fatalf("verify: %v %v", c, err)
		}
	}
	if len(v.verified) != 1 {
		t.Fatalf("%d tokens remembered, want 1", len(v.verified))
	}
	// Another signature on the same header and claims: not the remembered token.
	i := strings.LastIndexByte(minted.Token, '.')
	forged := minted.Token[:i+1] + base64.RawURLEncoding.EncodeToString(make([]byte, 256))
	if _, err := v.Verify(forged); err == nil {
		t.Fatal("a token with another signature was accepted")
	}
	// Past its expiry (and the leeway) the remembered token is refused.
	v.now = func() time.Time { return time.Now().Add(2*time.Minute + Leeway + time.Second) }
	if _, err := v.Verify(minted.Token); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired remembered token: %v", err)
	}
	if len(v.verified) != 0 {
		t.Fatalf("an expired token stays remembered")
	}
	// Bounded: the memory is cleared when full.
	v.now = time.Now
	for i := range maxVerified + 10 {
		v.remember(fmt.Sprint(i), verifiedToken{exp: time.Now().Add(time.Hour)})
	}
	if len(v.verified) > maxVerified {
		t.Fatalf("%d tokens remembered, bound %d", len(v.verified), maxVerified)
	}
}
