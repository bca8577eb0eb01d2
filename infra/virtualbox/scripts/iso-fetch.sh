#!/bin/sh
# Downloads the Talos ISO once into the cache shared by every local stack,
# checks it against the sha256 its release lists, and prints its path.
set -eu
: "${SRE_ISO_URL:?}" "${SRE_ISO_SUMS_URL:?}" "${SRE_ISO_PATH:?}"
me=iso-fetch
asset=${SRE_ISO_URL##*/}
sums=$SRE_ISO_PATH.sha256sum.txt
part=$SRE_ISO_PATH.part

fail() {
	echo "$me: $*" >&2
	exit 1
}

if ! command -v curl >/dev/null 2>&1; then
	fail "curl was not found: install curl to download $SRE_ISO_URL"
fi
# GNU coreutils has sha256sum; macOS and the BSDs ship shasum.
if command -v sha256sum >/dev/null 2>&1; then
	hasher="sha256sum"
elif command -v shasum >/dev/null 2>&1; then
	hasher="shasum -a 256"
else
	fail "neither sha256sum nor shasum was found: install coreutils to check $asset"
fi
sha256() {
	$hasher "$1" | awk '{print $1}'
}

# Nothing half-done stays behind: a later run would otherwise trust it.
trap 'rm -f "$part" "$sums"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$(dirname "$SRE_ISO_PATH")"
if ! curl -fsSL --retry 3 -o "$sums" "$SRE_ISO_SUMS_URL" >&2; then
	fail "downloading $SRE_ISO_SUMS_URL failed"
fi
# Lines are "<sha256>  <file>", or "<sha256> *<file>" in binary mode.
want=$(awk -v f="$asset" '$2 == f || $2 == "*" f {print $1}' "$sums")
case $want in
"" | *[!0-9a-f]*) fail "$SRE_ISO_SUMS_URL lists no single sha256 for $asset" ;;
esac

# A cached ISO is used only if it is exactly the one the release lists.
if [ -s "$SRE_ISO_PATH" ] && [ "$(sha256 "$SRE_ISO_PATH")" = "$want" ]; then
	echo "$SRE_ISO_PATH"
	exit 0
fi

if ! curl -fsSL --retry 3 -o "$part" "$SRE_ISO_URL" >&2; then
	fail "downloading $SRE_ISO_URL failed"
fi
got=$(sha256 "$part")
if [ "$got" != "$want" ]; then
	fail "$SRE_ISO_URL has sha256 $got, but $SRE_ISO_SUMS_URL lists $want: not using it"
fi
mv "$part" "$SRE_ISO_PATH"
echo "$SRE_ISO_PATH"
