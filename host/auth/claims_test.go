package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/syncgate/syncgate/host/syncgate"
)

const testAPIKey = "key-one-0123456789"

// mintVia calls /token through Handlers and returns the recorder and the
// error the handler returned.
func mintVia(t *testing.T, h *Handlers, method, target, authz, contentType, body string) (*httptest.ResponseRecorder, error) {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	return w, h.Token(w, r)
}

// claimsOf verifies a minted answer with our Verifier and returns the
// token's claims as the upload path sees them (syncgate.Caller.Claims).
func claimsOf(t *testing.T, ks *Keys, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m Minted
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || m.Token == "" {
		t.Fatalf("answer %q: %v", w.Body, err)
	}
	c, err := NewVerifier(ks, aud).Verify(m.Token)
	if err != nil {
		t.Fatalf("minted token refused: %v", err)
	}
	return c.Claims
}

func apiKeyHandlers(t *testing.T, ks *Keys, allowed ...string) *Handlers {
	t.Helper()
	m, err := NewMinter(ks, aud, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NewAPIKeys([]string{testAPIKey}).WithClaims(allowed)
	if err != nil {
		t.Fatal(err)
	}
	return &Handlers{Keys: ks, Minter: m, Auth: keys}
}

// TestAPIKeyClaimsCopied: the calling backend's claims (within the
// allow-list) arrive in the token as sent, numbers exact; GET /token keeps
// working and carries none.
func TestAPIKeyClaimsCopied(t *testing.T) {
	ks := templateKeySet(t)
	h := apiKeyHandlers(t, ks, "org_id", "roles", "quota")
	w, err := mintVia(t, h, "POST", "/token", "Bearer "+testAPIKey, "application/json",
		`{"user_id":"alice","claims":{"org_id":"acme","roles":["admin","editor"],"quota":9007199254740993}}`)
	if err != nil {
		t.Fatalf("POST /token: %v", err)
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", w.Header().Get("Cache-Control"))
	}
	c := claimsOf(t, ks, w)
	if c["sub"] != "alice" || c["org_id"] != "acme" || !reflect.DeepEqual(c["roles"], []any{"admin", "editor"}) {
		t.Fatalf("claims %v", c)
	}
	// The raw payload keeps the integer exact (json.Number), not a float.
	var raw struct{ Token string }
	json.Unmarshal(w.Body.Bytes(), &raw)
	payload, _ := jwt.NewParser().DecodeSegment(strings.Split(raw.Token, ".")[1])
	if !strings.Contains(string(payload), `"quota":9007199254740993`) {
		t.Fatalf("payload %s: the number changed", payload)
	}

	// No claims in the body, or GET: only the registered claims.
	for _, c := range []struct{ method, target, body string }{
		{"POST", "/token", `{"user_id":"bob"}`},
		{"POST", "/token", `{"user_id":"bob","claims":{}}`},
		{"GET", "/token?user_id=bob", ""},
	} {
		w, err := mintVia(t, h, c.method, c.target, "Bearer "+testAPIKey, "", c.body)
		if err != nil {
			t.Fatalf("%s %s %s: %v", c.method, c.target, c.body, err)
		}
		got := claimsOf(t, ks, w)
		for k := range got {
			if !IsRegistered(k) {
				t.Errorf("%s %s %s: unexpected claim %q", c.method, c.target, c.body, k)
			}
		}
		if got["sub"] != "bob" {
			t.Errorf("sub %v", got["sub"])
		}
	}
}

// TestAPIKeyClaimsRefused: registered claims, claims outside the
// allow-list, bad bodies and a bad key are refused with a clear code, and
// nothing is minted (the answer is empty).
func TestAPIKeyClaimsRefused(t *testing.T) {
	ks := templateKeySet(t)
	h := apiKeyHandlers(t, ks, "org_id")
	cases := []struct {
		name, authz, ctype, target, body string
		kind                             syncgate.Kind
		code                             syncgate.Code
		want                             string
	}{
		{"sub", "", "", "/token", `{"user_id":"alice","claims":{"sub":"bob"}}`, syncgate.Invalid, syncgate.CodeRegisteredClaim, `"sub"`},
		{"aud", "", "", "/token", `{"user_id":"alice","claims":{"aud":"https://other"}}`, syncgate.Invalid, syncgate.CodeRegisteredClaim, `"aud"`},
		{"exp", "", "", "/token", `{"user_id":"alice","claims":{"exp":99999999999}}`, syncgate.Invalid, syncgate.CodeRegisteredClaim, `"exp"`},
		{"iat", "", "", "/token", `{"user_id":"alice","claims":{"iat":1}}`, syncgate.Invalid, syncgate.CodeRegisteredClaim, `"iat"`},
		{"iss", "", "", "/token", `{"user_id":"alice","claims":{"iss":"me"}}`, syncgate.Invalid, syncgate.CodeRegisteredClaim, `"iss"`},
		{"kid", "", "", "/token", `{"user_id":"alice","claims":{"kid":"k"}}`, syncgate.Invalid, syncgate.CodeRegisteredClaim, `"kid"`},
		{"nbf", "", "", "/token", `{"user_id":"alice","claims":{"nbf":1}}`, syncgate.Invalid, syncgate.CodeRegisteredClaim, `"nbf"`},
		{"jti", "", "", "/token", `{"user_id":"alice","claims":{"jti":"x"}}`, syncgate.Invalid, syncgate.CodeRegisteredClaim, `"jti"`},
		{"registered beside an allowed one", "", "", "/token", `{"user_id":"alice","claims":{"org_id":"acme","sub":"bob"}}`, syncgate.Invalid, syncgate.CodeRegisteredClaim, `"sub"`},
		{"not in the allow-list", "", "", "/token", `{"user_id":"alice","claims":{"org_id":"acme","roles":["admin"]}}`, syncgate.Invalid, syncgate.CodeClaimNotAllowed, `"roles" not allowed; TOKEN_CLAIMS allows org_id`},
		{"custom_data not listed", "", "", "/token", `{"user_id":"alice","claims":{"custom_data":{"admin":true}}}`, syncgate.Invalid, syncgate.CodeClaimNotAllowed, `"custom_data"`},
		{"number out of range", "", "", "/token", `{"user_id":"alice","claims":{"org_id":{"n":[1e999]}}}`, syncgate.Invalid, syncgate.CodeInvalidNumber, "out of range"},
		{"bad JSON", "", "", "/token", `{"user_id":"alice",`, syncgate.Invalid, syncgate.CodeInvalidJSON, "not valid JSON"},
		{"two values", "", "", "/token", `{"user_id":"alice"} {}`, syncgate.Invalid, syncgate.CodeInvalidJSON, "more than one"},
		{"empty body", "", "", "/token", ``, syncgate.Invalid, syncgate.CodeInvalidJSON, "not valid JSON"},
		{"claims not an object", "", "", "/token", `{"user_id":"alice","claims":["org_id"]}`, syncgate.Invalid, syncgate.CodeInvalidBody, "want"},
		{"user_id a number", "", "", "/token", `{"user_id":5}`, syncgate.Invalid, syncgate.CodeInvalidBody, "want"},
		{"unknown member", "", "", "/token", `{"user_id":"alice","role":"admin"}`, syncgate.Invalid, syncgate.CodeInvalidBody, "unknown field"},
		{"no user_id", "", "", "/token", `{"claims":{"org_id":"acme"}}`, syncgate.Invalid, syncgate.CodeInvalidUserID, "user_id"},
		{"empty user_id", "", "", "/token", `{"user_id":""}`, syncgate.Invalid, syncgate.CodeInvalidUserID, "user_id"},
		{"control character in user_id", "", "", "/token", `{"user_id":"a\nb"}`, syncgate.Invalid, syncgate.CodeInvalidUserID, "control"},
		{"user_id in the query", "", "", "/token?user_id=bob", `{"user_id":"alice"}`, syncgate.Invalid, syncgate.CodeInvalidBody, "not the query"},
		{"not JSON content type", "", "text/plain", "/token", `{"user_id":"alice"}`, syncgate.Unsupported, syncgate.CodeUnsupportedMedia, "application/json"},
		{"body too large", "", "", "/token", `{"user_id":"alice","claims":{"org_id":"` + strings.Repeat("a", maxTokenRequestBytes) + `"}}`, syncgate.TooLarge, syncgate.CodeBodyTooLarge, "over"},
		{"claims too large for a token", "", "", "/token", `{"user_id":"alice","claims":{"org_id":"` + strings.Repeat("a", maxTokenBytes) + `"}}`, syncgate.Invalid, syncgate.CodeClaimsTooLarge, "over the 8192"},
		{"wrong API key", "Bearer key-one-012345678x", "", "/token", `{"user_id":"alice","claims":{"sub":"bob"}}`, syncgate.Unauthorized, syncgate.CodeInvalidAPIKey, "refused"},
		{"no API key", "-", "", "/token", `{"user_id":"alice"}`, syncgate.Unauthorized, syncgate.CodeMissingToken, "missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			authz := c.authz
			switch authz {
			case "":
				authz = "Bearer " + testAPIKey
			case "-":
				authz = ""
			}
			ctype := c.ctype
			if ctype == "" {
				ctype = "application/json"
			}
			w, err := mintVia(t, h, "POST", c.target, authz, ctype, c.body)
			e := syncgate.AsError(err)
			if err == nil || e.Kind != c.kind || e.Code != c.code || !strings.Contains(e.Message, c.want) {
				t.Fatalf("body %.80s: got %v (kind %d), want kind %d code %s with %q", c.body, err, e.Kind, c.kind, c.code, c.want)
			}
			if w.Body.Len() != 0 {
				t.Fatalf("a refused request got an answer: %s", w.Body)
			}
		})
	}
}

