package auth

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/syncgate/syncgate/host/syncgate"
)

// FuzzBearerToken feeds arbitrary Authorization headers to the /upload
// verifier: it must never panic, and must accept only tokens our key signed.
func FuzzBearerToken(f *testing.F) {
	ks := templateKeySet(f)
	m, _ := NewMinter(ks, aud, "", time.Minute)
	good, _ := m.Mint("u", nil)
	f.Add("Bearer " + good.Token)
	f.Add("Token " + good.Token)
	f.Add("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1In0.")
	f.Add("Bearer a.b.c")
	f.Add("Basic dXNlcjpwYXNz")
	v := NewVerifier(ks, aud)
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("POST", "/upload", nil)
		r.Header["Authorization"] = []string{header}
		c, err := v.Authenticate(r)
		if err != nil {
			if e := syncgate.AsError(err); e.Kind != syncgate.Unauthorized {
				t.Fatalf("kind %d: %v", e.Kind, err)
			}
			return
		}
		if c.UserID != "u" {
			t.Fatalf("accepted a token for %q that we never minted", c.UserID)
		}
	})
}

// FuzzTokenRequest feeds arbitrary POST /token bodies to the decoder: it
// must never panic, and what it accepts has a valid user id and only
// allowed claims, never a registered one.
func FuzzTokenRequest(f *testing.F) {
	f.Add(`{"user_id":"alice","claims":{"org_id":"acme","roles":["a"]}}`)
	f.Add(`{"user_id":"alice","claims":{"sub":"bob"}}`)
	f.Add(`{"user_id":"alice","claims":{"org_id":1e999}}`)
	f.Add(`{"user_id":"a","user_id":"b"}`)
	f.Add(`{"claims":null,"user_id":"\u0000"}`)
	f.Add(`[]`)
	allowed, _ := NewClaimNames([]string{"org_id", "roles"})
	ks := templateKeySet(f)
	m, _ := NewMinter(ks, aud, "", time.Minute)
	v := NewVerifier(ks, aud)
	f.Fuzz(func(t *testing.T, body string) {
		g, err := decodeTokenRequest([]byte(body), allowed)
		if err != nil {
			if e := syncgate.AsError(err); e.Kind != syncgate.Invalid {
				t.Fatalf("kind %d: %v", e.Kind, err)
			}
			return
		}
		if err := CheckUserID(g.UserID); err != nil {
			t.Fatalf("accepted user id %q: %v", g.UserID, err)
		}
		for k := range g.Claims {
			if IsRegistered(k) || !allowed[k] {
				t.Fatalf("accepted claim %q", k)
			}
		}
		// What is accepted signs and verifies.
		minted, err := m.Mint(g.UserID, g.Claims)
		if err != nil {
			if syncgate.AsError(err).Code != syncgate.CodeClaimsTooLarge {
				t.Fatalf("accepted claims do not mint: %v", err)
			}
			return
		}
		if c, err := v.Verify(minted.Token); err != nil || c.UserID != g.UserID {
			t.Fatalf("the minted token does not verify: %v", err)
		}
	})
}
