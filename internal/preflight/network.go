package preflight

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/your-org/sre-lab/config"
)

// ownInterface matches, by backend and host system, the interfaces a
// backend makes for the lab's network, which a second run finds already
// holding it. VirtualBox's Linux host-only interfaces are vboxnet<n>
// (VBOXNETADP_LINUX_NAME in
// src/VBox/HostDrivers/VBoxNetAdp/linux/VBoxNetAdp-linux.c). On macOS a
// host-only network is a vmnet network, which macOS puts on a bridge<n>
// interface holding the network's first address while a VM is attached
// (as observed in hamishcoleman/macos-vmnet's README; VirtualBox starts it
// in src/VBox/Devices/Network/DrvVMNet.m). Docker names the bridge of a
// user-defined network br-<first 12 hex digits of its ID> (moby
// libnetwork/drivers/bridge/bridge_linux.go, parseNetworkOptions).
var ownInterface = map[config.Cloud]map[string]*regexp.Regexp{
	config.VirtualBox: {
		"linux":  regexp.MustCompile(`^vboxnet[0-9]+$`),
		"darwin": regexp.MustCompile(`^bridge[0-9]+$`),
	},
	config.Docker: {"linux": regexp.MustCompile(`^br-[0-9a-f]{12}$`)},
}

// virtualBoxRanges is where VirtualBox on Linux lets host-only interfaces
// live unless /etc/vbox/networks.conf says otherwise (VirtualBox manual,
// Host-Only Networking); a suggested range stays inside it.
var virtualBoxRanges = netip.MustParsePrefix("192.168.56.0/21")

// Route is one IPv4 route of the host.
type Route struct {
	Iface string
	Dst   netip.Prefix
}

// readRoutes parses Linux's /proc/net/route. The kernel prints each
// destination and mask as the 32-bit word of the address in network byte
// order, in hex (net/ipv4/fib_trie.c, fib_route_seq_show), so the bytes
// are read back in the host's own order.
func readRoutes(path string) ([]Route, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	word := func(s string) ([4]byte, error) {
		var a [4]byte
		n, err := strconv.ParseUint(s, 16, 32)
		if err != nil || len(s) != 8 {
			return a, fmt.Errorf("%s: %q is not an 8-digit hex word", path, s)
		}
		binary.NativeEndian.PutUint32(a[:], uint32(n))
		return a, nil
	}
	var routes []Route
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 8 {
			continue // the header
		}
		dst, err := word(f[1])
		if err != nil {
			return nil, err
		}
		mask, err := word(f[7])
		if err != nil {
			return nil, err
		}
		ones := 0
		for _, m := range mask {
			for ; m&0x80 != 0; m <<= 1 {
				ones++
			}
		}
		routes = append(routes, Route{Iface: f[0], Dst: netip.PrefixFrom(netip.AddrFrom4(dst), ones).Masked()})
	}
	return routes, nil
}

// claim is something on the host that uses part of the lab's range.
type claim struct{ by, what string }

// checkNetwork looks for anything on the host that already uses the lab's
// node network: an address on an interface, or a route other than the
// default one. The backend's own interface holding exactly that network is
// the lab's from an earlier run (or, on VirtualBox, one the network script
// adopts), so it is no conflict.
func checkNetwork(lab Lab, host Host) Result {
	network := lab.Config.NetworkCIDR.Masked()
	r := Result{Check: "network", Needed: fmt.Sprintf("%s (sre-lab:networkCidr) used by nothing else on this host", network)}
	ifaces, err := host.Interfaces()
	if err != nil {
		r.Status, r.Measured = Unmeasured, "listing the network interfaces failed: "+err.Error()
		r.Fix = "check with ip -4 addr and ip -4 route that nothing uses " + network.String()
		return r
	}
	own := map[string]bool{}
	ownName := ownInterface[lab.Config.Cloud][host.GOOS]
	var claims []claim
	var used []netip.Prefix
	for _, iface := range ifaces {
		for _, p := range iface.Addrs {
			if !p.Addr().Is4() {
				continue
			}
			used = append(used, p.Masked())
			if !p.Overlaps(network) {
				continue
			}
			if ownName != nil && ownName.MatchString(iface.Name) && p.Masked() == network {
				own[iface.Name] = true
				continue
			}
			claims = append(claims, claim{iface.Name, "address " + p.String()})
		}
	}
	var notes []string
	for name := range own {
		notes = append(notes, name+" already holds "+network.String()+" (the lab's network from an earlier run)")
	}
	slices.Sort(notes)
	if host.GOOS == "linux" {
		routes, err := readRoutes(host.Routes)
		if err != nil {
			notes = append(notes, "routes not read: "+err.Error())
		}
		for _, route := range routes {
			// The default route overlaps everything, and the lab's own
			// interface routes the lab's network.
			if route.Dst.Bits() == 0 || own[route.Iface] {
				continue
			}
			used = append(used, route.Dst)
			c := claim{route.Iface, "route " + route.Dst.String()}
			if route.Dst.Overlaps(network) && !slices.ContainsFunc(claims, func(o claim) bool { return o.by == c.by }) {
				claims = append(claims, c)
			}
		}
	} else {
		notes = append(notes, "routes not read: they come from /proc/net/route, which "+host.GOOS+" does not have")
	}
	if len(claims) == 0 {
		r.Measured = "no interface or route of this host uses " + network.String()
		if len(notes) > 0 {
			r.Measured += "; " + strings.Join(notes, "; ")
		}
		return r
	}
	var found []string
	for _, c := range claims {
		found = append(found, c.by+" has "+c.what)
	}
	r.Status, r.Measured = Failed, strings.Join(found, ", ")
	r.Fix = "the nodes' addresses would mean two things on this host: free the range on " + claims[0].by
	if free, ok := freeRange(lab.Config, used); ok {
		r.Fix += fmt.Sprintf(", or move the lab: pulumi config set sre-lab:networkCidr %s -s local", free)
	} else {
		r.Fix += ", or move the lab to a free private range with pulumi config set sre-lab:networkCidr <range> -s local"
	}
	return r
}

// freeRange is the first block of the lab network's size, within
// VirtualBox's allowed host-only ranges on VirtualBox and within its /16
// on Docker, that nothing in used overlaps and the program accepts.
func freeRange(cfg config.Config, used []netip.Prefix) (netip.Prefix, bool) {
	network := cfg.NetworkCIDR.Masked()
	within := netip.PrefixFrom(network.Addr(), 16).Masked()
	if cfg.Cloud == config.VirtualBox {
		within = virtualBoxRanges
	}
	size := uint32(1) << (32 - network.Bits())
	start := binary.BigEndian.Uint32(within.Addr().AsSlice())
	end := start + uint32(1)<<(32-within.Bits())
	for n := start; n+size <= end && n >= start; n += size {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], n)
		candidate := netip.PrefixFrom(netip.AddrFrom4(a), network.Bits())
		if candidate == network || slices.ContainsFunc(used, candidate.Overlaps) {
			continue
		}
		cfg.NetworkCIDR = candidate
		if config.Validate(cfg) == nil {
			return candidate, true
		}
	}
	return netip.Prefix{}, false
}
