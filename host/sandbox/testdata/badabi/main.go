// Command badabi is a test module with the syncgate exports but the wrong
// ABI version: the host must refuse to load it.
package main

//go:wasmexport syncgate_abi_version
func abiVersion() int32 { return 99 }

//go:wasmexport syncgate_info
func info() uint64 { return 0 }

//go:wasmexport syncgate_alloc
func alloc(size int32) uint32 { return 0 }

//go:wasmexport syncgate_handle
func handle(ptr, size uint32) uint64 { return 0 }

func main() {}
