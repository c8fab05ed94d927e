// Package sandbox runs guests: WebAssembly modules built with the guest SDK,
// hosted by wazero. It owns the runtime and its on-disk compilation cache,
// the pools of warm instances, the host side of the ABI (documented in the
// guest package), the limits (memory, deadline, output size, captured
// stdout/stderr). host/pipeline runs guests over a batch through Guest's methods.
//
// It is the only package that imports wazero. It never logs: guest output
// goes to the writer the caller gives, errors go back to the caller.
package sandbox

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncgate/syncgate/guest/abi"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/syncgate/syncgate/host/sandbox/internal/rewrite"
)

// Limits bound one guest instance and one call.
type Limits struct {
	MemoryMiB int           // linear memory limit of one instance
	Timeout   time.Duration // deadline of one call
	MaxOutput int           // largest Response in bytes
	LogCap    int           // stdout+stderr bytes kept per call; the rest is dropped
	// InitTimeout bounds a new instance's initialisation (the guest's
	// package init: the schema gate compiles its schemas there) and the
	// ABI calls made while loading.
	InitTimeout time.Duration
	// TableEntries bounds a guest's function table (Go guests have one
	// entry per function that may be called indirectly: the schema gate has 7 314).
	TableEntries uint32
}

// DefaultLimits are used for zero fields.
var DefaultLimits = Limits{MemoryMiB: 256, Timeout: 2 * time.Second, MaxOutput: 16 << 20, LogCap: 4 << 10, InitTimeout: 30 * time.Second, TableEntries: rewrite.DefaultLimits.Table}

func (l Limits) withDefaults() Limits {
	if l.MemoryMiB <= 0 {
		l.MemoryMiB = DefaultLimits.MemoryMiB
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultLimits.Timeout
	}
	if l.MaxOutput <= 0 {
		l.MaxOutput = DefaultLimits.MaxOutput
	}
	if l.InitTimeout <= 0 {
		l.InitTimeout = DefaultLimits.InitTimeout
	}
	if l.LogCap <= 0 {
		l.LogCap = DefaultLimits.LogCap
	}
	if l.TableEntries == 0 {
		l.TableEntries = DefaultLimits.TableEntries
	}
	return l
}

// RuntimeConfig configures a Runtime.
type RuntimeConfig struct {
	// CacheDir holds compiled code across restarts; empty keeps it in memory.
	CacheDir string
	Limits   Limits
	// Output receives guests' stdout and stderr, capped per call; nil discards.
	Output io.Writer
	// Observe, when set, is told each call's guest and duration (metrics).
	Observe func(guest string, d time.Duration)
	// Deadlines chooses how a call past its deadline is stopped; the zero
	// value is DeadlineChecks.
	Deadlines DeadlineMode
}

// DeadlineMode is how the sandbox stops a guest whose call ran past its
// deadline (or whose caller went away).
type DeadlineMode int

const (
	// DeadlineChecks rewrites each guest before compiling it: a countdown
	// at every function entry and loop header, and a call into Go (which
	// checks the deadline) every rewrite.YieldEvery of them
	// (internal/rewrite). The default.
	DeadlineChecks DeadlineMode = iota
	// DeadlineWazero uses wazero's WithCloseOnContextDone, which leaves
	// compiled code for Go at every loop header: ≈ 2× slower guests
	// (BenchmarkDeadlineModes), no rewriting.
	DeadlineWazero
	// DeadlineNone never stops a guest. Only for measuring what deadlines
	// cost; syncgate never uses it.
	DeadlineNone
)

// ParseDeadlineMode reads the GUEST_DEADLINES setting.
func ParseDeadlineMode(s string) (DeadlineMode, error) {
	switch s {
	case "", "checks":
		return DeadlineChecks, nil
	case "wazero":
		return DeadlineWazero, nil
	}
	return 0, fmt.Errorf("unknown guest deadline mode %q: want checks or wazero", s)
}

func (m DeadlineMode) String() string {
	switch m {
	case DeadlineChecks:
		return "checks"
	case DeadlineWazero:
		return "wazero"
	case DeadlineNone:
		return "none"
	}
	return fmt.Sprintf("DeadlineMode(%d)", int(m))
}

