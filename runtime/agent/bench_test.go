package agent

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mezzo-cluster/mezzo"
	"github.com/mezzo-cluster/mezzo/runtime/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// BenchmarkEmulatedLaunch measures no-op task launches through one emulated
// agent and a fake master that acknowledges at once: launch event, RUNNING,
// ack, FINISHED, ack, all over loopback gRPC.
func BenchmarkEmulatedLaunch(b *testing.B) {
	t := &testing.T{}
	m := startFakeMaster(t, true)
	m.updates = make(chan gotUpdate, 1<<16)
	a, err := New(Config{Master: m.addr, Emulated: true, Resources: mezzo.Cpus(1), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = a.Run(ctx) }()
	<-m.subscribes
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.events <- launchEvent1("fw", mezzo.TaskInfo{ID: mezzo.TaskID(fmt.Sprint(i))})
	}
	for done := 0; done < b.N; {
		if u := <-m.updates; u.status.State == mezzo.TaskFinished {
			done++
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkEmulatedAgentMemory reports the heap each registered emulated
// agent costs when all share one connection.
func BenchmarkEmulatedAgentMemory(b *testing.B) {
	t := &testing.T{}
	m := startFakeMaster(t, true)
	m.subscribes = make(chan *api.AgentSubscribeRequest, 1<<16)
	conn, err := grpc.NewClient(m.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 1000
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for j := 0; j < n; j++ {
			a, err := New(Config{Conn: conn, Emulated: true, Resources: mezzo.Cpus(1), Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			go func() { _ = a.Run(ctx) }()
		}
		for j := 0; j < n; j++ {
			<-m.subscribes
		}
		time.Sleep(50 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n, "heap-B/agent")
	}
}
