package tests

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/syncgate/syncgate/host/store"
)

// Tests that only a real MongoDB can answer; they run under
// `go tool task test:mongo` (SYNCGATE_TEST_MONGO_URI) and skip otherwise.

const (
	mongoListOK  = "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b01"
	mongoListBad = "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b02"
	mongoLegacy  = "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b03"
)

// TestMongoTransactionsOn: the server behind SYNCGATE_TEST_MONGO_URI is a
// replica set (or mongos), so the store takes the transaction path.
func TestMongoTransactionsOn(t *testing.T) {
	needMongo(t)
	st, err := store.Open(dbURI, dbName(t), store.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	mode, err := st.Detect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if mode != store.ModeTransaction || st.FerretDB() {
		t.Fatalf("write mode %s (FerretDB %v): SYNCGATE_TEST_MONGO_URI must name a replica set, e.g. ?replicaSet=rs0", mode, st.FerretDB())
	}
}

// TestMongoValidators: `schemas apply` sets validators that the database
// then enforces; a document the validator refuses is rejected per op
// (strict mode: 422, nothing written); on a populated collection, moderate
// leaves updates of older invalid documents alone and strict refuses them.
func TestMongoValidators(t *testing.T) {
	needValidators(t)
	ctx := t.Context()
	env := schemaEnv(t)
	lists := client.Database(env["MONGO_DATABASE"]).Collection("lists")
	// A document from before the validator: no owner_id.
	if _, err := lists.InsertOne(ctx, bson.D{{Key: "_id", Value: mongoLegacy}, {Key: "name", Value: "legacy"}}); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	if code := cliRun(t, env, &out, &errb, "schemas", "apply"); code != 0 {
		t.Fatalf("schemas apply: exit %d %s", code, errb.String())
	}
	// The database itself refuses a bad document now.
	_, err := lists.InsertOne(ctx, bson.D{{Key: "_id", Value: mongoListBad}, {Key: "name", Value: 5}})
	if !isValidation(err) {
		t.Fatalf("insert of a bad document after apply: %v, want a validation error (121)", err)
	}
	// moderate: the older invalid document may still be updated.
	// Each update sets a new name: MongoDB skips validation of an update
	// that changes nothing.
	legacyUpdate := func(name string) bson.D { return bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: name}}}} }
	if _, err := lists.UpdateOne(ctx, bson.D{{Key: "_id", Value: mongoLegacy}}, legacyUpdate("legacy 2")); err != nil {
		t.Fatalf("moderate: update of an older invalid document: %v", err)
	}

	// Through syncgate, with no schema gate in front (its own SCHEMAS_DIR is
	// empty), so the refusal comes from the database inside the transaction.
	srv := baseEnv(t)
	srv["MONGO_DATABASE"] = env["MONGO_DATABASE"]
	a := start(t, srv)
	r := postUpload(t, a, "", `{"batch":[
		{"op":"PUT","table":"lists","id":"`+mongoListOK+`","data":{"name":"fine","owner_id":"u1"}},
		{"op":"PUT","table":"lists","id":"`+mongoListBad+`","data":{"name":"no owner"}}
	]}`)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	rej, _ := r.json(t)["rejected"].([]any)
	if r.json(t)["applied"] != float64(1) || len(rej) != 1 || rej[0].(map[string]any)["code"] != "document_validation" {
		t.Fatalf("answer %s, want 1 applied and index 1 document_validation", r.body)
	}
	got := docs(t, a.db, "lists")
	if _, ok := got[mongoListOK]; !ok {
		t.Fatalf("the valid op was not written: %v", got)
	}
	if _, ok := got[mongoListBad]; ok {
		t.Fatalf("the refused document is stored: %v", got)
	}

	t.Run("strict mode", func(t *testing.T) {
		srv := baseEnv(t)
		srv["MONGO_DATABASE"] = env["MONGO_DATABASE"]
		srv["UPLOAD_STRICT"] = "true"
		a := start(t, srv)
		const other = "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b04"
		r := postUpload(t, a, "", `{"batch":[
			{"op":"PUT","table":"lists","id":"`+other+`","data":{"name":"fine","owner_id":"u1"}},
			{"op":"PUT","table":"lists","id":"`+mongoListBad+`","data":{"name":"no owner"}}
		]}`)
		if r.status != 422 || !strings.Contains(string(r.body), "nothing was written") {
			t.Fatalf("strict: %d %s", r.status, r.body)
		}
		if _, ok := docs(t, a.db, "lists")[other]; ok {
			t.Fatal("strict mode wrote the valid op of a refused batch")
		}
	})

	t.Run("level strict on a populated collection", func(t *testing.T) {
		var out, errb strings.Builder
		if code := cliRun(t, env, &out, &errb, "schemas", "apply", "--level", "strict"); code != 0 {
			t.Fatalf("schemas apply --level strict: exit %d %s", code, errb.String())
		}
		_, err := lists.UpdateOne(ctx, bson.D{{Key: "_id", Value: mongoLegacy}}, legacyUpdate("legacy 3"))
		if !isValidation(err) {
			t.Fatalf("strict: update of an older invalid document: %v, want a validation error", err)
		}
		// warn: accepted and only logged by the server.
		if code := cliRun(t, env, &out, &errb, "schemas", "apply", "--level", "strict", "--action", "warn"); code != 0 {
			t.Fatalf("schemas apply --action warn: exit %d %s", code, errb.String())
		}
		if _, err := lists.UpdateOne(ctx, bson.D{{Key: "_id", Value: mongoLegacy}}, legacyUpdate("legacy 4")); err != nil {
			t.Fatalf("warn: update refused: %v", err)
		}
	})
}

func isValidation(err error) bool {
	var we mongo.WriteException
	if errors.As(err, &we) {
		for _, e := range we.WriteErrors {
			if e.Code == 121 {
				return true
			}
		}
	}
	return false
}
