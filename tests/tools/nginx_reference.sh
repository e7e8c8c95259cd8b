#!/bin/bash
# Starts a private stock Debian nginx whose only site answers 404 to everything: the reference
# the built-in fallback responder (common/stealth/nginx_mimic) is measured against.
#
#   nginx_reference.sh DIR TLS_PORT PLAIN_PORT [HEADER_TIMEOUT [KEEPALIVE_TIMEOUT]]
#
# DIR gets the config, a self-signed certificate, logs and the pid file; nginx listens on
# 127.0.0.1 only and runs in the background (stop it with: kill "$(cat DIR/nginx.pid)").
# The http{} block is Debian 12's /etc/nginx/nginx.conf (gzip on included); HEADER_TIMEOUT
# and KEEPALIVE_TIMEOUT (defaults: nginx's 60s and 75s) shorten client_header_timeout and
# keepalive_timeout to watch what a timeout does.
set -euo pipefail
dir=$1 tls_port=$2 plain_port=$3 header_timeout=${4:-60s} keepalive_timeout=${5:-75s}
nginx=${NGINX:-/usr/sbin/nginx}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [[ ! -f $dir/cert.pem ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
        -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
fi
cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events {
    worker_connections 768;
}
http {
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log $dir/access.log;
    gzip on;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    client_header_timeout $header_timeout;
    keepalive_timeout $keepalive_timeout;
    server {
        listen 127.0.0.1:$tls_port ssl default_server;
        listen 127.0.0.1:$plain_port default_server;
        ssl_certificate $dir/cert.pem;
        ssl_certificate_key $dir/key.pem;
        server_name _;
        location / {
            return 404;
        }
    }
}
CONF
"$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
