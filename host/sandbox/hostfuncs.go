package sandbox

import (
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/syncgate/syncgate/host/sandbox/internal/rewrite"
)

// guestFeatures are the WebAssembly features wazero accepts: what Go's
// wasip1 toolchain emits (WebAssembly 1.0, sign extension, non-trapping
// conversions, memory.copy/fill). wazero ties bulk memory to reference
// types, so both are on here; the rewrite refuses the reference-types
// instructions and every other feature before wazero sees a module
// (rewrite's package comment).
const guestFeatures = api.CoreFeaturesV1 | api.CoreFeatureSignExtensionOps |
	api.CoreFeatureNonTrappingFloatToIntConversion | api.CoreFeatureBulkMemoryOperations |
	api.CoreFeatureReferenceTypes

// instantiateYield registers the host function rewritten guests import:
// it fails the call once its context is done and otherwise refills the fuel.
func instantiateYield(ctx context.Context, rt wazero.Runtime) error {
	_, err := rt.NewHostModuleBuilder(rewrite.YieldModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
			if err := ctx.Err(); err != nil {
				panic(err) // wazero unwinds the guest and returns this from Call
			}
			stack[0] = rewrite.YieldEvery
		}), nil, []api.ValueType{api.ValueTypeI32}).
		Export(rewrite.YieldName).
		Instantiate(ctx)
	return err
}

// WASI errno values (wasi_snapshot_preview1).
const (
	errnoBadf  = 8
	errnoFault = 21
	errnoInval = 28
)

// iovMax is the most iovecs one fd_write takes, as IOV_MAX on Linux: a
// guest's write of millions of iovecs would otherwise run for seconds in
// one host call.
const iovMax = 1024

// randomChunk is how many random bytes random_get writes between two
// looks at the call's deadline.
const randomChunk = 64 << 10

// callEnv is what the host functions need of the instance calling them; it
// travels in the call's context.
type callEnv struct {
	log  io.Writer
	rand *rand.ChaCha8
}

type envKey struct{}

func envOf(ctx context.Context) *callEnv {
	e, _ := ctx.Value(envKey{}).(*callEnv)
	return e
}

// instantiateWASI registers wazero's WASI with two functions of our own:
// fd_write (stdout and stderr only, at most iovMax iovecs, into the
// instance's capped log) and random_get (bytes from a generator seeded per
// instance, written in chunks with the deadline checked between them).
// wazero's versions run to the end whatever the deadline, and its default
// random source gives every instance the same bytes.
func instantiateWASI(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	i32 := api.ValueTypeI32
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(fdWrite), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("fd", "iovs", "iovs_len", "result.nwritten").Export("fd_write")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(randomGet), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		WithParameterNames("buf", "buf_len").Export("random_get")
	_, err := b.Instantiate(ctx)
	return err
}

func fdWrite(ctx context.Context, mod api.Module, stack []uint64) {
	if err := ctx.Err(); err != nil {
		panic(err) // past the deadline: a loop of writes stops here, as at a yield
	}
	fd, iovs, n, result := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	env := envOf(ctx)
	switch {
	case n > iovMax:
		stack[0] = errnoInval
		return
	case (fd != 1 && fd != 2) || env == nil:
		stack[0] = errnoBadf // files are mounted read-only
		return
	}
	mem := mod.Memory()
	vecs, ok := mem.Read(iovs, n*8)
	if !ok {
		stack[0] = errnoFault
		return
	}
	var total uint32
	for i := uint32(0); i < n; i++ {
		off, size := binary.LittleEndian.Uint32(vecs[i*8:]), binary.LittleEndian.Uint32(vecs[i*8+4:])
		b, ok := mem.Read(off, size)
		if !ok {
			stack[0] = errnoFault
			return
		}
		if size > 0 {
			_, _ = env.log.Write(b) // capped per call: the rest is counted and dropped
		}
		total += size
	}
	if !mem.WriteUint32Le(result, total) {
		stack[0] = errnoFault
		return
	}
	stack[0] = 0
}

func randomGet(ctx context.Context, mod api.Module, stack []uint64) {
	buf, n := uint32(stack[0]), uint32(stack[1])
	env := envOf(ctx)
	dst, ok := mod.Memory().Read(buf, n)
	if !ok {
		stack[0] = errnoFault
		return
	}
	if env == nil {
		stack[0] = errnoInval
		return
	}
	for len(dst) > 0 {
		if err := ctx.Err(); err != nil {
			panic(err) // past the deadline: stop the guest, as yield does
		}
		k := min(len(dst), randomChunk)
		_, _ = env.rand.Read(dst[:k])
		dst = dst[k:]
	}
	stack[0] = 0
}
