package executor

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"github.com/mezzo-cluster/mezzo"
)

// Files and directories named after IDs. A task or executor ID may be as
// long as a file name (Mesos accepts up to 255 bytes), and the agent and
// this package add prefixes and suffixes and escape characters, so a name
// made of a raw ID can exceed the file system's limit (ENAMETOOLONG) and
// the task could never start. IDName bounds it.

// maxIDName is the longest encoded ID used as it is. A longer one is cut
// and given its digest, making a name longer than maxIDName, so that no
// long form equals the short form of another ID.
const (
	maxIDName = 128
	idKeep    = 64
)

// IDName is the part of a file name that stands for id, given enc, its
// encoding for that name (an escaping of id, or id itself): enc when it is
// at most 128 bytes; otherwise its first 64 bytes (cut at a character
// boundary), "~" and the SHA-256 of id in hex, 129 bytes at most. Two IDs
// get the same name only if they are the same ID.
func IDName(enc, id string) string {
	if len(enc) <= maxIDName {
		return enc
	}
	cut := idKeep
	for cut > 0 && !utf8.RuneStart(enc[cut]) {
		cut--
	}
	sum := sha256.Sum256([]byte(id))
	return enc[:cut] + "~" + hex.EncodeToString(sum[:])
}

// TaskOutputFiles names the files the command executor writes a task's
// output to, in its sandbox: task-<id>.stdout and task-<id>.stderr, with
// the ID's separators replaced and a long ID bounded (see IDName).
func TaskOutputFiles(id mezzo.TaskID) (stdout, stderr string) {
	base := "task-" + IDName(sanitize(string(id)), string(id))
	return base + ".stdout", base + ".stderr"
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == 0 || r == '\\' {
			return '_'
		}
		return r
	}, s)
}
