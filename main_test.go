package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/internal/egress"
	"github.com/your-org/sre-lab/internal/pulumitest"
	"github.com/your-org/sre-lab/kube/cilium"
	"github.com/your-org/sre-lab/practice/slo"
)

// Expected resources per stack, by type. Local is 3+2 VMs on VirtualBox;
// dev, staging and prod are 1+1, 3+2 and 3+3 on AWS across three zones, with
// one admin CIDR.
func expectedCounts(stack string) map[string]int {
	talos := func(nodes int) map[string]int {
		return map[string]int{
			"sre-lab:infra:TalosCluster":                          1,
			"talos:machine/secrets:Secrets":                       1,
			"talos:machine/configurationApply:ConfigurationApply": nodes,
			"talos:machine/bootstrap:Bootstrap":                   1,
			"talos:cluster/kubeconfig:Kubeconfig":                 1,
			"pulumi:providers:kubernetes":                         1,
			// One upgrade step per node, one for Kubernetes, the gate
			// that waits for the API server.
			"sre-lab:infra:TalosUpgrade": 1,
			"command:local:Command":      nodes + 3, // and the wait for Cilium
			// The Kubernetes layer.
			"sre-lab:kube:Namespaces":       1,
			"sre-lab:kube:CRDs":             1,
			"sre-lab:kube:CiliumCNI":        1,
			"sre-lab:kube:CertManager":      1,
			"sre-lab:kube:SecretsOperator":  1,
			"sre-lab:kube:Storage":          1,
			"kubernetes:core/v1:Namespace":  5, // monitoring, logging, ingress, apps, cert-manager
			"kubernetes:yaml/v2:ConfigFile": 1, // Gateway API CRDs
			// CRDs, Cilium, cert-manager, sealed-secrets, storage,
			// kube-prometheus-stack, Loki, Alloy on every node, the Alloy
			// receiver.
			"kubernetes:helm.sh/v3:Release":               9,
			"kubernetes:cert-manager.io/v1:ClusterIssuer": 2,
			// The observability layer.
			"sre-lab:observability:MonitoringStack":              1,
			"random:index/randomPassword:RandomPassword":         1, // Grafana admin
			"kubernetes:core/v1:Secret":                          1,
			"kubernetes:monitoring.coreos.com/v1:PrometheusRule": 1,
			"sre-lab:observability:LokiStack":                    1,
			// Two dashboards and the Loki datasource.
			"kubernetes:core/v1:ConfigMap": 3,
		}
	}
	aws := func(cp, workers int) map[string]int {
		m := talos(cp + workers)
		for k, v := range map[string]int{
			"sre-lab:infra:AWSNodes":                              1,
			"pulumi:providers:aws":                                1,
			"aws:ec2/vpc:Vpc":                                     1,
			"aws:ec2/internetGateway:InternetGateway":             1,
			"aws:ec2/routeTable:RouteTable":                       1,
			"aws:ec2/subnet:Subnet":                               3,
			"aws:ec2/routeTableAssociation:RouteTableAssociation": 3,
			"aws:ec2/securityGroup:SecurityGroup":                 1,
			// VPC rule + 2 admin ports x 1 CIDR + 2 ingress node ports + one
			// hairpin rule per node.
			"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": 1 + 2 + 2 + cp + workers,
			"aws:ec2/instance:Instance":                                 cp + workers,
			// No node identity: a user with its key for the EBS CSI
			// driver (the managed policy) and one for Loki (its bucket).
			"aws:iam/user:User": 2,
			"aws:iam/userPolicyAttachment:UserPolicyAttachment":      1,
			"aws:iam/userPolicy:UserPolicy":                          1,
			"aws:iam/accessKey:AccessKey":                            2,
			"aws:s3/bucketV2:BucketV2":                               1,
			"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
			"aws:lb/loadBalancer:LoadBalancer":                       1,
			// 6443 and 50000 to the control planes, 80 and 443 to the workers.
			"aws:lb/targetGroup:TargetGroup":                     4,
			"aws:lb/listener:Listener":                           4,
			"aws:lb/targetGroupAttachment:TargetGroupAttachment": 2*cp + 2*workers,
		} {
			m[k] = v
		}
		// The two keys as Secrets beside their workloads, and the step
		// that deletes the EBS claims before the driver on destroy.
		m["kubernetes:core/v1:Secret"] += 2
		m["command:local:Command"]++
		// No pod reaches the instance metadata service.
		m["kubernetes:cilium.io/v2:CiliumClusterwideNetworkPolicy"] = 1
		return m
	}
	switch stack {
	case "local":
		m := withPractice(talos(5))
		m["sre-lab:infra:VirtualBoxNodes"] = 1
		m["command:local:Command"] += 1 + 1 + 5 // network, ISO, VMs
		m["kubernetes:core/v1:Namespace"]++     // local-path-storage
		m["kubernetes:cert-manager.io/v1:Certificate"] = 1
		m["kubernetes:cilium.io/v2:CiliumLoadBalancerIPPool"] = 1
		m["kubernetes:cilium.io/v2alpha1:CiliumL2AnnouncementPolicy"] = 1
		return m
	case "dev":
		return withPractice(aws(1, 1))
	case "staging":
		return withEtcdBackups(aws(3, 2))
	default:
		return withEtcdBackups(aws(3, 3))
	}
}

// withEtcdBackups adds what staging and prod get for etcd snapshots: a
// private, versioned, expiring bucket, a user whose key may only add to it
// and that key as a Secret beside the job, the job's own namespace, the
// Talos ServiceAccount and the CronJob.
func withEtcdBackups(m map[string]int) map[string]int {
	m["aws:s3/bucketV2:BucketV2"]++
	m["aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"]++
	m["aws:s3/bucketVersioningV2:BucketVersioningV2"] = 1
	m["aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2"] = 1
	m["aws:iam/user:User"]++
	m["aws:iam/userPolicy:UserPolicy"]++
	m["aws:iam/accessKey:AccessKey"]++
	m["kubernetes:core/v1:Secret"]++
	m["sre-lab:kube:EtcdBackup"] = 1
	m["kubernetes:core/v1:Namespace"]++ // etcd-backup
	m["kubernetes:talos.dev/v1alpha1:ServiceAccount"] = 1
	m["kubernetes:batch/v1:CronJob"] = 1
	return m
}

