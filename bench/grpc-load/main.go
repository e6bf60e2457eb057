// Command grpc-load drives one unary gRPC method with pre-serialised requests and prints one JSON line of
// results. It stands in for the real C++/Go clients of meshid's servers (Envoy's ext_authz filter, istio-agent)
// so the Node server is measured rather than a Node client costing more CPU than the server it loads.
//
// Requests come from -requests: a file of messages, each a 4-byte big-endian length and the serialised
// protobuf bytes; call i sends message i mod n. With -rate the load is open loop (calls start on schedule
// whether or not earlier ones answered); without it, -concurrency callers each start their next call when
// the previous one answers.
//
// With -serve it is instead the reference server: it answers every unary call on that address with an
// empty message, so a benchmark can print what this machine allows a native gRPC server under the same load.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// rawCodec sends and receives message bytes as they are.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append((*(v.(*[]byte)))[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "meshid-raw" }

func init() { encoding.RegisterCodec(rawCodec{}) }

type options struct {
	serve, target, method, requests, caFile, serverName, bearerFile string
	rate                                                            float64
	concurrency, connections                                        int
	duration, warmup                                                time.Duration
}

type result struct {
	Calls      int     `json:"calls"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"perSecond"`
	P50Us      float64 `json:"p50Us"`
	P99Us      float64 `json:"p99Us"`
	P999Us     float64 `json:"p999Us"`
	MaxUs      float64 `json:"maxUs"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"firstError,omitempty"`
	// Open loop: p99 of how late calls started against their schedule (the generator's own timing).
	LateP99Us float64 `json:"lateP99Us,omitempty"`
}

func main() {
	var o options
	flag.StringVar(&o.serve, "serve", "", "reference server: listen on this unix:///path or host:port and answer every call")
	flag.StringVar(&o.target, "target", "", "gRPC target: host:port, or unix:///path")
	flag.StringVar(&o.method, "method", "", "full method, e.g. /envoy.service.auth.v3.Authorization/Check")
	flag.StringVar(&o.requests, "requests", "", "file of length-prefixed serialised request messages")
	flag.StringVar(&o.caFile, "ca", "", "PEM trust bundle: use TLS and verify the server against it (default plaintext)")
	flag.StringVar(&o.serverName, "server-name", "", "TLS server name to verify (default the target host)")
	flag.StringVar(&o.bearerFile, "bearer", "", "file holding a token sent as 'authorization: Bearer <token>'")
	flag.Float64Var(&o.rate, "rate", 0, "calls per second, open loop (0: closed loop with -concurrency)")
	flag.IntVar(&o.concurrency, "concurrency", 1, "closed loop: callers in flight")
	flag.IntVar(&o.connections, "connections", 1, "connections; calls are spread over them")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured time")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load first, at the same shape")
	flag.Parse()
	work := run
	if o.serve != "" {
		work = serve
	}
	if err := work(o); err != nil {
		fmt.Fprintf(os.Stderr, "grpc-load: %v\n", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.target == "" || o.method == "" || o.requests == "" {
		return errors.New("-target, -method and -requests are required")
	}
	messages, err := readMessages(o.requests)
	if err != nil {
		return err
	}
	conns, err := dial(o)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	ctx := context.Background()
	if o.bearerFile != "" {
		token, err := os.ReadFile(o.bearerFile)
		if err != nil {
			return err
		}
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+string(token))
	}
	call := func(i int) error {
		var reply []byte
		return conns[i%len(conns)].Invoke(ctx, o.method, &messages[i%len(messages)], &reply, grpc.ForceCodec(rawCodec{}))
	}
	if err := call(0); err != nil {
		return fmt.Errorf("first call failed: %w", err)
	}
	drive := closedLoop
	if o.rate > 0 {
		drive = openLoop
	}
	drive(o, o.warmup, call)
	out := drive(o, o.duration, call)
	return json.NewEncoder(os.Stdout).Encode(out)
}

func readMessages(file string) ([][]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for len(data) >= 4 {
		n := int(binary.BigEndian.Uint32(data))
		if len(data) < 4+n {
			return nil, fmt.Errorf("%s: truncated message %d", file, len(out))
		}
		out = append(out, data[4:4+n])
		data = data[4+n:]
	}
	if len(out) == 0 || len(data) != 0 {
		return nil, fmt.Errorf("%s: expected length-prefixed messages", file)
	}
	return out, nil
}

