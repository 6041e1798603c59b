// Package fakedriver is a recording fake of [mezzo.Driver] for the tests of
// the workload packages: it keeps every call a scheduler makes, runs a
// virtual clock that a test advances by hand, and fires timers in (time,
// order-of-setting) order. It is for tests only; the real drivers are the
// simulator's and the runtime's.
package fakedriver