// withPractice adds the practice layer, on by default in local and dev:
// the component, the chaos engine's namespace (through the namespaces
// component), the podinfo and Chaos Mesh releases, the load generator,
// the SLOs' PrometheusRule and one dashboard per SLO.
func withPractice(m map[string]int) map[string]int {
	m["sre-lab:practice:Practice"] = 1
	m["kubernetes:monitoring.coreos.com/v1:PrometheusRule"]++
	m["kubernetes:core/v1:ConfigMap"] += len(slo.All())
	m["sre-lab:kube:Namespaces"]++
	m["kubernetes:core/v1:Namespace"]++
	m["kubernetes:helm.sh/v3:Release"] += 2
	m["kubernetes:apps/v1:Deployment"] = 1
	return m
}

var stacks = []string{"local", "dev", "staging", "prod"}

func TestStacksRegisterTheExpectedResources(t *testing.T) {
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			m, _, err := run(t, stack, userConfig(t, stack))
			require.NoError(t, err)
			assert.Equal(t, expectedCounts(stack), m.countByType())
			nothingAwaitsALaterAddress(t, m)
		})
	}
}

func TestNodeNamesFollowTheConventions(t *testing.T) {
	want := map[string][]string{
		"local":   {"talos-cp-01", "talos-cp-02", "talos-cp-03", "talos-worker-01", "talos-worker-02"},
		"dev":     {"dev-sre-cp-01", "dev-sre-worker-01"},
		"staging": {"staging-sre-cp-01", "staging-sre-cp-02", "staging-sre-cp-03", "staging-sre-worker-01", "staging-sre-worker-02"},
		"prod":    {"prod-sre-cp-01", "prod-sre-cp-02", "prod-sre-cp-03", "prod-sre-worker-01", "prod-sre-worker-02", "prod-sre-worker-03"},
	}
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			m, out, err := run(t, stack, userConfig(t, stack))
			require.NoError(t, err)
			var names []string
			if stack == "local" {
				for _, c := range m.byType("command:local:Command") {
					if env := c.Inputs["environment"].ObjectValue(); env.HasValue("SRE_VM_NAME") {
						names = append(names, env["SRE_VM_NAME"].StringValue())
					}
				}
			} else {
				for _, i := range m.byType("aws:ec2/instance:Instance") {
					names = append(names, i.Inputs["tags"].ObjectValue()["Name"].StringValue())
				}
				vpc := m.byType("aws:ec2/vpc:Vpc")[0]
				assert.Equal(t, "sre-lab-"+stack+"-vpc", vpc.Inputs["tags"].ObjectValue()["Name"].StringValue())
			}
			sort.Strings(names)
			assert.Equal(t, want[stack], names)

			// The exported node list names the same machines.
			var exported []string
			for _, n := range out["nodes"].Value.([]map[string]any) {
				exported = append(exported, n["name"].(string))
			}
			assert.Equal(t, want[stack], exported)
		})
	}
}

func TestEveryResourceIsParentedUnderAComponent(t *testing.T) {
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			m, _, err := run(t, stack, userConfig(t, stack))
			require.NoError(t, err)
			for _, r := range m.resources {
				if strings.HasPrefix(r.Type, "sre-lab:") {
					continue
				}
				assert.Regexp(t, regexp.MustCompile(`[:$]sre-lab:(infra|kube|observability|practice):[A-Za-z]+::`), r.Parent,
					"%s %s has no component parent", r.Type, r.Name)
			}
		})
	}
}

func TestSecretsAreSecretInExports(t *testing.T) {
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			_, out, err := run(t, stack, userConfig(t, stack))
			require.NoError(t, err)
			for _, name := range []string{"kubeconfig", "talosconfig", "grafanaAdminPassword"} {
				assert.True(t, out[name].Secret, "%s must be secret", name)
				assert.NotEmpty(t, out[name].Value)
			}
			for _, name := range []string{"endpoint", "nodes", "environment"} {
				assert.False(t, out[name].Secret, "%s is for reading, not secret", name)
			}
			assert.Equal(t, stack, out["environment"].Value)
		})
	}
}

// TestOutputsForPeople: the commands that fetch the credentials, the cost
// estimate (free locally, priced in a cloud), the versions running, the
// local node-port URLs of Grafana, Prometheus and Alertmanager, which need
// no DNS, and the three things to do next.
func TestOutputsForPeople(t *testing.T) {
	_, out, err := run(t, "local", userConfig(t, "local"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"kubeconfig":  `(umask 077; mkdir -p "$HOME/.sre-lab/local" && pulumi stack output kubeconfig --show-secrets -s local > "$HOME/.sre-lab/local/kubeconfig")`,
		"talosconfig": `(umask 077; mkdir -p "$HOME/.sre-lab/local" && pulumi stack output talosconfig --show-secrets -s local > "$HOME/.sre-lab/local/talosconfig")`,
	}, out["commands"].Value)
	assert.Equal(t, "0 (runs on this machine)", out["estimatedMonthlyCost"].Value)
	assert.Equal(t, config.DefaultTalosVersion, out["talosVersion"].Value)
	assert.Equal(t, config.DefaultKubernetesVersion, out["kubernetesVersion"].Value)
	assert.Equal(t, map[string]string{
		"grafana":      "http://192.168.56.20:30300",
		"prometheus":   "http://192.168.56.20:30900",
		"alertmanager": "http://192.168.56.20:30903",
	}, out["nodePortUrls"].Value, "the node ports observability/monitoring opens locally, on the first worker as docs/local-setup.md shows")
	setup, err := os.ReadFile("docs/local-setup.md")
	require.NoError(t, err)
	nodePorts, _ := out["nodePortUrls"].Value.(map[string]string)
	require.NotEmpty(t, nodePorts)
	for _, url := range nodePorts {
		// The table writes Prometheus and Alertmanager as one URL and a port.
		i := strings.LastIndex(url, ":")
		assert.Contains(t, string(setup), url[:i+1], "docs/local-setup.md shows %s", url)
		assert.Contains(t, string(setup), url[i:], "docs/local-setup.md shows %s", url)
	}
	assert.Equal(t, []string{
		"task credentials STACK=local",
		"task verify STACK=local",
		"open http://192.168.56.20:30300 as admin, password: pulumi stack output grafanaAdminPassword --show-secrets -s local",
	}, out["next"].Value)

	_, out, err = run(t, "local", userConfigOn(t, "local", onDocker))
	require.NoError(t, err)
	nodePorts, _ = out["nodePortUrls"].Value.(map[string]string)
	assert.Equal(t, "http://10.5.0.20:30903", nodePorts["alertmanager"])

	_, out, err = run(t, "prod", userConfig(t, "prod"))
	require.NoError(t, err)
	assert.Regexp(t, `^about [0-9]+ USD/month \(list prices of 2026-11-25; traffic and taxes extra\): 3 × t3.large control plane`, out["estimatedMonthlyCost"].Value)
	assert.False(t, out["estimatedMonthlyCost"].Secret)
	assert.Equal(t, "sre-lab-prod-etcd-0a1b2c3", out["etcdBackupBucket"].Value, "where the snapshots are")
	assert.NotContains(t, out, "nodePortUrls", "a cloud keeps Prometheus and Alertmanager internal")
	next, _ := out["next"].Value.([]string)
	require.Len(t, next, 3)
	assert.Equal(t, "open https://grafana.prod.lab.example.com as admin, password: pulumi stack output grafanaAdminPassword --show-secrets -s prod", next[2])
}