func dial(o options) ([]*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no certificates", o.caFile)
		}
		creds = credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: o.serverName, MinVersion: tls.VersionTLS12})
	}
	conns := make([]*grpc.ClientConn, o.connections)
	for i := range conns {
		conn, err := grpc.NewClient(o.target, grpc.WithTransportCredentials(creds))
		if err != nil {
			return nil, err
		}
		conns[i] = conn
	}
	return conns, nil
}

// recorder collects per-call latencies and errors from many goroutines.
type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	errors    atomic.Int64
	first     atomic.Value
}

func (r *recorder) done(latency time.Duration, err error) {
	if err != nil {
		if r.errors.Add(1) == 1 {
			r.first.Store(status.Convert(err).String())
		}
		return
	}
	r.mu.Lock()
	r.latencies = append(r.latencies, latency)
	r.mu.Unlock()
}

func (r *recorder) summarise(elapsed time.Duration) result {
	sort.Slice(r.latencies, func(a, b int) bool { return r.latencies[a] < r.latencies[b] })
	pct := func(p float64) float64 {
		if len(r.latencies) == 0 {
			return 0
		}
		i := int(p*float64(len(r.latencies))+0.999999) - 1
		return float64(r.latencies[max(0, min(i, len(r.latencies)-1))]) / 1e3
	}
	first, _ := r.first.Load().(string)
	calls := len(r.latencies) + int(r.errors.Load())
	return result{
		Calls: calls, Seconds: elapsed.Seconds(), PerSecond: float64(calls) / elapsed.Seconds(),
		P50Us: pct(0.5), P99Us: pct(0.99), P999Us: pct(0.999), MaxUs: pct(1), Errors: r.errors.Load(), FirstError: first,
	}
}

func closedLoop(o options, duration time.Duration, call func(int) error) result {
	var r recorder
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(duration)
	for c := 0; c < o.concurrency; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				began := time.Now()
				err := call(int(next.Add(1)))
				r.done(time.Since(began), err)
			}
		}()
	}
	wg.Wait()
	return r.summarise(time.Since(start))
}

// openLoop starts call i at start + i/rate, in its own goroutine, whether or not earlier calls answered: a
// stalled server cannot slow the offered load, and its queueing shows in the latencies. Latency counts from
// the call's start; how late the generator itself started calls (timer granularity) is reported apart.
func openLoop(o options, duration time.Duration, call func(int) error) result {
	var r, late recorder
	var wg sync.WaitGroup
	// The Go scheduler's timers wake in whole milliseconds when the process is otherwise idle, which would
	// send each millisecond's calls as one burst; nanosleep on a dedicated thread keeps the schedule.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	total := int(o.rate * duration.Seconds())
	interval := time.Duration(float64(time.Second) / o.rate)
	start := time.Now()
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(i) * interval)
		sleepUntil(due)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			began := time.Now()
			late.done(began.Sub(due), nil)
			err := call(i)
			r.done(time.Since(began), err)
		}(i)
	}
	wg.Wait()
	out := r.summarise(time.Since(start))
	lateness := late.summarise(time.Since(start))
	out.LateP99Us = lateness.P99Us
	return out
}

func sleepUntil(t time.Time) {
	for wait := time.Until(t); wait > 0; wait = time.Until(t) {
		ts := syscall.NsecToTimespec(int64(wait))
		_ = syscall.Nanosleep(&ts, nil) // EINTR: go round again
	}
}

// serve answers every unary call with an empty message until the process is killed.
func serve(o options) error {
	network, address := "tcp", o.serve
	if path, ok := strings.CutPrefix(o.serve, "unix://"); ok {
		network, address = "unix", path
		_ = os.Remove(path)
	}
	listener, err := net.Listen(network, address)
	if err != nil {
		return err
	}
	empty := []byte{}
	server := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		var request []byte
		if err := stream.RecvMsg(&request); err != nil {
			return err
		}
		return stream.SendMsg(&empty)
	}))
	fmt.Println("serving") // the caller waits for this line
	return server.Serve(listener)
}
