package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Keys of the `sre-lab` namespace. README.md documents each of them.
const (
	KeyEnvironment         = "environment"
	KeyCloud               = "cloud"
	KeyRegion              = "region"
	KeyZones               = "zones"
	KeyClusterName         = "clusterName"
	KeyDomain              = "domain"
	KeyControlPlaneCount   = "controlPlaneCount"
	KeyControlPlaneSize    = "controlPlaneSize"
	KeyControlPlaneDiskGiB = "controlPlaneDiskGiB"
	KeyWorkerCount         = "workerCount"
	KeyWorkerSize          = "workerSize"
	KeyWorkerDiskGiB       = "workerDiskGiB"
	KeyTalosVersion        = "talosVersion"
	KeyTalosImage          = "talosImage"
	KeyKubernetesVersion   = "kubernetesVersion"
	KeyNetworkCIDR         = "networkCidr"
	KeyAdminCIDRs          = "adminCidrs"
	// KeyAllowWideAdminCIDRs accepts adminCidrs entries wider than
	// MinAdminPrefixIPv4 or MinAdminPrefixIPv6; it must be set on purpose.
	KeyAllowWideAdminCIDRs = "allowWideAdminCidrs"
	KeyIngress             = "ingress"
	KeySecrets             = "secrets"
	KeyACMEEmail           = "acmeEmail"
	KeyChartVersions       = "chartVersions"
	KeyHelmValues          = "helmValues"
	KeyRetention           = "retention"
	KeyPrometheusStorage   = "prometheusStorage"
	KeyAlertmanagerStorage = "alertmanagerStorage"
	KeyGrafanaStorage      = "grafanaStorage"
	KeyLogCollector        = "logCollector"
	KeyLogRetention        = "logRetention"
	KeyLokiStorage         = "lokiStorage"
	KeyEtcdBackups         = "etcdBackups"
	KeyEtcdBackupSchedule  = "etcdBackupSchedule"
	KeyEtcdBackupRecipient = "etcdBackupRecipient"
	KeyPractice            = "practice"
)

// Error is a configuration value that cannot be used. Its message names the
// key, the value and what is allowed, so the user can fix the stack file
// without reading code.
type Error struct {
	Key     string
	Value   string
	Allowed string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%s = %q: %s", Namespace, e.Key, e.Value, e.Allowed)
}

func invalid(key, value, format string, args ...any) *Error {
	return &Error{Key: key, Value: value, Allowed: fmt.Sprintf(format, args...)}
}

// Raw holds what the user set, typed but not yet defaulted: a nil pointer or
// nil slice is a key the user left unset, so defaults never replace an
// explicit value.
type Raw struct {
	Environment         *Environment
	Cloud               *Cloud
	Region              *string
	Zones               []string
	ClusterName         *string
	Domain              *string
	ControlPlaneCount   *int
	ControlPlaneSize    *string
	ControlPlaneDiskGiB *int
	WorkerCount         *int
	WorkerSize          *string
	WorkerDiskGiB       *int
	TalosVersion        *string
	TalosImage          *string
	KubernetesVersion   *string
	NetworkCIDR         *netip.Prefix
	AdminCIDRs          []netip.Prefix
	AllowWideAdminCIDRs *bool
	Ingress             *string
	Secrets             *string
	ACMEEmail           *string
	ChartVersions       map[string]string
	HelmValues          map[string]map[string]any
	Retention           *string
	PrometheusStorage   *string
	AlertmanagerStorage *string
	GrafanaStorage      *string
	LogCollector        *string
	LogRetention        *string
	LokiStorage         *string
	EtcdBackups         *bool
	EtcdBackupSchedule  *string
	EtcdBackupRecipient *string
	Practice            *bool
}

// Lookup returns the value of a key in the `sre-lab` namespace and whether
// the user set it.
type Lookup func(key string) (string, bool)

// Load reads, defaults and validates the stack configuration of ctx.
func Load(ctx *pulumi.Context) (Config, error) {
	return Parse(ctx.Stack(), func(key string) (string, bool) {
		return ctx.GetConfig(Namespace + ":" + key)
	})
}

