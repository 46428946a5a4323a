{{/*
Chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "drs-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or the release name when it already contains the chart name.
*/}}
{{- define "drs-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "drs-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: stable across upgrades (never add a version here).
*/}}
{{- define "drs-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "drs-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "drs-operator.labels" -}}
helm.sh/chart: {{ include "drs-operator.chart" . }}
{{ include "drs-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ include "drs-operator.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: drs-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "drs-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "drs-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "drs-operator.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "drs-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "drs-operator.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
The namespaces the operator watches in namespaced mode, as a list (JSON-encoded,
since templates can only return strings): watchNamespaces, or the release namespace.
*/}}
{{- define "drs-operator.watchNamespaces" -}}
{{- if .Values.watchNamespaces }}
{{- .Values.watchNamespaces | uniq | toJson }}
{{- else }}
{{- list .Release.Namespace | toJson }}
{{- end }}
{{- end }}

{{/*
The namespaces a credentials Secret made from values is written to.
*/}}
{{- define "drs-operator.credentialsNamespaces" -}}
{{- if .Values.clusterWide }}
{{- if .Values.credentials.namespaces }}
{{- .Values.credentials.namespaces | uniq | toJson }}
{{- else }}
{{- list .Release.Namespace | toJson }}
{{- end }}
{{- else }}
{{- include "drs-operator.watchNamespaces" . }}
{{- end }}
{{- end }}

{{- define "drs-operator.credentialsName" -}}
{{- default .Values.operator.defaultCredentials .Values.credentials.name }}
{{- end }}

{{/*
The label that puts a DrsJob into a shard (drs.operators.dev/shard: <shard>);
operator pods carry it too, with their shard's name ("default" for the main one).
*/}}
{{- define "drs-operator.shardLabel" -}}
drs.operators.dev/shard
{{- end }}

{{/*
The operator instances, as a JSON list: the main one (shard "default": every
DrsJob not labelled into a listed shard, unlabelled ones included) and one per
name in .Values.shards (the DrsJobs labelled <shardLabel>=<name>). Each has its
Deployment, metrics Service, PodDisruptionBudget and Lease, all named
<fullname> (main) or <fullname>-<shard>, and its label selector.
*/}}
{{- define "drs-operator.instances" -}}
{{- $full := include "drs-operator.fullname" . }}
{{- $key := include "drs-operator.shardLabel" . }}
{{- $main := dict "name" $full "shard" "default" "sharded" false "selector" "" }}
{{- if .Values.shards }}
{{- $_ := set $main "selector" (printf "%s notin (%s)" $key (join "," .Values.shards)) }}
{{- end }}
{{- $instances := list $main }}
{{- range .Values.shards }}
{{- $name := printf "%s-%s" ($full | trunc 38 | trimSuffix "-") . }}
{{- $instances = append $instances (dict "name" $name "shard" . "sharded" true "selector" (printf "%s=%s" $key .)) }}
{{- end }}
{{- toJson $instances }}
{{- end }}

{{/*
The container env that differs between instances: leader election and its
Lease, the shard's selector, and the pod's name (the Lease holder's identity).
Called with (dict "root" $ "instance" $instance).
*/}}
{{- define "drs-operator.instanceEnv" -}}
{{- $root := .root }}
- name: DRS_OPERATOR_LEADER_ELECTION
  value: {{ $root.Values.leaderElection.enabled | quote }}
{{- if $root.Values.leaderElection.enabled }}
- name: DRS_OPERATOR_LEASE_NAME
  value: {{ .instance.name | quote }}
- name: DRS_OPERATOR_LEASE_NAMESPACE
  value: {{ $root.Release.Namespace | quote }}
{{- end }}
{{- with .instance.selector }}
- name: DRS_OPERATOR_SELECTOR
  value: {{ . | quote }}
{{- end }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}

{{/*
Fails on combinations the schema cannot express clearly.
*/}}
{{- define "drs-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount above 1 needs leaderElection.enabled: without it every replica would call DRS and write the same DrsJobs" }}
{{- end }}
{{- if has "default" .Values.shards }}
{{- fail "shards: \"default\" is the main Deployment's shard (unlabelled DrsJobs); name the shards otherwise" }}
{{- end }}
{{- if and .Values.clusterWide .Values.watchNamespaces }}
{{- fail "clusterWide: true and watchNamespaces exclude each other: set one of them" }}
{{- end }}
{{- if and .Values.credentials.namespaces (not .Values.clusterWide) }}
{{- fail "credentials.namespaces is only used with clusterWide: true; in namespaced mode the Secret goes to each watched namespace" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled: the ServiceMonitor scrapes that Service" }}
{{- end }}
{{- if .Values.credentials.create }}
{{- $c := .Values.credentials }}
{{- $methods := 0 }}
{{- if $c.token }}{{ $methods = add1 $methods }}{{ end }}
{{- if or $c.accessKey $c.secretKey }}
{{- if not (and $c.accessKey $c.secretKey) }}
{{- fail "credentials: accessKey and secretKey go together" }}
{{- end }}
{{- $methods = add1 $methods }}
{{- end }}
{{- if or $c.username $c.password $c.domain }}
{{- if not (and $c.username $c.password $c.domain) }}
{{- fail "credentials: username, password and domain go together" }}
{{- end }}
{{- $methods = add1 $methods }}
{{- end }}
{{- if ne (int $methods) 1 }}
{{- fail "credentials.create: give exactly one of token, accessKey+secretKey, or username+password+domain" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Operator settings as container env: each key of .Values.operator becomes
DRS_OPERATOR_<KEY_IN_UPPER_SNAKE_CASE>. Numbers go through toJson so large
integers are not written in exponent form; empty strings are left out (the
operator's default applies).
*/}}
{{- define "drs-operator.settingsEnv" -}}
{{- range $key, $value := .Values.operator }}
{{- if not (and (kindIs "string" $value) (eq $value "")) }}
- name: DRS_OPERATOR_{{ $key | snakecase | upper }}
  value: {{ if kindIs "string" $value }}{{ $value | quote }}{{ else if kindIs "slice" $value }}{{ join "," $value | quote }}{{ else }}{{ $value | toJson | quote }}{{ end }}
{{- end }}
{{- end }}
{{- if .Values.clusterWide }}
- name: DRS_OPERATOR_ALL_NAMESPACES
  value: "true"
{{- else }}
- name: DRS_OPERATOR_NAMESPACES
  value: {{ include "drs-operator.watchNamespaces" . | fromJsonArray | join "," | quote }}
{{- end }}
{{- end }}
