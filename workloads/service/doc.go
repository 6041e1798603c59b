// Package service is a framework for long-running, elastic services: it
// keeps a number of identical instances running, and that number follows a
// load curve (a table of time → instances).
//
// When the curve rises the scheduler revives offers and launches instances
// on them; when it falls it kills the newest instances first (the oldest are
// the warmest); an instance that fails, finishes or is lost is replaced. Once
// it has as many instances as the curve asks, it suppresses offers. When the
// curve ends at zero and every instance is gone, the framework stops.
//
//	s, err := service.New(service.Config{
//		TaskResources: mezzo.Cpus(1).Add(mezzo.MemMB(512)),
//		Load: []service.Step{{At: 0, Instances: 4}, {At: time.Hour, Instances: 10}, {At: 2 * time.Hour, Instances: 0}},
//	})
package service
