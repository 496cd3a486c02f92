#!/usr/bin/env bash
# Proves deploy/Dockerfile on a machine with no image registry: makes the Debian 12 base with
# debootstrap, imports it as debian:12 and debian:12-slim, builds the Dockerfile with buildah
# (--isolation chroot), checks the final image (every library the binary needs is there, no build
# toolchain is, it runs as a non-root user, its HEALTHCHECK goes through the binary), then runs
# the image's entrypoint from its root filesystem as the image's user and fetches a signed image.
#
#   sudo nice deploy/test-image.sh            # heavy (compiles imgorigin): not part of CI
#
# Needs root (debootstrap, chroot, mounts), network access to a Debian mirror (the one in
# /etc/apt/sources.list*, else deb.debian.org) and to the npm registry (the default npm libvips).
# Installs buildah, debootstrap and curl with apt when missing. Everything it makes lives under
# IMGORIGIN_IMAGE_WORK (default /var/tmp/imgorigin-image), buildah's storage included, so the
# machine's own container storage is untouched; the base rootfs is reused on a second run.
# LIBVIPS=system builds against Debian's libvips instead; IMGORIGIN_IMAGE_REUSE=1 skips the build
# when the image exists (to rerun the checks). Exit status 0 only when every check
# passed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${IMGORIGIN_IMAGE_WORK:-/var/tmp/imgorigin-image}
libvips=${LIBVIPS:-npm}
image=localhost/imgorigin:test

say() { printf '\n== %s\n' "$*"; }
die() { printf 'test-image: FAIL: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot and buildah's chroot isolation need it)"
missing=()
for tool in buildah debootstrap curl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
mkdir -p "$work"
bah=(buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)

# The Debian mirror this machine's apt uses (deb822 URIs: or one-line deb entries).
mirror() {
  local uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
          2>/dev/null | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n1 || true)
  uri=${uri%% }
  echo "${uri:-http://deb.debian.org/debian}"
}

