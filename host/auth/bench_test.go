package auth

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkToken: raw signing of the same claims with the same key (base)
// against the whole /token handler (ours: auth check, claims, signing,
// JSON response), per algorithm.
func BenchmarkToken(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		k, err := Generate(alg, "")
		if err != nil {
			b.Fatal(err)
		}
		ks, _ := NewKeys(k)
		m, _ := NewMinter(ks, aud, "", 5*time.Minute)
		b.Run(alg+"/base", func(b *testing.B) {
			method := jwt.GetSigningMethod(alg)
			for b.Loop() {
				now := time.Now()
				t := jwt.NewWithClaims(method, jwt.RegisteredClaims{Subject: "user-1", Audience: jwt.ClaimStrings{aud},
					IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute))})
				t.Header["kid"] = k.KID
				if _, err := t.SignedString(k.Private); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg+"/ours", func(b *testing.B) {
			h := &Handlers{Keys: ks, Minter: m, Auth: NewAPIKeys([]string{"bench-api-key-0123456789"})}
			r := httptest.NewRequest("GET", "/token?user_id=user-1", nil)
			r.Header.Set("Authorization", "Bearer bench-api-key-0123456789")
			for b.Loop() {
				w := httptest.NewRecorder()
				if err := h.Token(w, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify is the per-/upload cost of checking a token: keys are
// parsed once at start-up, so this is signature and claims work only.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		k, _ := Generate(alg, "")
		ks, _ := NewKeys(k)
		m, _ := NewMinter(ks, aud, "", 5*time.Minute)
		tok, _ := m.Mint("user-1", nil)
		v := NewVerifier(ks, aud)
		// The full check: the verifier forgets the token before each turn.
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				clear(v.verified)
				if _, err := v.Verify(tok.Token); err != nil {
					b.Fatal(err)
				}
			}
		})
		// A client's next request with the same token.
		b.Run(alg+"/remembered", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok.Token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
