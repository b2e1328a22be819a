{{/* The chart's name ("spectrus" unless nameOverride). */}}
{{- define "spectrus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every object's name: "<release>-<name>", or just the release when it already
contains the name. Kept short enough for the suffixes below ("-postgresql", "-operator").
*/}}
{{- define "spectrus.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "spectrus.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "spectrus.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object of the release carries besides its name and component. */}}
{{- define "spectrus.commonLabels" -}}
helm.sh/chart: {{ include "spectrus.chart" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: spectrus
{{- end -}}

{{/* Labels of chart-wide objects (RBAC, dashboards, monitors). */}}
{{- define "spectrus.labels" -}}
app.kubernetes.io/name: {{ include "spectrus.name" . }}
{{ include "spectrus.commonLabels" . }}
{{- end -}}

{{/*
The operator's. Its pods must carry exactly app.kubernetes.io/name: spectrus-operator: the
NetworkPolicy the operator gives every community's media pods lets only pods with that
label (in any namespace) reach the media control port, which the operator drains nodes by.
*/}}
{{- define "spectrus.operator.fullname" -}}
{{- printf "%s-operator" (include "spectrus.fullname" .) -}}
{{- end -}}

{{- define "spectrus.operator.selectorLabels" -}}
app.kubernetes.io/name: spectrus-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "spectrus.operator.labels" -}}
app.kubernetes.io/name: spectrus-operator
app.kubernetes.io/component: operator
{{ include "spectrus.commonLabels" . }}
{{- end -}}

{{- define "spectrus.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (include "spectrus.operator.fullname" .) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "spectrus.operator.image" -}}
{{- printf "%s/spectrus-operator:%s" .Values.operator.image.registry (.Values.operator.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
What the operator calls the API for, and nothing more: kopf watches and patches
Communities (finalizer, bookkeeping annotations) and posts Events; the reconcile applies,
lists and deletes the children (server-side apply is a PATCH that also creates), writes
status, and watches the kinds whose changes poke a reconcile.
*/}}
{{- define "spectrus.operator.rules" -}}
- apiGroups: [spectrus.io]
  resources: [communities]
  verbs: [get, list, watch, patch, update]
- apiGroups: [spectrus.io]
  resources: [communities/status]
  verbs: [get, patch, update]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [""]
  resources: [configmaps, secrets, services, pods]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [networking.k8s.io]
  resources: [ingresses, networkpolicies]
  verbs: [get, list, watch, create, patch, delete]
{{- end -}}

{{/* kopf notices CRDs being (re)created cluster-wide, whatever namespaces it serves. */}}
{{- define "spectrus.operator.crdRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [get, list, watch]
{{- end -}}

{{/* In-chart Redis and PostgreSQL. */}}
{{- define "spectrus.redis.fullname" -}}
{{- printf "%s-redis" (include "spectrus.fullname" .) -}}
{{- end -}}

{{- define "spectrus.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "spectrus.fullname" .) -}}
{{- end -}}

{{/*
A password generated once: the one already in the Secret when it exists (lookup answers
during install/upgrade against a cluster), else a new random one.
Call with (dict "ctx" $ "secret" NAME "key" KEY).
*/}}
{{- define "spectrus.persistentPassword" -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}

{{/* Pod and container security contexts for the restricted Pod Security Standard. */}}
{{- define "spectrus.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Call with (dict "uid" N). */}}
{{- define "spectrus.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}
