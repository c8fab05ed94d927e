package guest

import (
	"runtime"
	"runtime/debug"
	"unsafe"

	"github.com/syncgate/syncgate/guest/abi"
)

// The exports of ABI version 1; see the package comment.

// gcEvery is how many input bytes the guest handles between collections.
// A //go:wasmexport call never yields and wasm has no sysmon, so the Go
// GC's background work barely runs between calls and the heap grows to
// hundreds of MiB (docs/design.md, "Guest GC policy in the SDK"). With the
// GC off, a collection after every gcEvery input bytes keeps the heap small; input
// size stands in for allocation because reading runtime/metrics costs
// ~30 µs a call in wasm, more than many calls' work.
const gcEvery = 1 << 20

// callCharge is what a call counts beyond its input: an empty call
// allocates ≈ 144 bytes (measured natively), so 512 leaves room; at 4 KiB a
// collection every 256 empty calls was ≈ 40 % of an empty call's time.
const callCharge = 512

var (
	inBuf, outBuf []byte // kept referenced so the GC does not free them under the host
	sinceGC       int
)

func init() { debug.SetGCPercent(-1) }

//go:wasmexport syncgate_abi_version
func abiVersion() int32 { return abi.Version }

//go:wasmexport syncgate_info
func infoExport() uint64 {
	outBuf = infoJSON()
	return pack(outBuf)
}

//go:wasmexport syncgate_alloc
func alloc(size int32) uint32 {
	if int(size) > cap(inBuf) {
		inBuf = make([]byte, size)
	}
	inBuf = inBuf[:size]
	if size == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(&inBuf[0])))
}

//go:wasmexport syncgate_handle
func handle(ptr, size uint32) uint64 {
	in := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(nil), ptr)), size)
	outBuf = Process(in)
	if sinceGC += int(size) + callCharge; sinceGC > gcEvery {
		sinceGC = 0
		runtime.GC()
	}
	return pack(outBuf)
}

func pack(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(b))
}