// TestCredentialCommands runs the `commands` output in a shell, with a
// pulumi that prints a stand-in secret: the credentials land in
// ~/.sre-lab/<stack>/ (directory 0700, files 0600), nothing in the working
// directory, which is the checkout when a person pastes them.
func TestCredentialCommands(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX shell and file modes")
	}
	bin, home, work := t.TempDir(), t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(bin, "pulumi"), []byte("#!/bin/sh\necho \"$3 of $6\"\n"), 0o755))
	for name, cmd := range commands("dev") {
		c := exec.Command("sh", "-c", string(cmd.(pulumi.String)))
		c.Dir = work
		c.Env = []string{"HOME=" + home, "PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}
		out, err := c.CombinedOutput()
		require.NoError(t, err, "%s: %s", name, out)

		dir := filepath.Join(home, ".sre-lab", "dev")
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err, name)
		assert.Equal(t, name+" of dev\n", string(b))
		for path, mode := range map[string]os.FileMode{filepath.Join(home, ".sre-lab"): 0o700, dir: 0o700, filepath.Join(dir, name): 0o600} {
			fi, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, mode, fi.Mode().Perm(), "%s: %s owner-only", name, path)
		}
	}
	entries, err := os.ReadDir(work)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing written into the checkout")
}

func TestEndpoint(t *testing.T) {
	_, out, err := run(t, "local", userConfig(t, "local"))
	require.NoError(t, err)
	assert.Equal(t, "https://192.168.56.10:6443", out["endpoint"].Value, "local endpoint is the first control plane")
	assert.Equal(t, "192.168.56.50", out["ingress"].Value, "the ingress takes the first LB-IPAM address")
	assert.Equal(t, map[string]string{"grafana": "https://grafana.sre-lab.internal", "hubble": "https://hubble.sre-lab.internal",
		"podinfo": "https://podinfo.sre-lab.internal"}, out["urls"].Value)
	assert.Equal(t, "192.168.56.50 grafana.sre-lab.internal hubble.sre-lab.internal podinfo.sre-lab.internal", out["dnsRecords"].Value, "one /etc/hosts line")

	_, out, err = run(t, "dev", userConfig(t, "dev"))
	require.NoError(t, err)
	assert.Regexp(t, `^https://.+\.elb\.eu-central-1\.amazonaws\.com:6443$`, out["endpoint"].Value, "cloud endpoint is the load balancer")
	assert.Equal(t, map[string]string{"grafana": "https://grafana.dev.lab.example.com", "podinfo": "https://podinfo.dev.lab.example.com"}, out["urls"].Value, "no public Hubble UI")
	assert.Regexp(t, `^grafana\.dev\.lab\.example\.com\. CNAME .+\.elb\.eu-central-1\.amazonaws\.com\.\npodinfo\.dev\.lab\.example\.com\. CNAME .+\.elb\.eu-central-1\.amazonaws\.com\.$`, out["dnsRecords"].Value)

	_, out, err = run(t, "dev", userConfigOn(t, "dev", map[string]string{"sre-lab:practice": "false"}))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"grafana": "https://grafana.dev.lab.example.com"}, out["urls"].Value, "no demo service without the practice layer")
}

// TestHubbleUIIsForAdminsOnly: the Hubble UI has no login and shows every
// flow, DNS query and HTTP path, so no cloud gives it a public route (no
// Ingress, no URL, no DNS record): admins port-forward to its Service
// (`task hubble`). On a laptop, whose lab network is the user's own
// machine, it keeps hubble.sre-lab.internal.
func TestHubbleUIIsForAdminsOnly(t *testing.T) {
	for _, tc := range []struct {
		name, stack string
		set         map[string]string
		public      bool
	}{
		{"aws dev", "dev", nil, false},
		{"aws prod", "prod", nil, false},
		{"hetzner dev", "dev", onHetzner, false},
		{"gcp dev", "dev", onGCP, false},
		{"azure staging", "staging", onAzure, false},
		{"virtualbox local", "local", nil, true},
		{"docker local", "local", onDocker, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := userConfigOn(t, tc.stack, tc.set)
			m, out, err := run(t, tc.stack, cfg)
			require.NoError(t, err)
			cni := m.named(t, "kubernetes:helm.sh/v3:Release", "cilium")
			ui, _ := cni.At("values.hubble.ui.enabled")
			assert.Equal(t, true, ui, "the UI runs everywhere; only its route differs")
			ingress, _ := cni.At("values.hubble.ui.ingress.enabled")
			hosts, _ := cni.At("values.hubble.ui.ingress.hosts")
			_, url := out["urls"].Value.(map[string]string)["hubble"]
			records, _ := out["dnsRecords"].Value.(string)
			if tc.public {
				assert.Equal(t, true, ingress)
				assert.Equal(t, []any{"hubble.sre-lab.internal"}, hosts)
				assert.True(t, url, "urls: %v", out["urls"].Value)
				assert.Contains(t, records, "hubble.sre-lab.internal")
				return
			}
			assert.NotEqual(t, true, ingress, "no Hubble UI Ingress on the public ingress")
			assert.Nil(t, hosts)
			assert.False(t, url, "urls: %v", out["urls"].Value)
			assert.NotContains(t, records, "hubble")
		})
	}
}

func TestMachineSecretsAreProtectedInStagingAndProd(t *testing.T) {
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			m, _, err := run(t, stack, userConfig(t, stack))
			require.NoError(t, err)
			secrets := m.byType("talos:machine/secrets:Secrets")
			require.Len(t, secrets, 1)
			assert.Equal(t, stack == "staging" || stack == "prod", secrets[0].Protect)
		})
	}
}

