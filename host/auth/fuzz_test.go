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
