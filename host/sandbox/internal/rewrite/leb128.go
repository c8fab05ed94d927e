package rewrite

import "fmt"

// Reading and writing the binary format: the reader (bytes, sections,
// names, limits and LEB128 numbers bounded as the spec bounds them) and the
// LEB128 encoders the rewrite appends with.

// reader decodes the WebAssembly binary format.
type reader struct {
	b   []byte
	off int
}

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errTruncated
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

// end refuses bytes after a vector's last element.
func (r *reader) end() error {
	if r.off != len(r.b) {
		return malformed("%d bytes after the last entry", len(r.b)-r.off)
	}
	return nil
}

// zero reads a reserved byte, which must be the single byte 0x00.
func (r *reader) zero(what string) error {
	c, err := r.byte()
	if err != nil {
		return err
	}
	if c != 0x00 {
		return malformed("%s must be the byte 0x00, got 0x%02x", what, c)
	}
	return nil
}

// section reads a section (or a name subsection): its id and payload.
func (r *reader) section() (byte, []byte, error) {
	id, err := r.byte()
	if err != nil {
		return 0, nil, err
	}
	size, err := r.u32()
	if err == nil {
		var p []byte
		if p, err = r.bytes(int(size)); err == nil {
			return id, p, nil
		}
	}
	return 0, nil, at(fmt.Sprintf("section %d", id), err)
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.off {
		return nil, errTruncated
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s, nil
}

// u32 reads an unsigned LEB128 number as the spec bounds it: at most five
// bytes, the fifth with no bits above the 32nd.
func (r *reader) u32() (uint32, error) {
	var v uint32
	for i := 0; i < 5; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if i == 4 && c&0xf0 != 0 {
			return 0, malformed("u32 LEB128 number too long or over 32 bits")
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, malformed("u32 LEB128 number too long")
}

// s32 skips a signed LEB128 number: at most five bytes, the fifth's unused
// bits a sign extension (the value itself is never needed).
func (r *reader) s32() error {
	for i := 0; i < 5; i++ {
		c, err := r.byte()
		if err != nil {
			return err
		}
		if i == 4 && (c&0x80 != 0 || (c&0x78 != 0 && c&0x78 != 0x78)) {
			return malformed("s32 LEB128 number too long or over 32 bits")
		}
		if c&0x80 == 0 {
			return nil
		}
	}
	return malformed("s32 LEB128 number too long")
}

// s64 skips a signed LEB128 number: at most ten bytes, the tenth's unused
// bits a sign extension.
func (r *reader) s64() error {
	for i := 0; i < 10; i++ {
		c, err := r.byte()
		if err != nil {
			return err
		}
		if i == 9 && c != 0x00 && c != 0x7f {
			return malformed("s64 LEB128 number too long or over 64 bits")
		}
		if c&0x80 == 0 {
			return nil
		}
	}
	return malformed("s64 LEB128 number too long")
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(int(n))
	return string(b), err
}

// limits reads a table's or memory's limits: flags 0 (min) or 1 (min, max).
func (r *reader) limits() (lo, hi uint32, err error) {
	flags, err := r.byte()
	if err != nil {
		return 0, 0, err
	}
	if flags > 1 {
		return 0, 0, refuse("threads or memory64", "limits with flags 0x%02x (shared or 64-bit)", flags)
	}
	if lo, err = r.u32(); err != nil {
		return 0, 0, err
	}
	if flags == 1 {
		hi, err = r.u32()
	}
	return lo, hi, err
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// appendS32 appends v as a signed LEB128 number.
func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// appendSection appends a section (or a name subsection): id, size, payload.
func appendSection(b []byte, id byte, payload []byte) []byte {
	return append(appendU32(append(b, id), uint32(len(payload))), payload...)
}

func appendName(b []byte, s string) []byte {
	return append(appendU32(b, uint32(len(s))), s...)
}