func TestAdminPortsOnlyOpenToAdminCIDRs(t *testing.T) {
	for _, stack := range []string{"dev", "staging", "prod"} {
		t.Run(stack, func(t *testing.T) {
			m, out, err := run(t, stack, userConfig(t, stack))
			require.NoError(t, err)
			nodeIPs := map[string]bool{}
			for _, n := range out["nodes"].Value.([]map[string]any) {
				nodeIPs[n["publicIp"].(string)+"/32"] = true
			}
			rules := m.byType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
			require.NotEmpty(t, rules)
			for _, rule := range rules {
				cidr := rule.Inputs["cidrIpv4"].StringValue()
				port := rule.Inputs["fromPort"]
				switch {
				case cidr == "10.0.0.0/16":
					assert.Equal(t, "-1", rule.Inputs["ipProtocol"].StringValue(), "node to node: %s", rule.Name)
				case cidr == "203.0.113.7/32":
					assert.Contains(t, []float64{6443, 50000}, port.NumberValue(), rule.Name)
					assert.Equal(t, port, rule.Inputs["toPort"], rule.Name)
				case cidr == "0.0.0.0/0":
					assert.Contains(t, []float64{30080, 30443}, port.NumberValue(), "only the web ingress is public: %s", rule.Name)
					assert.Equal(t, port, rule.Inputs["toPort"], rule.Name)
				case nodeIPs[cidr]:
					assert.Equal(t, 6443.0, port.NumberValue(), "hairpin %s opens only the API", rule.Name)
					assert.Equal(t, port, rule.Inputs["toPort"], rule.Name)
				default:
					t.Errorf("%s opens to %s, which is neither the VPC, an admin CIDR nor a node", rule.Name, cidr)
				}
			}
		})
	}
}

func TestInvalidConfigRegistersNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stack string
		set   map[string]string
		want  []string
	}{
		{"unknown cloud", "dev", map[string]string{"sre-lab:cloud": "gce"}, []string{"sre-lab:cloud", `"gce"`, "aws"}},
		{"even control planes", "prod", map[string]string{"sre-lab:controlPlaneCount": "4"}, []string{"sre-lab:controlPlaneCount", `"4"`, "odd"}},
		{"missing admin CIDRs", "dev", map[string]string{"sre-lab:adminCidrs": "[]"}, []string{"sre-lab:adminCidrs", "required"}},
		{"bad worker count", "local", map[string]string{"sre-lab:workerCount": "two"}, []string{"sre-lab:workerCount", `"two"`, "whole number"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := userConfigOn(t, tc.stack, tc.set)
			m, _, err := run(t, tc.stack, cfg)
			require.Error(t, err)
			for _, want := range tc.want {
				assert.Contains(t, err.Error(), want)
			}
			assert.Empty(t, m.resources, "nothing may be registered before config is valid")
		})
	}
}

func TestTwoRunsRegisterIdenticalInputs(t *testing.T) {
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			first, _, err := run(t, stack, userConfig(t, stack))
			require.NoError(t, err)
			second, _, err := run(t, stack, userConfig(t, stack))
			require.NoError(t, err)
			assert.Equal(t, fingerprint(first), fingerprint(second))
		})
	}
}

// fingerprint is every registered resource with its inputs, in a stable order.
func fingerprint(m *lab) []string {
	var out []string
	for _, r := range m.resources {
		out = append(out, fmt.Sprintf("%s %s parent=%s protect=%t %v", r.Type, r.Name, r.Parent, r.Protect, pulumitest.Plain(resource.NewPropertyValue(r.Inputs))))
	}
	sort.Strings(out)
	return out
}

func BenchmarkProgramProd(b *testing.B) {
	cfg := userConfig(b, "prod")
	for b.Loop() {
		m, _, err := run(b, "prod", cfg)
		if err != nil {
			b.Fatal(err)
		}
		if len(m.resources) == 0 {
			b.Fatal("nothing registered")
		}
	}
}

func TestKubernetesLayerOrdering(t *testing.T) {
	const release = "kubernetes:helm.sh/v3:Release"
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			m, _, err := run(t, stack, userConfig(t, stack))
			require.NoError(t, err)
			releases := m.byType(release)
			byChart := map[string]registered{}
			for _, r := range releases {
				chart := r.Inputs["name"].StringValue()
				_, twice := byChart[chart]
				assert.False(t, twice, "chart %s installed twice", chart)
				byChart[chart] = r
			}
			crds, cni := byChart["prometheus-operator-crds"], byChart["cilium"]
			gateway := m.byType("kubernetes:yaml/v2:ConfigFile")
			require.Len(t, gateway, 1)

			// CRDs first: they wait for nothing.
			assert.Empty(t, crds.Dependencies, "the CRDs wait for nothing")
			assert.Empty(t, gateway[0].Dependencies, "the Gateway API CRDs wait for nothing")
			// Then Cilium, after both sets of CRDs and no other release.
			assert.True(t, cni.DependsOn(release, crds.Name), "cilium needs the ServiceMonitor CRD")
			assert.True(t, cni.DependsOn("kubernetes:yaml/v2:ConfigFile", gateway[0].Name), "cilium needs the Gateway API CRDs")
			// Then everything else in parallel: each after Cilium and the
			// CRDs, none after another add-on.
			for chart, r := range byChart {
				if chart == "prometheus-operator-crds" || chart == "cilium" {
					continue
				}
				assert.True(t, r.DependsOn("command:local:Command", "cilium-ready"), "%s needs the pod network", chart)
				assert.True(t, r.DependsOn(release, crds.Name), "%s renders ServiceMonitors", chart)
				for other, o := range byChart {
					if other != chart && other != "cilium" && other != "prometheus-operator-crds" {
						assert.False(t, r.DependsOn(release, o.Name), "%s must not wait for %s", chart, other)
					}
				}
			}
		})
	}
}

func TestKubernetesResourcesUseTheClusterProvider(t *testing.T) {
	for _, stack := range stacks {
		t.Run(stack, func(t *testing.T) {
			m, _, err := run(t, stack, userConfig(t, stack))
			require.NoError(t, err)
			want := "pulumi:providers:kubernetes::sre-lab-" + stack + "-k8s::"
			n := 0
			for _, r := range m.resources {
				if strings.HasPrefix(r.Type, "kubernetes:") {
					n++
					assert.Contains(t, r.Provider, want, "%s %s", r.Type, r.Name)
				}
			}
			assert.Greater(t, n, 10)
		})
	}
}

