package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/mezzo-cluster/mezzo"
)

func TestParseUIDRange(t *testing.T) {
	if r, err := ParseUIDRange(DefaultContainerUIDs.String()); err != nil || r != DefaultContainerUIDs {
		t.Errorf("the default range %s reads back as %v (%v)", DefaultContainerUIDs, r, err)
	}
	if r, err := ParseUIDRange(" 100000-100009 "); err != nil || r.size() != 10 {
		t.Errorf("100000-100009: %v (%v), want 10 uids", r, err)
	}
	for _, c := range []struct{ in, why string }{
		{"100000", "FIRST-LAST"},
		{"a-b", "must be uids"},
		{"100000-99999x", "must be uids"},
		{"200000-100000", "above the last"},
		{"1000-70000", "below 65536"},
		{"0-4294967295", "below 65536"},
		{"100000-2147483648", "2^31"},
		{"-1-5", "must be uids"},
	} {
		if _, err := ParseUIDRange(c.in); err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("ParseUIDRange(%q) = %v, want an error saying %q", c.in, err, c.why)
		}
	}
}

// withUserDatabases points CheckContainerUIDs at files of the test's.
func withUserDatabases(t *testing.T, passwd, group, subuid, subgid string) {
	t.Helper()
	dir := t.TempDir()
	old := userDatabases
	t.Cleanup(func() { userDatabases = old })
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	userDatabases.passwd, userDatabases.group = write("passwd", passwd), write("group", group)
	userDatabases.subuid, userDatabases.subgid = write("subuid", subuid), write("subgid", subgid)
}

func TestCheckContainerUIDsRefusesRangesUsersHave(t *testing.T) {
	const passwd = "root:x:0:0:root:/root:/bin/sh\n# a comment\nnobody:x:65534:65534:nobody:/:/bin/false\nbig:x:2000000005:100:x:/:/bin/sh\n"
	const group = "root:x:0:\nnogroup:x:65534:\nbiggroup:x:3000000000:\n"
	const subuid = "alice:100000:65536\n"
	const subgid = "alice:100000:65536\nbob:1500000000:1000\n"
	withUserDatabases(t, passwd, group, subuid, subgid)
	for _, c := range []struct {
		r    UIDRange
		want string // "" for accepted
	}{
		{UIDRange{2000000000, 2000000004}, ""},
		{UIDRange{2000000000, 2000000005}, `user "big"`},
		{UIDRange{1999999999, 2100000000}, `user "big"`},
		{UIDRange{150000, 165535}, `"alice" may map`},
		{UIDRange{165536, 200000}, ""}, // just past alice's subuids
		{UIDRange{1500000999, 1500001000}, `"bob" may map`},
		{UIDRange{1500001000, 1500002000}, ""},
	} {
		err := CheckContainerUIDs(c.r)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused (%v), want accepted", c.r, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want refused naming %s", c.r, err, c.want)
		}
	}
	// A group's id counts as well (gids are allocated with the uids).
	withUserDatabases(t, passwd, "g:x:1700000000:\n", "", "")
	if err := CheckContainerUIDs(UIDRange{1700000000, 1700000010}); err == nil || !strings.Contains(err.Error(), `group "g"`) {
		t.Errorf("a range with a group's gid: %v, want refused naming the group", err)
	}
	// This machine's own databases accept the default range.
	userDatabases = struct{ passwd, group, subuid, subgid string }{"/etc/passwd", "/etc/group", "/etc/subuid", "/etc/subgid"}
	if err := CheckContainerUIDs(DefaultContainerUIDs); err != nil {
		t.Errorf("the default range on this machine: %v", err)
	}
}

// testUIDs is a range of the tests' own, apart from the default one that
// agents of other tests use.
var testUIDs = UIDRange{First: 1900000000, Last: 1900000000 + 3*uidBlock + 9}

func TestUIDAllocatorHandsOutEachUIDOnceUntilTheRangeIsUsed(t *testing.T) {
	state := filepath.Join(t.TempDir(), "uids")
	a := newUIDAllocator(testUIDs, state)
	seen := map[uint32]bool{}
	var order []uint32
	for i := uint64(0); i < testUIDs.size(); i++ {
		id, err := a.allocate("c")
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if seen[id] || !testUIDs.contains(uint64(id)) {
			t.Fatalf("allocation %d: uid %d handed out twice or outside %s", i, id, testUIDs)
		}
		seen[id] = true
		order = append(order, id)
		if i%2 == 0 {
			a.release(id) // released: still not handed out again before the range is used
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i] != order[i-1]+1 {
			t.Fatalf("uids out of order: %d after %d", order[i], order[i-1])
		}
	}
	// The range is used up; the released ones come back, in order, and
	// the held ones never.
	for want := testUIDs.First; want <= testUIDs.Last; want += 2 {
		id, err := a.allocate("c")
		if err != nil || id != want {
			t.Fatalf("after the wrap: uid %d (%v), want %d (released, and next in order)", id, err, want)
		}
	}
	if id, err := a.allocate("c"); err == nil || !strings.Contains(err.Error(), "every uid") {
		t.Errorf("with every uid held: %d, %v; want an error", id, err)
	}
}

