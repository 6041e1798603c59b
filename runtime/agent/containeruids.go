package agent

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Container uids (Config.TaskUsers "isolated"). Every container gets a
// host uid (and the gid of the same number) of its own, from a range no
// user of the machine has; a user namespace maps the task's user (say
// nobody, 65534) to it, so that inside the task is the user the ACL
// allowed while on the host no two containers share a uid: one tenant's
// task cannot read, signal or ptrace another's processes, nor read its
// files, even when the ACL lets every tenant run as nobody.
//
// Handing a uid out again while anything of its previous container may
// remain would undo that, so uids are handed out in order from a cursor
// kept in one machine-wide file (ContainerUIDState), shared by every agent
// of the machine and surviving reboots: a uid comes back only after the
// whole range has been used, and even then not while a process of the
// machine runs under it or a container of this agent still holds it.
// Files a container left outside its sandbox (in /tmp, say) are the only
// thing of it that can outlast it; with the default range of 16 million
// uids they would have to wait that many containers to meet a new owner.
// Sandboxes are handed back to root as soon as their executor is reaped
// (reclaimSandbox).

// Task users modes (Config.TaskUsers).
const (
	// TaskUsersIsolated runs each container under a host uid of its own,
	// in a user namespace that maps the task's user to it.
	TaskUsersIsolated = "isolated"
	// TaskUsersHost runs tasks as their real host users: tenants that run
	// as the same user share a uid and can reach each other's tasks. For
	// tasks that need the host identity (shared NFS home directories).
	TaskUsersHost = "host"
)

// UIDRange is an inclusive range of host uids (and gids).
type UIDRange struct{ First, Last uint32 }

// DefaultContainerUIDs is 2^24 uids from 1879048192 (0x70000000): above
// systemd's container range (524288-1879048191), above what useradd hands
// out in /etc/subuid (at most 600100000 by default), and below 2^31, which
// some tools still read as a signed number.
var DefaultContainerUIDs = UIDRange{First: 1879048192, Last: 1879048192 + 1<<24 - 1}

// DefaultContainerUIDState is where the machine-wide cursor lives.
const DefaultContainerUIDState = "/var/lib/mezzo-container-uids"

// minContainerUID keeps the range clear of the uids regular and system
// users get by convention (and of nobody, 65534).
const minContainerUID = 65536

func (r UIDRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

func (r UIDRange) size() uint64 { return uint64(r.Last) - uint64(r.First) + 1 }

func (r UIDRange) contains(id uint64) bool { return id >= uint64(r.First) && id <= uint64(r.Last) }

func (r UIDRange) overlaps(o UIDRange) bool { return r.First <= o.Last && o.First <= r.Last }

// ParseUIDRange reads "FIRST-LAST" (inclusive) and checks it is a range
// containers may use: above 65535 and below 2^31.
func ParseUIDRange(s string) (UIDRange, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return UIDRange{}, fmt.Errorf("uid range %q: want FIRST-LAST, e.g. %s", s, DefaultContainerUIDs)
	}
	first, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 32)
	last, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 32)
	if err1 != nil || err2 != nil {
		return UIDRange{}, fmt.Errorf("uid range %q: FIRST and LAST must be uids (0 to %d)", s, uint32(math.MaxUint32))
	}
	r := UIDRange{First: uint32(first), Last: uint32(last)}
	return r, r.validate()
}

func (r UIDRange) validate() error {
	switch {
	case r.First > r.Last:
		return fmt.Errorf("uid range %s: the first uid is above the last", r)
	case r.First < minContainerUID:
		return fmt.Errorf("uid range %s starts below %d, among the uids of regular and system users", r, minContainerUID)
	case r.Last > math.MaxInt32:
		return fmt.Errorf("uid range %s ends above %d: uids of 2^31 and more are read as negative by some tools", r, math.MaxInt32)
	}
	return nil
}

// userDatabases are the files CheckContainerUIDs reads; a variable for
// tests.
var userDatabases = struct{ passwd, group, subuid, subgid string }{
	"/etc/passwd", "/etc/group", "/etc/subuid", "/etc/subgid"}