func TestNamespacesAndPodSecurity(t *testing.T) {
	want := map[string]map[string]string{
		"local": {"monitoring": "privileged", "logging": "privileged", "ingress": "baseline", "apps": "baseline",
			"cert-manager": "baseline", "local-path-storage": "privileged", "chaos-mesh": "privileged"},
		"dev": {"monitoring": "privileged", "logging": "privileged", "ingress": "baseline", "apps": "baseline",
			"cert-manager": "baseline", "chaos-mesh": "privileged"},
		"staging": {"monitoring": "privileged", "logging": "privileged", "ingress": "baseline", "apps": "baseline",
			"cert-manager": "baseline", "etcd-backup": "restricted"},
	}
	for stack, namespaces := range want {
		t.Run(stack, func(t *testing.T) {
			m, _, err := run(t, stack, userConfig(t, stack))
			require.NoError(t, err)
			got := map[string]string{}
			for _, ns := range m.byType("kubernetes:core/v1:Namespace") {
				meta := ns.Inputs["metadata"].ObjectValue()
				labels := meta["labels"].ObjectValue()
				got[meta["name"].StringValue()] = labels["pod-security.kubernetes.io/enforce"].StringValue()
				assert.Equal(t, "restricted", labels["pod-security.kubernetes.io/warn"].StringValue())
			}
			assert.Equal(t, namespaces, got)
		})
	}
}

func TestExternalSecretsOnAWS(t *testing.T) {
	cfg := userConfig(t, "staging")
	cfg["sre-lab:secrets"] = "external-secrets"
	m, _, err := run(t, "staging", cfg)
	require.NoError(t, err)
	var charts []string
	for _, r := range m.byType("kubernetes:helm.sh/v3:Release") {
		charts = append(charts, r.Inputs["name"].StringValue())
	}
	assert.Contains(t, charts, "external-secrets")
	assert.NotContains(t, charts, "sealed-secrets")
	stores := m.byType("kubernetes:external-secrets.io/v1:ClusterSecretStore")
	require.Len(t, stores, 1)
	assert.Len(t, m.byType("aws:iam/userPolicy:UserPolicy"), 3, "External Secrets' user may read sre-lab/staging/ secrets, beside Loki's and the snapshot job's")
}

func TestMonitoringScrapesTheTalosControlPlane(t *testing.T) {
	for _, tc := range []struct {
		stack       string
		etcd        []any
		grafanaType string
	}{
		{"local", []any{"192.168.56.10", "192.168.56.11", "192.168.56.12"}, "NodePort"},
		{"dev", nil, "ClusterIP"},
	} {
		t.Run(tc.stack, func(t *testing.T) {
			m, out, err := run(t, tc.stack, userConfig(t, tc.stack))
			require.NoError(t, err)
			var kps registered
			for _, r := range m.byType("kubernetes:helm.sh/v3:Release") {
				if r.Inputs["name"].StringValue() == "kube-prometheus-stack" {
					kps = r
				}
			}
			require.NotEmpty(t, kps.Name)
			at := func(path string) any {
				v, ok := kps.At("values." + path)
				require.True(t, ok, path)
				return v
			}
			etcd := tc.etcd
			if etcd == nil {
				// In a cloud the control planes' private addresses.
				for _, n := range out["nodes"].Value.([]map[string]any) {
					if n["role"] == "controlplane" {
						etcd = append(etcd, n["privateIp"])
					}
				}
			}
			assert.Equal(t, etcd, at("kubeEtcd.endpoints"), "etcd is a Talos service, scraped at the control planes")
			assert.Equal(t, 2381.0, at("kubeEtcd.service.targetPort"))
			assert.Equal(t, "kube-controller-manager", at("kubeControllerManager.service.selector.k8s-app"))
			assert.Equal(t, "kube-scheduler", at("kubeScheduler.service.selector.k8s-app"))
			assert.Equal(t, false, at("kubeProxy.enabled"))
			assert.Equal(t, false, at("prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues"))
			assert.Equal(t, tc.grafanaType, at("grafana.service.type"))
			assert.Equal(t, "grafana-admin", at("grafana.admin.existingSecret"), "the password never sits in the values")
			assert.True(t, kps.DependsOn("command:local:Command", "cilium-ready"))
		})
	}
}

// TestLogsAndDashboardsAreWired: Loki keeps chunks in the backend's bucket
// in a cloud and on its volume locally; Grafana gets the Loki datasource
// and the lab's dashboards in their folders; every node ships its Talos
// logs to the receiver's fixed address.
func TestLogsAndDashboardsAreWired(t *testing.T) {
	for _, tc := range []struct {
		stack, store string
		bucket       any
	}{
		{"local", "filesystem", nil},
		{"dev", "s3", "sre-lab-dev-logs-0a1b2c3"},
	} {
		t.Run(tc.stack, func(t *testing.T) {
			m, _, err := run(t, tc.stack, userConfig(t, tc.stack))
			require.NoError(t, err)
			loki := m.named(t, "kubernetes:helm.sh/v3:Release", "logging-loki")
			store, _ := loki.At("values.loki.storage.type")
			assert.Equal(t, tc.store, store)
			bucket, _ := loki.At("values.loki.storage.bucketNames.chunks")
			assert.Equal(t, tc.bucket, bucket)
			retention, _ := loki.At("values.loki.limits_config.retention_period")
			assert.NotEmpty(t, retention)

			var folders []string
			for _, cm := range m.byType("kubernetes:core/v1:ConfigMap") {
				ns, _ := cm.At("metadata.namespace")
				assert.Equal(t, "monitoring", ns, "Grafana's sidecar looks in its own namespace for datasources")
				if v, ok := cm.At("metadata.labels.grafana_dashboard"); ok {
					assert.Equal(t, "1", v)
					folder, _ := cm.At("metadata.annotations.grafana_folder")
					folders = append(folders, folder.(string))
				}
			}
			want := []string{"SRE Lab", "Cilium"}
			for range slo.All() {
				want = append(want, slo.DashboardFolder)
			}
			assert.ElementsMatch(t, want, folders, "the lab's own, Cilium's and one per SLO")
			ds := m.named(t, "kubernetes:core/v1:ConfigMap", "logging-datasource")
			label, _ := ds.At("metadata.labels.grafana_datasource")
			assert.Equal(t, "1", label)

			for _, apply := range m.byType("talos:machine/configurationApply:ConfigurationApply") {
				patches := fmt.Sprint(pulumitest.Plain(apply.Inputs["configPatches"]))
				assert.Contains(t, patches, "tcp://10.96.0.20:6050/", apply.Name)
				assert.Contains(t, patches, "tcp://10.96.0.20:6051/", apply.Name)
			}
		})
	}
}

