package tests

import (
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/syncgate/syncgate/host/cli"
)

func templateEnv(t *testing.T, env map[string]string) map[string]string {
	b, err := os.ReadFile("../host/auth/testdata/template-keys.env")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		env[k] = v
	}
	env["POWERSYNC_URL"] = "https://example.powersync.test"
	return env
}

// TestUploadNeedsAToken: with UPLOAD_AUTH on, no or bad tokens get 401 with
// WWW-Authenticate and nothing is written; a minted token is accepted.
func TestUploadNeedsAToken(t *testing.T) {
	env := templateEnv(t, baseEnv(t))
	delete(env, "UPLOAD_AUTH")
	env["TOKEN_API_KEYS"] = "a-long-api-key-for-tests"
	a := start(t, env)
	body := `{"batch":[{"op":"PUT","table":"lists","id":"x","data":{"name":"n"}}]}`
	for name, tok := range map[string]string{"none": "", "garbage": "abc", "api key as token": "a-long-api-key-for-tests"} {
		r := postUpload(t, a, tok, body)
		if r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: %d %v %s", name, r.status, r.header, r.body)
		}
	}
	if n := count(t, a.db, "lists"); n != 0 {
		t.Fatalf("unauthenticated upload wrote %d docs", n)
	}
	// api-key is the default with keys from the environment.
	if r := get(t, a.url+"/token?user_id=alice"); r.status != 401 {
		t.Fatalf("/token without the API key: %d %s", r.status, r.body)
	}
	r := do(t, "GET", a.url+"/token?user_id=alice", map[string]string{"Authorization": "Bearer a-long-api-key-for-tests"}, nil)
	if r.status != 200 {
		t.Fatalf("/token: %d %s", r.status, r.body)
	}
	var minted struct{ Token, PowerSyncURL string }
	json.Unmarshal(r.body, &minted)
	if up := postUpload(t, a, minted.Token, body); up.status != 200 {
		t.Fatalf("upload with a minted token: %d %s", up.status, up.body)
	}
	if n := count(t, a.db, "lists"); n != 1 {
		t.Fatalf("%d docs after an authorised upload", n)
	}
	jwks := get(t, a.url+"/.well-known/jwks.json")
	if jwks.status != 200 || !strings.Contains(jwks.header.Get("Cache-Control"), "max-age") || !strings.Contains(string(jwks.body), `"use":"sig"`) {
		t.Fatalf("jwks: %d %v %s", jwks.status, jwks.header, jwks.body)
	}
}

func TestKeyConfigErrors(t *testing.T) {
	cases := []struct{ name, key, value, want string }{
		{"undecodable private", "POWERSYNC_PRIVATE_KEY", "!!!", "POWERSYNC_PRIVATE_KEY"},
		{"public is the private", "POWERSYNC_PUBLIC_KEY", "", "POWERSYNC_PUBLIC_KEY"},
		{"no url", "POWERSYNC_URL", "", "POWERSYNC_URL"},
		{"no api keys", "TOKEN_API_KEYS", "", "TOKEN_API_KEYS"},
		{"short api key", "TOKEN_API_KEYS", "short", "TOKEN_API_KEYS"},
		{"bad extra key", "POWERSYNC_PUBLIC_KEYS_EXTRA", "zzz", "POWERSYNC_PUBLIC_KEYS_EXTRA[0]: not a JWK"},
		{"undecodable key says how to make one", "POWERSYNC_PRIVATE_KEY", "!!!", "syncgate keys generate"},
		{"private key published as extra", "POWERSYNC_PUBLIC_KEYS_EXTRA", "private", "POWERSYNC_PUBLIC_KEYS_EXTRA[0]: this is a private key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := templateEnv(t, baseEnv(t))
			env["TOKEN_API_KEYS"] = "a-long-api-key-for-tests"
			if c.value == "" {
				delete(env, c.key)
			} else if c.value == "private" {
				env[c.key] = env["POWERSYNC_PRIVATE_KEY"]
			} else {
				env[c.key] = c.value
			}
			if c.key == "TOKEN_API_KEYS" && c.value == "" {
				env["TOKEN_AUTH"] = "api-key"
			}
			code, stderr := runCommand(t, env, "serve")
			if code == 0 || !strings.Contains(stderr, c.want) {
				t.Fatalf("exit %d, stderr %q: want non-zero naming %s", code, stderr, c.want)
			}
		})
	}
}

// TestConfigAndKeyProblemsTogether: one start-up lists every problem of
// the configuration and of the keys it names, not one per restart.
func TestConfigAndKeyProblemsTogether(t *testing.T) {
	env := baseEnv(t)
	env["POWERSYNC_PUBLIC_KEY"], env["POWERSYNC_PRIVATE_KEY"] = "not-a-key", "not-a-key-either"
	env["TOKEN_TTL"] = "5"
	code, stderr := runCommand(t, env, "serve")
	for _, want := range []string{"POWERSYNC_URL", "TOKEN_AUTH", "TOKEN_TTL: want a duration like 5m", "POWERSYNC_PRIVATE_KEY:", "POWERSYNC_PUBLIC_KEY:", "syncgate keys generate"} {
		if code == 0 || !strings.Contains(stderr, want) {
			t.Errorf("exit %d: stderr does not contain %q:\n%s", code, want, stderr)
		}
	}
	if strings.Contains(stderr, "<nil>") {
		t.Errorf("<nil> in %s", stderr)
	}
}

// TestKeysGenerateRoundTrip: the pair `syncgate keys generate` prints runs a
// server whose tokens verify, for every algorithm.
func TestKeysGenerateRoundTrip(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			var out strings.Builder
			code := cli.Run(t.Context(), []string{"keys", "generate", "--alg", alg, "--kid", "k-" + alg}, func(string) string { return "" }, &out, io.Discard)
			if code != 0 {
				t.Fatalf("exit %d", code)
			}
			env := baseEnv(t)
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				k, v, _ := strings.Cut(l, "=")
				env[k] = v
			}
			env["POWERSYNC_URL"], env["TOKEN_AUTH"] = "https://ps.test", "dev"
			delete(env, "UPLOAD_AUTH")
			a := start(t, env)
			tok := token(t, a, "u1")
			if r := postUpload(t, a, tok, `{"batch":[]}`); r.status != 200 {
				t.Fatalf("upload with the generated key's token: %d %s", r.status, r.body)
			}
			if !strings.Contains(string(get(t, a.url+"/jwks").body), `"kid":"k-`+alg+`"`) {
				t.Fatal("the kid is not in the JWKS")
			}
		})
	}
	if code, _ := runCommand(t, nil, "keys", "generate", "--alg", "HS256"); code != 2 {
		t.Fatalf("HS256 accepted: exit %d", code)
	}
}
