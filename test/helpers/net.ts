// Small pieces of the network tests: a busybox HTTP server that answers who asked, a GET with nc,
// a client/server pair of services, and busybox nslookup's output read.
import { BUSYBOX_IMAGE } from './docker.js';

/** busybox httpd on 8080 with one CGI script, /cgi-bin/who, answering "<client address> <hostname>". */
export const WHO_SCRIPT =
  'mkdir -p /w/cgi-bin && printf \'#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho "$REMOTE_ADDR $(hostname)"\\n\' > /w/cgi-bin/who && chmod +x /w/cgi-bin/who && exec httpd -f -p 8080 -h /w';

/** A shell line that GETs `path` from `host`:8080 with nc (busybox's wget crashes in these images). */
export const httpGet = (host: string, path: string) => `printf 'GET ${path} HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} 8080`;

/** httpd listens on IPv6 too: an IPv4 client shows as [::ffff:a.b.c.d]. */
export const plainAddress = (text: string | undefined) => text?.replace(/^\[::ffff:(.*)\]$/, '$1');

/** A server service `srv` (two tasks, none on nodeA, one per node) and a `client` on nodeA that looks both names up first thing. */
export const clientServerManifest = (nodeA: string) => `apiVersion: berth/v1
kind: Service
metadata:
  name: srv
spec:
  image: ${BUSYBOX_IMAGE}
  command: ["sh", "-c", ${JSON.stringify(WHO_SCRIPT)}]
  replicas: 2
  stopGracePeriodSeconds: 1
  placement:
    constraints: ["node.name != ${nodeA}"]
    maxPerNode: 1
  resources: { cpu: 100m, memory: 16Mi }
---
apiVersion: berth/v1
kind: Service
metadata:
  name: client
spec:
  image: ${BUSYBOX_IMAGE}
  # Its very first action: look its own name and the server's up.
  command: ["sh", "-c", "nslookup client > /first.txt 2>&1; nslookup srv >> /first.txt 2>&1; exec sleep 3600"]
  replicas: 1
  stopGracePeriodSeconds: 1
  placement:
    constraints: ["node.name == ${nodeA}"]
  resources: { cpu: 100m, memory: 16Mi }
`;

/** `count` GETs of the server by name from the client task; one line per request ("FAIL" when it failed). */
export const requests = (count: number) =>
  `ip=$(nslookup srv | awk '/^Address/ { a = $NF } END { print a }'); ` +
  `for i in $(seq ${count}); do r=$(printf 'GET /cgi-bin/who HTTP/1.0\\r\\n\\r\\n' | nc -w 2 $ip 8080 | tail -n 1); echo "\${r:-FAIL}"; done`;

/** The A records nslookup printed for `name` (busybox's format: "Address: a.b.c.d" after "Name:"). */
export function addressesIn(output: string, name: string): string[] {
  const out: string[] = [];
  let inName = false;
  for (const line of output.split('\n')) {
    if (/^Server:/.test(line)) inName = false;
    if (/^Name:/.test(line)) inName = line.split(/\s+/)[1]?.startsWith(name) ?? false;
    const m = /^Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)$/.exec(line.trim());
    if (inName && m) out.push(m[1]!);
  }
  return out;
}