func TestGrafanaPasswordMustBeSecret(t *testing.T) {
	cfg := userConfig(t, "dev")
	cfg["sre-lab:grafanaAdminPassword"] = "correct-horse-battery"
	m, _, err := run(t, "dev", cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sre-lab:grafanaAdminPassword")
	assert.Contains(t, err.Error(), "--secret")
	assert.NotContains(t, err.Error(), "correct-horse-battery")
	assert.Empty(t, m.resources)
}

func TestBadAlertmanagerReceiverRegistersNothing(t *testing.T) {
	cfg := userConfig(t, "dev")
	cfg["sre-lab:alertmanager"] = `{"slack":[{"name":"team","apiUrl":"http://hooks.example.com/secret-token"}]}`
	t.Setenv("PULUMI_CONFIG_SECRET_KEYS", `["sre-lab:alertmanager"]`)
	m, _, err := run(t, "dev", cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sre-lab:alertmanager.slack[0].apiUrl")
	assert.NotContains(t, err.Error(), "secret-token")
	assert.Empty(t, m.resources)
}

// TestOtherBackends: the whole program runs on Hetzner and Docker as on AWS
// and VirtualBox: the backend's component, the node names of the
// environment, the layers above, and no AWS or VirtualBox resource.
func TestOtherBackends(t *testing.T) {
	for _, tc := range []struct {
		name, stack string
		set         map[string]string
		component   string
		nodes       []string
		endpoint    string
		logStore    string
		// metadataRules is the number of rules of the policy that keeps
		// pods from the cloud's metadata service: two where Loki alone is
		// let through (its bucket takes the nodes' identity), none on a
		// laptop.
		metadataRules int
	}{
		{"hetzner dev", "dev", onHetzner,
			"sre-lab:infra:HetznerNodes", []string{"dev-sre-cp-01", "dev-sre-worker-01"}, `^https://203\.0\.113\.[0-9]+:6443$`, "filesystem", 1},
		{"hetzner prod", "prod", map[string]string{"sre-lab:cloud": "hetzner", "sre-lab:region": "hel1"},
			"sre-lab:infra:HetznerNodes", []string{"prod-sre-cp-01", "prod-sre-cp-02", "prod-sre-cp-03", "prod-sre-worker-01", "prod-sre-worker-02", "prod-sre-worker-03"}, `^https://203\.0\.113\.[0-9]+:6443$`, "filesystem", 1},
		{"gcp dev", "dev", onGCP,
			"sre-lab:infra:GCPNodes", []string{"dev-sre-cp-01", "dev-sre-worker-01"}, `^https://198\.51\.100\.[0-9]+:6443$`, "gcs", 2},
		{"azure staging", "staging", onAzure,
			"sre-lab:infra:AzureNodes", []string{"staging-sre-cp-01", "staging-sre-cp-02", "staging-sre-cp-03", "staging-sre-worker-01", "staging-sre-worker-02"}, `^https://198\.51\.100\.[0-9]+:6443$`, "filesystem", 1},
		{"docker local", "local", onDocker,
			"sre-lab:infra:DockerNodes", []string{"talos-cp-01", "talos-cp-02", "talos-cp-03", "talos-worker-01", "talos-worker-02"}, `^https://10\.5\.0\.10:6443$`, "filesystem", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := userConfigOn(t, tc.stack, tc.set)
			m, out, err := run(t, tc.stack, cfg)
			if err == nil {
				nothingAwaitsALaterAddress(t, m)
			}
			require.NoError(t, err)
			counts := m.countByType()
			assert.Equal(t, 1, counts[tc.component])
			for typ := range counts {
				assert.False(t, strings.HasPrefix(typ, "aws:"), "%s has no place here", typ)
			}
			var names []string
			for _, n := range out["nodes"].Value.([]map[string]any) {
				names = append(names, n["name"].(string))
			}
			assert.Equal(t, tc.nodes, names)
			assert.Regexp(t, tc.endpoint, out["endpoint"].Value)
			assert.Equal(t, 1, counts["sre-lab:observability:LokiStack"])
			store, _ := m.named(t, "kubernetes:helm.sh/v3:Release", "logging-loki").At("values.loki.storage.type")
			assert.Equal(t, tc.logStore, store)
			policies := m.byType("kubernetes:cilium.io/v2:CiliumClusterwideNetworkPolicy")
			if tc.metadataRules == 0 {
				assert.Empty(t, policies, "no metadata service on a laptop")
			} else if assert.Len(t, policies, 1) {
				specs, _ := policies[0].At("specs")
				assert.Len(t, specs, tc.metadataRules)
			}
			labels, _ := m.named(t, "kubernetes:helm.sh/v3:Release", "logging-loki").At("values.singleBinary.podLabels")
			if tc.metadataRules == 2 {
				assert.Equal(t, map[string]any{cilium.CloudIdentityLabel: "true"}, labels, "Loki is the pod let through")
			} else {
				assert.Nil(t, labels)
			}
			assert.Zero(t, counts["sre-lab:kube:EtcdBackup"], "no object storage, no scheduled snapshots")
			var namespaces []string
			for _, ns := range m.byType("kubernetes:core/v1:Namespace") {
				name, _ := ns.At("metadata.name")
				namespaces = append(namespaces, name.(string))
			}
			assert.Contains(t, namespaces, "local-path-storage", "local-path runs where no CSI driver does")
			if tc.component == "sre-lab:infra:DockerNodes" {
				assert.Equal(t, 3, counts["command:local:Command"],
					"containers cannot upgrade Talos in place: Kubernetes only, and the waits for the API server and Cilium")
				assert.Equal(t, "https://grafana.sre-lab.internal:30443", out["urls"].Value.(map[string]string)["grafana"],
					"no LB-IPAM across a Docker bridge: the ingress answers on its node port")
			}
		})
	}
}

// TestUpgradesComeBeforeConfigApply: a version change rolls through the
// nodes (control planes first, one at a time) before any node's config is
// applied, and the machine config keeps the version the cluster was made
// with.
func TestUpgradesComeBeforeConfigApply(t *testing.T) {
	m, _, err := run(t, "staging", userConfig(t, "staging"))
	require.NoError(t, err)
	applies := m.byType("talos:machine/configurationApply:ConfigurationApply")
	require.Len(t, applies, 5)
	for _, a := range applies {
		// The last step, which itself waits for the node before it.
		assert.True(t, a.DependsOn("command:local:Command", "sre-lab-staging-upgrade-kubernetes"), a.Name)
	}
	var steps []string
	for _, r := range m.resources {
		if r.Type == "command:local:Command" && strings.Contains(r.Name, "-upgrade-") {
			steps = append(steps, r.Name)
		}
	}
	kubernetes := m.named(t, "command:local:Command", "sre-lab-staging-upgrade-kubernetes")
	assert.True(t, kubernetes.DependsOn("command:local:Command", "sre-lab-staging-upgrade-staging-sre-worker-02"),
		"so the applies wait for every node's step")
	assert.Equal(t, []string{
		"sre-lab-staging-upgrade-staging-sre-cp-01", "sre-lab-staging-upgrade-staging-sre-cp-02", "sre-lab-staging-upgrade-staging-sre-cp-03",
		"sre-lab-staging-upgrade-staging-sre-worker-01", "sre-lab-staging-upgrade-staging-sre-worker-02", "sre-lab-staging-upgrade-kubernetes",
	}, steps, "registered in the order they run")
	secrets := m.byType("talos:machine/secrets:Secrets")
	require.Len(t, secrets, 1)
	assert.Contains(t, secrets[0].IgnoreChanges, "talosVersion", "the config's compatibility version is fixed at creation")
}

// nothingAwaitsALaterAddress is the ordering rule of the first real run:
// Helm, waiting on a release, counts a LoadBalancer Service as not ready
// until it has an address (helm pkg/kube/ready.go, serviceReady), and on a
// backend with LB-IPAM only a CiliumLoadBalancerIPPool gives one. So every
// release Helm waits on is created after every pool; the one that cannot
// be, Cilium's, whose operator serves the pool's kind, must not be waited
// on by Helm.
func nothingAwaitsALaterAddress(t *testing.T, m *lab) {
	t.Helper()
	pools := m.byType("kubernetes:cilium.io/v2:CiliumLoadBalancerIPPool")
	cilium := m.named(t, "kubernetes:helm.sh/v3:Release", "cilium")
	beforeCNI := m.dependencies(cilium)
	for _, r := range m.byType("kubernetes:helm.sh/v3:Release") {
		if skip, _ := r.At("skipAwait"); skip == true {
			assert.NotEqual(t, true, r.Inputs["atomic"].V, "%s: atomic implies Helm's wait", r.Name)
			continue
		}
		if beforeCNI["kubernetes:helm.sh/v3:Release::"+r.Name] {
			// Installed before there is a pod network: only CRDs can be
			// ready then, and CRDs need no address.
			chart, _ := r.At("chart")
			assert.Equal(t, "prometheus-operator-crds", chart, "only CRDs install before Cilium")
			continue
		}
		deps := m.dependencies(r)
		for _, pool := range pools {
			assert.True(t, deps["kubernetes:cilium.io/v2:CiliumLoadBalancerIPPool::"+pool.Name],
				"Helm waits on %s, so it must come after the LoadBalancer pool %s that gives its Services their addresses", r.Name, pool.Name)
		}
	}
	if len(pools) > 0 {
		skip, _ := cilium.At("skipAwait")
		assert.Equal(t, true, skip, "Cilium renders a LoadBalancer ingress Service that only its own, later, pool can serve")
	}
}

// TestLocalLabRefusesMacOS: VirtualBox 7 on macOS has no host-only
// interfaces, so the local stack stops before any resource exists rather
// than half-way through the network script.
// TestLocalLabOnMacOS: on a Mac, Intel or Apple Silicon, the local stack
// builds the same lab on a VirtualBox host-only network, with guests of
// the host's architecture, each node keeping its planned address through
// a Talos patch applied with its machine config. Docker is refused there.
func TestLocalLabOnMacOS(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			hostOS, hostArch = "darwin", arch
			t.Cleanup(func() { hostOS, hostArch = runtime.GOOS, runtime.GOARCH })
			m, _, err := run(t, "local", userConfig(t, "local"))
			require.NoError(t, err)
			assert.Equal(t, expectedCounts("local"), m.countByType())

			network := m.named(t, "command:local:Command", "sre-lab-local-network")
			name, _ := network.At("environment.SRE_NET_NAME")
			assert.Equal(t, "sre-lab", name)
			iso := m.named(t, "command:local:Command", "sre-lab-local-iso")
			url, _ := iso.At("environment.SRE_ISO_URL")
			assert.Contains(t, fmt.Sprint(url), "/metal-"+arch+".iso")

			patches := map[string]string{}
			for _, c := range m.byType("command:local:Command") {
				vm, ok := c.At("environment.SRE_VM_NAME")
				if !ok {
					continue
				}
				vmArch, _ := c.At("environment.SRE_VM_ARCH")
				assert.Equal(t, arch, vmArch, "%s", vm)
				netConfig, _ := c.At("environment.SRE_VM_NETWORK_CONFIG")
				require.NotEmpty(t, netConfig, "%s", vm)
				patches[fmt.Sprint(vm)] = fmt.Sprint(netConfig)
			}
			require.Len(t, patches, 5)
			for _, apply := range m.byType("talos:machine/configurationApply:ConfigurationApply") {
				node := strings.TrimPrefix(apply.Name, "sre-lab-local-")
				want, ok := patches[node]
				require.True(t, ok, "no VM for %s", apply.Name)
				assert.Contains(t, pulumitest.Plain(apply.Inputs["configPatches"]), want, apply.Name)
			}

			m, _, err = run(t, "local", userConfigOn(t, "local", onDocker))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "runs on Linux hosts only (this host: darwin)")
			assert.Empty(t, m.resources, "nothing is registered")

			_, _, err = run(t, "dev", userConfig(t, "dev"))
			assert.NoError(t, err, "a cloud stack runs from macOS too")
		})
	}
}

