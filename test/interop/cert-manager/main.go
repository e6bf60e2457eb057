// Command cert-manager-controller is a test peer for the Kubernetes interop
// suites: the real cert-manager controllers (github.com/cert-manager/cert-manager,
// pinned in go.mod) behind a small main of our own.
//
// cert-manager's own controller main lives in a nested module that the Go
// module proxy does not serve, so this program wires the root module's public
// controller packages itself. Only the controllers the interop tests need are
// linked in (see the blank imports below): Issuer and ClusterIssuer readiness,
// the CertificateRequest approver, CertificateRequest signing for the CA and
// selfSigned issuer types, and the Certificate controllers. The ACME, Vault and
// Venafi issuers and the ingress/gateway shims are left out, which is what lets
// the unobtainable github.com/Venafi/vcert/v5 be replaced by an empty stub.
//
// Flags follow cert-manager's controller where they exist there (--kubeconfig,
// --leader-elect, --cluster-resource-namespace, --metrics-listen-address,
// --controllers, ...). Differences: servers default to loopback, the healthz
// server is off unless --internal-healthz-listen-address is given, an unknown
// name in --controllers is an error, and --version prints the version.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	cliflag "k8s.io/component-base/cli/flag"
	logsapi "k8s.io/component-base/logs/api/v1"

	"github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	"github.com/cert-manager/cert-manager/pkg/healthz"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"

	// Controllers register themselves with pkg/controller in init().
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/metrics"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"

	// Issuer types register themselves with pkg/issuer in init(); the
	// issuers/clusterissuers controllers use them to set the Ready condition.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

const certManagerModule = "github.com/cert-manager/cert-manager"

type options struct {
	apiServerHost            string
	kubeconfig               string
	kubeAPIQPS               float32
	kubeAPIBurst             int
	namespace                string
	clusterResourceNamespace string

	leaderElect          bool
	leaderElectionNS     string
	leaseDuration        time.Duration
	renewDeadline        time.Duration
	retryPeriod          time.Duration
	healthzLeaderTimeout time.Duration

	controllers []string
	workers     int

	clusterIssuerAmbientCredentials bool
	issuerAmbientCredentials        bool
	enableCertificateOwnerRef       bool
	copiedAnnotationPrefixes        []string
	crMinBackoff                    time.Duration
	crMaxBackoff                    time.Duration
	featureGates                    map[string]bool

	metricsListenAddress string
	healthzListenAddress string

	version bool
	logging *logsapi.LoggingConfiguration
}

func newFlags(o *options) *pflag.FlagSet {
	fs := pflag.NewFlagSet("cert-manager-controller", pflag.ContinueOnError)
	fs.SortFlags = false

	fs.BoolVar(&o.version, "version", false, "Print the pinned cert-manager version and exit.")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "Path to a kubeconfig. Only required if out-of-cluster.")
	fs.StringVar(&o.apiServerHost, "master", "", "Optional apiserver host address; overrides the kubeconfig's server.")
	fs.Float32Var(&o.kubeAPIQPS, "kube-api-qps", 20, "Client-side QPS limit towards the apiserver (unused when API Priority and Fairness is on).")
	fs.IntVar(&o.kubeAPIBurst, "kube-api-burst", 50, "Client-side burst limit towards the apiserver.")
	fs.StringVar(&o.namespace, "namespace", "", "Limit cert-manager to one namespace; ClusterIssuers are then disabled.")
	fs.StringVar(&o.clusterResourceNamespace, "cluster-resource-namespace", "kube-system", "Namespace holding the Secrets that ClusterIssuers refer to.")

	fs.BoolVar(&o.leaderElect, "leader-elect", true, "Run leader election (a Lease named cert-manager-controller) before starting the controllers.")
	fs.StringVar(&o.leaderElectionNS, "leader-election-namespace", "kube-system", "Namespace of the leader election Lease.")
	fs.DurationVar(&o.leaseDuration, "leader-election-lease-duration", 60*time.Second, "Leader election lease duration.")
	fs.DurationVar(&o.renewDeadline, "leader-election-renew-deadline", 40*time.Second, "Leader election renew deadline.")
	fs.DurationVar(&o.retryPeriod, "leader-election-retry-period", 15*time.Second, "Leader election retry period.")
	fs.DurationVar(&o.healthzLeaderTimeout, "internal-healthz-leader-election-timeout", 20*time.Second, "How long after an expired lease /livez still answers healthy.")

	fs.StringSliceVar(&o.controllers, "controllers", []string{"*"}, fmt.Sprintf(
		"Controllers to run: '*' for all, 'foo' for just foo, '*,-foo' for all but foo.\nLinked into this binary: %s",
		strings.Join(knownControllers(), ", ")))
	fs.IntVar(&o.workers, "concurrent-workers", 5, "Number of concurrent workers for each controller.")

	fs.BoolVar(&o.clusterIssuerAmbientCredentials, "cluster-issuer-ambient-credentials", true, "Whether ClusterIssuers may use ambient credentials.")
	fs.BoolVar(&o.issuerAmbientCredentials, "issuer-ambient-credentials", false, "Whether Issuers may use ambient credentials.")
	fs.BoolVar(&o.enableCertificateOwnerRef, "enable-certificate-owner-ref", false, "Make each Certificate the owner of its Secret.")
	fs.StringSliceVar(&o.copiedAnnotationPrefixes, "copied-annotation-prefixes",
		[]string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
		"Annotation key prefixes copied from Certificate to CertificateRequest ('-' excludes).")
	fs.DurationVar(&o.crMinBackoff, "certificate-request-minimum-backoff-duration", time.Hour, "Minimum back-off after a failed CertificateRequest.")
	fs.DurationVar(&o.crMaxBackoff, "certificate-request-maximum-backoff-duration", 32*time.Hour, "Maximum back-off after failed CertificateRequests.")
	fs.Var(cliflag.NewMapStringBool(&o.featureGates), "feature-gates",
		"key=value pairs for cert-manager feature gates. Options are:\n"+
			strings.Join(utilfeature.DefaultFeatureGate.KnownFeatures(), "\n"))

	fs.StringVar(&o.metricsListenAddress, "metrics-listen-address", "127.0.0.1:9402", "host:port of the Prometheus /metrics server; '0' turns it off.")
	fs.StringVar(&o.healthzListenAddress, "internal-healthz-listen-address", "", "host:port of the /livez server; off when empty.")

	o.logging = logsapi.NewLoggingConfiguration()
	logf.AddFlags(o.logging, fs) // -v, --vmodule, --logging-format, ...
	return fs
}

