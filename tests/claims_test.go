package tests

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

const claimsAPIKey = "a-long-api-key-for-claims"

// claimsEnv runs with the template's keys, UPLOAD_AUTH on, api-key minting
// with TOKEN_CLAIMS=org_id,roles and custom user data in "users", which has
// a schema (so only the user-data rule keeps clients out of it); lists is
// writable through UPLOAD_TABLES.
func claimsEnv(t *testing.T) map[string]string {
	env := templateEnv(t, baseEnv(t))
	delete(env, "UPLOAD_AUTH")
	schemas := t.TempDir()
	os.WriteFile(filepath.Join(schemas, "users.json"), []byte(`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object"}`), 0o644)
	env["SCHEMAS_DIR"] = schemas
	env["RULES_DIR"] = t.TempDir()
	env["UPLOAD_TABLES"] = "lists"
	env["TOKEN_API_KEYS"] = claimsAPIKey
	env["TOKEN_CLAIMS"] = "org_id,roles"
	env["USER_DATA_COLLECTION"] = "users"
	return env
}

// docKey is how docs keys a document with an ObjectId _id.
func docKey(id bson.ObjectID) string { return fmt.Sprint(id) }

// payload decodes a token's claims without verifying it (the server's
// Verifier did, at /upload).
func payload(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func mintToken(t *testing.T, a *app, method, target, body string) response {
	t.Helper()
	h := map[string]string{"Authorization": "Bearer " + claimsAPIKey}
	if body != "" {
		h["Content-Type"] = "application/json"
	}
	return do(t, method, a.url+target, h, []byte(body))
}

// TestTokenClaimsReachUpload: the calling backend mints alice's token with
// claims through POST /token; the token embeds her document of
// USER_DATA_COLLECTION as custom_data; /upload's caller carries both (the
// dead letter of her refused write records them); she cannot write her
// own custom data; registered and unlisted claims and bad bodies are
// refused with their codes; GET /token still works.
func TestTokenClaimsReachUpload(t *testing.T) {
	env := claimsEnv(t)
	db := env["MONGO_DATABASE"]
	oid := bson.NewObjectID()
	since := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, err := client.Database(db).Collection("users").InsertOne(t.Context(), bson.D{
		{Key: "_id", Value: oid}, {Key: "user_id", Value: "alice"}, {Key: "team", Value: "blue"},
		{Key: "admin", Value: true}, {Key: "since", Value: bson.NewDateTimeFromTime(since)},
		{Key: "manages", Value: bson.A{"bob@acme.test"}}, {Key: "limits", Value: bson.D{{Key: "lists", Value: int32(3)}}},
	}); err != nil {
		t.Fatal(err)
	}
	a := start(t, env)

	r := mintToken(t, a, "POST", "/token", `{"user_id":"alice","claims":{"org_id":"acme","roles":["admin","editor"]}}`)
	if r.status != 200 {
		t.Fatalf("POST /token: %d %s", r.status, r.body)
	}
	var minted struct{ Token string }
	json.Unmarshal(r.body, &minted)
	c := payload(t, minted.Token)
	wantCustom := map[string]any{"_id": oid.Hex(), "user_id": "alice", "team": "blue", "admin": true,
		"since": "2024-03-01T12:00:00.000Z", "manages": []any{"bob@acme.test"}, "limits": map[string]any{"lists": float64(3)}}
	if c["sub"] != "alice" || c["org_id"] != "acme" || !reflect.DeepEqual(c["roles"], []any{"admin", "editor"}) || !reflect.DeepEqual(c["custom_data"], wantCustom) {
		t.Fatalf("claims %v\nwant custom_data %v", c, wantCustom)
	}

	// One write applied, one refused: her own custom data is not hers to write.
	up := uploadResult(t, postUpload(t, a, minted.Token, `{"batch":[
		{"op":"PUT","table":"lists","id":"l1","data":{"name":"groceries"}},
		{"op":"PATCH","table":"users","id":"`+oid.Hex()+`","data":{"admin":true,"team":"red"}},
		{"op":"PUT","table":"users","id":"alice-2","data":{"user_id":"alice","admin":true}}]}`))
	if up.Applied != 1 || len(up.Rejected) != 2 || up.Rejected[0].Code != "table_not_allowed" || up.Rejected[1].Code != "table_not_allowed" {
		t.Fatalf("upload %+v", up)
	}
	users := docs(t, db, "users")
	if len(users) != 1 || users[docKey(oid)]["team"] != "blue" {
		t.Fatalf("users after the refused write: %v", users)
	}
	dl, err := client.Database(db).Collection("syncgate_rejected").FindOne(t.Context(), bson.D{{Key: "table", Value: "users"}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"user_id": "alice", "claims.org_id": "acme", "claims.roles.0": "admin", "claims.roles.1": "editor",
		"claims.custom_data.team": "blue", "claims.custom_data._id": oid.Hex(), "claims.custom_data.since": "2024-03-01T12:00:00.000Z",
	} {
		if v, ok := dl.Lookup(strings.Split(path, ".")...).StringValueOK(); !ok || v != want {
			t.Errorf("the dead letter's %s: %q, want %q (%s)", path, v, want, dl)
		}
	}
	// GET keeps working; bob has no user data, so no custom_data.
	r = mintToken(t, a, "GET", "/token?user_id=bob", "")
	if r.status != 200 {
		t.Fatalf("GET /token: %d %s", r.status, r.body)
	}
	json.Unmarshal(r.body, &minted)
	if c := payload(t, minted.Token); c["sub"] != "bob" || c["custom_data"] != nil || c["org_id"] != nil {
		t.Fatalf("bob's claims %v", c)
	}

	for _, tc := range []struct{ name, body, code string }{
		{"registered claim", `{"user_id":"alice","claims":{"sub":"bob"}}`, "registered_claim"},
		{"exp", `{"user_id":"alice","claims":{"exp":99999999999}}`, "registered_claim"},
		{"claim not listed", `{"user_id":"alice","claims":{"admin":true}}`, "claim_not_allowed"},
		{"custom_data from the caller", `{"user_id":"alice","claims":{"custom_data":{"admin":true}}}`, "claim_not_allowed"},
		{"bad JSON", `{"user_id":"alice","claims":`, "invalid_json"},
		{"unknown member", `{"user":"alice"}`, "invalid_body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mintToken(t, a, "POST", "/token", tc.body)
			if r.status != 400 || r.errorCode(t) != tc.code || strings.Contains(string(r.body), `"token"`) {
				t.Fatalf("%d %s, want 400 %s", r.status, r.body, tc.code)
			}
		})
	}
	if r := do(t, "POST", a.url+"/token", map[string]string{"Content-Type": "application/json"}, []byte(`{"user_id":"alice"}`)); r.status != 401 {
		t.Fatalf("POST /token without the API key: %d %s", r.status, r.body)
	}
}

// TestUserDataCollectionNeedsARule: a rules file of its own opens the user
// data collection to clients, and then that rule decides (the authorize
// guest runs): alice may write her own document's user_id and team, not
// another field, and not bob's document. Without one, and with every table
// writable, start-up stops naming USER_DATA_COLLECTION.
func TestUserDataCollectionNeedsARule(t *testing.T) {
	env := claimsEnv(t)
	os.WriteFile(filepath.Join(env["RULES_DIR"], "users.json"), []byte(`{"roles":[{"name":"self",
		"apply_when":{"user_id":"%%user.id"},"insert":true,"delete":false,
		"fields":{"user_id":{"write":true},"team":{"write":true}},"additional_fields":{"write":false}}]}`), 0o644)
	env["GUESTS_DIR"] = guestsDir // the stock guests, authorize among them
	a := start(t, env)
	r := mintToken(t, a, "GET", "/token?user_id=alice", "")
	var minted struct{ Token string }
	if r.status != 200 || json.Unmarshal(r.body, &minted) != nil {
		t.Fatalf("/token: %d %s", r.status, r.body)
	}
	up := uploadResult(t, postUpload(t, a, minted.Token, `{"batch":[
		{"op":"PUT","table":"users","id":"a1","data":{"user_id":"alice","team":"blue"}},
		{"op":"PUT","table":"users","id":"a2","data":{"user_id":"alice","admin":true}},
		{"op":"PUT","table":"users","id":"b1","data":{"user_id":"bob","team":"blue"}}]}`))
	if up.Applied != 1 || len(up.Rejected) != 2 || up.Rejected[0].Index != 1 || up.Rejected[0].Code != "forbidden" ||
		!strings.Contains(up.Rejected[0].Reason, "admin") || up.Rejected[1].Index != 2 || up.Rejected[1].Code != "forbidden" {
		t.Fatalf("with rules/users.json: %+v", up)
	}
	if users := docs(t, env["MONGO_DATABASE"], "users"); len(users) != 1 || users["a1"]["user_id"] != "alice" {
		t.Fatalf("users %v", users)
	}

	env = claimsEnv(t)
	env["SCHEMAS_DIR"] = t.TempDir()
	delete(env, "UPLOAD_TABLES")
	code, stderr := runCommand(t, env, "serve")
	if code == 0 || !strings.Contains(stderr, "USER_DATA_COLLECTION: clients may write any table") {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
}
