package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/syncgate/syncgate/host/loadgen"
)

var benchSeq atomic.Int64

// todoRows makes n ~300-byte todo rows with fresh ids.
func todoRows(n int, table string) (ids []string, body []byte, docs []bson.D) {
	var b strings.Builder
	b.WriteString(`{"batch":[`)
	for i := range n {
		id := fmt.Sprintf("7c1e9f0a-3d2b-4a8e-b6f1-%012d", benchSeq.Add(1))
		desc := fmt.Sprintf("Buy oat milk, bread and coffee for the week ahead, item number %06d", i)
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"op":"PUT","table":"`+table+`","id":"%s","data":{"created_at":"2024-05-01 10:00:00","description":"%s","completed":%d,"completed_at":null,"created_by":"3f9a8c1e-2b7d-4e6f-9a1c-5d8e7f6a4b3c","completed_by":null,"list_id":"0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b10"}}`, id, desc, i%2)
		ids = append(ids, id)
		docs = append(docs, bson.D{{Key: "_id", Value: id}, {Key: "created_at", Value: "2024-05-01 10:00:00"}, {Key: "description", Value: desc},
			{Key: "completed", Value: int64(i % 2)}, {Key: "completed_at", Value: nil}, {Key: "created_by", Value: "3f9a8c1e-2b7d-4e6f-9a1c-5d8e7f6a4b3c"},
			{Key: "completed_by", Value: nil}, {Key: "list_id", Value: "0b6f3a52-5a3c-4c59-9ac6-2f2b7f7c1b10"}})
	}
	b.WriteString(`]}`)
	return ids, []byte(b.String()), docs
}

// BenchmarkUpload: the raw driver's ordered bulk write of the same rows in
// the same commands syncgate sends to FerretDB (replace-upserts, 16 per
// command) is the base; ours is POST /upload over HTTP with a verified
// token, decoding, the (empty) pipeline and the same writes. Every
// iteration writes into a new collection, so both sides see the same
// collection sizes (FerretDB's SQLite upserts slow down as a table grows).
func BenchmarkUpload(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("batch=%d/base", n), func(b *testing.B) {
			db := client.Database(fmt.Sprintf("bench_raw_%d", n))
			for b.Loop() {
				b.StopTimer()
				table := fmt.Sprintf("todos_%d", benchSeq.Add(1))
				coll := db.Collection(table)
				ids, _, docs := todoRows(n, table)
				b.StartTimer()
				for start := 0; start < n; start += 16 {
					end := min(start+16, n)
					models := make([]mongo.WriteModel, 0, end-start)
					for i := start; i < end; i++ {
						models = append(models, mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: ids[i]}}).SetReplacement(docs[i]).SetUpsert(true))
					}
					if _, err := coll.BulkWrite(context.Background(), models, options.BulkWrite().SetOrdered(true)); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
		})
		b.Run(fmt.Sprintf("batch=%d/ours", n), func(b *testing.B) {
			a, tok := benchServer(b, n)
			for b.Loop() {
				b.StopTimer()
				_, body, _ := todoRows(n, fmt.Sprintf("todos_%d", benchSeq.Add(1)))
				req, _ := http.NewRequest("POST", a.url+"/upload", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tok)
				b.StartTimer()
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != 200 {
					b.Fatal(err, resp)
				}
				resp.Body.Close()
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// benchServer starts syncgate for a benchmark and returns a token.
func benchServer(b *testing.B, n int) (*app, string) {
	env := map[string]string{
		"ADDR": "127.0.0.1:0", "MONGO_URI": dbURI, "MONGO_DATABASE": fmt.Sprintf("bench_ours_%d", n),
		"SYNCGATE_DIR": stateDir, "LOG_FORMAT": "json", "SCHEMAS_DIR": b.TempDir(), "GUESTS_DIR": guestsDir,
	}
	a := start(b, env)
	r, err := http.Get(a.url + "/token?user_id=bench")
	if err != nil {
		b.Fatal(err)
	}
	defer r.Body.Close()
	var m struct{ Token string }
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		b.Fatal(err)
	}
	return a, m.Token
}

// BenchmarkLoadRSS runs 16 simulated clients for 10 s through the schema
// gate and reports the peak RSS of this process (server, embedded FerretDB
// and clients together) and the acknowledged ops per second.
func BenchmarkLoadRSS(b *testing.B) {
	env := map[string]string{
		"ADDR": "127.0.0.1:0", "MONGO_URI": dbURI, "MONGO_DATABASE": "bench_load",
		"SYNCGATE_DIR": stateDir, "LOG_FORMAT": "json", "SCHEMAS_DIR": "testdata/schemas", "GUESTS_DIR": guestsDir, "UPLOAD_AUTH": "off",
	}
	a := start(b, env)
	for b.Loop() {
		peak := 0
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				peak = max(peak, rssMiB())
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
		res, err := loadgen.Run(context.Background(), loadgen.Config{URL: a.url, Clients: 16, Duration: 10 * time.Second, BatchSize: 20, InvalidShare: 0.05, Seed: 9})
		close(stop)
		<-done
		if err != nil || len(res.Unexpected) > 0 {
			b.Fatal(err, res.Unexpected)
		}
		b.ReportMetric(float64(peak), "MiB-peak-RSS")
		b.ReportMetric(float64(res.Ops)/res.Elapsed.Seconds(), "ops/s")
	}
}
