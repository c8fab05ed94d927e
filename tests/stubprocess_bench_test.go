package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncgate/syncgate/tests/internal/mongostub"
)

// stubProcessEnv makes the test binary serve a mongostub (a replica set
// of the name it holds, or a standalone for "standalone") instead of
// running the tests: a benchmark's database in a process of its own, whose
// CPU time is told apart from the benchmark's (the database's work against
// syncgate's).
const stubProcessEnv = "SYNCGATE_TESTS_MONGOSTUB"

// serveStubProcess serves a stand-in until its standard input closes (the
// benchmark ended or died), printing its URI first.
func serveStubProcess(set string) {
	cfg := mongostub.Config{NoLog: true}
	if set != "standalone" {
		cfg.SetName = set
	}
	s, err := mongostub.Start(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mongostub:", err)
		os.Exit(1)
	}
	fmt.Println(s.URI())
	_, _ = io.Copy(io.Discard, os.Stdin)
	s.Close()
	os.Exit(0)
}

// stubProcess is a stand-in served by a child process (serveStubProcess).
type stubProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	uri   string
}

// startStubProcess starts a stand-in in a process of its own: a replica
// set named set, or a standalone when set is "".
func startStubProcess(tb testing.TB, set string) *stubProcess {
	if set == "" {
		set = "standalone"
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), stubProcessEnv+"="+set)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &stubProcess{cmd: cmd, stdin: stdin}
	tb.Cleanup(p.stop)
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case p.uri = <-got:
	case <-time.After(30 * time.Second):
	}
	if !strings.HasPrefix(p.uri, "mongodb://") {
		tb.Fatalf("the stand-in's process did not start (it printed %q)", p.uri)
	}
	return p
}

// stop ends the process: its standard input closes, it exits.
func (p *stubProcess) stop() {
	if p.stdin == nil {
		return
	}
	p.stdin.Close()
	p.stdin = nil
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// cpuTime is the process's CPU time so far (false without /proc).
func (p *stubProcess) cpuTime() (time.Duration, bool) { return procCPU(p.cmd.Process.Pid) }

// rssMiB is the process's resident memory now, in MiB (0 without /proc).
func (p *stubProcess) rssMiB() int {
	return vmRSSMiB("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
}

// procCPU is process pid's user and system CPU time so far, from
// /proc/<pid>/stat (false where there is no /proc).
func procCPU(pid int) (time.Duration, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the command name (which may hold spaces), from the
	// state: utime and stime are the 12th and 13th, in clock ticks, which
	// Linux exposes to user space at 100 per second (USER_HZ).
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * (time.Second / 100), true
}
