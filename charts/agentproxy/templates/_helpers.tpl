{{/*
Names. The defaults match the operator's own defaults when the release is called
"agentproxy": MutatingWebhookConfiguration "agentproxy", Service "agentproxy-webhook".
*/}}
{{- define "agentproxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agentproxy.fullname" -}}
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

{{- define "agentproxy.webhookServiceName" -}}
{{- printf "%s-webhook" (include "agentproxy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agentproxy.metricsServiceName" -}}
{{- printf "%s-metrics" (include "agentproxy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agentproxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "agentproxy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret cert-manager writes the webhook's serving certificate to. */}}
{{- define "agentproxy.certificateSecretName" -}}
{{- printf "%s-webhook-cert" (include "agentproxy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agentproxy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The standard labels, on every object. */}}
{{- define "agentproxy.labels" -}}
helm.sh/chart: {{ include "agentproxy.chart" . }}
{{ include "agentproxy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: agentproxy
{{- end }}

{{/* The labels that select the operator's pods: stable across upgrades. */}}
{{- define "agentproxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentproxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "agentproxy.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
