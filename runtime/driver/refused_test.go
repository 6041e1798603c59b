package driver_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/driver"
	"github.com/mezzo-cluster/mezzo/runtime/master"
	"github.com/mezzo-cluster/mezzo/runtime/security"
)

// denyRole refuses every framework registration in one role.
type denyRole struct{ role string }

func (d denyRole) Allow(_ context.Context, principal string, a security.Action, object string) error {
	if a == security.RegisterFramework && object == d.role {
		return &security.DeniedError{Principal: principal, Action: a, Object: object}
	}
	return nil
}

type errorRecorder struct {
	batch
	mu   sync.Mutex
	errs []string
}

func (e *errorRecorder) Error(_ mezzo.Driver, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, msg)
}

// A master that refuses the framework for good ends the driver with its
// reason at once; retrying could not change the answer.
func TestDriverStopsOnPermanentRefusal(t *testing.T) {
	m, err := master.New(master.Config{Listen: "127.0.0.1:0", Authorizer: denyRole{"forbidden"}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := m.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	sched := &errorRecorder{}
	d, err := driver.New(driver.Config{Master: addr, Framework: mezzo.FrameworkInfo{Name: "f", Role: "forbidden"},
		MinBackoff: 10 * time.Millisecond, Logger: quiet}, sched)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- d.Wait() }()
	select {
	case err := <-waited:
		if err == nil || !strings.Contains(err.Error(), "not authorized") {
			t.Fatalf("driver ended with %v, want the master's refusal", err)
		}
		if errors.Is(err, driver.ErrStopped) {
			t.Fatalf("driver reports a stop, not the refusal: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("driver still retrying a permanent refusal")
	}
	sched.mu.Lock()
	defer sched.mu.Unlock()
	if len(sched.errs) != 1 || !strings.Contains(sched.errs[0], "forbidden") {
		t.Fatalf("scheduler's Error callback got %q, want the refusal naming the role", sched.errs)
	}
}
