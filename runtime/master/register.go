package master

import (
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/mezzo-cluster/mezzo/runtime/api"
)

// Registration in parts (AgentAPI.Register). An agent whose tasks,
// executors and frameworks do not fit in one message sends them in parts;
// the master holds them only until the registration is applied or refused
// (the call then goes on as the agent's stream), merges them and
// registers the agent as Subscribe would. What it holds is bounded per
// registration, per principal (every agent may share one) and in time, so
// parts are no way to fill the master's memory: past a bound the call
// fails (ResourceExhausted, DeadlineExceeded) and its parts are dropped.
const (
	maxRegistrationBytes  = 64 << 20
	maxRegistrationParts  = 4096
	maxStagedPerPrincipal = 256 << 20
	registrationTimeout   = time.Minute
)

// staging counts the bytes of registrations in parts being received, per
// principal. Handlers touch it off the loop.
type staging struct {
	mu    sync.Mutex
	bytes map[string]int64
}

func (s *staging) reserve(principal string, n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes == nil {
		s.bytes = map[string]int64{}
	}
	if s.bytes[principal]+n > maxStagedPerPrincipal {
		return false
	}
	s.bytes[principal] += n
	return true
}

func (s *staging) free(principal string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes[principal] -= n; s.bytes[principal] <= 0 {
		delete(s.bytes, principal)
	}
}

// receiveRegistration reads a Register call's parts up to the last one
// and merges them. release gives their bytes back to the principal's
// budget; call it once the registration is applied or refused.
func (m *Master) receiveRegistration(stream api.AgentAPI_RegisterServer, principal string) (*api.AgentSubscribeRequest, func(), error) {
	var held int64
	var once sync.Once
	release := func() { once.Do(func() { m.staging.free(principal, held) }) }
	type result struct {
		req *api.AgentSubscribeRequest
		err error
	}
	done := make(chan result, 1)
	go func() {
		req := &api.AgentSubscribeRequest{}
		for parts := 1; ; parts++ {
			p, err := stream.Recv()
			if err != nil {
				done <- result{err: err}
				return
			}
			n := int64(proto.Size(p))
			if held+n > maxRegistrationBytes || parts > maxRegistrationParts {
				done <- result{err: status.Errorf(codes.ResourceExhausted,
					"registration in parts: over %d parts or %d bytes (at part %d, %d bytes)", maxRegistrationParts, maxRegistrationBytes, parts, held+n)}
				return
			}
			if !m.staging.reserve(principal, n) {
				done <- result{err: status.Errorf(codes.ResourceExhausted,
					"registration in parts: principal %q has %d bytes of registrations in progress; try again later", principal, maxStagedPerPrincipal)}
				return
			}
			held += n
			proto.Merge(req, p.GetPart())
			if p.GetLast() {
				done <- result{req: req}
				return
			}
		}
	}()
	timer := time.NewTimer(registrationTimeout)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			release()
			m.log.Warn("registration in parts refused", "principal", principal, "err", r.err)
			return nil, nil, r.err
		}
		return r.req, release, nil
	case <-timer.C:
		// Returning ends the call, which ends the receiving goroutine's
		// Recv; its reservations are then final, so free them after it.
		go func() { <-done; release() }()
		return nil, nil, status.Error(codes.DeadlineExceeded, fmt.Sprintf("registration in parts not complete within %v", registrationTimeout))
	}
}
