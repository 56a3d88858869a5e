#!/bin/sh
# Writes the page at start (the hostname is only known then), then serves it. The shell stays
# PID 1 and forwards SIGTERM, so `docker stop` ends the server at once instead of after the
# grace period (busybox httpd as PID 1 would ignore SIGTERM).
host="$(hostname)"
cat > /www/index.html <<HTML
<!doctype html>
<html><head><title>berth/web</title></head>
<body><h1>Hello from ${host}</h1><p>hostname: ${host}</p><p>${GREETING:-served by berth/web}</p></body></html>
HTML
busybox httpd -f -p "${PORT:-8080}" -h /www &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null; wait "$pid"; exit 0' TERM INT
wait "$pid"
