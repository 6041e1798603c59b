package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo/runtime/master"
)

// mezzo master refuses limits that make no sense before it starts,
// naming the flag.
func TestMasterRefusesNonsenseTenantLimits(t *testing.T) {
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"--max-frameworks-per-principal", "-1"}, "--max-frameworks-per-principal"},
		{[]string{"--max-failover-timeout", "0s"}, "--max-failover-timeout"},
		{[]string{"--max-failover-timeout", "-1h"}, "--max-failover-timeout"},
		{[]string{"--max-failover-timeout", "1h", "--failover-timeout", "2h"}, "--failover-timeout 2h0m0s is above --max-failover-timeout"},
		{[]string{"--subscribe-rate-limit", "NaN"}, "--subscribe-rate-limit"},
		{[]string{"--subscribe-rate-limit", "-5"}, "--subscribe-rate-limit"},
		{[]string{"--subscribe-rate-limit", "+Inf"}, "--subscribe-rate-limit"},
		{[]string{"--subscribe-rate-burst", "0"}, "--subscribe-rate-burst"},
		{[]string{"--max-completed-frameworks", "-3"}, "--max-completed-frameworks"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := runMaster(ctx, append([]string{"--listen", "127.0.0.1:0"}, c.args...))
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("mezzo master %v: %v; want an error naming %s", c.args, err, c.flag)
		}
	}
}

// The flags' "0: none" becomes the configuration's "negative: none" (its
// zero means the default).
func TestTenantLimitFlagsApply(t *testing.T) {
	l := tenantLimitFlags{maxFrameworks: 0, maxFailover: time.Hour, subscribeRate: 0, subscribeBurst: 7, maxCompleted: 0}
	var c master.Config
	l.apply(&c)
	if c.MaxFrameworksPerPrincipal >= 0 || c.SubscribeRate >= 0 || c.MaxCompletedFrameworks >= 0 || c.MaxFailoverTimeout != time.Hour || c.SubscribeBurst != 7 {
		t.Errorf("0 for none became %+v", c)
	}
	l = tenantLimitFlags{maxFrameworks: 5, maxFailover: time.Hour, subscribeRate: 2.5, subscribeBurst: 7, maxCompleted: 9}
	l.apply(&c)
	if c.MaxFrameworksPerPrincipal != 5 || c.SubscribeRate != 2.5 || c.MaxCompletedFrameworks != 9 {
		t.Errorf("limits became %+v", c)
	}
}
