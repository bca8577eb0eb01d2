package config

import (
	"errors"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/compatibility"
)

// Limits of the node pools. Local addresses are laid out as control planes
// from .10 and workers from .20 of the host-only network, which bounds their
// counts there.
const (
	MaxControlPlanes      = 7
	MaxWorkers            = 50
	MaxLocalControlPlanes = 9
	MaxLocalWorkers       = 30
	MinDiskGiB            = 20
	// MaxZones is how many /24 zone subnets fit in a /22 VPC.
	MaxZones = 4
	// MaxGCPClusterName is the longest cluster name on GCP. infra/gcp
	// names two Cloud Storage buckets after it, <name>-images and
	// <name>-logs, and Pulumi appends "-" and 7 random characters to each;
	// a bucket name has at most 63 characters.
	MaxGCPClusterName = 63 - len("-images") - len("-1234567")
)

// MaxDiskGiB is the largest system disk per backend, with the reason.
// Hetzner (a server type has a fixed disk) and Docker (state lives in
// volumes) ignore the size, so they have no bound.
var MaxDiskGiB = map[Cloud]struct {
	GiB    int
	Reason string
}{
	AWS:        {16384, "the largest gp3 EBS volume, the nodes' root disk, is 16 TiB"},
	GCP:        {65536, "the largest pd-balanced disk, the nodes' boot disk, is 64 TiB"},
	Azure:      {4095, "the largest OS disk Azure attaches to a VM is 4,095 GiB"},
	VirtualBox: {2048, "more than a laptop's own disk; the VDI grows as the node writes until the host runs out of space"},
}

// The AWS node security group, as infra/aws builds it: 3 inbound rules
// whatever the size (node to node inside the VPC, and the two web ingress
// node ports), 2 per adminCidrs entry (the Kubernetes and Talos APIs), and
// 1 per node (its hairpin through the load balancer). AWS refuses the rule
// past its default quota of 60 inbound rules per security group, half-way
// through an update.
const (
	awsInboundRuleQuota     = 60
	awsFixedInboundRules    = 3
	awsInboundRulesPerAdmin = 2
	awsInboundRulesPerNode  = 1
)

// The widest admin ranges accepted without allowWideAdminCidrs. A /16 is
// already 65,536 addresses, more than any office or VPN an admin connects
// from; a /48 is what one IPv6 site is assigned.
const (
	MinAdminPrefixIPv4 = 16
	MinAdminPrefixIPv6 = 48
)

