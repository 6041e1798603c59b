// Package uitest tests the master's web UI in a real browser: it starts a
// master with its HTTP server, a real agent (process isolation) with its
// sandbox server, and a framework that runs a shell command as a task, all
// in the test process, then drives Debian's headless Chromium with
// chromedp: the overview must show the agent and the running task, and
// following the task's "output" link must show the command's stdout. A
// screenshot of each page is written to the test's temp directory (and to
// $MEZZO_UI_SCREENSHOTS when set, to keep them as artifacts).
//
// The tests skip, saying why, when /usr/bin/chromium is missing; install
// it with `apt-get install -y chromium`.
//
// The package has no non-test code.
package uitest