// TestRegisteredClaimsNeverAllowed: no allow-list can hold a registered
// claim, and Mint refuses one whatever the caller checked.
func TestRegisteredClaimsNeverAllowed(t *testing.T) {
	for _, name := range RegisteredClaims {
		if _, err := NewClaimNames([]string{"org_id", name}); err == nil {
			t.Errorf("NewClaimNames accepted %q", name)
		}
		if _, err := NewAPIKeys([]string{testAPIKey}).WithClaims([]string{name}); err == nil {
			t.Errorf("APIKeys.WithClaims accepted %q", name)
		}
		if _, err := NewUpstream("https://idp/jwks", "iss", "aud", "sub", nil).WithClaims([]string{name}); err == nil {
			t.Errorf("Upstream.WithClaims accepted %q", name)
		}
	}
	if _, err := NewClaimNames([]string{""}); err == nil {
		t.Error("NewClaimNames accepted an empty name")
	}
	ks := templateKeySet(t)
	m, _ := NewMinter(ks, aud, "", time.Minute)
	for _, name := range RegisteredClaims {
		if _, err := m.Mint("alice", map[string]any{name: "x"}); syncgate.AsError(err).Code != syncgate.CodeRegisteredClaim {
			t.Errorf("Mint with %q: %v", name, err)
		}
	}
}

