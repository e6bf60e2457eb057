package main

import (
	"errors"
	"flag"
	"sort"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
)

// audienceFlag collects repeated -audience flags.
type audienceFlag []string

func (a *audienceFlag) String() string     { return strings.Join(*a, ",") }
func (a *audienceFlag) Set(v string) error { *a = append(*a, v); return nil }

type jwtSummary struct {
	SpiffeID string         `json:"spiffe_id"`
	Hint     string         `json:"hint,omitempty"`
	Audience []string       `json:"audience"`
	Expiry   string         `json:"expiry"`
	Claims   map[string]any `json:"claims"`
}

func runJWT(args []string) error {
	var common commonFlags
	var audiences audienceFlag
	fs := flag.NewFlagSet("jwt", flag.ContinueOnError)
	common.register(fs)
	fs.Var(&audiences, "audience", "audience (repeatable, at least one)")
	subject := fs.String("spiffe-id", "", "request the JWT-SVID of this SPIFFE ID (default: the default identity)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(audiences) == 0 {
		return errors.New("jwt needs at least one -audience")
	}
	params := jwtsvid.Params{Audience: audiences[0], ExtraAudiences: audiences[1:]}
	if *subject != "" {
		id, err := spiffeid.FromString(*subject)
		if err != nil {
			return err
		}
		params.Subject = id
	}
	ctx, client, done, err := common.newClient()
	if err != nil {
		return err
	}
	defer done()

	svid, err := client.FetchJWTSVID(ctx, params)
	if err != nil {
		return err
	}
	token := svid.Marshal()
	// The agent must accept its own token (go-spiffe reads the result from the
	// token itself once the call succeeds)...
	if _, err := client.ValidateJWTSVID(ctx, token, audiences[0]); err != nil {
		return err
	}
	// ...and a relying party must be able to verify signature and claims
	// against the served JWT bundle (exercises the JWKS format).
	bundles, err := client.FetchJWTBundles(ctx)
	if err != nil {
		return err
	}
	verified, err := jwtsvid.ParseAndValidate(token, bundles, audiences[:1])
	if err != nil {
		return err
	}
	printJSON(jwtSummary{
		SpiffeID: verified.ID.String(),
		Hint:     svid.Hint,
		Audience: verified.Audience,
		Expiry:   verified.Expiry.UTC().Format(time.RFC3339),
		Claims:   verified.Claims,
	})
	return nil
}

func runJWTValidate(args []string) error {
	var common commonFlags
	fs := flag.NewFlagSet("jwt-validate", flag.ContinueOnError)
	common.register(fs)
	audience := fs.String("audience", "", "audience the token must carry")
	token := fs.String("token", "", "JWT-SVID to validate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *audience == "" || *token == "" {
		return errors.New("jwt-validate needs -audience and -token")
	}
	ctx, client, done, err := common.newClient()
	if err != nil {
		return err
	}
	defer done()
	validated, err := client.ValidateJWTSVID(ctx, *token, *audience)
	if err != nil {
		return err
	}
	printJSON(map[string]any{"spiffe_id": validated.ID.String(), "claims": validated.Claims})
	return nil
}

type jwtBundleSummary struct {
	TrustDomain string   `json:"trust_domain"`
	KeyIDs      []string `json:"key_ids"`
}

func runJWTBundles(args []string) error {
	var common commonFlags
	fs := flag.NewFlagSet("jwt-bundles", flag.ContinueOnError)
	common.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, client, done, err := common.newClient()
	if err != nil {
		return err
	}
	defer done()
	set, err := client.FetchJWTBundles(ctx)
	if err != nil {
		return err
	}
	summaries := []jwtBundleSummary{}
	for _, b := range set.Bundles() {
		keyIDs := []string{}
		for kid := range b.JWTAuthorities() {
			keyIDs = append(keyIDs, kid)
		}
		sort.Strings(keyIDs)
		summaries = append(summaries, jwtBundleSummary{TrustDomain: b.TrustDomain().Name(), KeyIDs: keyIDs})
	}
	sort.Slice(summaries, func(i, j int) bool { return summaries[i].TrustDomain < summaries[j].TrustDomain })
	printJSON(map[string]any{"bundles": summaries})
	return nil
}
