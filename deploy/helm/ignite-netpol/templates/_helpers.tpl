{{- define "ignite-netpol.name" -}}{{ .Release.Name }}{{- end -}}
{{- define "ignite-netpol.selector" -}}
app.kubernetes.io/name: ignite-netpol
{{- end -}}
{{- define "ignite-netpol.labels" -}}
app.kubernetes.io/name: ignite-netpol
app.kubernetes.io/part-of: ignite-netpol
{{- end -}}
{{- define "ignite-netpol.dnsNames" -}}
- {{ .Release.Name }}.{{ .Release.Namespace }}.svc
- {{ .Release.Name }}
- {{ .Release.Name }}.{{ .Release.Namespace }}
- {{ .Release.Name }}.{{ .Release.Namespace }}.svc.cluster.local
{{- end -}}
{{- define "ignite-netpol.webhookCommon" -}}
admissionReviewVersions: [v1]
sideEffects: None
timeoutSeconds: {{ .root.Values.timeoutSeconds }}
failurePolicy: {{ .failurePolicy }}
matchPolicy: Equivalent
clientConfig:
  caBundle: {{ .caBundle | quote }}
  service: {name: {{ .root.Release.Name }}, namespace: {{ .root.Release.Namespace }}, path: {{ .path }}, port: 443}
{{- end -}}
{{- define "ignite-netpol.networkPolicyRules" -}}
rules:
- apiGroups: [networking.k8s.io]
  apiVersions: [v1]
  operations: [CREATE, UPDATE, DELETE]
  resources: [networkpolicies]
  scope: Namespaced
{{- end -}}
{{- define "ignite-netpol.webhook" -}}
{{ include "ignite-netpol.webhookCommon" (dict "root" .root "path" .path "caBundle" .caBundle "failurePolicy" .root.Values.failurePolicy) }}
namespaceSelector:
  matchExpressions:
  - key: {{ .root.Values.modeLabel }}
    operator: In
    values: {{ toJson .root.Values.modes }}
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values: {{ toJson (append .root.Values.excludedNamespaces .root.Release.Namespace) }}
  {{- range .root.Values.namespaceSelectorExpressions }}
  - {{ toJson . }}
  {{- end }}
{{ include "ignite-netpol.networkPolicyRules" . }}
{{- end -}}