// Runtime compiles and instantiates guests. One Runtime serves all guests.
type Runtime struct {
	rt      wazero.Runtime
	mode    DeadlineMode
	cache   wazero.CompilationCache
	limits  Limits
	output  io.Writer
	observe func(string, time.Duration)
}

// NewRuntime creates the wazero runtime with the compiler engine, memory
// limit, termination on deadline and the compilation cache.
//
// Closing a module from a watchdog affects only its next call, so a guest
// stuck in a loop can only be stopped by checks compiled into it: either
// ours (DeadlineChecks, internal/rewrite) or wazero's (DeadlineWazero). Their
// costs are measured in BenchmarkDeadlineCost, DeadlineModes and LoopTurn.
func NewRuntime(ctx context.Context, cfg RuntimeConfig) (*Runtime, error) {
	lim := cfg.Limits.withDefaults()
	var cache wazero.CompilationCache
	var err error
	if cfg.CacheDir != "" {
		if cache, err = wazero.NewCompilationCacheWithDir(cfg.CacheDir); err != nil {
			return nil, fmt.Errorf("sandbox: compilation cache %s: %w", cfg.CacheDir, err)
		}
	} else {
		cache = wazero.NewCompilationCache()
	}
	rc := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(cache).
		WithMemoryLimitPages(uint32(lim.MemoryMiB) * 16). // 64 KiB pages
		WithCoreFeatures(guestFeatures).
		WithCloseOnContextDone(cfg.Deadlines == DeadlineWazero)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if err := instantiateWASI(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("sandbox: wasi: %w", err)
	}
	if cfg.Deadlines == DeadlineChecks {
		if err := instantiateYield(ctx, rt); err != nil {
			rt.Close(ctx)
			return nil, fmt.Errorf("sandbox: deadline checks: %w", err)
		}
	}
	out := cfg.Output
	if out == nil {
		out = io.Discard
	}
	return &Runtime{rt: rt, mode: cfg.Deadlines, cache: cache, limits: lim, output: out, observe: cfg.Observe}, nil
}

// Close releases every module and the runtime.
func (r *Runtime) Close(ctx context.Context) error {
	err := r.rt.Close(ctx)
	if cerr := r.cache.Close(ctx); err == nil {
		err = cerr
	}
	return err
}

// Mount is a host folder a guest may read, at a guest path.
type Mount struct{ HostDir, GuestPath string }

// GuestConfig names a guest and how to run it.
type GuestConfig struct {
	Name     string
	Path     string // the .wasm file, for messages
	Wasm     []byte
	Pool     int               // warm instances; at least 1
	Mounts   []Mount           // read-only folders
	Settings map[string]string // passed in every Request
}

// Guest is one compiled guest with its pool of warm instances.
type Guest struct {
	cfg      GuestConfig
	rt       *Runtime
	compiled wazero.CompiledModule
	info     abi.Info
	pool     chan *instance
	closed   atomic.Bool
	wg       sync.WaitGroup
	stats    Stats
}

// Stats counts a guest's calls and failures.
type Stats struct {
	Calls, Traps, Timeouts, Rejections atomic.Int64
	Replaced                           atomic.Int64
}

type instance struct {
	mod    api.Module
	alloc  api.Function
	handle api.Function
	stack  []uint64
	log    *capWriter
	env    *callEnv // for the host functions, in every call's context
}

// ctx is parent carrying what the host functions need of this instance.
func (in *instance) ctx(parent context.Context) context.Context {
	return context.WithValue(parent, envKey{}, in.env)
}

