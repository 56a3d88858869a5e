// Small pieces of the network tests: a busybox HTTP server that answers who asked, and a GET with nc.

/** busybox httpd on 8080 with one CGI script, /cgi-bin/who, answering "<client address> <hostname>". */
export const WHO_SCRIPT =
  'mkdir -p /w/cgi-bin && printf \'#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho "$REMOTE_ADDR $(hostname)"\\n\' > /w/cgi-bin/who && chmod +x /w/cgi-bin/who && exec httpd -f -p 8080 -h /w';

/** A shell line that GETs `path` from `host`:8080 with nc (busybox's wget crashes in these images). */
export const httpGet = (host: string, path: string) => `printf 'GET ${path} HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} 8080`;

/** httpd listens on IPv6 too: an IPv4 client shows as [::ffff:a.b.c.d]. */
export const plainAddress = (text: string | undefined) => text?.replace(/^\[::ffff:(.*)\]$/, '$1');
