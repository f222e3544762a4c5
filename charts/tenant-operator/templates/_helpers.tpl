{{/* Name of the release's namespaced objects. */}}
{{- define "tenant-operator.fullname" -}}
{{- default "tenant-operator" .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object of the chart. */}}
{{- define "tenant-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: tenant-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: tenant-operator
{{- end -}}

{{/* Selector labels of the operator's pods. */}}
{{- define "tenant-operator.selectorLabels" -}}
app.kubernetes.io/name: tenant-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{/* The user name the API server gives the operator's ServiceAccount (exempted by the admission policies). */}}
{{- define "tenant-operator.username" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace .Values.serviceAccount.name -}}
{{- end -}}

{{/* The operator image: by digest when one is given. */}}
{{- define "tenant-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
Objects read verbatim from the repository (files/ links to policies/), one document at a time, with the
chart's labels added. Parsing and re-serialising (rather than pasting text) guarantees
that every document is valid YAML and carries the labels.
Arguments: (dict "root" $ "path" "files/..." "replace" (dict "from" "to") "keep" true); with
"keep", each object is annotated helm.sh/resource-policy: keep (it survives `helm uninstall`).
*/}}
{{- define "tenant-operator.copyDocuments" -}}
{{- $root := .root -}}
{{- $text := $root.Files.Get .path -}}
{{- range $from, $to := (.replace | default dict) }}
{{- $text = replace $from $to $text -}}
{{- end }}
{{- range $doc := regexSplit "(?m)^---[ \\t]*$" $text -1 }}
{{- $obj := fromYaml $doc }}
{{- if hasKey $obj "Error" }}
{{- fail (printf "%s: %s" $.path (get $obj "Error")) }}
{{- end }}
{{- if $obj.kind }}
{{- $labels := merge (dict) (default (dict) $obj.metadata.labels) (include "tenant-operator.labels" $root | fromYaml) }}
{{- $_ := set $obj.metadata "labels" $labels }}
{{- if $.keep }}
{{- $annotations := merge (dict) (default (dict) $obj.metadata.annotations) (dict "helm.sh/resource-policy" "keep") }}
{{- $_ := set $obj.metadata "annotations" $annotations }}
{{- end }}
{{- if and (eq $obj.kind "ValidatingAdmissionPolicyBinding") $.bindingActions }}
{{- $_ := set $obj.spec "validationActions" $.bindingActions }}
{{- end }}
---
{{ toYaml $obj }}
{{- end }}
{{- end }}
{{- end -}}
