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
Fails on combinations the schema cannot express clearly.
*/}}
{{- define "drs-operator.validate" -}}
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
