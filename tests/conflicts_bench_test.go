package tests

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// BenchmarkPolicies: what each conflict policy costs per op, against the
// same batch of 100 PATCHes of stored documents with no guest (base). Every
// batch is accepted whole; the fields each policy reads are in every op.
func BenchmarkPolicies(b *testing.B) {
	const n = 100
	configs := []struct{ name, guests, settings string }{
		{"base", "", ""},
		{"lww", "lww:items", ""},
		{"version", "version:items", ""},
		{"transitions", "transitions:items", "transitions.items.status:pending>processing>shipped"},
		{"increments", "increments:items", "increments.items.fields:stock"},
		{"all", "lww:items,version:items,transitions:items,increments:items", "transitions.items.status:pending>processing>shipped,increments.items.fields:stock"},
	}
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for _, c := range configs {
		b.Run(c.name, func(b *testing.B) {
			env := map[string]string{
				"ADDR": "127.0.0.1:0", "MONGO_URI": dbURI, "SYNCGATE_DIR": stateDir, "LOG_FORMAT": "json",
				"UPLOAD_AUTH": "off", "SCHEMAS_DIR": b.TempDir(), "GUESTS_DIR": guestsDir, "GUEST_POOL": "2",
				"MONGO_DATABASE": fmt.Sprintf("bench_policies_%s_%d", c.name, time.Now().UnixNano()%1e6),
				"GUESTS":         c.guests, "GUEST_SETTINGS": c.settings,
			}
			a := start(b, env)
			var put []string
			for j := range n {
				put = append(put, fmt.Sprintf(`{"op":"PUT","type":"items","id":"i%03d","data":{"note":"new","updated_at":%q,"version":1,"status":"pending","stock":0}}`, j, t0.Format(time.RFC3339)))
			}
			post(b, a, `{"batch":[`+strings.Join(put, ",")+`]}`, n)
			k := 0
			for b.Loop() {
				b.StopTimer()
				k++
				ops := make([]string, n)
				for j := range n {
					ops[j] = fmt.Sprintf(`{"op":"PATCH","type":"items","id":"i%03d","op_id":%d,"tx_id":%d,"data":{"note":"edit %d","updated_at":%q,"version":%d,"status":"pending","stock":1},"old":{"stock":0}}`,
						j, k*1000+j, k, k, t0.Add(time.Duration(k)*time.Second).Format(time.RFC3339), k+1)
				}
				body := `{"batch":[` + strings.Join(ops, ",") + `]}`
				b.StartTimer()
				post(b, a, body, n)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/op-in-batch")
		})
	}
}

func post(b *testing.B, a *app, body string, want int) {
	b.Helper()
	resp, err := http.Post(a.url+"/upload", "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(got), fmt.Sprintf(`"applied":%d,`, want)) {
		b.Fatalf("status %d: %.500s", resp.StatusCode, got)
	}
}
