package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/syncgate/syncgate/tests/internal/mongostub"
)

// BenchmarkAttachments: issue #28's throughput pairs, one client, on the
// embedded database (db=ferretdb) and on mongostub as a fast database
// (db=stub: documents in memory, so the pair shows syncgate's own cost):
// base is the raw driver's GridFS bucket (UploadFromStream of a new file;
// DownloadToStream), ours the same bytes through PUT and GET
// /attachments/{id} over HTTP with a token (a new id per upload, so neither
// replaces). MB/s from SetBytes; the ratio is the report's.
//
// Both buckets are emptied after each upload pair and each size, so every
// download reads a bucket that holds that one file: FerretDB v1 scans the
// whole chunks table per query (docs/design.md), and downloads measured
// after 60 uploads of 20 MiB measured the benchmark's history (and passed
// the test client's 30 s timeout). Each leaf mints its own token (a run on
// FerretDB outlives TOKEN_TTL).
//
// Base and ours are leaves of their own (benchreport pairs them), run
// seconds apart, and -count N runs a leaf N times before its partner: on a
// shared machine they meet different load. BenchmarkAttachmentsPaired
// interleaves them; its ours/base, the median of several runs, is the
// figure for the ratio (docs/measurements.md, "Attachments, second pass"). Anchor the
// pattern (^BenchmarkAttachments$/...): unanchored, it also runs
// BenchmarkAttachmentsPaired and BenchmarkAttachmentsRSS.
func BenchmarkAttachments(b *testing.B) { benchAttachmentsOn(b, false) }

// BenchmarkAttachmentsPaired: the same pairs, base and ours interleaved
// operation by operation in one loop (base first on even turns, ours first
// on odd ones), so both meet the same moments of the machine's load; it
// reports base-MB/s, ours-MB/s and ours/base (their ratio) per pair. On a
// shared machine this is the figure for issue #28's ratio: separate leaves
// seconds apart gave per-run ratios from 0.37 to 0.73 for one pair.
func BenchmarkAttachmentsPaired(b *testing.B) { benchAttachmentsOn(b, true) }

func benchAttachmentsOn(b *testing.B, paired bool) {
	b.Run("db=ferretdb", func(b *testing.B) { benchAttachments(b, dbURI, client, paired) })
	b.Run("db=stub", func(b *testing.B) {
		stub, err := mongostub.Start(mongostub.Config{NoLog: true})
		if err != nil {
			b.Fatal(err)
		}
		defer stub.Close()
		c, err := mongo.Connect(options.Client().ApplyURI(stub.URI()))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Disconnect(context.Background())
		benchAttachments(b, stub.URI(), c, paired)
	})
}

