// Command go-spiffe-client drives meshid's SPIFFE Workload API with the
// reference go-spiffe v2 library, so interop tests exercise a real consumer.
// It prints one JSON document (or one JSON line per update) on stdout; on any
// failure it prints {"error": ..., "grpc_code": ...} on stderr and exits 1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"google.golang.org/grpc/status"
)

const usage = `usage: go-spiffe-client [-version] <command> [flags]

commands:
  x509          fetch the X.509 context, verify every SVID chain against the bundles
  x509-watch    like x509, one JSON line per update, until -count updates arrived
  jwt           fetch a JWT-SVID for -audience, validate it via the Workload API
                and locally against the fetched JWT bundles
  jwt-validate  validate -token for -audience via the Workload API (on success
                go-spiffe reports the token's own claims, not the agent's reply)
  jwt-bundles   fetch the JWT bundles (trust domains and key IDs)

The socket is -socket (unix:///path) or else SPIFFE_ENDPOINT_SOCKET.`

// commonFlags are accepted by every command.
type commonFlags struct {
	socket  string
	timeout time.Duration
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.socket, "socket", "", "Workload API address, e.g. unix:///run/meshid/agent.sock (default $SPIFFE_ENDPOINT_SOCKET)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "overall deadline")
}

func (c *commonFlags) clientOptions() []workloadapi.ClientOption {
	if c.socket == "" {
		return nil
	}
	return []workloadapi.ClientOption{workloadapi.WithAddr(c.socket)}
}

// newClient opens a Workload API client bounded by the command's deadline.
func (c *commonFlags) newClient() (context.Context, *workloadapi.Client, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	client, err := workloadapi.New(ctx, c.clientOptions()...)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return ctx, client, func() { _ = client.Close(); cancel() }, nil
}

type command func(args []string) error

var commands = map[string]command{
	"x509":         runX509,
	"x509-watch":   runX509Watch,
	"jwt":          runJWT,
	"jwt-validate": runJWTValidate,
	"jwt-bundles":  runJWTBundles,
}

func main() {
	args := os.Args[1:]
	if len(args) == 1 && (args[0] == "-version" || args[0] == "--version") {
		fmt.Println(versionLine())
		return
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	run, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown command %q\n%s\n", args[0], usage)
		os.Exit(2)
	}
	if err := run(args[1:]); err != nil {
		fail(err)
	}
}

// versionLine reports the go-spiffe module version linked into this binary.
func versionLine() string {
	spiffe := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/spiffe/go-spiffe/v2" {
				spiffe = dep.Version
			}
		}
	}
	return fmt.Sprintf("go-spiffe-client go-spiffe/v2 %s %s", spiffe, runtime.Version())
}

func printJSON(v any) {
	out, err := json.Marshal(v)
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
}

func fail(err error) {
	report := map[string]string{"error": err.Error()}
	if s, ok := status.FromError(err); ok && s.Code() != 0 {
		report["grpc_code"] = s.Code().String()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		report["grpc_code"] = "DeadlineExceeded"
	}
	out, _ := json.Marshal(report)
	fmt.Fprintln(os.Stderr, string(out))
	os.Exit(1)
}
