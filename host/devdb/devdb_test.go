package devdb

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestDataSurvivesRestart writes, stops the database, starts it again on the
// same folder and reads the document back.
func TestDataSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	write := func(db *DB) {
		c := connect(t, db)
		if _, err := c.Database("d").Collection("c").InsertOne(t.Context(), bson.D{{Key: "_id", Value: "x"}, {Key: "v", Value: 42}}); err != nil {
			t.Fatal(err)
		}
	}
	db := startT(t, dir)
	write(db)
	closeT(t, db)

	db = startT(t, dir)
	defer closeT(t, db)
	var got struct{ V int }
	if err := connect(t, db).Database("d").Collection("c").FindOne(t.Context(), bson.D{{Key: "_id", Value: "x"}}).Decode(&got); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if got.V != 42 {
		t.Fatalf("after restart: v = %d, want 42", got.V)
	}
}

func startT(t *testing.T, dir string) *DB {
	db, err := Start(dir, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func closeT(t *testing.T, db *DB) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func connect(t *testing.T, db *DB) *mongo.Client {
	c, err := mongo.Connect(options.Client().ApplyURI(db.URI()).SetTimeout(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}