// Parse is Load without a Pulumi context: it types what lookup returns, fills
// unset keys from the environment defaults and validates the result. Values
// of the wrong type are reported together first; once every value has its
// type, every rule that fails is reported at once.
func Parse(stack string, lookup Lookup) (Config, error) {
	raw, err := ParseRaw(lookup)
	if err != nil {
		return Config{}, err
	}
	env, err := resolveEnvironment(stack, raw.Environment)
	if err != nil {
		return Config{}, err
	}
	cfg := ApplyDefaults(stack, env, raw)
	if err := Validate(cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// ParseRaw types every set key; a value of the wrong type is an error.
func ParseRaw(lookup Lookup) (Raw, error) {
	var raw Raw
	var errs []error
	str := func(key string) *string {
		if v, ok := lookup(key); ok {
			return &v
		}
		return nil
	}
	integer := func(key string) *int {
		v, ok := lookup(key)
		if !ok {
			return nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, invalid(key, v, "must be a whole number"))
			return nil
		}
		return &n
	}
	boolean := func(key string) *bool {
		v, ok := lookup(key)
		if !ok {
			return nil
		}
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, invalid(key, v, "must be true or false"))
			return nil
		}
		return &b
	}
	list := func(key string) []string {
		v, ok := lookup(key)
		if !ok {
			return nil
		}
		items, err := parseList(v)
		if err != nil {
			errs = append(errs, invalid(key, v, "must be a YAML list or a comma-separated string"))
			return nil
		}
		return items
	}

	if v := str(KeyEnvironment); v != nil {
		e := Environment(*v)
		raw.Environment = &e
	}
	if v := str(KeyCloud); v != nil {
		c := Cloud(*v)
		raw.Cloud = &c
	}
	raw.Region = str(KeyRegion)
	raw.Zones = list(KeyZones)
	raw.ClusterName = str(KeyClusterName)
	raw.Domain = str(KeyDomain)
	raw.ControlPlaneCount = integer(KeyControlPlaneCount)
	raw.ControlPlaneSize = str(KeyControlPlaneSize)
	raw.ControlPlaneDiskGiB = integer(KeyControlPlaneDiskGiB)
	raw.WorkerCount = integer(KeyWorkerCount)
	raw.WorkerSize = str(KeyWorkerSize)
	raw.WorkerDiskGiB = integer(KeyWorkerDiskGiB)
	raw.TalosVersion = str(KeyTalosVersion)
	raw.KubernetesVersion = str(KeyKubernetesVersion)
	if v, ok := lookup(KeyNetworkCIDR); ok {
		p, err := netip.ParsePrefix(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, invalid(KeyNetworkCIDR, v, "must be an IPv4 CIDR such as 10.0.0.0/16"))
		} else {
			raw.NetworkCIDR = &p
		}
	}
	if items := list(KeyAdminCIDRs); items != nil {
		// An explicit empty list stays explicit (non-nil): validation rejects
		// it rather than a default quietly replacing it.
		raw.AdminCIDRs = []netip.Prefix{}
		for _, item := range items {
			p, err := netip.ParsePrefix(item)
			if err != nil {
				errs = append(errs, invalid(KeyAdminCIDRs, item, "each entry must be a CIDR such as 203.0.113.7/32"))
				continue
			}
			raw.AdminCIDRs = append(raw.AdminCIDRs, p)
		}
	}
	raw.AllowWideAdminCIDRs = boolean(KeyAllowWideAdminCIDRs)
	raw.Retention = str(KeyRetention)
	raw.PrometheusStorage = str(KeyPrometheusStorage)
	raw.AlertmanagerStorage = str(KeyAlertmanagerStorage)
	raw.GrafanaStorage = str(KeyGrafanaStorage)
	raw.TalosImage = str(KeyTalosImage)
	raw.LogCollector = str(KeyLogCollector)
	raw.LogRetention = str(KeyLogRetention)
	raw.LokiStorage = str(KeyLokiStorage)
	raw.EtcdBackups = boolean(KeyEtcdBackups)
	raw.EtcdBackupSchedule = str(KeyEtcdBackupSchedule)
	raw.EtcdBackupRecipient = str(KeyEtcdBackupRecipient)
	raw.Practice = boolean(KeyPractice)
	raw.Ingress = str(KeyIngress)
	raw.Secrets = str(KeySecrets)
	raw.ACMEEmail = str(KeyACMEEmail)
	if v, ok := lookup(KeyChartVersions); ok {
		if err := json.Unmarshal([]byte(v), &raw.ChartVersions); err != nil {
			errs = append(errs, invalid(KeyChartVersions, v, "must be an object of chart name to version, such as {cilium: 1.20.0}"))
		}
	}
	if v, ok := lookup(KeyHelmValues); ok {
		if err := json.Unmarshal([]byte(v), &raw.HelmValues); err != nil {
			errs = append(errs, invalid(KeyHelmValues, v, "must be an object of chart name to a values object, such as {cilium: {operator: {replicas: 1}}}"))
		}
	}
	return raw, errors.Join(errs...)
}

// parseList accepts the JSON array Pulumi stores for a YAML list, or a plain
// comma-separated string as typed on the command line.
func parseList(v string) ([]string, error) {
	v = strings.TrimSpace(v)
	var items []string
	if strings.HasPrefix(v, "[") {
		if err := json.Unmarshal([]byte(v), &items); err != nil {
			return nil, err
		}
	} else if v != "" {
		items = strings.Split(v, ",")
	}
	out := make([]string, 0, len(items))
	for _, item := range items {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out, nil
}

// resolveEnvironment takes the explicit key, else a stack named after an
// environment.
func resolveEnvironment(stack string, explicit *Environment) (Environment, error) {
	allowed := fmt.Sprintf("allowed: %s", joinEnvs(Environments))
	if explicit != nil {
		if !slices.Contains(Environments, *explicit) {
			return "", invalid(KeyEnvironment, string(*explicit), "%s", allowed)
		}
		return *explicit, nil
	}
	if env := Environment(stack); slices.Contains(Environments, env) {
		return env, nil
	}
	return "", invalid(KeyEnvironment, "", "unset, and stack %q is not named after an environment; set it (%s)", stack, allowed)
}

func joinEnvs(envs []Environment) string {
	s := make([]string, len(envs))
	for i, e := range envs {
		s[i] = string(e)
	}
	return strings.Join(s, ", ")
}

func joinClouds(clouds []Cloud) string {
	s := make([]string, len(clouds))
	for i, c := range clouds {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}
