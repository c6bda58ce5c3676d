{{/*
Names. Every resource name starts with the full name, which contains the release name, so two
releases in one namespace never collide (unless fullnameOverride is set to the same value).
*/}}
{{- define "promptops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "promptops.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "promptops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "promptops.labels" -}}
helm.sh/chart: {{ include "promptops.chart" . }}
{{ include "promptops.selectorLabels" . }}
app.kubernetes.io/version: {{ include "promptops.imageTag" . | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: promptops
{{- end -}}

{{/* Labels selecting every pod of this release (server and migration Job). */}}
{{- define "promptops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "promptops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels selecting the server pods of this release only. */}}
{{- define "promptops.serverSelectorLabels" -}}
{{ include "promptops.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "promptops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "promptops.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "promptops.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "promptops.image" -}}
{{- $ref := printf "%s:%s" .Values.image.repository (include "promptops.imageTag" .) -}}
{{- if .Values.image.digest -}}
{{- $ref = printf "%s@%s" $ref .Values.image.digest -}}
{{- end -}}
{{- $ref -}}
{{- end -}}

{{/* Effective migration mode: job, initContainer or none. */}}
{{- define "promptops.migrationMode" -}}
{{- if eq .Values.migrations.mode "auto" -}}
{{- if eq .Values.database.type "sqlite" -}}initContainer{{- else -}}job{{- end -}}
{{- else -}}
{{- .Values.migrations.mode -}}
{{- end -}}
{{- end -}}

{{- define "promptops.sqliteUrl" -}}sqlite:///data/promptops.db{{- end -}}

{{- define "promptops.pvcName" -}}
{{- default (printf "%s-data" (include "promptops.fullname" .)) .Values.database.sqlite.persistence.existingClaim -}}
{{- end -}}

{{/* Secret and key holding the PostgreSQL URL for the server pods. */}}
{{- define "promptops.databaseSecretName" -}}
{{- default (include "promptops.fullname" .) .Values.database.postgres.existingSecret -}}
{{- end -}}
{{- define "promptops.databaseSecretKey" -}}
{{- if .Values.database.postgres.existingSecret -}}{{ .Values.database.postgres.existingSecretKey }}{{- else -}}database-url{{- end -}}
{{- end -}}

{{/* Secret and keys holding the JWT secret and the admin token. */}}
{{- define "promptops.authSecretName" -}}
{{- default (include "promptops.fullname" .) .Values.auth.existingSecret -}}
{{- end -}}
{{- define "promptops.jwtSecretKey" -}}
{{- if .Values.auth.existingSecret -}}{{ .Values.auth.jwtSecretKey }}{{- else -}}jwt-secret{{- end -}}
{{- end -}}
{{- define "promptops.adminTokenKey" -}}
{{- if .Values.auth.existingSecret -}}{{ .Values.auth.adminTokenKey }}{{- else -}}admin-token{{- end -}}
{{- end -}}
{{- define "promptops.metricsTokenKey" -}}
{{- if .Values.auth.existingSecret -}}{{ .Values.auth.metricsTokenKey }}{{- else -}}metrics-token{{- end -}}
{{- end -}}

{{/*
Database URL environment variable, for the server, the init container and the migration Job.
Argument: a dict with "root" (the top context) and "secretName" (overrides the Secret holding a
chart-managed URL; the migration hook Job uses its own hook Secret).
*/}}
{{- define "promptops.databaseEnv" -}}
{{- $root := .root -}}
- name: PROMPTOPS_DATABASE_URL
{{- if eq $root.Values.database.type "sqlite" }}
  value: {{ include "promptops.sqliteUrl" $root | quote }}
{{- else }}
  valueFrom:
    secretKeyRef:
      name: {{ if $root.Values.database.postgres.existingSecret }}{{ $root.Values.database.postgres.existingSecret }}{{ else }}{{ default (include "promptops.fullname" $root) .secretName }}{{ end }}
      key: {{ include "promptops.databaseSecretKey" $root }}
{{- end }}
{{- end -}}

{{/* Container security context, shared by every container. */}}
{{- define "promptops.containerSecurityContext" -}}
{{- toYaml .Values.securityContext -}}
{{- end -}}

{{/* The rendered PROMPTOPS_LOG etc. that the migration Job also uses. */}}
{{- define "promptops.logEnv" -}}
- name: PROMPTOPS_LOG
  value: {{ .Values.server.logLevel | quote }}
- name: PROMPTOPS_LOG_FORMAT
  value: {{ .Values.server.logFormat | quote }}
{{- end -}}

{{/*
Checks of combinations that values.schema.json cannot express. Each failure names the values to
change. Included by every template that the server needs, so `helm template`, `helm lint`,
`helm install` and `helm upgrade` all stop before anything is applied.
*/}}
{{- define "promptops.validate" -}}
{{- $v := .Values -}}
{{- /* Quantities must be positive: a zero or negative request/limit makes no sense. */ -}}
{{- $quantities := dict "tmpVolume.sizeLimit" $v.tmpVolume.sizeLimit "database.sqlite.persistence.size" $v.database.sqlite.persistence.size "autoscaling.customMetric.targetAverageValue" $v.autoscaling.customMetric.targetAverageValue -}}
{{- range $section, $res := dict "resources" $v.resources "migrations.resources" $v.migrations.resources -}}
{{- range $kind := list "requests" "limits" -}}
{{- range $name, $q := (get ($res | default dict) $kind | default dict) -}}
{{- $_ := set $quantities (printf "%s.%s.%s" $section $kind $name) $q -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $path, $q := $quantities -}}
{{- if not (kindIs "invalid" $q) -}}
{{- $s := toString $q | trim -}}
{{- if or (hasPrefix "-" $s) (regexMatch "^[+]?[0.]+([eE][+-]?[0-9]+)?[a-zA-Z]*$" $s) -}}
{{- fail (printf "\n\n%s must be a positive quantity (like 100m, 0.5, 128Mi or 1Gi), but it is %q." $path $s) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $sqlite := eq $v.database.type "sqlite" -}}
{{- if and $sqlite (gt (int $v.replicaCount) 1) -}}
{{- fail (printf "\n\ndatabase.type=sqlite supports exactly one replica, but replicaCount=%d.\nSQLite is a single file on a ReadWriteOnce volume: use database.type=postgres to run several replicas, or set replicaCount=1." (int $v.replicaCount)) -}}
{{- end -}}
{{- if and $sqlite $v.autoscaling.enabled -}}
{{- fail "\n\ndatabase.type=sqlite cannot be autoscaled (autoscaling.enabled=true): SQLite runs exactly one replica.\nUse database.type=postgres for autoscaling, or set autoscaling.enabled=false." -}}
{{- end -}}
{{- if and (eq $v.database.type "postgres") (not $v.database.postgres.url) (not $v.database.postgres.existingSecret) -}}
{{- fail "\n\ndatabase.type=postgres needs the database URL: set database.postgres.existingSecret (a Secret with the key database.postgres.existingSecretKey, default \"database-url\") or database.postgres.url.\nFor a small single-replica install without PostgreSQL, set database.type=sqlite." -}}
{{- end -}}
{{- if and $sqlite (eq $v.migrations.mode "job") -}}
{{- fail "\n\nmigrations.mode=job is not possible with database.type=sqlite: the hook Job cannot share the ReadWriteOnce volume with the running pod.\nUse migrations.mode=auto or initContainer." -}}
{{- end -}}
{{- if gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas) -}}
{{- fail (printf "\n\nautoscaling.minReplicas (%d) must not be greater than autoscaling.maxReplicas (%d)." (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- if and $v.autoscaling.enabled (not $v.autoscaling.targetCPUUtilizationPercentage) (not $v.autoscaling.customMetric.enabled) (not $v.autoscaling.runQueue.enabled) -}}
{{- fail "\n\nautoscaling.enabled=true needs a metric: set autoscaling.targetCPUUtilizationPercentage or enable autoscaling.customMetric or autoscaling.runQueue." -}}
{{- end -}}
{{- if and $v.keda.enabled $v.autoscaling.enabled -}}
{{- fail "\n\nkeda.enabled and autoscaling.enabled are both true: KEDA creates its own HorizontalPodAutoscaler for the Deployment, and two HPAs would fight over its replicas.\nChoose one: keda.enabled=false (the chart's HPA, optionally with autoscaling.runQueue) or autoscaling.enabled=false (KEDA)." -}}
{{- end -}}
{{- if and $v.keda.enabled $sqlite -}}
{{- fail "\n\ndatabase.type=sqlite cannot be scaled by KEDA (keda.enabled=true): SQLite runs exactly one replica.\nUse database.type=postgres to scale on the run queue, or set keda.enabled=false." -}}
{{- end -}}
{{- if and $v.keda.enabled (not $v.keda.prometheus.serverAddress) -}}
{{- fail "\n\nkeda.enabled=true needs keda.prometheus.serverAddress: the URL of the Prometheus that scrapes the pods (e.g. http://prometheus-operated.monitoring.svc:9090)." -}}
{{- end -}}
{{- if gt (int $v.keda.minReplicas) (int $v.keda.maxReplicas) -}}
{{- fail (printf "\n\nkeda.minReplicas (%d) must not be greater than keda.maxReplicas (%d)." (int $v.keda.minReplicas) (int $v.keda.maxReplicas)) -}}
{{- end -}}
{{- if and $v.autoscaling.enabled $v.autoscaling.targetCPUUtilizationPercentage (not (dig "requests" "cpu" "" ($v.resources | default dict))) -}}
{{- fail "\n\nautoscaling.targetCPUUtilizationPercentage needs resources.requests.cpu: CPU utilisation is measured against the request." -}}
{{- end -}}
{{- if ge (int $v.shutdown.preStopSleepSeconds) (int $v.shutdown.terminationGracePeriodSeconds) -}}
{{- fail (printf "\n\nshutdown.preStopSleepSeconds (%d) must be less than shutdown.terminationGracePeriodSeconds (%d), or the pod is killed before it drains." (int $v.shutdown.preStopSleepSeconds) (int $v.shutdown.terminationGracePeriodSeconds)) -}}
{{- end -}}
{{- /* The grace period counts from the start of the preStop sleep; SIGTERM comes after it, and
       the server then drains for runs.drainTimeoutSeconds before it hands its remaining run
       units back to the queue. A pod killed before that leaves its units to wait for their
       leases to expire. */ -}}
{{- $stop := add (int $v.shutdown.preStopSleepSeconds) (int $v.runs.drainTimeoutSeconds) -}}
{{- if le (int $v.shutdown.terminationGracePeriodSeconds) (int $stop) -}}
{{- fail (printf "\n\nshutdown.terminationGracePeriodSeconds (%d) must be greater than shutdown.preStopSleepSeconds (%d) + runs.drainTimeoutSeconds (%d) = %d, or the pod is killed before it drains and hands its run units back to the queue.\nRaise shutdown.terminationGracePeriodSeconds or lower runs.drainTimeoutSeconds." (int $v.shutdown.terminationGracePeriodSeconds) (int $v.shutdown.preStopSleepSeconds) (int $v.runs.drainTimeoutSeconds) (int $stop)) -}}
{{- end -}}
{{- if and $v.podDisruptionBudget.enabled (not (kindIs "invalid" $v.podDisruptionBudget.maxUnavailable)) (not (kindIs "invalid" $v.podDisruptionBudget.minAvailable)) -}}
{{- fail "\n\npodDisruptionBudget: set only one of maxUnavailable and minAvailable." -}}
{{- end -}}
{{- if and $v.auth.existingSecret (or $v.auth.jwtSecret $v.auth.adminToken $v.auth.metricsToken) -}}
{{- fail "\n\nauth.existingSecret is set together with auth.jwtSecret, auth.adminToken or auth.metricsToken: put the values in the existing Secret (keys auth.jwtSecretKey, auth.adminTokenKey and auth.metricsTokenKey) and leave them empty here." -}}
{{- end -}}
{{- if and $v.auth.metricsToken (not $v.metrics.requireToken) -}}
{{- fail "\n\nauth.metricsToken is set but metrics.requireToken is false: set metrics.requireToken=true to use the token, or leave auth.metricsToken empty." -}}
{{- end -}}
{{- end -}}