// Load checks a guest against the rules for guest modules (internal/rewrite:
// what Go's wasip1 toolchain emits, within size limits), compiles it,
// checks its ABI version and exports, reads its Info and fills its pool. A
// module that is not a syncgate guest is refused with a message naming the
// file and the reason.
func (r *Runtime) Load(ctx context.Context, cfg GuestConfig) (*Guest, error) {
	if cfg.Pool < 1 {
		cfg.Pool = 1
	}
	lim := rewrite.DefaultLimits
	lim.Table = r.limits.TableEntries
	wasm, _, err := rewrite.Instrument(cfg.Wasm, lim)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %s: refused: %w", cfg.Path, err)
	}
	if r.mode != DeadlineChecks {
		wasm = cfg.Wasm // the rules hold; wazero's checks (or none) stop it
	}
	compiled, err := compileModule(ctx, r.rt, wasm)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %s: not a valid WebAssembly module: %w", cfg.Path, err)
	}
	exports := compiled.ExportedFunctions()
	for _, name := range []string{"_initialize", "syncgate_abi_version", "syncgate_info", "syncgate_alloc", "syncgate_handle"} {
		if _, ok := exports[name]; !ok {
			compiled.Close(ctx)
			return nil, fmt.Errorf("sandbox: %s: missing export %q: not a syncgate guest reactor (build with the guest SDK and -buildmode=c-shared)", cfg.Path, name)
		}
	}
	g := &Guest{cfg: cfg, rt: r, compiled: compiled, pool: make(chan *instance, cfg.Pool)}
	first, err := g.instantiate(ctx)
	if err != nil {
		compiled.Close(ctx)
		return nil, err
	}
	// The ABI calls run guest code: under the init deadline, like _initialize.
	actx, cancel := context.WithTimeout(first.ctx(ctx), r.limits.InitTimeout)
	defer cancel()
	ver, err := first.mod.ExportedFunction("syncgate_abi_version").Call(actx)
	if err != nil || len(ver) != 1 || int32(ver[0]) != abi.Version {
		first.mod.Close(ctx)
		compiled.Close(ctx)
		got := "unknown"
		if err == nil && len(ver) == 1 {
			got = fmt.Sprint(int32(ver[0]))
		}
		if actx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("sandbox: %s: syncgate_abi_version ran past the %s init deadline", cfg.Path, r.limits.InitTimeout)
		}
		return nil, fmt.Errorf("sandbox: %s: guest ABI version %s, this host speaks %d: rebuild the guest with this syncgate's SDK", cfg.Path, got, abi.Version)
	}
	infoRes, err := first.mod.ExportedFunction("syncgate_info").Call(actx)
	if err == nil {
		var b []byte
		if b, err = first.read(infoRes[0], 1<<20); err == nil {
			err = json.Unmarshal(b, &g.info)
		}
	}
	if err != nil {
		first.mod.Close(ctx)
		compiled.Close(ctx)
		return nil, fmt.Errorf("sandbox: %s: read guest info: %w", cfg.Path, err)
	}
	if g.info.Error != "" {
		first.mod.Close(ctx)
		compiled.Close(ctx)
		return nil, fmt.Errorf("sandbox: %s: guest failed to initialise: %s", cfg.Path, g.info.Error)
	}
	g.pool <- first
	// Fill the rest of the pool concurrently: each instance runs the Go
	// runtime's init (~50 ms).
	errs := make(chan error, cfg.Pool-1)
	for range cfg.Pool - 1 {
		go func() {
			inst, err := g.instantiate(ctx)
			if err == nil {
				g.pool <- inst
			}
			errs <- err
		}()
	}
	for range cfg.Pool - 1 {
		if e := <-errs; e != nil {
			err = e
		}
	}
	if err != nil {
		g.Close(ctx)
		return nil, err
	}
	return g, nil
}

// compileModule is wazero's CompileModule, with a panic turned into an
// error: wazero v1.12 panics on some malformed modules (a 3-byte function
// body whose local declaration overruns it: FuzzInstrument), and a bad file
// given to a hot reload must not stop the server.
func compileModule(ctx context.Context, rt wazero.Runtime, wasm []byte) (c wazero.CompiledModule, err error) {
	defer func() {
		if p := recover(); p != nil {
			c, err = nil, fmt.Errorf("the decoder failed on it: %v", p)
		}
	}()
	return rt.CompileModule(ctx, wasm)
}

// Info is what the guest said about itself.
func (g *Guest) Info() abi.Info { return g.info }

// Mounts are the guest's read-only folders, as configured.
func (g *Guest) Mounts() []Mount { return slices.Clone(g.cfg.Mounts) }

// Name is the configured guest name.
func (g *Guest) Name() string { return g.cfg.Name }

// Stats returns the guest's counters.
func (g *Guest) Stats() *Stats { return &g.stats }

// PoolSize is the configured number of warm instances.
func (g *Guest) PoolSize() int { return g.cfg.Pool }

