package backends

import (
	"github.com/your-org/sre-lab/config"
	"github.com/your-org/sre-lab/infra/buildtags"
)

// CloudTags are the cloud backends a local-only build (buildtags.Local)
// leaves out, each with the tag that builds it back in;
// TestBuildConstraints holds the backends' files to this table.
var CloudTags = map[config.Cloud]string{
	config.AWS:     buildtags.Cloud(string(config.AWS)),
	config.GCP:     buildtags.Cloud(string(config.GCP)),
	config.Azure:   buildtags.Cloud(string(config.Azure)),
	config.Hetzner: buildtags.Cloud(string(config.Hetzner)),
}