// TestDevClaims: TOKEN_AUTH=dev takes claims in a POST too, within the
// allow-list (so rules can be tried locally), and refuses the rest.
func TestDevClaims(t *testing.T) {
	ks := templateKeySet(t)
	m, _ := NewMinter(ks, aud, "", time.Minute)
	names, _ := NewClaimNames([]string{"roles"})
	h := &Handlers{Keys: ks, Minter: m, Auth: Dev{Claims: names}}
	w, err := mintVia(t, h, "POST", "/token", "", "", `{"user_id":"alice","claims":{"roles":["admin"]}}`)
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(t, ks, w); !reflect.DeepEqual(c["roles"], []any{"admin"}) {
		t.Fatalf("claims %v", c)
	}
	if _, err := mintVia(t, h, "POST", "/token", "", "", `{"user_id":"alice","claims":{"org_id":"x"}}`); syncgate.AsError(err).Code != syncgate.CodeClaimNotAllowed {
		t.Fatalf("unlisted claim in dev: %v", err)
	}
	if _, err := mintVia(t, &Handlers{Keys: ks, Minter: m, Auth: Dev{}}, "POST", "/token", "", "", `{"user_id":"alice","claims":{"roles":[]}}`); syncgate.AsError(err).Code != syncgate.CodeClaimNotAllowed {
		t.Fatalf("claim with no allow-list: %v", err)
	}
}

