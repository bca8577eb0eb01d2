// Package cost estimates what a stack's machines, disks, public addresses
// and load balancers cost per month, from a dated table of list prices in
// this file. It is an estimate for choosing sizes, not a bill: traffic,
// load-balancer capacity units, snapshots, object storage and taxes are
// left out, and prices change.
package cost

import (
	"fmt"
	"math"
	"strings"

	"github.com/your-org/sre-lab/config"
)

// PricesAsOf dates the table below. Prices are list prices for on-demand
// use as this build knows them: AWS in eu-central-1, GCP in europe-west3,
// Azure in westeurope (USD), Hetzner Cloud in Germany and Finland (EUR,
// without VAT). Check the vendor's calculator
// before relying on them, and update this table and its date together.
const PricesAsOf = "2026-11-25"

// HoursPerMonth is the month the hourly prices are multiplied by.
const HoursPerMonth = 730

// Prices are one backend's list prices.
type Prices struct {
	// Currency is the ISO code the prices are in.
	Currency string
	// Hourly is the price per hour of each machine size.
	Hourly map[string]float64
	// DiskGiBMonth is the price of a GiB of system disk per month; zero
	// where the machine price includes the disk.
	DiskGiBMonth float64
	// PublicIPv4Hour is the price per hour of each node's public address.
	PublicIPv4Hour float64
	// LoadBalancerHour is the fixed price per hour of one load balancer.
	LoadBalancerHour float64
	// LoadBalancers is how many load balancers the backend creates.
	LoadBalancers int
}

// Table holds the prices of every backend with a price; local backends
// cost nothing.
var Table = map[config.Cloud]Prices{
	config.AWS: {
		Currency: "USD",
		Hourly: map[string]float64{
			"t3.medium": 0.048, "t3.large": 0.096, "t3.xlarge": 0.192, "t3.2xlarge": 0.384,
			"t3a.medium": 0.0432, "t3a.large": 0.0864, "t3a.xlarge": 0.1728,
			"m6i.large": 0.115, "m6i.xlarge": 0.23, "m7i.large": 0.1208, "m7i.xlarge": 0.2416,
			"c6i.large": 0.097, "c6i.xlarge": 0.194, "r6i.large": 0.152, "r6i.xlarge": 0.304,
		},
		DiskGiBMonth:     0.0952, // gp3
		PublicIPv4Hour:   0.005,
		LoadBalancerHour: 0.027, // one NLB for the APIs and the web
		LoadBalancers:    1,
	},
	config.GCP: {
		Currency: "USD",
		Hourly: map[string]float64{
			"e2-medium": 0.0436, "e2-standard-2": 0.0871, "e2-standard-4": 0.1742, "e2-standard-8": 0.3484,
			"n2-standard-2": 0.1263, "n2-standard-4": 0.2526, "n2d-standard-2": 0.1099, "n2d-standard-4": 0.2198,
		},
		DiskGiBMonth:     0.13, // pd-balanced
		PublicIPv4Hour:   0.005,
		LoadBalancerHour: 0.025, // a forwarding rule each: APIs and web
		LoadBalancers:    2,
	},
	config.Azure: {
		Currency: "USD",
		Hourly: map[string]float64{
			"Standard_B2s": 0.0496, "Standard_B2ms": 0.0992, "Standard_B4ms": 0.198, "Standard_B8ms": 0.396,
			"Standard_D2s_v5": 0.115, "Standard_D4s_v5": 0.23, "Standard_D8s_v5": 0.46,
		},
		DiskGiBMonth:     0.15, // premium or standard SSD, rounded up to its tier
		PublicIPv4Hour:   0.005,
		LoadBalancerHour: 0.025, // Standard, first five rules
		LoadBalancers:    1,
	},
	config.Hetzner: {
		Currency: "EUR",
		Hourly: map[string]float64{
			"cx22": 0.0066, "cx32": 0.0110, "cx42": 0.0266, "cx52": 0.0522,
			"cx23": 0.0060, "cx33": 0.0110, "cx43": 0.0210, "cx53": 0.0410,
			"cpx21": 0.0137, "cpx31": 0.0249, "cpx41": 0.0457, "cpx51": 0.0960,
			"cpx22": 0.0130, "cpx32": 0.0230, "cpx42": 0.0430,
			"ccx13": 0.0230, "ccx23": 0.0460, "ccx33": 0.0920, "ccx43": 0.1840, "ccx53": 0.3680, "ccx63": 0.5520,
		},
		PublicIPv4Hour:   0.0008,
		LoadBalancerHour: 0.0088, // lb11: one for the APIs, one for the web
		LoadBalancers:    2,
	},
}

// Line is one item of an estimate.
type Line struct {
	Item    string
	Monthly float64
}

// Estimate is a stack's monthly cost.
type Estimate struct {
	Currency string
	Lines    []Line
	Total    float64
}

// Of estimates cfg's monthly cost; local backends cost nothing, and a size
// missing from the table is an error naming it, never a silent zero.
func Of(cfg config.Config) (Estimate, error) {
	if cfg.Cloud.Local() {
		return Estimate{Currency: "USD"}, nil
	}
	p, ok := Table[cfg.Cloud]
	if !ok {
		return Estimate{}, fmt.Errorf("no prices for %s", cfg.Cloud)
	}
	e := Estimate{Currency: p.Currency}
	for _, pool := range []struct {
		role string
		pool config.NodePool
	}{{"control plane", cfg.ControlPlane}, {"worker", cfg.Workers}} {
		if pool.pool.Count == 0 {
			continue
		}
		hourly, ok := p.Hourly[pool.pool.Size]
		if !ok {
			return Estimate{}, fmt.Errorf("no %s price for %s in the table of %s", cfg.Cloud, pool.pool.Size, PricesAsOf)
		}
		n := float64(pool.pool.Count)
		e.add(fmt.Sprintf("%d × %s %s", pool.pool.Count, pool.pool.Size, pool.role), n*hourly*HoursPerMonth)
		if p.DiskGiBMonth > 0 {
			e.add(fmt.Sprintf("%d × %d GiB disk", pool.pool.Count, pool.pool.DiskGiB), n*float64(pool.pool.DiskGiB)*p.DiskGiBMonth)
		}
	}
	nodes := cfg.ControlPlane.Count + cfg.Workers.Count
	e.add(fmt.Sprintf("%d public IPv4 addresses", nodes), float64(nodes)*p.PublicIPv4Hour*HoursPerMonth)
	e.add(fmt.Sprintf("%d load balancer(s)", p.LoadBalancers), float64(p.LoadBalancers)*p.LoadBalancerHour*HoursPerMonth)
	return e, nil
}

func (e *Estimate) add(item string, monthly float64) {
	monthly = math.Round(monthly*100) / 100
	e.Lines = append(e.Lines, Line{item, monthly})
	e.Total = math.Round((e.Total+monthly)*100) / 100
}

// String is the one-line summary the stack exports.
func (e Estimate) String() string {
	if len(e.Lines) == 0 {
		return "0 (runs on this machine)"
	}
	items := make([]string, len(e.Lines))
	for i, l := range e.Lines {
		items[i] = fmt.Sprintf("%s %.2f", l.Item, l.Monthly)
	}
	return fmt.Sprintf("about %.0f %s/month (list prices of %s; traffic and taxes extra): %s",
		e.Total, e.Currency, PricesAsOf, strings.Join(items, "; "))
}
