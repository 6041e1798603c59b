// Package notebooks_test executes the Jupyter notebooks beside it, so that
// `go test ./...` (and with it `make test` and CI) fails when a notebook
// cell fails.
package notebooks_test

import (
	"os"
	"os/exec"
	"testing"
)

// TestNotebooksExecute runs `make notebooks`. It is skipped, saying why,
// when Debian's Python with pandas, matplotlib and nbconvert is missing;
// .ci/run installs them, so CI always runs it.
func TestNotebooksExecute(t *testing.T) {
	if testing.Short() {
		t.Skip("notebooks take tens of seconds; skipped with -short")
	}
	py := os.Getenv("NB_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	if err := exec.Command(py, "-c", "import pandas, matplotlib, nbconvert, ipykernel").Run(); err != nil {
		t.Skipf("%s lacks pandas/matplotlib/nbconvert/ipykernel (apt-get install python3-pandas python3-matplotlib python3-nbconvert python3-ipykernel): %v", py, err)
	}
	cmd := exec.Command("make", "-C", "..", "notebooks")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make notebooks: %v\n%s", err, out)
	}
}
