{{/* Chart name, truncated to fit label values. */}}
{{- define "byoc-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: the release name, prefixed with the chart name unless it contains it. */}}
{{- define "byoc-operator.fullname" -}}
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

{{- define "byoc-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the controller pods; never change them between releases. */}}
{{- define "byoc-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "byoc-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "byoc-operator.labels" -}}
helm.sh/chart: {{ include "byoc-operator.chart" . }}
{{ include "byoc-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: byoc-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "byoc-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "byoc-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "byoc-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* "true" when the replicas must elect a leader: always with more than one, or when asked. */}}
{{- define "byoc-operator.leaderElection" -}}
{{- if or (gt (int .Values.replicas) 1) .Values.leaderElection.enabled }}true{{ end }}
{{- end }}

{{/* Fails the render on combinations the schema cannot express. */}}
{{- define "byoc-operator.validate" -}}
{{- if and .Values.rbac.namespaced (not .Values.watchNamespaces) }}
{{- fail "rbac.namespaced is true but watchNamespaces is empty: list the namespaces to watch, e.g. --set 'watchNamespaces={team-a,team-b}'" }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (not (kindIs "invalid" .Values.podDisruptionBudget.minAvailable)) (not (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) }}
{{- fail "podDisruptionBudget: set either minAvailable or maxUnavailable (set the other to null)" }}
{{- end }}
{{- end }}

{{/*
RBAC rules for the namespaced resources the controller uses. Rendered into the ClusterRole when the
controller watches every namespace, and into a Role per watched namespace in namespaced mode.
*/}}
{{- define "byoc-operator.namespacedRules" -}}
# Watch CloudServices, the objects the controller reconciles, and patch them to add and remove
# its finalizer (AWS resources are deleted before the object goes).
- apiGroups: [byoc.dev]
  resources: [cloudservices]
  verbs: [get, list, watch, patch]
# Report conditions, URL, rollout and AWS resources in each CloudService's status.
- apiGroups: [byoc.dev]
  resources: [cloudservices/status]
  verbs: [patch]
# Clusters with the OwnerReferencesPermissionEnforcement admission plugin require this to set
# finalizers on CloudServices.
- apiGroups: [byoc.dev]
  resources: [cloudservices/finalizers]
  verbs: [update]
{{- if .Values.secretEnv }}
# Read the Secrets that CloudService env refers to (secretKeyRef), to copy their values into AWS
# Secrets Manager. Read-only; absent when secretEnv is false.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
{{- end }}
# Record Events when a service's state changes (events.k8s.io/v1, and core v1 for older clients).
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}
