package master_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo/runtime/master"
)

// Zero takes a default; a negative interval, timeout or lease, or a
// recovery fraction that is no number, is refused instead of being
// replaced by the default in silence.
func TestConfigRefusesNegativeDurations(t *testing.T) {
	for _, tc := range []struct {
		cfg  master.Config
		want string
	}{
		{master.Config{PingInterval: -time.Second}, "ping interval"},
		{master.Config{PingTimeout: -time.Second}, "ping timeout"},
		{master.Config{AllocationInterval: -time.Millisecond}, "allocation interval"},
		{master.Config{HeartbeatInterval: -1}, "heartbeat interval"},
		{master.Config{FailoverTimeout: -time.Second}, "failover timeout"},
		{master.Config{OfferTimeout: -time.Second}, "offer timeout"},
		{master.Config{HandshakeTimeout: -time.Second}, "handshake timeout"},
		{master.Config{HA: master.HAConfig{LeaseTTL: -time.Second}}, "lease TTL"},
		{master.Config{HA: master.HAConfig{RecoveryTimeout: -time.Second}}, "recovery timeout"},
		{master.Config{HA: master.HAConfig{RecoveryFraction: math.NaN()}}, "recovery fraction"},
	} {
		tc.cfg.Logger = quietLogger()
		_, err := master.New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("master.New(%+v): %v; want an error naming the %s", tc.cfg, err, tc.want)
		}
	}
	if _, err := master.New(master.Config{Logger: quietLogger()}); err != nil {
		t.Errorf("zero configuration: %v", err)
	}
}
