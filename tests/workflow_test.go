package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The CI workflow cannot run here; these checks keep it honest: it parses,
// has its three jobs, and every `go tool task X` it (or a .ci script it
// runs) names is a task of Taskfile.yml.

type workflow struct {
	On   any `yaml:"on"`
	Jobs map[string]struct {
		RunsOn   string `yaml:"runs-on"`
		Services map[string]struct {
			Image string `yaml:"image"`
		} `yaml:"services"`
		Steps []struct {
			Name string            `yaml:"name"`
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			Env  map[string]string `yaml:"env"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

var (
	taskCall  = regexp.MustCompile(`go tool task\s+([A-Za-z0-9:_-]+)`)
	ciScript  = regexp.MustCompile(`(?:^|\s)(\.ci/[A-Za-z0-9_.-]+)`)
	wantJobs  = []string{"image", "mongo", "test"}
	repoRoot  = ".."
	ciPath    = ".github/workflows/ci.yml"
	taskPath  = "Taskfile.yml"
	mongoURIs = regexp.MustCompile(`^mongodb://127\.0\.0\.1:27017/\?replicaSet=rs0$`)
)

// checkWorkflow lists what is wrong with a workflow given the Taskfile;
// read returns a repository file (for the .ci scripts a step runs).
func checkWorkflow(wf, taskfile []byte, read func(path string) ([]byte, error)) []string {
	var problems []string
	var tf struct {
		Tasks map[string]any `yaml:"tasks"`
	}
	if err := yaml.Unmarshal(taskfile, &tf); err != nil {
		return []string{"Taskfile.yml: " + err.Error()}
	}
	var w workflow
	if err := yaml.Unmarshal(wf, &w); err != nil {
		return []string{"workflow: " + err.Error()}
	}
	if w.On == nil {
		problems = append(problems, "workflow: no `on` triggers")
	}
	var jobs []string
	for name := range w.Jobs {
		jobs = append(jobs, name)
	}
	slices.Sort(jobs)
	if !slices.Equal(jobs, wantJobs) {
		problems = append(problems, fmt.Sprintf("jobs %v, want %v", jobs, wantJobs))
	}
	checkText := func(where, text string) {
		for _, m := range taskCall.FindAllStringSubmatch(text, -1) {
			if _, ok := tf.Tasks[m[1]]; !ok {
				problems = append(problems, fmt.Sprintf("%s: `go tool task %s` is not a task in Taskfile.yml", where, m[1]))
			}
		}
	}
	calls := map[string]bool{}
	for _, name := range jobs {
		job := w.Jobs[name]
		if job.RunsOn == "" {
			problems = append(problems, name+": no runs-on")
		}
		for i, st := range job.Steps {
			where := fmt.Sprintf("%s step %d", name, i+1)
			if st.Run == "" && st.Uses == "" {
				problems = append(problems, where+": neither run nor uses")
			}
			checkText(where, st.Run)
			for _, m := range taskCall.FindAllStringSubmatch(st.Run, -1) {
				calls[name+" "+m[1]] = true
			}
			for _, m := range ciScript.FindAllStringSubmatch(st.Run, -1) {
				b, err := read(m[1])
				if err != nil {
					problems = append(problems, fmt.Sprintf("%s: runs %s: %v", where, m[1], err))
					continue
				}
				checkText(where+" "+m[1], string(b))
			}
			if uri, ok := st.Env["SYNCGATE_TEST_MONGO_URI"]; ok && !mongoURIs.MatchString(uri) {
				problems = append(problems, fmt.Sprintf("%s: SYNCGATE_TEST_MONGO_URI %q is not the replica set .ci/mongo-replset starts", where, uri))
			}
		}
	}
	for _, want := range []string{"test test", "mongo test:mongo"} {
		if !calls[want] {
			problems = append(problems, "no job runs it: "+want)
		}
	}
	return problems
}

func TestWorkflow(t *testing.T) {
	read := func(p string) ([]byte, error) { return os.ReadFile(filepath.Join(repoRoot, p)) }
	wf, err := read(ciPath)
	if err != nil {
		t.Fatal(err)
	}
	taskfile, err := read(taskPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkWorkflow(wf, taskfile, read) {
		t.Error(p)
	}
	// The scripts the workflow runs must be executable.
	for _, m := range ciScript.FindAllStringSubmatch(string(wf), -1) {
		fi, err := os.Stat(filepath.Join(repoRoot, m[1]))
		if err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s: not an executable file (%v)", m[1], err)
		}
	}

	// The check finds what it is for.
	broken := strings.NewReplacer("go tool task test:mongo", "go tool task test:mongodb", ".ci/smoke-image", ".ci/missing").Replace(string(wf))
	problems := strings.Join(checkWorkflow([]byte(broken), taskfile, read), "\n")
	for _, want := range []string{"`go tool task test:mongodb` is not a task", "runs .ci/missing", "no job runs it: mongo test:mongo"} {
		if !strings.Contains(problems, want) {
			t.Errorf("a broken workflow was not caught: want %q in\n%s", want, problems)
		}
	}
	if p := checkWorkflow([]byte("jobs: [unclosed"), taskfile, read); len(p) == 0 {
		t.Error("YAML that does not parse was accepted")
	}
	script := func(string) ([]byte, error) { return []byte("go tool task nosuch"), nil }
	if p := strings.Join(checkWorkflow(wf, taskfile, script), "\n"); !strings.Contains(p, "`go tool task nosuch`") {
		t.Errorf("a bad task inside a .ci script was not caught:\n%s", p)
	}
}
