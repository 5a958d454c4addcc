# Sourced by demo.sh and bench-e2e.sh: starts a private nginx-rtmp on a free loopback port.
#
#   start_private_nginx WORKDIR LOGLEVEL SERVER_BLOCK_FUNCTION
#
# SERVER_BLOCK_FUNCTION is called with the port and prints what goes inside `rtmp { server { } }`
# after the listen line. Sets NGINX_PID and PORT; returns non-zero (with error.log in WORKDIR)
# when nginx does not start. The caller stops it with `kill "$NGINX_PID"`.

# A free loopback port (perl-base is always installed on Debian). Another process could take it
# before nginx binds it; start_private_nginx then retries with a new port.
free_port() {
    perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport'
}

# One attempt on a new free port.
launch_private_nginx() {
    local work=$1 loglevel=$2 server_block=$3
    PORT=$(free_port)
    {
        cat <<CONF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
master_process off;
error_log $work/error.log $loglevel;
pid $work/nginx.pid;
events {
    worker_connections 256;
}
rtmp {
    server {
        listen 127.0.0.1:$PORT;
        chunk_size 4096;
CONF
        "$server_block" "$PORT"
        printf '    }\n}\n'
    } >"$work/nginx.conf"
    : >"$work/error.log"
    nginx -p "$work" -c "$work/nginx.conf" -e "$work/error.log" 2>>"$work/error.log" &
    NGINX_PID=$!
    for _ in $(seq 100); do
        if ! kill -0 "$NGINX_PID" 2>/dev/null; then
            wait "$NGINX_PID" 2>/dev/null || true
            NGINX_PID=
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

start_private_nginx() {
    local work=$1
    for _ in 1 2 3; do
        if launch_private_nginx "$@"; then
            return 0
        fi
        grep -q "Address already in use" "$work/error.log" || break
    done
    return 1
}
