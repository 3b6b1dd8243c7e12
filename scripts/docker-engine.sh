# Sourced by the scripts that need Docker (base-image.sh, image.sh, the Kubeflow check).
# Makes sure a Docker engine answers: when none does and we are root, installs Debian's
# docker.io if it is missing and starts dockerd in the background (overlay2, else vfs),
# saying so with its PID. Defines `docker` as a client that
# builds with BuildKit (Docker 23+ with buildx, or Debian's 20.10 client with
# DOCKER_BUILDKIT=1): the Dockerfile hands pip its CA bundle as a BuildKit secret.

DOCKERD_LOG=${DOCKERD_LOG:-/tmp/image-pipeline-dockerd.log}
DOCKERD_PIDFILE=${DOCKERD_PIDFILE:-/tmp/image-pipeline-dockerd.pid}

install_debian_packages() {
  if [ "$(id -u)" != 0 ]; then
    echo "error: $* missing; install them (apt-get install $*) or run as root" >&2
    return 1
  fi
  echo "installing Debian packages: $*"
  apt-get update -qq > /dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" > /dev/null
}

_docker_client() {
  local found
  found=$(type -P docker || true)
  if [ -n "$found" ] && "$found" buildx version > /dev/null 2>&1; then
    echo "$found"
  elif [ -x /usr/bin/docker ]; then
    echo /usr/bin/docker
  else
    echo "${found:-docker}"
  fi
}

_start_dockerd() {
  local driver=$1
  dockerd --storage-driver "$driver" --pidfile "$DOCKERD_PIDFILE" > "$DOCKERD_LOG" 2>&1 &
  local pid=$!
  for _ in $(seq 60); do
    if "$DOCKER_CLIENT" info > /dev/null 2>&1; then
      echo "started dockerd (storage driver $driver, pid $pid, log $DOCKERD_LOG); stop it with: kill $pid"
      return 0
    fi
    kill -0 "$pid" 2> /dev/null || break
    sleep 1
  done
  kill "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  return 1
}

ensure_docker_engine() {
  type -P dockerd > /dev/null || type -P docker > /dev/null || install_debian_packages docker.io
  DOCKER_CLIENT=$(_docker_client)
  if "$DOCKER_CLIENT" info > /dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "error: no Docker engine answers ($DOCKER_CLIENT info); start Docker" >&2
    return 1
  fi
  type -P dockerd > /dev/null || install_debian_packages docker.io
  DOCKER_CLIENT=$(_docker_client)
  _start_dockerd overlay2 || _start_dockerd vfs || {
    tail -n 20 "$DOCKERD_LOG" >&2
    echo "error: dockerd did not start with overlay2 or vfs; log: $DOCKERD_LOG" >&2
    return 1
  }
}

docker() {
  DOCKER_BUILDKIT=1 "$DOCKER_CLIENT" "$@"
}

ensure_docker_engine
