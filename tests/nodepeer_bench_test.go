package tests

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// nodePeer is tests/testdata/nodepeer, the write path of PowerSync's Node demo
// backend, running in a node process of its own for the /node runs. When it
// cannot run here, skip says why (no node or npm, a failed install) and
// err why it failed after starting.
type nodePeer struct {
	url      string
	hc       *http.Client
	cmd      *exec.Cmd
	stdin    io.Closer
	exited   chan struct{} // closed once the process is gone
	stderr   *syncBuffer
	stopOnce sync.Once
	skip     string
	err      error
}

// nodePeerDir is tests/testdata/nodepeer, from the tests package's directory.
const nodePeerDir = "testdata/nodepeer"

// startNodePeer installs tests/testdata/nodepeer's packages unless they are current
// and starts its server against the stand-in at mongoURI, in database db.
// It waits at most a few minutes in all; the process stops with stop, or
// by itself when this one dies (its stdin closes).
func startNodePeer(mongoURI, db string) *nodePeer {
	node, err := exec.LookPath("node")
	if err != nil {
		return &nodePeer{skip: "node is not on PATH: the /node runs need Node.js ≥ 18 and npm to run tests/testdata/nodepeer"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	cancel()
	major, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(strings.TrimSpace(string(out)), ".", 2)[0], "v"))
	if err != nil || major < 18 {
		return &nodePeer{skip: fmt.Sprintf("node --version: %q (%v): the /node runs need Node.js ≥ 18", bytes.TrimSpace(out), err)}
	}
	if err := nodePeerInstall(); err != nil {
		return &nodePeer{skip: err.Error()}
	}
	// The stand-in's URI with the peer's own database as its path, which is
	// where the demo's driver takes the database from.
	base, query, _ := strings.Cut(mongoURI, "?")
	uri := strings.TrimSuffix(base, "/") + "/" + db
	if query != "" {
		uri += "?" + query
	}
	p := &nodePeer{
		hc:     &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: gatewayClients * 2}},
		exited: make(chan struct{}),
		stderr: &syncBuffer{},
	}
	p.cmd = exec.Command(node, "server.js")
	p.cmd.Dir = nodePeerDir
	p.cmd.Env = append(os.Environ(), "PORT=0", "MONGO_URI="+uri, "EXIT_ON_STDIN_EOF=1")
	p.cmd.Stderr = p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	p.cmd.Stdout = pw
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		p.err = err
		return p
	}
	if err := p.cmd.Start(); err != nil {
		p.err = fmt.Errorf("start tests/testdata/nodepeer: %w", err)
		return p
	}
	go func() {
		p.cmd.Wait()
		pw.Close()
		close(p.exited)
	}()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				select {
				case addr <- a:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case a := <-addr:
		p.url = "http://" + a
	case <-p.exited:
		p.err = fmt.Errorf("tests/testdata/nodepeer's server exited before listening (%v); stderr:\n%s", p.cmd.ProcessState, p.stderr)
	case <-time.After(30 * time.Second):
		p.stop()
		p.err = fmt.Errorf("tests/testdata/nodepeer's server did not listen within 30s; stderr:\n%s", p.stderr)
	}
	return p
}

// nodePeerInstall runs npm ci in tests/testdata/nodepeer unless its
// node_modules is current (npmCI).
func nodePeerInstall() error { return npmCI(nodePeerDir, 5*time.Minute) }

// stop ends the process (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (p *nodePeer) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.stopOnce.Do(func() {
		p.stdin.Close()
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

// cpuTime is the process's user and system CPU time so far (false where
// there is no /proc).
func (p *nodePeer) cpuTime() (time.Duration, bool) { return procCPU(p.cmd.Process.Pid) }

// rssMiB is the process's resident memory now, in MiB (0 without /proc).
func (p *nodePeer) rssMiB() int {
	return vmRSSMiB("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
}

// postNode posts one batch to the node peer's /api/data, which answers 200
// once every op is written.
func postNode(hc *http.Client, url string, body []byte) error {
	resp, err := hc.Post(url+"/api/data", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("node peer: %d %s", resp.StatusCode, out)
	}
	return nil
}