func benchAttachments(b *testing.B, uri string, client *mongo.Client, paired bool) {
	env := map[string]string{
		"ADDR": "127.0.0.1:0", "MONGO_URI": uri, "MONGO_DATABASE": "bench_attachments",
		"SYNCGATE_DIR": stateDir, "LOG_FORMAT": "json", "SCHEMAS_DIR": b.TempDir(), "GUESTS_DIR": guestsDir,
		"GUEST_POOL": "1", "ATTACHMENTS": "true",
	}
	a := start(b, env)
	bucket := client.Database("bench_attachments_base").GridFSBucket(options.GridFSBucket().SetName("fs"))
	ours := client.Database("bench_attachments")
	// empty deletes every file of both buckets, keeping their indexes (the
	// store and the driver make them once).
	empty := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		every := func(field string) bson.D { // mongostub deletes by a filter on a field
			return bson.D{{Key: field, Value: bson.D{{Key: "$exists", Value: true}}}}
		}
		for c, filter := range map[*mongo.Collection]bson.D{
			bucket.GetFilesCollection(): every("length"), bucket.GetChunksCollection(): every("files_id"),
			ours.Collection("syncgate_attachments.files"): every("length"), ours.Collection("syncgate_attachments.chunks"): every("files_id"),
		} {
			if _, err := c.DeleteMany(ctx, filter); err != nil {
				b.Fatal(err)
			}
		}
	}
	// run runs one pair: two leaves, or one that interleaves them.
	run := func(name string, size int, base, ours func(b *testing.B, tok string)) {
		if paired {
			b.Run(name, func(b *testing.B) { benchPair(b, size, base, ours, benchToken(b, a.url)) })
			return
		}
		b.Run(name+"/base", func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				base(b, "")
			}
		})
		b.Run(name+"/ours", func(b *testing.B) {
			tok := benchToken(b, a.url)
			b.SetBytes(int64(size))
			for b.Loop() {
				ours(b, tok)
			}
		})
	}
	for _, size := range []int{1 << 20, 20 << 20} {
		data := jpegOf(b, size)
		name := fmt.Sprintf("size=%dMiB", size>>20)
		n := 0
		run(name+"/op=upload", size, func(b *testing.B, _ string) {
			if _, err := bucket.UploadFromStream(context.Background(), "f", bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}, func(b *testing.B, tok string) {
			n++
			benchPut(b, a.url, tok, fmt.Sprintf("u%d-%d", size, n), data)
		})
		empty()
		id, err := bucket.UploadFromStream(context.Background(), "d", bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		benchPut(b, a.url, benchToken(b, a.url), fmt.Sprintf("d%d", size), data)
		run(name+"/op=download", size, func(b *testing.B, _ string) {
			if n, err := bucket.DownloadToStream(context.Background(), id, io.Discard); err != nil || n != int64(size) {
				b.Fatal(n, err)
			}
		}, func(b *testing.B, tok string) {
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/attachments/d%d", a.url, size), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			got, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || got != int64(size) {
				b.Fatal(resp.StatusCode, got, err)
			}
		})
		empty()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = client.Database("bench_attachments_base").Drop(ctx)
	_ = client.Database("bench_attachments").Drop(ctx)
}

// benchPair runs base and ours in turn, each timed on its own, and reports
// each side's MB/s and ours/base, the ratio of the two.
func benchPair(b *testing.B, size int, base, ours func(b *testing.B, tok string), tok string) {
	var tb, to time.Duration
	turn := 0
	for b.Loop() {
		t0 := time.Now()
		if turn%2 == 0 {
			base(b, tok)
			t1 := time.Now()
			ours(b, tok)
			tb, to = tb+t1.Sub(t0), to+time.Since(t1)
		} else {
			ours(b, tok)
			t1 := time.Now()
			base(b, tok)
			to, tb = to+t1.Sub(t0), tb+time.Since(t1)
		}
		turn++
	}
	mb := float64(size) * float64(turn) / 1e6
	b.ReportMetric(mb/tb.Seconds(), "base-MB/s")
	b.ReportMetric(mb/to.Seconds(), "ours-MB/s")
	b.ReportMetric(tb.Seconds()/to.Seconds(), "ours/base")
}

// BenchmarkAttachmentsRSS: 8 clients upload 20 MiB files at once to
// syncgate in a process of its own (the embedded database stays in the
// benchmark's process); server-MiB-peak-RSS is that process's peak, which
// the store's two 1 MiB buffers per upload bound, not the files' sizes.
func BenchmarkAttachmentsRSS(b *testing.B) {
	const clients, size = 8, 20 << 20
	p, tok := rssServer(b, dbURI, "bench_attachments_rss")
	data := jpegOf(b, size)
	round := 0
	benchRSS(b, p, clients, size, func(c int) {
		benchPut(b, p.url, tok, fmt.Sprintf("r%d-%d", round, c), data)
	}, func() { round++ })
}

// BenchmarkAttachmentsDownloadRSS: the same 8 clients each download a
// 20 MiB file of their own at once; the server's peak RSS is bounded by
// what a download holds ahead of its client (two cursor replies of up to
// 16 chunks, 8 MiB, docs/design.md), not by the files' sizes.
//
// db=stub runs it on mongostub in the benchmark's process: a database
// faster than the clients, where a download's fetch-ahead fills up.
func BenchmarkAttachmentsDownloadRSS(b *testing.B) {
	b.Run("db=ferretdb", func(b *testing.B) { benchDownloadRSS(b, dbURI) })
	b.Run("db=stub", func(b *testing.B) {
		stub, err := mongostub.Start(mongostub.Config{NoLog: true})
		if err != nil {
			b.Fatal(err)
		}
		defer stub.Close()
		benchDownloadRSS(b, stub.URI())
	})
}

func benchDownloadRSS(b *testing.B, uri string) {
	const clients, size = 8, 20 << 20
	p, tok := rssServer(b, uri, "bench_attachments_rss_get")
	data := jpegOf(b, size)
	for c := range clients {
		benchPut(b, p.url, tok, fmt.Sprintf("g%d", c), data)
	}
	benchRSS(b, p, clients, size, func(c int) {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/attachments/g%d", p.url, c), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		got, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || got != size {
			b.Errorf("GET g%d: %d, %d bytes, %v", c, resp.StatusCode, got, err)
		}
	}, func() {})
}

// rssServer starts syncgate with attachments in a process of its own on
// database db at uri (the embedded database's is dropped at the end), and
// mints a token.
func rssServer(b *testing.B, uri, db string) (*process, string) {
	env := map[string]string{
		"ADDR": "127.0.0.1:0", "MONGO_URI": uri, "MONGO_DATABASE": db,
		"SYNCGATE_DIR": stateDir, "LOG_FORMAT": "json", "SCHEMAS_DIR": b.TempDir(), "GUESTS_DIR": guestsDir,
		"GUEST_POOL": "1", "ATTACHMENTS": "true",
	}
	p := startProcess(b, env)
	if uri == dbURI {
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_ = client.Database(db).Drop(ctx)
		})
	}
	return p, benchToken(b, p.url)
}

// benchRSS runs each round's clients at once (each(c) for c < clients;
// round() first) and reports the server's peak and idle RSS.
func benchRSS(b *testing.B, p *process, clients, size int, each func(c int), round func()) {
	idle := p.rssMiB()
	for b.Loop() {
		round()
		peak := 0
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for {
				peak = max(peak, p.rssMiB())
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		var wg sync.WaitGroup
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				each(c)
			}()
		}
		wg.Wait()
		close(stop)
		<-done
		b.ReportMetric(float64(peak), "server-MiB-peak-RSS")
		b.ReportMetric(float64(idle), "server-MiB-idle-RSS")
	}
	b.SetBytes(int64(clients * size))
}

func benchToken(b *testing.B, url string) string {
	resp, err := http.Get(url + "/token?user_id=bench")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || m.Token == "" {
		b.Fatal("/token", err)
	}
	return m.Token
}

func benchPut(b *testing.B, url, tok, id string, data []byte) {
	req, _ := http.NewRequest("PUT", url+"/attachments/"+id, bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Errorf("PUT %s: %d %s", id, resp.StatusCode, body)
	}
}
