{{/* Names: <release> (or <release>-meshid), its CA and agent. */}}
{{- define "meshid.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 60 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 60 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 60 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "meshid.caName" -}}{{ include "meshid.fullname" . }}-ca{{- end -}}
{{- define "meshid.agentName" -}}{{ include "meshid.fullname" . }}-agent{{- end -}}

{{- define "meshid.caServiceAccount" -}}{{ .Values.ca.serviceAccount.name | default (include "meshid.caName" .) }}{{- end -}}
{{- define "meshid.agentServiceAccount" -}}{{ .Values.agent.serviceAccount.name | default (include "meshid.agentName" .) }}{{- end -}}

{{/* The CA's in-cluster DNS name, which agents dial and check its certificate against. */}}
{{- define "meshid.caHost" -}}{{ include "meshid.caName" . }}.{{ .Release.Namespace }}.svc{{- end -}}

{{- define "meshid.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}

{{/* Labels; call with (dict "ctx" $ "component" "ca"|"agent"). */}}
{{- define "meshid.selectorLabels" -}}
app.kubernetes.io/name: {{ default .ctx.Chart.Name .ctx.Values.nameOverride | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{- define "meshid.labels" -}}
{{ include "meshid.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: meshid
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Audiences the CA accepts: the configured ones, the agent's token audience, istio-agent's. */}}
{{- define "meshid.audiences" -}}
{{- $audiences := concat .Values.kubernetes.audiences (list .Values.agent.token.audience) -}}
{{- if .Values.istio.enabled }}{{ $audiences = append $audiences "istio-ca" }}{{ end -}}
{{- toJson (uniq $audiences) -}}
{{- end -}}

{{/* Namespaces the bundle ConfigMap goes to: [] (all), or the listed ones plus the release namespace. */}}
{{- define "meshid.bundleNamespaces" -}}
{{- $namespaces := .Values.bundleConfigMap.namespaces -}}
{{- if $namespaces }}{{ $namespaces = append $namespaces .Release.Namespace | uniq }}{{ end -}}
{{- toJson $namespaces -}}
{{- end -}}

{{- define "meshid.certManagerNamespace" -}}{{ .Values.upstream.certManager.namespace | default .Release.Namespace }}{{- end -}}

{{/* Where the CA's pod sees upstream credentials (volumes in ca-statefulset.yaml). */}}
{{- define "meshid.upstreamDir" -}}/etc/meshid/upstream{{- end -}}

{{- define "meshid.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "meshid.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* ca.upstream of meshid.yaml: the keys of plugins/upstream/<type>/config.ts. */}}
{{- define "meshid.upstreamConfig" -}}
{{- $u := .Values.upstream -}}
{{- $dir := include "meshid.upstreamDir" . -}}
{{- if eq $u.type "self-signed" -}}
type: self-signed
{{- else if eq $u.type "files" -}}
type: files
dir: {{ $dir }}/files
{{- else if eq $u.type "vault" -}}
{{- $v := $u.vault -}}
type: vault
address: {{ $v.address | toJson }}
pkiMount: {{ $v.pkiMount | toJson }}
{{- with $v.namespace }}
namespace: {{ . | toJson }}
{{- end }}
{{- with $v.timeout }}
timeout: {{ . | toJson }}
{{- end }}
{{- if $v.caSecret.name }}
caFile: {{ $dir }}/vault-ca/{{ $v.caSecret.key }}
{{- end }}
auth:
  method: {{ $v.auth.method }}
{{- if eq $v.auth.method "kubernetes" }}
  role: {{ $v.auth.kubernetes.role | toJson }}
  mount: {{ $v.auth.kubernetes.mount | toJson }}
{{- if $v.auth.kubernetes.audience }}
  tokenFile: {{ $dir }}/vault-token/token
{{- end }}
{{- else if eq $v.auth.method "token" }}
  tokenFile: {{ $dir }}/vault-token/{{ $v.auth.token.key }}
{{- else }}
  roleId: {{ $v.auth.approle.roleId | toJson }}
  mount: {{ $v.auth.approle.mount | toJson }}
{{- if $v.auth.approle.secretIdSecret.name }}
  secretIdFile: {{ $dir }}/vault-secret-id/{{ $v.auth.approle.secretIdSecret.key }}
{{- end }}
{{- end }}
{{- else -}}
{{- $c := $u.certManager -}}
type: cert-manager
namespace: {{ include "meshid.certManagerNamespace" . }}
issuerName: {{ $c.issuerName | toJson }}
issuerKind: {{ $c.issuerKind | toJson }}
issuerGroup: {{ $c.issuerGroup | toJson }}
timeout: {{ $c.timeout | toJson }}
{{- end -}}
{{- end -}}

{{/* meshid.yaml of the CA, before ca.extraConfig: keys of ca-server/config.ts. */}}
{{- define "meshid.caConfig" -}}
{{- $ca := include "meshid.caName" . -}}
{{- $ns := .Release.Namespace -}}
{{- $dnsNames := list $ca (printf "%s.%s" $ca $ns) (include "meshid.caHost" .) (printf "%s.%s.svc.%s" $ca $ns .Values.clusterDomain) -}}
{{- if .Values.istio.istiodDnsName }}{{ $dnsNames = append $dnsNames "istiod.istio-system.svc" }}{{ end -}}
trustDomain: {{ .Values.trustDomain | toJson }}
logLevel: {{ .Values.logLevel }}
# On the volume, below its root: kubelet's fsGroup pass (OnRootMismatch) then never touches meshid's 0600 keys.
dataDir: /var/lib/meshid/ca
listen:
  grpc: "0.0.0.0:15012"
  metrics: "0.0.0.0:15014"
  adminSocket: /run/meshid/admin.sock
serverDnsNames: {{ concat $dnsNames .Values.ca.serverDnsNames | uniq | toJson }}
svid:
  defaultTtl: {{ .Values.ca.svid.defaultTtl | toJson }}
  maxTtl: {{ .Values.ca.svid.maxTtl | toJson }}
ca:
  keyAlgorithm: {{ .Values.ca.keyAlgorithm }}
  upstream:
    {{- include "meshid.upstreamConfig" . | nindent 4 }}
kubernetes:
  mode: {{ .Values.kubernetes.mode }}
  audiences: {{ include "meshid.audiences" . }}
  trustedNodeAccounts: {{ list (printf "%s/%s" $ns (include "meshid.agentServiceAccount" .)) | toJson }}
{{- if eq .Values.kubernetes.mode "jwt" }}
{{- $jwt := .Values.kubernetes.jwt }}
  issuer: {{ $jwt.issuer | toJson }}
{{- if $jwt.oidcDiscoveryUrl }}
  oidcDiscoveryUrl: {{ $jwt.oidcDiscoveryUrl | toJson }}
  caFile: {{ $jwt.caFile | toJson }}
{{- else }}
  jwksFile: /etc/meshid/jwks/{{ $jwt.jwksConfigMap.key }}
{{- end }}
{{- end }}
  bundleConfigMap:
    enabled: {{ .Values.bundleConfigMap.enabled }}
    name: {{ .Values.bundleConfigMap.name | toJson }}
    key: {{ .Values.bundleConfigMap.key | toJson }}
    namespaces: {{ include "meshid.bundleNamespaces" . }}
policies:
  kubernetes: {{ .Values.policies.kubernetes }}
  rootNamespace: {{ .Values.policies.rootNamespace | toJson }}
{{- end -}}

{{/* agent.yaml of the node agent, before agent.extraConfig: keys of node-agent/config.ts. */}}
{{- define "meshid.agentConfig" -}}
mode: k8s
logLevel: {{ .Values.logLevel }}
server:
  address: {{ include "meshid.caHost" . }}:15012
  tlsServerName: {{ include "meshid.caHost" . }}
  trustBundleFile: /etc/meshid-bundle/{{ .Values.bundleConfigMap.key }}
socketDir: {{ .Values.agent.socketDir | toJson }}
kubernetes:
  tokenFile: /var/run/secrets/tokens/meshid-agent
listen:
  # Not loopback: kubelet probes and Prometheus reach /readyz, /healthz and /metrics on the pod IP.
  ops: "0.0.0.0:15020"
{{- end -}}
