#!/usr/bin/env bash
# Take a savepoint through topspeed's ops API and print its path.
#
#   scripts/savepoint.sh [--cacert CA.pem] URL TOKEN_FILE
#
# POSTs to URL/api/v1/savepoints (URL: the leader's ops endpoint, e.g.
# http://127.0.0.1:19249 through `kubectl port-forward`, or https://... with
# --http-tls-cert) with "Authorization: Bearer <token>", the token read from
# TOKEN_FILE (the file --http-token-file names; surrounding white space
# trimmed, as topspeed does). The token never appears on a command line: curl
# reads the header from a private temporary file (mode 0600), removed on
# exit. --cacert verifies an https endpoint with that CA (PEM).
#
# Exit status: 0 and the savepoint's directory on stdout; 1 with the
# server's message on stderr if it refused (401 wrong token, 403 no
# --http-token-file, 503 not the leader, 500 the savepoint failed) or could
# not be reached; 2 on a usage error.
set -euo pipefail

usage() {
	echo "usage: $0 [--cacert CA.pem] URL TOKEN_FILE" >&2
	exit 2
}

cacert=""
while [[ $# -gt 0 && $1 == --* ]]; do
	case $1 in
	--cacert)
		[[ $# -ge 2 ]] || usage
		cacert=$2
		shift 2
		;;
	--cacert=*)
		cacert=${1#--cacert=}
		shift
		;;
	--help | -h) usage ;;
	*)
		echo "$0: unknown option $1" >&2
		usage
		;;
	esac
done
[[ $# -eq 2 ]] || usage
url=${1%/}
token_file=$2

case $url in
http://* | https://*) ;;
*)
	echo "$0: URL must start with http:// or https://: $url" >&2
	exit 2
	;;
esac
if [[ -n $cacert && ! -r $cacert ]]; then
	echo "$0: --cacert $cacert: not a readable file" >&2
	exit 2
fi
if [[ ! -f $token_file || ! -r $token_file ]]; then
	echo "$0: TOKEN_FILE $token_file: not a readable file" >&2
	exit 2
fi
if [[ $(wc -c <"$token_file") -gt 1048576 ]]; then
	echo "$0: TOKEN_FILE $token_file: larger than 1 MiB" >&2
	exit 2
fi
token=$(tr -d '[:space:]' <"$token_file")
if [[ -z $token ]]; then
	echo "$0: TOKEN_FILE $token_file is empty" >&2
	exit 2
fi
for tool in curl jq; do
	command -v "$tool" >/dev/null || {
		echo "$0: $tool is not installed" >&2
		exit 2
	}
done

tmp=$(umask 077 && mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'Authorization: Bearer %s\n' "$token" >"$tmp/header"
unset token

args=(--silent --show-error --request POST --header "@$tmp/header"
	--output "$tmp/body" --write-out '%{http_code}' --max-time 150)
[[ -n $cacert ]] && args+=(--cacert "$cacert")

if ! code=$(curl "${args[@]}" "$url/api/v1/savepoints"); then
	echo "$0: POST $url/api/v1/savepoints failed (see curl's message above)" >&2
	exit 1
fi
if [[ $code == 201 ]]; then
	if ! path=$(jq -er '.path' <"$tmp/body"); then
		echo "$0: 201 without a path: $(head -c 2000 "$tmp/body")" >&2
		exit 1
	fi
	printf '%s\n' "$path"
	exit 0
fi
msg=$(jq -r '.error // empty' <"$tmp/body" 2>/dev/null || true)
[[ -n $msg ]] || msg=$(head -c 2000 "$tmp/body")
echo "$0: HTTP $code from $url/api/v1/savepoints: $msg" >&2
exit 1