var (
	dnsLabel    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	dnsName     = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	awsRegion   = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-[0-9]$`)
	gcpRegion   = regexp.MustCompile(`^[a-z]+-[a-z]+[0-9]+$`)
	azureRegion = regexp.MustCompile(`^[a-z][a-z0-9]+$`)
	talosRe     = regexp.MustCompile(`^v1\.[0-9]+\.[0-9]+$`)
	kubeRe      = regexp.MustCompile(`^1\.[0-9]+\.[0-9]+$`)
	privateNet  = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
	}
)

// Validate reports every value of cfg that cannot be deployed, each with its
// key, its value and what is allowed.
func Validate(cfg Config) error {
	var errs []error
	add := func(err *Error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if !slices.Contains(Environments, cfg.Environment) {
		return invalid(KeyEnvironment, string(cfg.Environment), "allowed: %s", joinEnvs(Environments))
	}
	add(validateCloud(cfg))
	if len(errs) > 0 {
		// Every other rule depends on the backend.
		return errors.Join(errs...)
	}
	add(validateRegion(cfg))
	add(validateControlPlanes(cfg))
	add(validateWorkers(cfg))
	for _, pool := range []struct {
		sizeKey, diskKey string
		pool             NodePool
	}{
		{KeyControlPlaneSize, KeyControlPlaneDiskGiB, cfg.ControlPlane},
		{KeyWorkerSize, KeyWorkerDiskGiB, cfg.Workers},
	} {
		add(validateSize(cfg.Cloud, pool.sizeKey, pool.pool.Size))
		if pool.pool.DiskGiB < MinDiskGiB {
			add(invalid(pool.diskKey, strconv.Itoa(pool.pool.DiskGiB), "must be at least %d GiB", MinDiskGiB))
		}
		if limit, ok := MaxDiskGiB[cfg.Cloud]; ok && pool.pool.DiskGiB > limit.GiB {
			add(invalid(pool.diskKey, strconv.Itoa(pool.pool.DiskGiB), "must be at most %d GiB on %s: %s", limit.GiB, cfg.Cloud, limit.Reason))
		}
	}
	add(validateAWSRules(cfg))
	add(validateVersions(cfg))
	add(validateTalosImage(cfg))
	if !dnsLabel.MatchString(cfg.ClusterName) {
		add(invalid(KeyClusterName, cfg.ClusterName, "must be a lowercase DNS label: a-z, 0-9 and '-', at most 63 characters"))
	} else if cfg.Cloud == GCP && len(cfg.ClusterName) > MaxGCPClusterName {
		add(invalid(KeyClusterName, cfg.ClusterName, "has %d characters; at most %d on gcp: the Cloud Storage buckets <clusterName>-images and <clusterName>-logs get a '-' and 7 random characters from Pulumi, and a bucket name has at most 63", len(cfg.ClusterName), MaxGCPClusterName))
	}
	if cfg.Domain != "" && !dnsName.MatchString(cfg.Domain) {
		add(invalid(KeyDomain, cfg.Domain, "must be a lowercase DNS name such as lab.example.com"))
	}
	add(validateNetwork(cfg))
	errs = append(errs, validateAdminCIDRs(cfg)...)
	errs = append(errs, validatePlatform(cfg)...)
	errs = append(errs, validateCharts(cfg)...)
	errs = append(errs, validateMonitoring(cfg.Monitoring)...)
	errs = append(errs, validateLogging(cfg.Logging)...)
	errs = append(errs, validateEtcdBackup(cfg)...)
	return errors.Join(errs...)
}

var (
	// Units from largest to smallest, each at most once, as Prometheus and
	// the operator's CRD require.
	promDuration = regexp.MustCompile(`^([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$`)
	quantity     = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$`)
)

// validateMonitoring checks retention and volume sizes in the forms
// Prometheus and Kubernetes accept, so a typo fails here rather than in a
// crash-looping pod.
func validateMonitoring(m Monitoring) []error {
	var errs []error
	if !promDuration.MatchString(m.Retention) || strings.Trim(m.Retention, "0mshdwy") == "" {
		errs = append(errs, invalid(KeyRetention, m.Retention, "must be a Prometheus duration such as 15d, 12h or 1w"))
	}
	for _, q := range []struct{ key, value string }{
		{KeyPrometheusStorage, m.PrometheusStorage},
		{KeyAlertmanagerStorage, m.AlertmanagerStorage},
		{KeyGrafanaStorage, m.GrafanaStorage},
	} {
		if err := validateQuantity(q.key, q.value); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func validateQuantity(key, value string) error {
	if !quantity.MatchString(value) || strings.Trim(value, "0.KMGTPEik") == "" {
		return invalid(key, value, "must be a Kubernetes quantity such as 20Gi")
	}
	return nil
}

// validateLogging checks the collector and what Loki's compactor can
// enforce: it deletes whole day-long index periods, so retention is a
// positive number of days.
func validateLogging(l Logging) []error {
	var errs []error
	if l.Collector != CollectorAlloy && l.Collector != CollectorPromtail {
		errs = append(errs, invalid(KeyLogCollector, l.Collector, "allowed: %s (default), %s (end of life since 2026-03-02)", CollectorAlloy, CollectorPromtail))
	}
	d, ok := parseDuration(l.Retention)
	switch {
	case !ok:
		errs = append(errs, invalid(KeyLogRetention, l.Retention, "must be a duration such as 7d, 2w or 168h"))
	case d == 0 || d%(24*time.Hour) != 0:
		errs = append(errs, invalid(KeyLogRetention, l.Retention, "must be a whole number of days (24h, 7d, 2w): Loki deletes logs by day-long index periods"))
	}
	if err := validateQuantity(KeyLokiStorage, l.Storage); err != nil {
		errs = append(errs, err)
	}
	return errs
}

var (
	// cronField is one field of a five-field cron expression: *, numbers,
	// ranges, lists and steps.
	cronField = regexp.MustCompile(`^(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?(,([0-9]+(-[0-9]+)?)(/[0-9]+)?)*$`)
	// ageRecipient is an age X25519 public key: bech32 with the "age" prefix.
	ageRecipient = regexp.MustCompile(`^age1[02-9ac-hj-np-z]{58}$`)
)

// validateEtcdBackup: snapshots need a bucket to go to, a schedule the
// CronJob accepts, and a recipient age can encrypt to, which staging and
// prod cannot do without.
func validateEtcdBackup(cfg Config) []error {
	b := cfg.EtcdBackup
	var errs []error
	if b.Enabled && !cfg.Cloud.ObjectStorage() {
		errs = append(errs, invalid(KeyEtcdBackups, "true", "needs object storage, which the %s backend does not create; take snapshots by hand with talosctl etcd snapshot (docs/runbooks/disaster-recovery.md)", cfg.Cloud))
	}
	fields := strings.Fields(b.Schedule)
	valid := len(fields) == 5
	for _, f := range fields {
		valid = valid && cronField.MatchString(f)
	}
	if !valid {
		errs = append(errs, invalid(KeyEtcdBackupSchedule, b.Schedule, "must be a five-field cron expression in UTC, such as %q", DefaultEtcdBackupSchedule))
	}
	if b.Recipient != "" && !ageRecipient.MatchString(b.Recipient) {
		errs = append(errs, invalid(KeyEtcdBackupRecipient, b.Recipient, "must be an age public key (age1 followed by 58 characters), as age-keygen prints it"))
	}
	if b.Enabled && cfg.Cloud.ObjectStorage() && b.Recipient == "" && cfg.Environment.HA() {
		errs = append(errs, invalid(KeyEtcdBackups, "true", "needs %[1]s:%[2]s in %[3]s: a snapshot is every object of the cluster, its Secrets sealed only by the secretbox key in each control plane's machine config, so it is encrypted before it leaves the cluster; run age-keygen -o etcd-backup.key, keep that file offline, and pulumi config set %[1]s:%[2]s with the age1... public key it prints (docs/runbooks/disaster-recovery.md)", Namespace, KeyEtcdBackupRecipient, cfg.Environment))
	}
	return errs
}

// durationUnits are the units of a Prometheus duration.
var durationUnits = map[string]time.Duration{
	"y": 365 * 24 * time.Hour, "w": 7 * 24 * time.Hour, "d": 24 * time.Hour,
	"h": time.Hour, "m": time.Minute, "s": time.Second, "ms": time.Millisecond,
}

// durationPart is one number and unit of a Prometheus duration.
var durationPart = regexp.MustCompile(`([0-9]+)(ms|[ywdhms])`)

// parseDuration reads a Prometheus duration (units largest first, each at
// most once) into a time.Duration.
func parseDuration(s string) (time.Duration, bool) {
	if s == "" || !promDuration.MatchString(s) {
		return 0, false
	}
	var total time.Duration
	for _, m := range durationPart.FindAllStringSubmatch(s, -1) {
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > int64(100*365*24*time.Hour/durationUnits[m[2]]) {
			return 0, false
		}
		total += time.Duration(n) * durationUnits[m[2]]
	}
	return total, true
}

var (
	email        = regexp.MustCompile(`(?i)^[^@\s]+@[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$`)
	chartVersion = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$`)
)

// validatePlatform checks the choices of the Kubernetes layer: ingress,
// secrets operator, and what TLS on a cloud needs.
func validatePlatform(cfg Config) []error {
	var errs []error
	switch cfg.Ingress {
	case IngressCilium:
	case "nginx", "ingress-nginx":
		errs = append(errs, invalid(KeyIngress, cfg.Ingress, "ingress-nginx is retired upstream (no fixes after March 2026); allowed: %s, which the CNI already runs", IngressCilium))
	default:
		errs = append(errs, invalid(KeyIngress, cfg.Ingress, "allowed: %s", IngressCilium))
	}
	if cfg.Secrets != SecretsSealed && cfg.Secrets != SecretsExternal {
		errs = append(errs, invalid(KeySecrets, cfg.Secrets, "allowed: %s, %s", SecretsSealed, SecretsExternal))
	}
	if cfg.Cloud.Local() {
		if cfg.ACMEEmail != "" {
			errs = append(errs, invalid(KeyACMEEmail, cfg.ACMEEmail, "has no meaning on %s: local certificates come from the lab's own CA; remove it", cfg.Cloud))
		}
		return errs
	}
	if cfg.Domain == "" {
		errs = append(errs, invalid(KeyDomain, "", "required on %s: Grafana is served with TLS at grafana.<domain>", cfg.Cloud))
	}
	if cfg.ACMEEmail == "" {
		errs = append(errs, invalid(KeyACMEEmail, "", "required on %s: Let's Encrypt issues the ingress certificates and writes to this address about them", cfg.Cloud))
	} else if !email.MatchString(cfg.ACMEEmail) {
		errs = append(errs, invalid(KeyACMEEmail, cfg.ACMEEmail, "must be an e-mail address such as sre@example.com"))
	}
	return errs
}

// validateCharts rejects overrides for charts the lab does not install (a
// typo there would otherwise be ignored) and versions Helm cannot pin.
func validateCharts(cfg Config) []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(cfg.Charts)) {
		version := cfg.Charts[name].Version
		switch _, ok := DefaultCharts[name]; {
		case !ok:
			errs = append(errs, invalid(KeyChartVersions, name, "known charts: %s", pinnedCharts(false)))
		case !chartVersion.MatchString(version) || (name == ChartGatewayAPI && !strings.HasPrefix(version, "v")):
			// Gateway API is fetched by its release tag, which starts with v.
			errs = append(errs, invalid(KeyChartVersions+"."+name, version, "needs an exact version such as %s", DefaultCharts[name].Version))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.HelmValues)) {
		switch _, ok := DefaultCharts[name]; {
		case name == ChartGatewayAPI:
			errs = append(errs, invalid(KeyHelmValues, name, "gateway-api is a manifest and takes no values; charts that do: %s", pinnedCharts(true)))
		case !ok:
			errs = append(errs, invalid(KeyHelmValues, name, "charts that take values: %s", pinnedCharts(true)))
		}
	}
	errs = append(errs, validateAlertmanagerValues(cfg.HelmValues[ChartKubePrometheus])...)
	return errs
}

// alertmanagerOverrides are the kube-prometheus-stack values that take the
// Alertmanager configuration away from sre-lab:alertmanager. helmValues are
// merged over the lab's values, so either would win without a word, and
// what it holds (webhook URLs, keys) would sit unencrypted in the stack file.
var alertmanagerOverrides = []struct {
	path []string
	does string
}{
	{[]string{"alertmanager", "config"}, "replaces the Alertmanager configuration the lab renders from the secret"},
	{[]string{"alertmanager", "alertmanagerSpec", "useExistingSecret"}, "makes Alertmanager read a Secret the lab does not create instead of the configuration the lab renders from the secret"},
	// The chart's templates/alertmanager/secret.yaml: with tplConfig on, a
	// non-empty stringConfig is the whole configuration, and otherwise the
	// lab's configuration goes through Helm's tpl, which would evaluate its
	// notification templates' {{ }} as Helm's own.
	{[]string{"alertmanager", "tplConfig"}, "hands Alertmanager stringConfig, or Helm's tpl evaluation of its notification templates, instead of the configuration the lab renders from the secret"},
	{[]string{"alertmanager", "stringConfig"}, "replaces, once tplConfig is on, the Alertmanager configuration the lab renders from the secret"},
}

// validateAlertmanagerValues refuses alertmanagerOverrides in the
// kube-prometheus-stack values, naming the key that configures receivers.
func validateAlertmanagerValues(values map[string]any) []error {
	var errs []error
	for _, o := range alertmanagerOverrides {
		v, ok := lookupPath(values, o.path)
		if !ok || v == false || v == "" {
			// Unset, a flag left off or an empty text: nothing is taken
			// away.
			continue
		}
		// A configuration may hold receiver secrets; a flag does not.
		shown := "(not shown)"
		if b, isBool := v.(bool); isBool {
			shown = strconv.FormatBool(b)
		}
		key := KeyHelmValues + "." + ChartKubePrometheus + "." + strings.Join(o.path, ".")
		errs = append(errs, invalid(key, shown, "%s sre-lab:%s, dropping its receivers and routes; set receivers in the secret %s:%s instead (slack, webhooks, pagerDuty, email; docs/observability.md)",
			o.does, KeyAlertmanager, Namespace, KeyAlertmanager))
	}
	return errs
}

// lookupPath returns the value at path in nested values, and whether it is
// set.
func lookupPath(values map[string]any, path []string) (any, bool) {
	var v any = values
	for _, key := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[key]; !ok {
			return nil, false
		}
	}
	return v, true
}

// pinnedCharts lists the pinned charts; withValues leaves out gateway-api,
// a manifest without values.
func pinnedCharts(withValues bool) string {
	var names []string
	for _, name := range slices.Sorted(maps.Keys(DefaultCharts)) {
		if !withValues || name != ChartGatewayAPI {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}

func validateCloud(cfg Config) *Error {
	allowed := []Cloud{AWS, GCP, Azure, Hetzner}
	if cfg.Environment == Local {
		allowed = []Cloud{VirtualBox, Docker}
	}
	if cfg.Cloud == "" {
		return invalid(KeyCloud, "", "required for the %s environment; allowed: %s", cfg.Environment, joinClouds(allowed))
	}
	if !slices.Contains(allowed, cfg.Cloud) {
		return invalid(KeyCloud, string(cfg.Cloud), "the %s environment runs on %s", cfg.Environment, joinClouds(allowed))
	}
	if !slices.Contains(Implemented, cfg.Cloud) {
		return invalid(KeyCloud, string(cfg.Cloud), "this backend is planned but not built yet; available now: %s", joinClouds(Implemented))
	}
	return nil
}

func validateRegion(cfg Config) *Error {
	if cfg.Cloud.Local() {
		if cfg.Region != "" {
			return invalid(KeyRegion, cfg.Region, "has no meaning on %s; remove it", cfg.Cloud)
		}
		if len(cfg.Zones) > 0 {
			return invalid(KeyZones, strings.Join(cfg.Zones, ","), "has no meaning on %s; remove it", cfg.Cloud)
		}
		return nil
	}
	if cfg.Region == "" {
		example := "eu-central-1"
		switch cfg.Cloud {
		case Hetzner:
			example = "fsn1"
		case GCP:
			example = "europe-west3"
		case Azure:
			example = "westeurope"
		}
		return invalid(KeyRegion, "", "required on %s, for example %s", cfg.Cloud, example)
	}
	if cfg.Cloud == GCP && !gcpRegion.MatchString(cfg.Region) {
		return invalid(KeyRegion, cfg.Region, "must be a GCP region such as europe-west3 or us-central1")
	}
	if cfg.Cloud == Azure {
		if !azureRegion.MatchString(cfg.Region) {
			return invalid(KeyRegion, cfg.Region, "must be an Azure location's programmatic name such as westeurope or eastus2")
		}
		for i, z := range cfg.Zones {
			if z != "1" && z != "2" && z != "3" {
				return invalid(KeyZones, z, "Azure availability zones are 1, 2 and 3")
			}
			if slices.Contains(cfg.Zones[:i], z) {
				return invalid(KeyZones, z, "is listed twice")
			}
		}
		return nil
	}
	if cfg.Cloud == AWS && !awsRegion.MatchString(cfg.Region) {
		return invalid(KeyRegion, cfg.Region, "must be an AWS region such as eu-central-1 or us-east-2")
	}
	if cfg.Cloud == Hetzner {
		if _, ok := HetznerNetworkZones[cfg.Region]; !ok {
			return invalid(KeyRegion, cfg.Region, "must be a Hetzner Cloud location: %s", strings.Join(slices.Sorted(maps.Keys(HetznerNetworkZones)), ", "))
		}
		if len(cfg.Zones) > 0 {
			// A location is one site; spreading is the placement group's job.
			return invalid(KeyZones, strings.Join(cfg.Zones, ","), "has no meaning on hetzner: a location is a single site, and control planes spread across hosts by a placement group; remove it")
		}
	}
	// AWS zones append a letter to the region, GCP zones a dash and one.
	sep := ""
	if cfg.Cloud == GCP {
		sep = "-"
	}
	zone := regexp.MustCompile("^" + regexp.QuoteMeta(cfg.Region+sep) + "[a-z]$")
	for i, z := range cfg.Zones {
		if !zone.MatchString(z) {
			return invalid(KeyZones, z, "each zone must be in region %s, such as %s%sa", cfg.Region, cfg.Region, sep)
		}
		if slices.Contains(cfg.Zones[:i], z) {
			return invalid(KeyZones, z, "is listed twice; each zone gets one subnet")
		}
	}
	if len(cfg.Zones) > MaxZones {
		return invalid(KeyZones, strings.Join(cfg.Zones, ","), "at most %d zones: one /24 subnet is carved per zone from the smallest allowed VPC, a /22", MaxZones)
	}
	return nil
}

// hetznerImageID is a Hetzner image or snapshot ID.
var hetznerImageID = regexp.MustCompile(`^[1-9][0-9]*$`)

// validateTalosImage: an explicit image only exists where the user makes
// one; elsewhere the backend finds or builds the image of talosVersion.
func validateTalosImage(cfg Config) *Error {
	switch {
	case cfg.Cloud == Azure:
		// The azure-native provider cannot upload a page blob, so the
		// image is made by hand once per version.
		if !azureVHD.MatchString(cfg.TalosImage) && !azureImageID.MatchString(cfg.TalosImage) {
			return invalid(KeyTalosImage, cfg.TalosImage, "required on azure: the https URL of the Talos %s VHD uploaded as a page blob (…/talos-%s.vhd), or an image's resource ID (/subscriptions/…/images/…); docs/cloud-deployment.md shows how", cfg.TalosVersion, cfg.TalosVersion)
		}
		return nil
	case cfg.TalosImage == "":
		return nil
	case cfg.Cloud != Hetzner:
		return invalid(KeyTalosImage, cfg.TalosImage, "has no meaning on %s, which boots the image of talosVersion; remove it", cfg.Cloud)
	case !hetznerImageID.MatchString(cfg.TalosImage):
		return invalid(KeyTalosImage, cfg.TalosImage, "must be the numeric ID of a Hetzner snapshot made from Talos %s (see docs/cloud-deployment.md)", cfg.TalosVersion)
	}
	return nil
}

// The two forms an Azure Talos image takes: a VHD page blob, or an image.
var (
	azureVHD     = regexp.MustCompile(`^https://[a-z0-9]{3,24}\.blob\.core\.windows\.net/[^?#\s]+\.vhd$`)
	azureImageID = regexp.MustCompile(`^/subscriptions/[^/\s]+/resourceGroups/[^/\s]+/providers/Microsoft\.Compute/images/[^/\s]+$`)
)

func validateControlPlanes(cfg Config) *Error {
	n := cfg.ControlPlane.Count
	value := strconv.Itoa(n)
	limit := MaxControlPlanes
	if cfg.Cloud.Local() {
		limit = MaxLocalControlPlanes
	}
	switch {
	case cfg.Environment.HA() && (n < 3 || n%2 == 0 || n > limit):
		return invalid(KeyControlPlaneCount, value, "%s needs an odd number from 3 to %d so etcd keeps quorum when one fails", cfg.Environment, limit)
	case n < 1 || n%2 == 0 || n > limit:
		return invalid(KeyControlPlaneCount, value, "must be an odd number from 1 to %d: etcd needs a majority, and an even count adds a failure point without adding tolerance", limit)
	}
	return nil
}

func validateWorkers(cfg Config) *Error {
	n := cfg.Workers.Count
	minimum := map[Environment]int{Local: 1, Dev: 1, Staging: 2, Prod: 3}[cfg.Environment]
	limit := MaxWorkers
	if cfg.Cloud.Local() {
		limit = MaxLocalWorkers
	}
	if n < minimum || n > limit {
		return invalid(KeyWorkerCount, strconv.Itoa(n), "%s needs from %d to %d workers", cfg.Environment, minimum, limit)
	}
	return nil
}

// validateAWSRules refuses node counts whose rules would not fit the AWS
// node security group (see awsInboundRuleQuota).
func validateAWSRules(cfg Config) *Error {
	if cfg.Cloud != AWS {
		return nil
	}
	nodes := cfg.ControlPlane.Count + cfg.Workers.Count
	fixed := awsFixedInboundRules + awsInboundRulesPerAdmin*len(cfg.AdminCIDRs)
	rules := fixed + awsInboundRulesPerNode*nodes
	if rules <= awsInboundRuleQuota {
		return nil
	}
	maxNodes := (awsInboundRuleQuota - fixed) / awsInboundRulesPerNode
	return invalid(KeyWorkerCount, strconv.Itoa(cfg.Workers.Count),
		"%d nodes (%d control planes) with %d adminCidrs entries need %d inbound rules in the AWS node security group (%d fixed, %d per adminCidrs entry, %d per node for its hairpin through the load balancer), over the default quota of %d per security group; at most %d nodes in all, so at most %d workers",
		nodes, cfg.ControlPlane.Count, len(cfg.AdminCIDRs), rules, awsFixedInboundRules, awsInboundRulesPerAdmin, awsInboundRulesPerNode, awsInboundRuleQuota, maxNodes, maxNodes-cfg.ControlPlane.Count)
}

func validateSize(cloud Cloud, key, size string) *Error {
	shape, err := ParseSize(cloud, size)
	if err != nil {
		return invalid(key, size, "%v", err)
	}
	if shape.VCPU < MinVCPU || shape.MemGiB < MinMemGiB {
		return invalid(key, size, "has %d vCPU and %g GiB; nodes need at least %d vCPU and %d GiB", shape.VCPU, shape.MemGiB, MinVCPU, MinMemGiB)
	}
	return nil
}

func validateVersions(cfg Config) *Error {
	if !talosRe.MatchString(cfg.TalosVersion) || !strings.HasPrefix(cfg.TalosVersion, SupportedTalosMinor+".") {
		return invalid(KeyTalosVersion, cfg.TalosVersion, "must be a %s.x release such as %s: the Talos provider and machinery in this build speak %s", SupportedTalosMinor, DefaultTalosVersion, SupportedTalosMinor)
	}
	if !kubeRe.MatchString(cfg.KubernetesVersion) {
		return invalid(KeyKubernetesVersion, cfg.KubernetesVersion, "must be a Kubernetes release without a leading v, such as %s", DefaultKubernetesVersion)
	}
	talos, err := compatibility.ParseTalosVersion(&machine.VersionInfo{Tag: cfg.TalosVersion})
	if err != nil {
		return invalid(KeyTalosVersion, cfg.TalosVersion, "%v", err)
	}
	kube, err := compatibility.ParseKubernetesVersion(cfg.KubernetesVersion)
	if err != nil {
		return invalid(KeyKubernetesVersion, cfg.KubernetesVersion, "%v", err)
	}
	if err := kube.SupportedWith(talos); err != nil {
		return invalid(KeyKubernetesVersion, cfg.KubernetesVersion, "not supported by Talos %s: %v", cfg.TalosVersion, err)
	}
	return nil
}

func validateNetwork(cfg Config) *Error {
	p := cfg.NetworkCIDR
	value := p.String()
	switch {
	case !p.Addr().Is4():
		return invalid(KeyNetworkCIDR, value, "must be an IPv4 CIDR")
	case p != p.Masked():
		return invalid(KeyNetworkCIDR, value, "has host bits set; did you mean %s?", p.Masked())
	case !slices.ContainsFunc(privateNet, func(r netip.Prefix) bool { return r.Bits() <= p.Bits() && r.Contains(p.Addr()) }):
		return invalid(KeyNetworkCIDR, value, "must be inside a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)")
	case p.Overlaps(PodCIDR) || p.Overlaps(ServiceCIDR):
		return invalid(KeyNetworkCIDR, value, "overlaps the pod network %s or the service network %s", PodCIDR, ServiceCIDR)
	case cfg.Cloud.Local() && p.Bits() > 24:
		return invalid(KeyNetworkCIDR, value, "the host-only network needs a /24 or larger: nodes sit at .10 and up")
	case !cfg.Cloud.Local() && (p.Bits() < 16 || p.Bits() > 22):
		return invalid(KeyNetworkCIDR, value, "a VPC must be from /16 to /22: one /24 subnet is carved per zone")
	}
	return nil
}

// validateAdminCIDRs: a cloud stack names who may reach its APIs, in
// ranges no wider than one admin needs unless allowWideAdminCidrs says so.
func validateAdminCIDRs(cfg Config) []error {
	if cfg.Cloud.Local() {
		if len(cfg.AdminCIDRs) > 0 {
			return []error{invalid(KeyAdminCIDRs, cfg.AdminCIDRs[0].String(), "has no meaning on %s: its APIs are reachable from this host only; remove it", cfg.Cloud)}
		}
		if cfg.AllowWideAdminCIDRs {
			return []error{invalid(KeyAllowWideAdminCIDRs, "true", "has no meaning on %s, which has no adminCidrs; remove it", cfg.Cloud)}
		}
		return nil
	}
	if len(cfg.AdminCIDRs) == 0 {
		return []error{invalid(KeyAdminCIDRs, "", "required on %s: list the addresses that may reach the Kubernetes API (6443) and Talos API (50000), such as your IP as 203.0.113.7/32; 0.0.0.0/0 opens them to everyone and is refused unless %s:%s is true", cfg.Cloud, Namespace, KeyAllowWideAdminCIDRs)}
	}
	var errs []error
	for _, p := range cfg.AdminCIDRs {
		limit := MinAdminPrefixIPv4
		if !p.Addr().Is4() {
			limit = MinAdminPrefixIPv6
		}
		// One error per entry, the exposure first: a wide IPv6 range is
		// refused for what it would open before for its family.
		switch {
		case p.Bits() < limit && !cfg.AllowWideAdminCIDRs:
			reach := "that whole range"
			if p.Bits() == 0 {
				reach = "the whole internet"
			}
			errs = append(errs, invalid(KeyAdminCIDRs, p.String(), "is wider than /%d: the nodes' Kubernetes API (6443) and Talos API (50000), on aws and gcp also through the API load balancer, would be open to %s, and a node still in maintenance mode takes a Talos configuration from anyone who reaches it; list the ranges you connect from, such as your IP as 203.0.113.7/32, or set %s:%s: true to accept that exposure",
				limit, reach, Namespace, KeyAllowWideAdminCIDRs))
		case !p.Addr().Is4():
			errs = append(errs, invalid(KeyAdminCIDRs, p.String(), "must be an IPv4 CIDR"))
		case p != p.Masked():
			errs = append(errs, invalid(KeyAdminCIDRs, p.String(), "has host bits set; did you mean %s?", p.Masked()))
		}
	}
	return errs
}
