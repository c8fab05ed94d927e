package attachments

import (
	"bytes"
	"net/http"
	"strings"
)

// sniffLen is how many leading bytes decide a file's type
// (http.DetectContentType reads at most 512).
const sniffLen = 512

// sniff names the media type of a file from its first bytes, without
// parameters: http.DetectContentType, plus the ISO-BMFF images phones take
// (HEIC/HEIF, AVIF), which it reports as video/mp4 or not at all.
func sniff(head []byte) string {
	if t := isoImage(head); t != "" {
		return t
	}
	t := http.DetectContentType(head)
	if i := strings.IndexByte(t, ';'); i >= 0 {
		t = t[:i]
	}
	return strings.TrimSpace(t)
}

// isoImage reads an ISO-BMFF "ftyp" box: its major brand and compatible
// brands name HEIC, HEIF or AVIF images.
func isoImage(b []byte) string {
	if len(b) < 16 || !bytes.Equal(b[4:8], []byte("ftyp")) {
		return ""
	}
	size := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	if size < 16 || size > len(b) {
		size = len(b)
	}
	brands := [][]byte{b[8:12]}
	for i := 16; i+4 <= size; i += 4 {
		brands = append(brands, b[i:i+4])
	}
	for _, br := range brands {
		switch string(br) {
		case "avif", "avis":
			return "image/avif"
		case "heic", "heix", "heim", "heis":
			return "image/heic"
		}
	}
	for _, br := range brands {
		if string(br) == "mif1" || string(br) == "msf1" {
			return "image/heif"
		}
	}
	return ""
}

// allowed reports whether media type t is in list; an entry "image/*"
// allows every image type, "*/*" everything.
func allowed(list []string, t string) bool {
	major, _, _ := strings.Cut(t, "/")
	for _, a := range list {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == t || a == "*/*" || a == major+"/*" {
			return true
		}
	}
	return false
}