# --- 1. Debian 12 base images --------------------------------------------------------------
make_base() {
  local rootfs=$work/rootfs m
  m=$(mirror)
  if [ ! -x "$rootfs/usr/bin/apt-get" ]; then
    say "debootstrap bookworm from $m"
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$m" >"$work/debootstrap.log" 2>&1 ||
      { tail -n 20 "$work/debootstrap.log"; die "debootstrap failed"; }
  fi
  # As the official images: updates and security suites, apt lists not kept.
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: ${m%/}
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: ${m%/debian*}/debian-security
Suites: bookworm-security
Components: main
EOF
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
  # Certificate authorities this machine adds (an egress proxy's, say) are trusted in the base
  # as on the host, or npm could not reach its registry from inside the build.
  local cas=(/usr/local/share/ca-certificates/*.crt) node_ca=()
  if [ -e "${cas[0]}" ]; then
    mkdir -p "$rootfs/usr/local/share/ca-certificates"
    cp "${cas[@]}" "$rootfs/usr/local/share/ca-certificates/"
    node_ca=(--env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt)
    echo "trusting this machine's extra CAs: ${cas[*]##*/}"
  fi
  import_base "$rootfs" docker.io/library/debian:12 "${node_ca[@]}"
  # slim: the same, without documentation, man pages and locales (dpkg leaves them out later too).
  local ctr mnt
  ctr=$("${bah[@]}" from --pull=never docker.io/library/debian:12)
  mnt=$("${bah[@]}" mount "$ctr")
  cat >"$mnt/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/info/*
EOF
  find "$mnt/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
  rm -rf "$mnt"/usr/share/man/* "$mnt"/usr/share/locale/* "$mnt"/usr/share/info/*
  "${bah[@]}" umount "$ctr" >/dev/null
  "${bah[@]}" config --env NODE_EXTRA_CA_CERTS- "$ctr"
  "${bah[@]}" commit --quiet --rm "$ctr" docker.io/library/debian:12-slim >/dev/null
  echo "imported docker.io/library/debian:12-slim"
}

import_base() {  # rootfs name [buildah config options…]
  local ctr mnt
  ctr=$("${bah[@]}" from scratch)
  mnt=$("${bah[@]}" mount "$ctr")
  cp -a "$1"/. "$mnt"/
  "${bah[@]}" umount "$ctr" >/dev/null
  "${bah[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd bash "${@:3}" "$ctr"
  "${bah[@]}" commit --quiet --rm "$ctr" "$2" >/dev/null
  echo "imported $2"
}

# --- 2. Build --------------------------------------------------------------------------------
build_image() {
  if [ "${IMGORIGIN_IMAGE_REUSE:-0}" = 1 ] && "${bah[@]}" inspect --type image "$image" >/dev/null 2>&1; then
    say "reusing $image (IMGORIGIN_IMAGE_REUSE=1): checks and runs the image built before"
    return
  fi
  say "buildah bud deploy/Dockerfile (LIBVIPS=$libvips; compiles imgorigin, takes a while)"
  "${bah[@]}" bud --isolation chroot --format docker --pull=never --layers=false \
    --build-arg LIBVIPS="$libvips" -f "$repo/deploy/Dockerfile" -t "$image" "$repo" \
    >"$work/bud.log" 2>&1 || { tail -n 40 "$work/bud.log"; die "buildah bud failed ($work/bud.log)"; }
  echo "built $image"
}

# --- 3. Image checks -------------------------------------------------------------------------
cfg() { "${bah[@]}" inspect --type image --format "$1" "$image"; }

check_image() {
  local mnt=$1 user health missing dev tools
  say "checking the image"
  user=$(cfg '{{.Docker.Config.User}}')
  [ -n "$user" ] && [ "${user%%:*}" != 0 ] && [ "${user%%:*}" != root ] ||
    die "image runs as root (User=\"$user\")"
  echo "user: $user"
  health=$(cfg '{{if .Docker.Config.Healthcheck}}{{range .Docker.Config.Healthcheck.Test}}{{.}} {{end}}{{end}}')
  [ "$health" = "CMD /usr/local/bin/imgorigin healthcheck " ] ||
    die "HEALTHCHECK is \"$health\", not the binary's healthcheck command"
  echo "healthcheck: $health"
  missing=$(chroot "$mnt" ldd /usr/local/bin/imgorigin | grep 'not found' || true)
  [ -z "$missing" ] || die "libraries missing from the image: $missing"
  echo "ldd: all $(chroot "$mnt" ldd /usr/local/bin/imgorigin | wc -l) libraries present"
  dev=$(chroot "$mnt" dpkg-query -W -f '${Package}\n' |
          grep -E -- '-dev$|^(gcc|g\+\+|cpp|cmake|make|binutils|nodejs|npm|pkg-config|pkgconf)(-[0-9.]+)?$' || true)
  [ -z "$dev" ] || die "build toolchain packages in the runtime image: $(echo $dev)"
  tools=$(cd "$mnt" && ls -d usr/bin/gcc* usr/bin/g++* usr/bin/cc usr/bin/ld usr/bin/cmake \
            usr/bin/node usr/bin/npm usr/include/vips src 2>/dev/null || true)
  [ -z "$tools" ] || die "build files in the runtime image: $(echo $tools)"
  echo "no compiler, headers, CMake or Node.js in the image"
}

# --- 4. Run it ---------------------------------------------------------------------------------
mounts=()
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  local m
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}" 2>/dev/null || true; done
  [ -n "${ctr:-}" ] && "${bah[@]}" rm "$ctr" >/dev/null 2>&1 || true
}
trap cleanup EXIT

free_port() { node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# Runs a command inside the image root as the image's user with the image's environment and
# working directory plus the extra VAR=value arguments before "--".
in_image() {
  local envs=() workdir
  mapfile -t envs < <(cfg '{{range .Docker.Config.Env}}{{.}}{{"\n"}}{{end}}' | sed '/^$/d')
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  workdir=$(cfg '{{.Docker.Config.WorkingDir}}')
  # In a background job: exec, so that $! is the server's own pid (env, chroot and sh exec too).
  ${IN_IMAGE_EXEC:+exec} env -i "${envs[@]}" chroot --userspec="$(cfg '{{.Docker.Config.User}}')" "$mnt" \
    /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "${workdir:-/}" "$@"
}

run_image() {
  local key salt port entry=() cmd=() path status ctype help
  say "running the image's entrypoint from its root filesystem"
  key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  salt=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  port=$(free_port)
  mkdir -p "$mnt/images"
  for m in proc dev images; do mounts+=("$mnt/$m"); done
  mount -t proc proc "$mnt/proc"
  mount --bind /dev "$mnt/dev"
  mount --bind -o ro "$repo/examples" "$mnt/images"
  mapfile -t entry < <(cfg '{{range .Docker.Config.Entrypoint}}{{.}}{{"\n"}}{{end}}' | sed '/^$/d')
  mapfile -t cmd < <(cfg '{{range .Docker.Config.Cmd}}{{.}}{{"\n"}}{{end}}' | sed '/^$/d')
  local run_env=(IMGORIGIN_KEY="$key" IMGORIGIN_SALT="$salt" IMGORIGIN_LOCAL_ROOT=/images
                 IMGORIGIN_BIND="127.0.0.1:$port")
  IN_IMAGE_EXEC=1 in_image "${run_env[@]}" -- "${entry[@]}" "${cmd[@]}" >"$work/serve.log" 2>&1 &
  server=$!
  for ((i = 0; i < 100; i++)); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { cat "$work/serve.log"; die "the server exited"; }
    sleep 0.1
  done
  curl -fsS -o /dev/null "http://127.0.0.1:$port/health" || { cat "$work/serve.log"; die "no /health"; }
  echo "serving on 127.0.0.1:$port as $(cfg '{{.Docker.Config.User}}')"

  path=$(in_image "${run_env[@]}" -- /usr/local/bin/imgorigin sign --config /etc/imgorigin/imgorigin.toml \
           '/rs:fit:200:200/plain/local:///sample.jpg@webp')
  echo "signed: $path"
  read -r status ctype < <(curl -sS -o "$work/out.webp" -w '%{http_code} %{content_type}\n' \
                              "http://127.0.0.1:$port$path")
  [ "$status" = 200 ] || { cat "$work/serve.log"; die "signed URL answered $status"; }
  [ "$ctype" = image/webp ] || die "Content-Type $ctype, not image/webp"
  [ "$(head -c 4 "$work/out.webp")" = RIFF ] && [ "$(tail -c +9 "$work/out.webp" | head -c 4)" = WEBP ] ||
    die "the body is not a WebP"
  echo "GET $path -> 200 image/webp, $(stat -c %s "$work/out.webp") bytes"
  status=$(curl -sS -o /dev/null -w '%{http_code}' \
             "http://127.0.0.1:$port/badsignature/rs:fit:200:200/plain/local:///sample.jpg@webp")
  [ "$status" = 403 ] || die "a bad signature answered $status, not 403"
  echo "bad signature -> 403"

  help=$(in_image -- /usr/local/bin/imgorigin --help)
  if grep -qE -- '(^| |,)--version' <<<"$help"; then
    echo "version: $(in_image -- /usr/local/bin/imgorigin --version | head -n1)"
  fi
  if grep -qE '^ +healthcheck' <<<"$help"; then
    in_image "${run_env[@]}" -- /usr/local/bin/imgorigin healthcheck ||
      die "imgorigin healthcheck failed against a serving server"
    echo "imgorigin healthcheck -> 0 while serving"
    kill "$server"; wait "$server" 2>/dev/null || true; server=
    if in_image "${run_env[@]}" -- /usr/local/bin/imgorigin healthcheck 2>/dev/null; then
      die "imgorigin healthcheck passed with no server"
    fi
    echo "imgorigin healthcheck -> non-zero once stopped"
  else
    echo "NOTE: this binary has no 'healthcheck' subcommand yet (imgorigin --help); the" \
         "HEALTHCHECK line needs it, so it was not run"
  fi
}

if ! "${bah[@]}" inspect --type image docker.io/library/debian:12-slim >/dev/null 2>&1; then
  make_base
fi
build_image
ctr=$("${bah[@]}" from --pull=never "$image")
mnt=$("${bah[@]}" mount "$ctr")
check_image "$mnt"
run_image
say "PASS: $image builds, has only runtime libraries, runs as non-root and serves signed images"