// TestUpstreamCopiesClaims: TOKEN_AUTH=jwks copies exactly the named
// claims the ID token has into the minted token (missing ones are left
// out), never the others, and refuses a request body.
func TestUpstreamCopiesClaims(t *testing.T) {
	idp, _ := Generate("ES256", "idp-1")
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{idp.PublicJWK()}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(set) }))
	defer srv.Close()
	u, err := NewUpstream(srv.URL, "https://idp.test", "my-app", "sub", srv.Client()).WithClaims([]string{"org_id", "roles", "team"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	idToken := forge(t, jwt.SigningMethodES256, idp.Private, map[string]any{"kid": "idp-1"}, jwt.MapClaims{
		"iss": "https://idp.test", "aud": "my-app", "sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"org_id": "acme", "roles": []string{"admin"}, "email": "alice@acme.test", "nonce": "n",
	})
	ks := templateKeySet(t)
	m, _ := NewMinter(ks, aud, "", time.Minute)
	h := &Handlers{Keys: ks, Minter: m, Auth: u}
	for _, method := range []string{"GET", "POST"} {
		w, err := mintVia(t, h, method, "/token", "Bearer "+idToken, "", "")
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		c := claimsOf(t, ks, w)
		if c["sub"] != "alice" || c["org_id"] != "acme" || !reflect.DeepEqual(c["roles"], []any{"admin"}) {
			t.Fatalf("%s: claims %v", method, c)
		}
		for _, notCopied := range []string{"email", "nonce", "team"} {
			if _, ok := c[notCopied]; ok {
				t.Errorf("%s: claim %q copied: %v", method, notCopied, c)
			}
		}
		// The ID token's own registered claims are not the minted token's.
		if c["aud"] == "my-app" || c["iss"] == "https://idp.test" {
			t.Errorf("%s: the ID token's aud or iss leaked: %v", method, c)
		}
	}
	w, err := mintVia(t, h, "POST", "/token", "Bearer "+idToken, "application/json", `{"user_id":"bob","claims":{"org_id":"evil"}}`)
	if e := syncgate.AsError(err); e.Code != syncgate.CodeInvalidBody || w.Body.Len() != 0 {
		t.Fatalf("jwks POST with a body: %v %s", err, w.Body)
	}
}

// TestCustomDataEmbedded: USER_DATA_COLLECTION's document of the granted
// user becomes the custom_data claim, beside the caller's claims; a user
// without one gets no custom_data; a read that fails mints nothing (503).
func TestCustomDataEmbedded(t *testing.T) {
	ks := templateKeySet(t)
	h := apiKeyHandlers(t, ks, "org_id")
	var asked []string
	h.UserData = func(ctx context.Context, userID string) (map[string]any, error) {
		asked = append(asked, userID)
		switch userID {
		case "alice":
			return map[string]any{"_id": "65a1b2c3d4e5f60718293a4b", "user_id": "alice", "manages": []any{"bob@acme.test"}, "admin": true}, nil
		case "down":
			return nil, errors.New("store: user data users: connection refused")
		case "busy":
			return nil, &syncgate.Error{Kind: syncgate.Unavailable, Code: syncgate.CodeDatabaseUnavailable, Message: "the database is unavailable; retry later"}
		case "huge":
			return map[string]any{"blob": strings.Repeat("x", maxTokenBytes)}, nil
		}
		return nil, nil
	}
	w, err := mintVia(t, h, "POST", "/token", "Bearer "+testAPIKey, "", `{"user_id":"alice","claims":{"org_id":"acme"}}`)
	if err != nil {
		t.Fatal(err)
	}
	c := claimsOf(t, ks, w)
	want := map[string]any{"_id": "65a1b2c3d4e5f60718293a4b", "user_id": "alice", "manages": []any{"bob@acme.test"}, "admin": true}
	if !reflect.DeepEqual(c[CustomDataClaim], want) || c["org_id"] != "acme" {
		t.Fatalf("claims %v", c)
	}
	if len(asked) != 1 || asked[0] != "alice" {
		t.Fatalf("user data asked for %v, want the granted user alice", asked)
	}

	w, err = mintVia(t, h, "GET", "/token?user_id=carol", "Bearer "+testAPIKey, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if c := claimsOf(t, ks, w); c[CustomDataClaim] != nil {
		t.Fatalf("a user without user data got custom_data %v", c[CustomDataClaim])
	}
	if _, ok := claimsOf(t, ks, w)[CustomDataClaim]; ok {
		t.Fatal("a user without user data has a custom_data claim")
	}

	for _, user := range []string{"down", "busy"} {
		w, err := mintVia(t, h, "GET", "/token?user_id="+user, "Bearer "+testAPIKey, "", "")
		if e := syncgate.AsError(err); e.Kind != syncgate.Unavailable || e.Code != syncgate.CodeDatabaseUnavailable || w.Body.Len() != 0 {
			t.Fatalf("%s: %v (kind %d) %s, want 503 and nothing minted", user, err, e.Kind, w.Body)
		}
		if e := syncgate.AsError(err); strings.Contains(e.Message, "connection refused") {
			t.Fatalf("%s: the store's error reached the message: %q", user, e.Message)
		}
	}
	w, err = mintVia(t, h, "GET", "/token?user_id=huge", "Bearer "+testAPIKey, "", "")
	if e := syncgate.AsError(err); e.Code != syncgate.CodeClaimsTooLarge || !strings.Contains(e.Message, "custom_data") || w.Body.Len() != 0 {
		t.Fatalf("huge user data: %v %s", err, w.Body)
	}
	// The user data is never read for a refused request.
	asked = nil
	if _, err := mintVia(t, h, "GET", "/token?user_id=alice", "Bearer wrong-key-0123456789", "", ""); err == nil || len(asked) != 0 {
		t.Fatalf("bad key: %v, user data read for %v", err, asked)
	}
}