// Idle is the number of instances waiting in the pool now.
func (g *Guest) Idle() int { return len(g.pool) }

func (g *Guest) instantiate(ctx context.Context) (*instance, error) {
	log := &capWriter{w: g.rt.output, limit: g.rt.limits.LogCap, prefix: "guest " + g.cfg.Name + ": "}
	fs := wazero.NewFSConfig()
	for _, m := range g.cfg.Mounts {
		fs = fs.WithReadOnlyDirMount(m.HostDir, m.GuestPath)
	}
	// No start functions: _initialize is called below, under a deadline.
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(log).WithStderr(log).
		WithFSConfig(fs)
	mod, err := g.rt.rt.InstantiateModule(ctx, g.compiled, mc)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %s: instantiate: %w", g.cfg.Path, err)
	}
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails (crypto/rand's contract since Go 1.24)
	in := &instance{
		mod:    mod,
		alloc:  mod.ExportedFunction("syncgate_alloc"),
		handle: mod.ExportedFunction("syncgate_handle"),
		stack:  make([]uint64, 2),
		log:    log,
		env:    &callEnv{log: log, rand: rand.NewChaCha8(seed)},
	}
	lim := g.rt.limits
	ictx, cancel := context.WithTimeout(in.ctx(ctx), lim.InitTimeout)
	defer cancel()
	_, err = mod.ExportedFunction("_initialize").Call(ictx)
	log.flush()
	if err != nil {
		mod.Close(ctx)
		if ictx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("sandbox: %s: the guest's initialisation ran past its %s deadline", g.cfg.Path, lim.InitTimeout)
		}
		return nil, fmt.Errorf("sandbox: %s: the guest's initialisation failed: %w", g.cfg.Path, err)
	}
	return in, nil
}

// read copies a packed ptr<<32|len region out of guest memory.
func (in *instance) read(packed uint64, limit int) ([]byte, error) {
	ptr, size := uint32(packed>>32), uint32(packed)
	if int(size) > limit {
		return nil, fmt.Errorf("output of %d bytes is over the %d-byte limit", size, limit)
	}
	b, ok := in.mod.Memory().Read(ptr, size)
	if !ok {
		return nil, fmt.Errorf("output at %d+%d is outside guest memory", ptr, size)
	}
	return append([]byte(nil), b...), nil
}

// ErrClosed is returned by calls on a closed guest.
var ErrClosed = errors.New("sandbox: guest closed")

// CallError is a failed guest call: the guest trapped, overran its
// deadline or memory, or broke the ABI. The instance was discarded.
type CallError struct {
	Guest  string
	Reason string // for the client: "guest owner timed out"
	Err    error
}

func (e *CallError) Error() string {
	return fmt.Sprintf("sandbox: call %s: %s: %v", e.Guest, e.Reason, e.Err)
}
func (e *CallError) Unwrap() error { return e.Err }

// Call runs one Request through a warm instance and returns the Response
// bytes. A failed instance is discarded and replaced in the background.
func (g *Guest) Call(ctx context.Context, input []byte) ([]byte, error) {
	if g.closed.Load() {
		return nil, ErrClosed
	}
	var in *instance
	select {
	case in = <-g.pool:
	case <-ctx.Done():
		return nil, fmt.Errorf("sandbox: %s: wait for an instance: %w", g.cfg.Name, ctx.Err())
	}
	g.stats.Calls.Add(1)
	start := time.Now()
	out, err := g.call(ctx, in, input)
	if g.rt.observe != nil {
		g.rt.observe(g.cfg.Name, time.Since(start))
	}
	if err != nil {
		g.discard(in)
		return nil, err
	}
	g.pool <- in
	return out, nil
}

