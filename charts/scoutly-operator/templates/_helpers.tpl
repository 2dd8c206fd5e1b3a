{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "scoutly-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name, plus the chart name unless the release already contains it. */}}
{{- define "scoutly-operator.fullname" -}}
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

{{- define "scoutly-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels on every object of the chart (the CRD template uses them too). */}}
{{- define "scoutly-operator.labels" -}}
helm.sh/chart: {{ include "scoutly-operator.chart" . }}
{{ include "scoutly-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: scoutly
{{- end }}

{{- define "scoutly-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "scoutly-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The operator's ServiceAccount. */}}
{{- define "scoutly-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "scoutly-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator image (also the default scrape image: one image runs both commands). */}}
{{- define "scoutly-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Namespaces the operator watches, one per line; empty with watchAllNamespaces (the whole cluster). */}}
{{- define "scoutly-operator.watchNamespaces" -}}
{{- if not .Values.watchAllNamespaces }}
{{- range (.Values.watchNamespaces | default (list .Release.Namespace)) }}
{{ . }}
{{- end }}
{{- end }}
{{- end }}

{{/* Namespaces where ScrapeTargets live (scrape ServiceAccount, NetworkPolicy), one per line. */}}
{{- define "scoutly-operator.targetNamespaces" -}}
{{- $watched := ternary (list) .Values.watchNamespaces .Values.watchAllNamespaces }}
{{- $ns := .Values.targetNamespaces | default $watched | default (list .Release.Namespace) }}
{{- range $ns }}
{{ . }}
{{- end }}
{{- end }}

{{/* The operator's RBAC rules, derived from the API calls in operator/scoutly (see docs/install.md). */}}
{{- define "scoutly-operator.rules" -}}
# kopf watches ScrapeTargets (list+watch); the controller re-reads one before acting on an orphan Job (get)
- apiGroups: ["scoutly.io"]
  resources: ["scrapetargets"]
  verbs: ["get", "list", "watch"]
# status written with a merge patch on the status subresource only
- apiGroups: ["scoutly.io"]
  resources: ["scrapetargets/status"]
  verbs: ["patch"]
# Jobs carry an ownerReference with blockOwnerDeletion: clusters with the
# OwnerReferencesPermissionEnforcement admission plugin (e.g. OpenShift) require update on finalizers
- apiGroups: ["scoutly.io"]
  resources: ["scrapetargets/finalizers"]
  verbs: ["update"]
# kopf watches and indexes the scrape Jobs (list+watch); dispatch (create, get after AlreadyExists),
# finalizer release (get, json patch), history limits (delete)
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# the run summary is the scrape container's termination message (pods listed by job-name)
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
# Events on ScrapeTargets, on transitions
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/* Namespace of the ScrapeTargets the preference sync manages (docs/sync.md). */}}
{{- define "scoutly-operator.syncNamespace" -}}
{{- .Values.sync.namespace | default (include "scoutly-operator.targetNamespaces" . | trim | splitList "\n" | first) }}
{{- end }}

{{/* "true" when the operator runs the preference sync itself (sync.inOperator.interval is not zero). */}}
{{- define "scoutly-operator.inOperatorSync" -}}
{{- if not (regexMatch "^(0+(\\.0+)?(ms|s|m|h|d))+$" .Values.sync.inOperator.interval) }}true{{ end }}
{{- end }}

{{/* The leader-election Lease: one per release, in the release namespace. */}}
{{- define "scoutly-operator.leaseName" -}}
{{- include "scoutly-operator.fullname" . }}
{{- end }}

{{/* What the preference sync does to ScrapeTargets (operator/scoutly/sync/run.py): one paginated list, then
server-side apply (a PATCH; when it creates a missing target the API server also checks create). No get. */}}
{{- define "scoutly-operator.syncRules" -}}
- apiGroups: ["scoutly.io"]
  resources: ["scrapetargets"]
  verbs: ["list", "create", "patch"]
{{- end }}

{{/* Names of the scrape image's pull Secrets, comma-separated (SCOUTLY_SCRAPE_IMAGE_PULL_SECRETS). */}}
{{- define "scoutly-operator.scrapePullSecrets" -}}
{{- $names := list }}
{{- range .Values.scrapeJobs.imagePullSecrets }}
{{- $names = append $names .name }}
{{- end }}
{{- join "," $names }}
{{- end }}

{{/* IPv4 ranges scrape pods may not reach: blocked, cluster and API server ranges, and always link-local
(169.254.0.0/16: the cloud metadata address). One list, without duplicates. */}}
{{- define "scoutly-operator.excludedCidrs" -}}
{{- $np := .Values.networkPolicy }}
{{- concat ($np.blockedCidrs | default list) ($np.clusterCidrs | default list) ($np.apiServerCidrs | default list) (list "169.254.0.0/16") | uniq | toYaml }}
{{- end }}
