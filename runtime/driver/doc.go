// Package driver is the scheduler SDK of the mezzo runtime: it runs any
// mezzo.Scheduler against a real master over gRPC, implementing
// mezzo.Driver in wall time.
//
// Usage:
//
//	err := driver.Run(ctx, "127.0.0.1:5050", mezzo.FrameworkInfo{Name: "pi"}, sched)
//
// or, to keep a handle:
//
//	d, err := driver.New(driver.Config{Master: addr, Framework: info}, sched)
//	err = d.Start(ctx)
//	...
//	err = d.Wait() // ErrStopped after Stop / the scheduler's Driver.Stop
//
// Callbacks and AfterFunc functions of one driver run on one goroutine, one
// at a time, in arrival order: scheduler code needs no locks. Driver methods
// queue their calls (batch.go) and may be used from callbacks.
//
// Status updates that carry a UUID are acknowledged by the driver right
// after the StatusUpdate callback returns, without holding up the next
// callback (a bounded number of acknowledgements are in flight at once);
// AcknowledgeStatusUpdate exists for the mezzo.Driver contract and is
// harmless to call. A Stop takes effect once the acknowledgements sent are
// answered; made inside a callback, when the callback returns, after that
// update's acknowledgement.
//
// When the subscription breaks (master restarted, network gone, heartbeats
// missed) the driver re-subscribes with its framework ID, backing off from
// MinBackoff to MaxBackoff with jitter, and calls Registered again. A master
// that refuses the framework (removed, bad request) ends the driver with the
// scheduler's Error callback. Tasks launched while it has no master come
// back TASK_LOST (REASON_MASTER_DISCONNECTED), as from Mesos's driver. A
// launch in a call that broke on the way may or may not have reached the
// old master: a scheduler learns which by reconciling its unfinished tasks
// in Registered (explicitly, naming their agents), and a TASK_LOST answer
// is final.
//
// Maintenance: a scheduler that also implements [InverseOfferHandler] is
// told when an operator drains an agent it runs tasks on (`mezzo drain`),
// and asked to move them; others just stop getting offers there.
package driver
