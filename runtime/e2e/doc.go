// Package e2e holds end-to-end tests of the runtime: they build the mezzo
// binary once (TestMain), start a master and agents as separate OS
// processes on loopback, and run frameworks against them, both through the
// CLI (`mezzo execute`, `mezzo run pi`) and through the scheduler SDK from
// the test process. It has no non-test code.
package e2e