// The cursor is the machine's: a restarted agent, or another agent on the
// same machine, goes on where the last allocation stopped.
func TestUIDAllocatorCursorIsSharedAndSurvivesRestarts(t *testing.T) {
	state := filepath.Join(t.TempDir(), "uids")
	big := UIDRange{First: testUIDs.First, Last: testUIDs.First + 10*uidBlock}
	first := newUIDAllocator(big, state)
	u1, err := first.allocate("a")
	if err != nil {
		t.Fatal(err)
	}
	restarted := newUIDAllocator(big, state)
	u2, err := restarted.allocate("b")
	if err != nil || u2 <= u1 {
		t.Fatalf("after a restart: uid %d (%v), want one after %d", u2, err, u1)
	}
	// Agents allocating at once never get the same uid.
	var mu sync.Mutex
	got := map[uint32]int{}
	var wg sync.WaitGroup
	for range 3 {
		al := newUIDAllocator(big, state)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range uidBlock / 2 {
				id, err := al.allocate("c")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[id]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for id, n := range got {
		if n > 1 {
			t.Errorf("uid %d handed to %d agents at once", id, n)
		}
		if id == u1 || id == u2 {
			t.Errorf("uid %d handed out again before the range was used", id)
		}
	}
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(state); st.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", st.Mode().Perm())
	}
	if !strings.HasPrefix(string(b), big.String()+" ") {
		t.Errorf("state file %q, want a line for %s", b, big)
	}
	// An edited state file is an error that says what to do.
	if err := os.WriteFile(state, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newUIDAllocator(big, state).allocate("d"); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("allocating from a garbled state file: %v, want an error naming the line", err)
	}
}

// A uid a process of the machine runs under (a task that escaped its
// container, say) is never handed out.
func TestUIDAllocatorSkipsUIDsOfRunningProcesses(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a process under another uid")
	}
	state := filepath.Join(t.TempDir(), "uids")
	small := UIDRange{First: testUIDs.First, Last: testUIDs.First + 2}
	probe := newUIDAllocator(small, state)
	for range small.size() { // the range goes round: uids come back
		id, err := probe.allocate("probe")
		if err != nil {
			t.Fatal(err)
		}
		probe.release(id)
	}
	squatter := small.First + 1
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: squatter, Gid: squatter}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var got []uint32
	for range 2 {
		id, err := probe.allocate("c")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	if got[0] != small.First || got[1] != small.Last {
		t.Errorf("with a process running as uid %d: got %v, want [%d %d]", squatter, got, small.First, small.Last)
	}
}

func TestUIDAllocatorWarnsOfOverlappingRanges(t *testing.T) {
	state := filepath.Join(t.TempDir(), "uids")
	other := UIDRange{First: testUIDs.First + 5, Last: testUIDs.Last + 100}
	if _, err := newUIDAllocator(other, state).allocate("x"); err != nil {
		t.Fatal(err)
	}
	if _, err := newUIDAllocator(UIDRange{First: 1950000000, Last: 1950000010}, state).allocate("y"); err != nil {
		t.Fatal(err)
	}
	if got := newUIDAllocator(testUIDs, state).overlappingRanges(); len(got) != 1 || got[0] != other {
		t.Errorf("overlapping ranges %v, want [%s]", got, other)
	}
}

// An agent given a range some user of the machine has, or a state file it
// cannot write, refuses to start, saying why.
func TestAgentRefusesUnusableContainerUIDs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("an agent that is not root allocates no uids")
	}
	m := startFakeMaster(t, true)
	withUserDatabases(t, "big:x:1950000003:100:x:/:/bin/sh\n", "", "", "")
	cfg := Config{Master: m.addr, WorkDir: t.TempDir(), Logger: quiet, Resources: mezzo.MustParseResources("cpus:1;mem:64"),
		ContainerUIDs: UIDRange{First: 1950000000, Last: 1950000009}}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), `user "big"`) {
		t.Errorf("a range with a user's uid: %v, want refused naming the user", err)
	}
	cfg.TaskUsers = TaskUsersHost // the range is not used then
	if a, err := New(cfg); err != nil {
		t.Errorf("task users host: %v", err)
	} else {
		_ = a.lis.Close()
		a.closeConn()
	}
	cfg.TaskUsers, cfg.ContainerUIDs = "", testUIDs
	cfg.ContainerUIDState = "/proc/no-such-dir/uids"
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "container uids") {
		t.Errorf("an unwritable state file: %v, want refused", err)
	}
}
