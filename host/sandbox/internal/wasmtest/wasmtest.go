// Package wasmtest assembles WebAssembly modules by hand for the sandbox's
// tests: hostile modules, and modules that use each instruction kind. It is
// imported by tests only.
package wasmtest

import "bytes"

// Section ids.
const (
	Custom   = 0
	Type     = 1
	Import   = 2
	Function = 3
	Table    = 4
	Memory   = 5
	Global   = 6
	Export   = 7
	Start    = 8
	Element  = 9
	Code     = 10
	Data     = 11
)

// Leb is v as an unsigned LEB128 number.
func Leb(v uint32) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// S32 is v as a signed LEB128 number.
func S32(v int32) []byte { return S64(int64(v)) }

// S64 is v as a signed LEB128 number.
func S64(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// Vec is a vector: its length, then the items.
func Vec(items ...[]byte) []byte {
	out := Leb(uint32(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

// Name is a length-prefixed string.
func Name(s string) []byte { return append(Leb(uint32(len(s))), s...) }

// Sect is a section: id, size, payload.
func Sect(id byte, payload ...byte) []byte {
	return append(append([]byte{id}, Leb(uint32(len(payload)))...), payload...)
}

// CustomSect is a custom section named name.
func CustomSect(name string, data ...byte) []byte {
	return Sect(Custom, append(Name(name), data...)...)
}

// Module is the header followed by sections.
func Module(sections ...[]byte) []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	for _, s := range sections {
		out = append(out, s...)
	}
	return out
}

// Body is a function body: size, then locals and code.
func Body(locals []byte, code ...byte) []byte {
	b := append(append([]byte(nil), locals...), code...)
	return append(Leb(uint32(len(b))), b...)
}

// Cat joins byte slices.
func Cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// ExportFunc exports function idx as name.
func ExportFunc(name string, idx uint32) []byte { return Cat(Name(name), []byte{0x00}, Leb(idx)) }

// OneFunc is a module with one exported function of type params → results
// (value type bytes), an optional memory of pages pages (0: none), and
// code as its body (locals included).
func OneFunc(export string, params, results []byte, memPages uint32, code []byte) []byte {
	secs := [][]byte{
		Sect(Type, Vec(Cat([]byte{0x60}, Vec(splitBytes(params)...), Vec(splitBytes(results)...)))...),
		Sect(Function, Vec([]byte{0x00})...),
	}
	if memPages > 0 {
		secs = append(secs, Sect(Memory, Vec(Cat([]byte{0x00}, Leb(memPages)))...))
	}
	secs = append(secs,
		Sect(Export, Vec(ExportFunc(export, 0))...),
		Sect(Code, Vec(Body(nil, code...))...),
	)
	return Module(secs...)
}

func splitBytes(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}