func main() {
	os.Exit(run())
}

func run() int {
	setVersionFromBuildInfo()

	logf.InitLogs()
	defer logf.FlushLogs()

	var o options
	fs := newFlags(&o)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if o.version {
		v := util.VersionInfo()
		fmt.Printf("cert-manager controller %s (module %s %s, %s, %s)\n",
			v.GitVersion, certManagerModule, moduleVersion(), v.GoVersion, v.Platform)
		return 0
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %v\n", fs.Args())
		return 2
	}
	if err := logf.ValidateAndApply(o.logging); err != nil {
		fmt.Fprintf(os.Stderr, "logging flags: %v\n", err)
		return 2
	}
	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(o.featureGates); err != nil {
		fmt.Fprintf(os.Stderr, "--feature-gates: %v\n", err)
		return 2
	}
	enabled, err := enabledControllers(o.controllers, o.namespace)
	if err != nil {
		fmt.Fprintf(os.Stderr, "--controllers: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log, "controller")

	if err := runControllers(ctx, &o, enabled); err != nil {
		logf.Log.Error(err, "cert-manager controller exited with an error")
		return 1
	}
	return 0
}

// setVersionFromBuildInfo makes pkg/util report the linked cert-manager module
// version when no -ldflags -X ...pkg/util.AppVersion=... was given.
func setVersionFromBuildInfo() {
	if util.AppVersion == "canary" {
		if v := moduleVersion(); v != "" && v != "(devel)" {
			util.AppVersion = v
		}
	}
}

func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, d := range bi.Deps {
		if d.Path == certManagerModule {
			if d.Replace != nil {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return ""
}

func knownControllers() []string {
	names := make([]string, 0, len(controller.Known()))
	for n := range controller.Known() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func enabledControllers(list []string, namespace string) (sets.Set[string], error) {
	known := sets.New(knownControllers()...)
	enabled := sets.New[string]()
	var disabled []string
	for _, c := range list {
		c = strings.TrimSpace(c)
		name := strings.TrimPrefix(c, "-")
		switch {
		case c == "*":
			enabled.Insert(known.UnsortedList()...)
			continue
		case c == "":
			continue
		case !known.Has(name):
			return nil, fmt.Errorf("controller %q is not linked into this binary (have: %s)", name, strings.Join(knownControllers(), ", "))
		case strings.HasPrefix(c, "-"):
			disabled = append(disabled, name)
		default:
			enabled.Insert(name)
		}
	}
	if len(disabled) > 0 && enabled.Len() == 0 {
		enabled.Insert(known.UnsortedList()...)
	}
	if namespace != "" {
		enabled.Delete(clusterissuers.ControllerName)
	}
	enabled.Delete(disabled...)
	return enabled, nil
}

func runControllers(rootCtx context.Context, o *options, enabled sets.Set[string]) error {
	rootCtx, cancel := context.WithCancel(rootCtx)
	defer cancel()
	log := logf.FromContext(rootCtx)
	g, rootCtx := errgroup.WithContext(rootCtx)

	v := util.VersionInfo()
	log.Info("starting cert-manager controller", "version", v.GitVersion, "go_version", v.GoVersion, "platform", v.Platform)

	factory, err := controller.NewContextFactory(rootCtx, controller.ContextOptions{
		APIServerHost:      o.apiServerHost,
		Kubeconfig:         o.kubeconfig,
		KubernetesAPIQPS:   o.kubeAPIQPS,
		KubernetesAPIBurst: o.kubeAPIBurst,
		Namespace:          o.namespace,
		IssuerOptions: controller.IssuerOptions{
			ClusterResourceNamespace:        o.clusterResourceNamespace,
			ClusterIssuerAmbientCredentials: o.clusterIssuerAmbientCredentials,
			IssuerAmbientCredentials:        o.issuerAmbientCredentials,
		},
		CertificateOptions: controller.CertificateOptions{
			EnableOwnerRef:                           o.enableCertificateOwnerRef,
			CopiedAnnotationPrefixes:                 o.copiedAnnotationPrefixes,
			CertificateRequestMinimumBackoffDuration: o.crMinBackoff,
			CertificateRequestMaximumBackoffDuration: o.crMaxBackoff,
		},
	})
	if err != nil {
		return err
	}
	base, err := factory.Build()
	if err != nil {
		return err
	}
	log.Info("enabled controllers", "controllers", sets.List(enabled))

	// Metrics: the collectors for the resource kinds this binary manages.
	if o.metricsListenAddress != "0" && o.metricsListenAddress != "" {
		ln, err := (&net.ListenConfig{}).Listen(rootCtx, "tcp", o.metricsListenAddress)
		if err != nil {
			return fmt.Errorf("listening on metrics address %s: %w", o.metricsListenAddress, err)
		}
		cm := base.SharedInformerFactory.Certmanager().V1()
		base.Metrics.SetupCertificateCollector(cm.Certificates().Lister())
		base.Metrics.SetupIssuerCollector(cm.Issuers().Lister())
		if enabled.Has(clusterissuers.ControllerName) {
			base.Metrics.SetupClusterIssuerCollector(cm.ClusterIssuers().Lister())
		}
		srv := base.Metrics.NewServer(ln)
		log.Info("starting metrics server", "address", ln.Addr().String())
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			<-rootCtx.Done()
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			return srv.Shutdown(sctx)
		})
	}

	hz := healthz.NewServer(o.healthzLeaderTimeout)
	if o.healthzListenAddress != "" {
		ln, err := (&net.ListenConfig{}).Listen(rootCtx, "tcp", o.healthzListenAddress)
		if err != nil {
			return fmt.Errorf("listening on healthz address %s: %w", o.healthzListenAddress, err)
		}
		log.Info("starting healthz server", "address", ln.Addr().String())
		g.Go(func() error { return hz.Start(rootCtx, ln) })
	}

	elected := make(chan struct{})
	if o.leaderElect {
		g.Go(func() error { return leaderElect(rootCtx, o, factory, hz, elected) })
	} else {
		close(elected)
	}
	select {
	case <-rootCtx.Done():
		return g.Wait()
	case <-elected:
	}

	for _, name := range sets.List(enabled) {
		iface, err := controller.Known()[name](factory)
		if err != nil {
			cancel()
			_ = g.Wait()
			return fmt.Errorf("constructing controller %s: %w", name, err)
		}
		clog := log.WithValues("controller", name)
		g.Go(func() error {
			clog.Info("starting controller")
			return iface.Run(o.workers, rootCtx)
		})
	}

	base.SharedInformerFactory.Start(rootCtx.Done())
	base.KubeSharedInformerFactory.Start(rootCtx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(rootCtx.Done())

	err = g.Wait()
	base.HTTP01ResourceMetadataInformersFactory.Shutdown()
	base.KubeSharedInformerFactory.Shutdown()
	base.SharedInformerFactory.Shutdown()
	if err != nil {
		return err
	}
	log.Info("control loops exited")
	return nil
}

func leaderElect(ctx context.Context, o *options, factory *controller.ContextFactory, hz *healthz.Server, elected chan struct{}) error {
	lctx, err := factory.Build("leader-election")
	if err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("getting hostname: %w", err)
	}
	lock, err := resourcelock.NewWithLabels(resourcelock.LeasesResourceLock,
		o.leaderElectionNS, "cert-manager-controller",
		lctx.Client.CoreV1(), lctx.Client.CoordinationV1(),
		resourcelock.ResourceLockConfig{
			Identity:      fmt.Sprintf("%s-%d-external-cert-manager-controller", host, os.Getpid()),
			EventRecorder: lctx.Recorder,
		},
		map[string]string{"app.kubernetes.io/managed-by": "cert-manager"},
	)
	if err != nil {
		return fmt.Errorf("creating leader election lock: %w", err)
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   o.leaseDuration,
		RenewDeadline:   o.renewDeadline,
		RetryPeriod:     o.retryPeriod,
		ReleaseOnCancel: true,
		WatchDog:        hz.LeaderHealthzAdaptor,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(elected) },
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return err
	}
	le.Run(ctx) // returns when the context ends or the lease is lost
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("leader election lost")
}
