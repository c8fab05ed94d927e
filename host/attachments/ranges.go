package attachments

import (
	"math"
	"strconv"
	"strings"
)

// byteRange is one satisfiable range of a file: Start and Length in bytes.
type byteRange struct {
	Start, Length int64
}

// rangeResult is what a Range header asks of a file of a given size.
type rangeResult int

const (
	rangeWhole         rangeResult = iota // no Range, or one to ignore: 200 with the whole file
	rangePart                             // one satisfiable range: 206
	rangeUnsatisfiable                    // 416
)

// parseRange reads a Range header against a file of size bytes (RFC 9110
// §14.2). Only one range is served: a header that does not parse, names
// another unit or asks for several ranges is ignored (the whole file, as
// the RFC allows). A range that starts at or past the end is unsatisfiable;
// a suffix range longer than the file is the whole file as a 206; an end
// past the file is clamped.
func parseRange(header string, size int64) (byteRange, rangeResult) {
	if header == "" {
		return byteRange{}, rangeWhole
	}
	list, ok := strings.CutPrefix(header, "bytes=")
	if !ok {
		return byteRange{}, rangeWhole
	}
	spec, n := "", 0
	for s := range strings.SplitSeq(list, ",") { // empty list elements are ignored (RFC 9110 §5.6.1)
		if s = strings.Trim(s, " \t\r\n"); s != "" {
			spec, n = s, n+1
		}
	}
	if n != 1 {
		return byteRange{}, rangeWhole
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return byteRange{}, rangeWhole
	}
	first, last = strings.Trim(first, " \t\r\n"), strings.Trim(last, " \t\r\n") // OWS, as net/http
	if first == "" {                                                            // suffix: the last N bytes
		n, ok := digits(last)
		if !ok {
			return byteRange{}, rangeWhole
		}
		if n == 0 || size == 0 {
			return byteRange{}, rangeUnsatisfiable
		}
		n = min(n, size)
		return byteRange{Start: size - n, Length: n}, rangePart
	}
	start, ok := digits(first)
	if !ok {
		return byteRange{}, rangeWhole
	}
	end := size - 1
	if last != "" {
		e, ok := digits(last)
		if !ok || e < start {
			return byteRange{}, rangeWhole
		}
		end = min(e, size-1)
	}
	if start >= size {
		return byteRange{}, rangeUnsatisfiable
	}
	return byteRange{Start: start, Length: end - start + 1}, rangePart
}

// digits parses a non-empty run of ASCII digits (no sign, no spaces); a
// number past int64 is math.MaxInt64 (it is past any file's end).
func digits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return math.MaxInt64, true
	}
	return n, true
}

// etagMatches reports whether an If-None-Match (or If-Range) header lists
// etag; "*" matches any. Weak validators compare by their opaque part, as
// If-None-Match's weak comparison asks.
func etagMatches(header, etag string) bool {
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimSpace(part)
		if part == "*" || strings.TrimPrefix(part, "W/") == etag {
			return true
		}
	}
	return false
}