func TestLocalLabRefusesWindows(t *testing.T) {
	hostOS = "windows"
	t.Cleanup(func() { hostOS = runtime.GOOS })
	m, _, err := run(t, "local", userConfig(t, "local"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "runs on Linux and macOS hosts only (this host: windows)")
	assert.Empty(t, m.resources, "nothing is registered")
}

// TestUpdatesStopWhereTheNodesWouldNotAnswer: from an address outside
// sre-lab:adminCidrs (a hosted Deployments runner), every Talos apply and
// the Kubernetes provider would time out; the update stops before any
// resource instead, naming the address and the fix. Previews contact no
// node and run anywhere.
func TestUpdatesStopWhereTheNodesWouldNotAnswer(t *testing.T) {
	m, _, err := runFrom(t, "dev", userConfig(t, "dev"), netip.MustParseAddr("192.0.2.44"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `sre-lab:adminCidrs = [203.0.113.7/32]: this machine reaches the internet from 192.0.2.44`)
	assert.Empty(t, m.resources, "nothing is registered")

	_, _, err = runFrom(t, "local", userConfig(t, "local"), netip.MustParseAddr("192.0.2.44"))
	assert.NoError(t, err, "a local lab is reached on the host's own network")

	t.Setenv(egress.SkipEnv, "1")
	_, _, err = runFrom(t, "dev", userConfig(t, "dev"), netip.MustParseAddr("192.0.2.44"))
	assert.NoError(t, err, "the check can be skipped explicitly")
}

// TestHTTP01ChallengesReachTheSolver: Cilium applies a forced HTTPS
// redirect to every Ingress of a host once one of them asks for it, and
// its chart forces it on all by default (enforce-ingress-https); the
// HTTP-01 challenge would then be redirected to an HTTPS listener that has
// no certificate yet, and Let's Encrypt would never issue one (cilium/cilium
// issues 28852, 35347). In every cloud stack, the global setting is off and
// every Ingress of the lab, the solver's included, says so.
func TestHTTP01ChallengesReachTheSolver(t *testing.T) {
	for _, tc := range []struct {
		name, stack string
		set         map[string]string
	}{
		{"aws dev", "dev", nil},
		{"aws prod", "prod", nil},
		{"hetzner dev", "dev", onHetzner},
		{"gcp dev", "dev", onGCP},
		{"azure staging", "staging", onAzure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := userConfigOn(t, tc.stack, tc.set)
			m, _, err := run(t, tc.stack, cfg)
			require.NoError(t, err)
			cni := m.named(t, "kubernetes:helm.sh/v3:Release", "cilium")
			enforce, ok := cni.At("values.ingressController.enforceHttps")
			require.True(t, ok, "the chart's default forces HTTPS: the lab must say false")
			assert.Equal(t, false, enforce)

			annotations := map[string]string{}
			var grafana any
			for _, r := range m.byType("kubernetes:helm.sh/v3:Release") {
				if r.Inputs["name"].StringValue() == "kube-prometheus-stack" {
					grafana, _ = r.At("values.grafana.ingress.annotations")
				}
			}
			annotations["grafana"], _ = grafana.(map[string]any)[cilium.ForceHTTPSAnnotation].(string)
			for _, issuer := range m.byType("kubernetes:cert-manager.io/v1:ClusterIssuer") {
				solver, ok := issuer.At("spec.acme.solvers.0.http01.ingress.ingressTemplate.metadata.annotations")
				require.True(t, ok, "%s: the solver's Ingress must not force HTTPS", issuer.Name)
				annotations[issuer.Name], _ = solver.(map[string]any)[cilium.ForceHTTPSAnnotation].(string)
			}
			require.Len(t, annotations, 3, "Grafana and both Let's Encrypt issuers (no cloud has a Hubble UI Ingress)")
			for _, r := range m.byType("kubernetes:helm.sh/v3:Release") {
				if r.Inputs["name"].StringValue() == "podinfo" {
					podinfo, _ := r.At("values.ingress.annotations")
					annotations["podinfo"], _ = podinfo.(map[string]any)[cilium.ForceHTTPSAnnotation].(string)
				}
			}
			if tc.stack == "dev" {
				assert.Contains(t, annotations, "podinfo", "the practice layer's demo service has an Ingress in dev")
			}
			for name, v := range annotations {
				assert.Equal(t, "disabled", v, "%s: %s", name, cilium.ForceHTTPSAnnotation)
			}
		})
	}
}

// TestDNSRecordsFitTheIngress: the records a person adds for the web names
// point at the ingress in the form DNS allows: a CNAME to the AWS load
// balancer's host name, A records where the ingress is an address (GCP,
// Azure, Hetzner), since a CNAME's target must be a name.
func TestDNSRecordsFitTheIngress(t *testing.T) {
	for _, tc := range []struct {
		name, stack string
		set         map[string]string
		record      string
	}{
		// dev has the practice layer's podinfo.<domain> too.
		{"aws", "dev", nil, `^grafana\.dev\.lab\.example\.com\. CNAME [a-z0-9-]+\.elb\.eu-central-1\.amazonaws\.com\.\npodinfo\.dev\.lab\.example\.com\. CNAME [a-z0-9-]+\.elb\.eu-central-1\.amazonaws\.com\.$`},
		{"gcp", "dev", onGCP, `^grafana\.dev\.lab\.example\.com\. A 198\.51\.100\.[0-9]+\npodinfo\.dev\.lab\.example\.com\. A 198\.51\.100\.[0-9]+$`},
		{"hetzner", "dev", onHetzner, `^grafana\.dev\.lab\.example\.com\. A 203\.0\.113\.[0-9]+\npodinfo\.dev\.lab\.example\.com\. A 203\.0\.113\.[0-9]+$`},
		{"azure", "staging", onAzure, `^grafana\.staging\.lab\.example\.com\. A 198\.51\.100\.[0-9]+$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, out, err := run(t, tc.stack, userConfigOn(t, tc.stack, tc.set))
			require.NoError(t, err)
			assert.Regexp(t, tc.record, out["dnsRecords"].Value)
			assert.Contains(t, out["dnsRecords"].Value, out["ingress"].Value, "the record points at the ingress")
		})
	}
}

// TestUnknownKeyRegistersNothing: a misspelt key of the namespace stops the
// program before any resource, naming the setting meant, instead of being
// ignored while its default is used; helmValues, an object, is one key.
func TestUnknownKeyRegistersNothing(t *testing.T) {
	cfg := userConfig(t, "dev")
	cfg["sre-lab:adminCidr"] = cfg["sre-lab:adminCidrs"]
	cfg["sre-lab:helmValues"] = `{"cilium":{"operator":{"replicas":1}}}`
	m, _, err := run(t, "dev", cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sre-lab:adminCidr is not a setting; did you mean sre-lab:adminCidrs?")
	assert.NotContains(t, err.Error(), "helmValues")
	assert.Empty(t, m.resources)

	// A key with no near setting is sent to README's table, which lists
	// exactly the settings.
	prose, _ := section(t, "README.md", "Stack configuration")
	var documented []string
	for _, row := range regexp.MustCompile("(?m)^\\| ([^|]*`[^|]*)\\|").FindAllStringSubmatch(prose, -1) {
		for _, k := range regexp.MustCompile("`([A-Za-z]+)`").FindAllStringSubmatch(row[1], -1) {
			documented = append(documented, k[1])
		}
	}
	assert.ElementsMatch(t, config.Keys(), documented, "README.md, Stack configuration")
}