// CheckContainerUIDs refuses a range that a user or group of this machine
// has (/etc/passwd, /etc/group), or that a user may map into a user
// namespace of its own (/etc/subuid, /etc/subgid): a task would own that
// user's files or share its identity.
func CheckContainerUIDs(r UIDRange) error {
	if err := r.validate(); err != nil {
		return err
	}
	for _, db := range []struct{ path, what string }{{userDatabases.passwd, "user"}, {userDatabases.group, "group"}} {
		err := eachLine(db.path, func(n int, fields []string) error {
			if len(fields) < 3 {
				return nil
			}
			id, err := strconv.ParseUint(fields[2], 10, 32)
			if err == nil && r.contains(id) {
				return fmt.Errorf("uid range %s includes id %d of %s %q (%s line %d): choose a range no user or group has", r, id, db.what, fields[0], db.path, n)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, path := range []string{userDatabases.subuid, userDatabases.subgid} {
		err := eachLine(path, func(n int, fields []string) error {
			if len(fields) < 3 {
				return nil
			}
			start, err1 := strconv.ParseUint(fields[1], 10, 32)
			count, err2 := strconv.ParseUint(fields[2], 10, 32)
			if err1 != nil || err2 != nil || count == 0 {
				return nil
			}
			sub := UIDRange{First: uint32(start), Last: uint32(min(start+count-1, math.MaxUint32))}
			if r.overlaps(sub) {
				return fmt.Errorf("uid range %s overlaps %s, which %q may map into user namespaces of its own (%s line %d): choose a range apart from it", r, sub, fields[0], path, n)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// eachLine calls fn with the colon-separated fields of each line of a
// user database; a missing file has no lines.
func eachLine(path string, fn func(n int, fields []string) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := fn(n, strings.Split(line, ":")); err != nil {
			return err
		}
	}
	return sc.Err()
}

// uidBlock is how many uids one visit to the state file reserves: the
// lock and the write are paid once per block, not per container.
const uidBlock = 64

// uidAllocator hands out container uids from r (see the top of the file).
type uidAllocator struct {
	r     UIDRange
	state string // the machine-wide cursor file

	mu        sync.Mutex
	next, end uint64 // the reserved block not yet handed out
	// reused: the block's uids have been handed out before (the range
	// has been used up at least once), so running processes are checked.
	reused bool
	inUse  map[uint32]string // uid → container, until its sandbox is reclaimed
}

func newUIDAllocator(r UIDRange, state string) *uidAllocator {
	return &uidAllocator{r: r, state: state, inUse: map[uint32]string{}}
}

// hold records that container holds uid (an adopted container, or one
// just allocated); no allocation hands it out until release.
func (u *uidAllocator) hold(uid uint32, container string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.inUse[uid] = container
}

func (u *uidAllocator) release(uid uint32) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.inUse, uid)
}

// check makes sure the state file's lock can be created (the directory
// exists and is writable), so a broken setting shows at start-up.
func (u *uidAllocator) check() error {
	if err := os.MkdirAll(filepath.Dir(u.state), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(u.state+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// allocate hands container a uid that no container of this agent holds
// and, once the range has gone round, no process of the machine runs
// under. (Before that, a uid has never been handed out by an agent sharing
// the state file, and CheckContainerUIDs has made sure no user has it; the
// scan of /proc costs milliseconds, so it is left until it can matter.)
func (u *uidAllocator) allocate(container string) (uint32, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var procs map[uint32]bool
	for tried := uint64(0); tried < u.r.size(); tried++ {
		if u.next >= u.end {
			if err := u.reserve(); err != nil {
				return 0, err
			}
		}
		id := uint32(u.next)
		u.next++
		if _, held := u.inUse[id]; held {
			continue
		}
		if u.reused && procs == nil {
			var err error
			if procs, err = processUIDs(u.r); err != nil {
				return 0, fmt.Errorf("container uids: listing the uids of running processes: %w", err)
			}
		}
		if procs[id] {
			continue
		}
		u.inUse[id] = container
		return id, nil
	}
	return 0, fmt.Errorf("container uids: every uid of %s is held by a container or a process", u.r)
}

// reserve takes the next block of the range from the machine-wide cursor.
// The file holds one "FIRST-LAST NEXT ROUNDS" line per range any agent of
// the machine uses (ROUNDS: how many times the range was used up); it is
// replaced atomically under an flock on a lock file beside it, so agents
// starting containers at once never get the same block, and a crash
// leaves the old cursor or the new one.
func (u *uidAllocator) reserve() error {
	if err := os.MkdirAll(filepath.Dir(u.state), 0o755); err != nil {
		return fmt.Errorf("container uids: %w", err)
	}
	lock, err := os.OpenFile(u.state+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("container uids: %w", err)
	}
	defer lock.Close() // releases the flock
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("container uids: locking %s: %w", lock.Name(), err)
	}
	cursors, err := readUIDCursors(u.state)
	if err != nil {
		return err
	}
	c := cursors[u.r]
	if !u.r.contains(c.next) {
		c.next = uint64(u.r.First)
	}
	start, end := c.next, min(c.next+uidBlock, uint64(u.r.Last)+1)
	reused := c.rounds > 0
	c.next = end
	if end > uint64(u.r.Last) {
		c.next, c.rounds = uint64(u.r.First), c.rounds+1 // used up: round again
	}
	cursors[u.r] = c
	if err := writeUIDCursors(u.state, cursors); err != nil {
		return err
	}
	u.next, u.end, u.reused = start, end, reused
	return nil
}

// uidCursor is one range's line of the state file.
type uidCursor struct{ next, rounds uint64 }

// overlappingRanges lists the other ranges in the state file that overlap
// this one: agents of this machine whose containers may get the same uids
// (only a running process under a uid keeps it from being handed twice).
func (u *uidAllocator) overlappingRanges() []UIDRange {
	cursors, err := readUIDCursors(u.state)
	if err != nil {
		return nil
	}
	var out []UIDRange
	for r := range cursors {
		if r != u.r && r.overlaps(u.r) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].First < out[j].First })
	return out
}

func readUIDCursors(path string) (map[UIDRange]uidCursor, error) {
	out := map[UIDRange]uidCursor{}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("container uids: %w", err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		var r UIDRange
		var c uidCursor
		if len(f) == 3 {
			r, err = ParseUIDRange(f[0])
			if err == nil {
				c.next, err = strconv.ParseUint(f[1], 10, 32)
			}
			if err == nil {
				c.rounds, err = strconv.ParseUint(f[2], 10, 64)
			}
		}
		if len(f) != 3 || err != nil {
			// Written by rename only, so not torn: someone edited it.
			// Starting the range over at once could hand out uids in use.
			return nil, fmt.Errorf("container uids: %s line %d %q: want \"FIRST-LAST NEXT ROUNDS\"", path, i+1, line)
		}
		out[r] = c
	}
	return out, nil
}

func writeUIDCursors(path string, cursors map[UIDRange]uidCursor) error {
	ranges := make([]UIDRange, 0, len(cursors))
	for r := range cursors {
		ranges = append(ranges, r)
	}
	sort.Slice(ranges, func(i, j int) bool {
		return ranges[i].First < ranges[j].First || ranges[i].First == ranges[j].First && ranges[i].Last < ranges[j].Last
	})
	var sb strings.Builder
	for _, r := range ranges {
		fmt.Fprintf(&sb, "%s %d %d\n", r, cursors[r].next, cursors[r].rounds)
	}
	// Synced before the rename: after a power cut the cursor must not go
	// back to uids whose files may still be on disk.
	if err := writeFileAtomic(path, []byte(sb.String())); err != nil {
		return fmt.Errorf("container uids: writing %s: %w", path, err)
	}
	return nil
}

// processUIDs lists the uids in r that a process of the machine runs
// under (real, effective, saved or file-system uid; from /proc/PID/status,
// which every process has whatever its dumpability).
func processUIDs(r UIDRange) (map[uint32]bool, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := map[uint32]bool{}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue // gone meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			rest, ok := strings.CutPrefix(line, "Uid:")
			if !ok {
				continue
			}
			for _, f := range strings.Fields(rest) {
				if id, err := strconv.ParseUint(f, 10, 32); err == nil && r.contains(id) {
					out[uint32(id)] = true
				}
			}
			break
		}
	}
	return out, nil
}
