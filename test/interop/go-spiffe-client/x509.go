package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

type x509SVIDSummary struct {
	SpiffeID     string `json:"spiffe_id"`
	Hint         string `json:"hint,omitempty"`
	ChainLength  int    `json:"chain_length"`
	LeafSerial   string `json:"leaf_serial"`
	LeafNotAfter string `json:"leaf_not_after"`
}

type x509Summary struct {
	// SpiffeID is the default (first) SVID's ID.
	SpiffeID           string            `json:"spiffe_id"`
	SVIDs              []x509SVIDSummary `json:"svids"`
	BundleTrustDomains []string          `json:"bundle_trust_domains"`
}

// summarizeX509 verifies every SVID chain against the bundle set (as a
// go-spiffe relying party would) and describes the context.
func summarizeX509(x509Ctx *workloadapi.X509Context) (*x509Summary, error) {
	if len(x509Ctx.SVIDs) == 0 {
		return nil, errors.New("X.509 context has no SVIDs")
	}
	summary := &x509Summary{SpiffeID: x509Ctx.DefaultSVID().ID.String()}
	for _, svid := range x509Ctx.SVIDs {
		if _, _, err := x509svid.Verify(svid.Certificates, x509Ctx.Bundles); err != nil {
			return nil, fmt.Errorf("SVID %s does not verify against the bundles: %w", svid.ID, err)
		}
		leaf := svid.Certificates[0]
		summary.SVIDs = append(summary.SVIDs, x509SVIDSummary{
			SpiffeID:     svid.ID.String(),
			Hint:         svid.Hint,
			ChainLength:  len(svid.Certificates),
			LeafSerial:   leaf.SerialNumber.Text(16),
			LeafNotAfter: leaf.NotAfter.UTC().Format(time.RFC3339),
		})
	}
	summary.BundleTrustDomains = trustDomains(x509Ctx.Bundles)
	return summary, nil
}

func trustDomains(set *x509bundle.Set) []string {
	names := []string{}
	for _, b := range set.Bundles() {
		names = append(names, b.TrustDomain().Name())
	}
	sort.Strings(names)
	return names
}

func runX509(args []string) error {
	var common commonFlags
	fs := flag.NewFlagSet("x509", flag.ContinueOnError)
	common.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, client, done, err := common.newClient()
	if err != nil {
		return err
	}
	defer done()
	x509Ctx, err := client.FetchX509Context(ctx)
	if err != nil {
		return err
	}
	summary, err := summarizeX509(x509Ctx)
	if err != nil {
		return err
	}
	printJSON(summary)
	return nil
}

// x509Watcher prints each verified update and stops after count updates.
type x509Watcher struct {
	remaining int
	cancel    context.CancelFunc
	failure   error
}

func (w *x509Watcher) OnX509ContextUpdate(x509Ctx *workloadapi.X509Context) {
	summary, err := summarizeX509(x509Ctx)
	if err != nil {
		w.failure = err
		w.cancel()
		return
	}
	printJSON(summary)
	w.remaining--
	if w.remaining == 0 {
		w.cancel()
	}
}

// OnX509ContextWatchError is informational: go-spiffe keeps retrying.
func (w *x509Watcher) OnX509ContextWatchError(err error) {
	w.failure = err
}

func runX509Watch(args []string) error {
	var common commonFlags
	fs := flag.NewFlagSet("x509-watch", flag.ContinueOnError)
	common.register(fs)
	count := fs.Int("count", 2, "number of updates to print before exiting")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *count < 1 {
		return errors.New("-count must be at least 1")
	}
	deadline, client, done, err := common.newClient()
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := context.WithCancel(deadline)
	defer cancel()
	watcher := &x509Watcher{remaining: *count, cancel: cancel}
	err = client.WatchX509Context(ctx, watcher)
	switch {
	case watcher.remaining == 0:
		return nil
	case watcher.failure != nil:
		return fmt.Errorf("after %d of %d updates: %w", *count-watcher.remaining, *count, watcher.failure)
	default:
		return fmt.Errorf("after %d of %d updates: %w", *count-watcher.remaining, *count, err)
	}
}
