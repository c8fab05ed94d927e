package guest

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"unsafe"
)

// The exports of ABI version 1; see the package comment.

// gcEvery is how much the heap may grow between collections. A
// //go:wasmexport call never yields and wasm has no sysmon, so the Go GC's
// background work barely runs between calls and the heap grows to hundreds
// of MiB; collecting on a threshold keeps it near 20–50 MiB (measured in
// shared/notes/wasm-guests.md).
const gcEvery = 16 << 20

var (
	inBuf, outBuf []byte // kept referenced so the GC does not free them under the host
	heapSample    = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heapAfterGC   uint64
)

func init() { debug.SetGCPercent(-1) }

//go:wasmexport syncgate_abi_version
func abiVersion() int32 { return ABIVersion }

//go:wasmexport syncgate_info
func infoExport() uint64 {
	outBuf = InfoJSON()
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
	collect()
	return pack(outBuf)
}

func pack(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(b))
}

// collect runs the GC once the heap grew gcEvery since the last collection.
func collect() {
	metrics.Read(heapSample)
	if heap := heapSample[0].Value.Uint64(); heap > heapAfterGC+gcEvery {
		runtime.GC()
		metrics.Read(heapSample)
		heapAfterGC = heapSample[0].Value.Uint64()
	}
}
