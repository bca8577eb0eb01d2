#!/bin/sh
# Downloads the Talos ISO once into the cache shared by every local stack and
# prints its path.
set -eu
: "${SRE_ISO_URL:?}" "${SRE_ISO_PATH:?}"

# Downloads go to a .part file that is renamed when complete, so an existing
# non-empty file is a finished download.
if [ ! -s "$SRE_ISO_PATH" ]; then
	if ! command -v curl >/dev/null 2>&1; then
		echo "iso-fetch: curl was not found: install curl to download $SRE_ISO_URL" >&2
		exit 1
	fi
	mkdir -p "$(dirname "$SRE_ISO_PATH")"
	if ! curl -fsSL --retry 3 -o "$SRE_ISO_PATH.part" "$SRE_ISO_URL" >&2; then
		rm -f "$SRE_ISO_PATH.part"
		echo "iso-fetch: downloading $SRE_ISO_URL failed" >&2
		exit 1
	fi
	mv "$SRE_ISO_PATH.part" "$SRE_ISO_PATH"
fi

echo "$SRE_ISO_PATH"