func (g *Guest) call(ctx context.Context, in *instance, input []byte) ([]byte, error) {
	lim := g.rt.limits
	cctx, cancel := context.WithTimeout(in.ctx(ctx), lim.Timeout)
	defer cancel()
	in.log.reset()
	defer in.log.flush()
	fail := func(reason string, err error) error {
		if errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			g.stats.Timeouts.Add(1)
			return &CallError{Guest: g.cfg.Name, Reason: fmt.Sprintf("guest %s ran past its %s deadline", g.cfg.Name, lim.Timeout), Err: err}
		}
		if ctx.Err() != nil {
			return &CallError{Guest: g.cfg.Name, Reason: fmt.Sprintf("guest %s stopped: the request ended (%v)", g.cfg.Name, ctx.Err()), Err: err}
		}
		g.stats.Traps.Add(1)
		return &CallError{Guest: g.cfg.Name, Reason: fmt.Sprintf("guest %s failed: %s", g.cfg.Name, reason), Err: err}
	}
	in.stack[0] = uint64(len(input))
	if err := in.alloc.CallWithStack(cctx, in.stack[:1]); err != nil {
		return nil, fail("alloc trapped", err)
	}
	ptr := uint32(in.stack[0])
	if len(input) > 0 && !in.mod.Memory().Write(ptr, input) {
		return nil, fail("alloc returned memory outside the module", errors.New("bad alloc pointer"))
	}
	in.stack[0], in.stack[1] = uint64(ptr), uint64(len(input))
	if err := in.handle.CallWithStack(cctx, in.stack[:2]); err != nil {
		return nil, fail(trapReason(err), err)
	}
	out, err := in.read(in.stack[0], lim.MaxOutput)
	if err != nil {
		return nil, fail(err.Error(), err)
	}
	return out, nil
}

// trapReason turns a wazero error into a short client-safe reason.
func trapReason(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unreachable"):
		return "it panicked (trap: unreachable)"
	case strings.Contains(msg, "out of bounds memory"):
		return "it accessed memory out of bounds or ran out of memory"
	case strings.Contains(msg, "exit_code"), strings.Contains(msg, "exit code"):
		return "it exited"
	}
	return "it trapped"
}

// discard closes a failed instance and starts a replacement in the background.
func (g *Guest) discard(in *instance) {
	_ = in.mod.Close(context.Background())
	if g.closed.Load() {
		return
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for attempt := 0; attempt < 5 && !g.closed.Load(); attempt++ {
			inst, err := g.instantiate(context.Background())
			if err == nil {
				g.stats.Replaced.Add(1)
				g.pool <- inst
				return
			}
			time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
		}
	}()
}

// Close waits for background replacements and closes every idle instance
// and the compiled module. In-flight calls finish first when the caller
// waits for them (pipeline.Pipeline does).
func (g *Guest) Close(ctx context.Context) {
	if g.closed.Swap(true) {
		return
	}
	g.wg.Wait()
	for {
		select {
		case in := <-g.pool:
			_ = in.mod.Close(ctx)
		default:
			_ = g.compiled.Close(ctx)
			return
		}
	}
}

// capWriter collects what a guest writes to stdout and stderr during one
// call (or its initialisation), at most limit bytes, and hands it to w as
// ONE write when the call ends (flush): Go's runtime prints a panic in
// dozens of small writes, which would otherwise be as many log records.
// Output is "<prefix><text>", and "\n… N more bytes dropped" when capped.
type capWriter struct {
	mu      sync.Mutex
	w       io.Writer
	limit   int
	buf     []byte
	dropped int
	prefix  string
}

// reset forgets what an earlier call left unflushed (none does: call and
// instantiate flush).
func (c *capWriter) reset() {
	c.mu.Lock()
	c.buf, c.dropped = c.buf[:0], 0
	c.mu.Unlock()
}

func (c *capWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.limit - len(c.buf)
	if room <= 0 {
		c.dropped += len(p)
		return len(p), nil
	}
	keep := p
	if len(keep) > room {
		keep = keep[:room]
		c.dropped += len(p) - room
	}
	c.buf = append(c.buf, keep...)
	return len(p), nil
}

// flush writes what the call printed as one entry, then forgets it.
func (c *capWriter) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) == 0 && c.dropped == 0 {
		return
	}
	out := append([]byte(c.prefix), bytes.TrimRight(c.buf, "\n")...)
	if c.dropped > 0 {
		out = fmt.Appendf(out, "\n… %d more bytes dropped (the cap is %d per call)", c.dropped, c.limit)
	}
	_, _ = c.w.Write(out)
	c.buf, c.dropped = c.buf[:0], 0
}

// Settings are the guest's settings, sent with every call (Request.settings).
func (g *Guest) Settings() map[string]string { return g.cfg.Settings }
