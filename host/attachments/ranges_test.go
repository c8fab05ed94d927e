package attachments

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		h     string
		size  int64
		want  byteRange
		wantR rangeResult
	}{
		{"", 10, byteRange{}, rangeWhole},
		{"bytes=0-0", 10, byteRange{0, 1}, rangePart},
		{"bytes=2-5", 10, byteRange{2, 4}, rangePart},
		{"bytes=2-", 10, byteRange{2, 8}, rangePart},
		{"bytes=2-100", 10, byteRange{2, 8}, rangePart},
		{"bytes=-3", 10, byteRange{7, 3}, rangePart},
		{"bytes=-30", 10, byteRange{0, 10}, rangePart},
		{"bytes=10-", 10, byteRange{}, rangeUnsatisfiable},
		{"bytes=10-20", 10, byteRange{}, rangeUnsatisfiable},
		{"bytes=-0", 10, byteRange{}, rangeUnsatisfiable},
		{"bytes=0-", 0, byteRange{}, rangeUnsatisfiable},
		{"bytes=5-2", 10, byteRange{}, rangeWhole},     // invalid: ignored
		{"bytes=0-1,3-4", 10, byteRange{}, rangeWhole}, // several: the whole file
		{"items=0-1", 10, byteRange{}, rangeWhole},
		{"bytes=a-1", 10, byteRange{}, rangeWhole},
		{"bytes=+1-2", 10, byteRange{}, rangeWhole},
		{"bytes=1", 10, byteRange{}, rangeWhole},
		{"bytes=99999999999999999999-", 10, byteRange{}, rangeUnsatisfiable},
		{"bytes=-99999999999999999999", 10, byteRange{0, 10}, rangePart},
		{"bytes=0-99999999999999999999", 10, byteRange{0, 10}, rangePart},
	} {
		got, r := parseRange(c.h, c.size)
		if got != c.want || r != c.wantR {
			t.Errorf("parseRange(%q, %d) = %v %v, want %v %v", c.h, c.size, got, r, c.want, c.wantR)
		}
	}
}

// FuzzParseRange holds parseRange to its invariants and to net/http's
// ServeContent wherever that one answers with one range: the same bytes.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=-5", "bytes=3-", "bytes=1-2,4-5", "bytes= 1-2", "bytes=0-18446744073709551616", "bytes=-", "bytes=5-1"} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 || size > 1<<16 {
			return
		}
		br, res := parseRange(h, size)
		if res == rangePart && (br.Start < 0 || br.Length < 1 || br.Start+br.Length > size) {
			t.Fatalf("parseRange(%q, %d) = %+v: outside the file", h, size, br)
		}
		if res != rangePart && br != (byteRange{}) {
			t.Fatalf("parseRange(%q, %d) = %+v with %v", h, size, br, res)
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Range", h)
		http.ServeContent(rec, req, "", time.Time{}, bytes.NewReader(make([]byte, size)))
		cr := rec.Header().Get("Content-Range")
		// ServeContent served one range (not an empty one: it answers
		// "bytes=-0" with "bytes 10-9/10", where RFC 9110 says 416).
		if !plain(h) {
			return
		}
		if rec.Code == http.StatusPartialContent && cr != "" && rec.Body.Len() > 0 {
			want := fmt.Sprintf("bytes %d-%d/%d", br.Start, br.Start+br.Length-1, size)
			if res != rangePart || cr != want {
				t.Fatalf("parseRange(%q, %d) = %+v %v; net/http serves %s", h, size, br, res, cr)
			}
		}
		if res == rangePart && rec.Code != http.StatusPartialContent {
			t.Fatalf("parseRange(%q, %d) = %+v; net/http answers %d", h, size, br, rec.Code)
		}
	})
}

func TestETagMatches(t *testing.T) {
	for _, c := range []struct {
		h    string
		want bool
	}{{`"a"`, true}, {`W/"a"`, true}, {`"b", "a"`, true}, {`*`, true}, {`"b"`, false}, {`a`, false}, {``, false}} {
		if got := etagMatches(c.h, `"a"`); got != c.want {
			t.Errorf("etagMatches(%q) = %v", c.h, got)
		}
	}
}

// plain reports whether h has none of what net/http reads otherwise than
// RFC 9110: signed numbers ("+0-", "0--0", which it takes) and numbers past
// int64 (where it answers 416 for an end past the file, which the RFC clamps).
func plain(h string) bool {
	return !strings.Contains(h, "+") && strings.Count(h, "-") < 2 && !longDigits.MatchString(h)
}

var longDigits = regexp.MustCompile(`[0-9]{19}`)
