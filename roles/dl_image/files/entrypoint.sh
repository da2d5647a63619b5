#!/bin/sh
# dlfleet image entry point.
#   lab          JupyterLab on 8888 (token: JUPYTER_TOKEN or /run/secrets/jupyter_token;
#                or a password hash: /run/secrets/jupyter_password_hash or
#                JUPYTER_PASSWORD_HASH; never without), and TensorBoard on the
#                container's loopback, served through Jupyter at /proxy/6006/ (the same
#                authentication: nothing but Jupyter listens where others can reach)
#   hub          the fleet hub's server (jupyterhub-singleuser on 8888): the hub's spawner
#                gives JUPYTERHUB_API_TOKEN and the rest in the environment, and only
#                people signed in through the hub reach it; TensorBoard as for lab
#   smoke [...]  import every framework and compute on a GPU where one is visible
#   anything     run it
set -eu

# Containers may run as any host UID (so files in shared folders belong to their user):
# give that user a writable home.
if [ ! -w "${HOME:-/nonexistent}" ]; then
    HOME="/tmp/home-$(id -u)"
    export HOME
    mkdir -p "$HOME"
fi

# TensorBoard reads the shared folder's logs/ (kept on the host) when there is one; it
# listens on the container's loopback, served through Jupyter at /proxy/6006/
start_tensorboard() {
    if [ -z "${TENSORBOARD_LOGDIR:-}" ] && [ -d /workspace/shared ] && [ -w /workspace/shared ]; then
        TENSORBOARD_LOGDIR=/workspace/shared/logs
    fi
    logdir="${TENSORBOARD_LOGDIR:-/workspace/logs}"
    mkdir -p "$logdir"
    tensorboard --logdir "$logdir" --host 127.0.0.1 --port 6006 >/tmp/tensorboard.log 2>&1 &
}

case "${1:-lab}" in
hub)
    if [ -z "${JUPYTERHUB_API_TOKEN:-}" ]; then
        echo "dlfleet: the hub command is started by the fleet's hub (JUPYTERHUB_API_TOKEN unset)" >&2
        exit 64
    fi
    start_tensorboard
    exec jupyterhub-singleuser --ip=0.0.0.0 --port=8888 \
        --ServerApp.root_dir=/workspace --ServerApp.allow_remote_access=True
    ;;
lab)
    # A token file mounted by dl_containers keeps the token out of `docker inspect`.
    if [ -z "${JUPYTER_TOKEN:-}" ] && [ -r /run/secrets/jupyter_token ]; then
        JUPYTER_TOKEN=$(cat /run/secrets/jupyter_token)
        export JUPYTER_TOKEN
    fi
    if [ -z "${JUPYTER_PASSWORD_HASH:-}" ] && [ -r /run/secrets/jupyter_password_hash ]; then
        JUPYTER_PASSWORD_HASH=$(cat /run/secrets/jupyter_password_hash)
    fi
    if [ -z "${JUPYTER_TOKEN:-}" ] && [ -z "${JUPYTER_PASSWORD_HASH:-}" ]; then
        echo "dlfleet: refusing to start Jupyter without authentication:" >&2
        echo "  set JUPYTER_TOKEN or JUPYTER_PASSWORD_HASH" >&2
        exit 64
    fi
    start_tensorboard
    set -- jupyter lab --ip=0.0.0.0 --port=8888 --no-browser \
        --ServerApp.root_dir=/workspace --ServerApp.allow_remote_access=True
    if [ -n "${JUPYTER_PASSWORD_HASH:-}" ]; then
        # into a config file only this user reads, never onto the command line (`ps` shows it)
        config="$HOME/.dlfleet-jupyter-password.json"
        (umask 077 && printf '{"PasswordIdentityProvider": {"hashed_password": "%s"}}\n' \
            "$JUPYTER_PASSWORD_HASH" > "$config")
        unset JUPYTER_PASSWORD_HASH
        set -- "$@" --config="$config"
    fi
    exec "$@"
    ;;
smoke)
    shift
    exec dlfleet-smoke "$@"
    ;;
*)
    exec "$@"
    ;;
esac
