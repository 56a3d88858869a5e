// The API as the page uses it: the token (sessionStorage, gone when the tab closes), calls with
// `Authorization: Bearer`, and watches over the watch WebSocket (`/v1/watch`), whose token goes
// in a subprotocol (`berth.bearer.<token>`): never in a URL.

const KEY = 'berth.token';
/** Characters a token may have to travel as a WebSocket subprotocol. */
const TOKEN_CHARS = /^[A-Za-z0-9._~-]+$/;

export const token = {
  get: () => sessionStorage.getItem(KEY) ?? '',
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
  check(t) {
    if (!t) return 'enter a token';
    if (!TOKEN_CHARS.test(t)) return 'the token has characters no Berth token has (letters, digits, - _ . ~ only)';
    return undefined;
  },
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let onUnauthorized = () => {};
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

/** A call to the API; the answer's JSON, or an ApiError with the API's message. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = { authorization: `Bearer ${token.get()}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: 'no-store' });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    if (res.status === 401) onUnauthorized();
    throw new ApiError(res.status, json?.message ?? `${res.status} ${res.statusText}`);
  }
  return json;
}

/**
 * Follows an NDJSON stream (logs): calls `onLine(obj)` for each line until the stream ends or
 * `signal` aborts. Resolves when it ended.
 */
export async function follow(path, onLine, signal) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token.get()}` }, signal, cache: 'no-store' });
  if (!res.ok) {
    const body = await res.json().catch(() => undefined);
    throw new ApiError(res.status, body?.message ?? `${res.status} ${res.statusText}`);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += value;
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) onLine(JSON.parse(line));
  }
}

/**
 * Keeps `collection` equal to the cluster's objects of `kind`: the watch's first messages are the
 * current objects, then each change. Reconnects (after 0.5 s, doubling up to 5 s) from the last
 * version seen, so nothing is missed; when that version is too old (410) it starts over.
 * Returns a function that stops it.
 */
export function watch(kind, collection) {
  let version = 0;
  let stopped = false;
  let socket;
  let retryMs = 500;
  let timer;
  const open = () => {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const from = version ? `&fromVersion=${version}` : '';
    socket = new WebSocket(`${scheme}//${location.host}/v1/watch?kind=${kind}${from}`, ['berth.watch', `berth.bearer.${token.get()}`]);
    socket.onopen = () => {
      retryMs = 500;
      collection.setConnected(true);
    };
    socket.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === 'ERROR') {
        if (m.code === 410) {
          version = 0;
          collection.clear();
        }
        return;
      }
      if (m.version > version) version = m.version;
      collection.apply(m);
    };
    socket.onclose = () => {
      collection.setConnected(false);
      if (stopped) return;
      timer = setTimeout(open, retryMs);
      retryMs = Math.min(retryMs * 2, 5000);
    };
  };
  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    socket?.close();
  };
}
