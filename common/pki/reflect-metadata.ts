// The few `Reflect` metadata functions @peculiar/x509's dependency injection (tsyringe) needs
// before it loads: define, get and get-own metadata on a class (or one of its properties).
// Imported for its side effect by x509.ts, ahead of @peculiar/x509; a no-op where a full
// reflect-metadata polyfill is already installed.
type Target = object;
type MetadataMap = Map<unknown, unknown>;

const store = new WeakMap<Target, Map<string | symbol | undefined, MetadataMap>>();

function own(target: Target, property: string | symbol | undefined, create: boolean): MetadataMap | undefined {
  let byProperty = store.get(target);
  if (!byProperty) {
    if (!create) return undefined;
    byProperty = new Map();
    store.set(target, byProperty);
  }
  let map = byProperty.get(property);
  if (!map && create) {
    map = new Map();
    byProperty.set(property, map);
  }
  return map;
}

function getOwnMetadata(key: unknown, target: Target, property?: string | symbol): unknown {
  return own(target, property, false)?.get(key);
}

function getMetadata(key: unknown, target: Target, property?: string | symbol): unknown {
  for (let t: Target | null = target; t; t = Object.getPrototypeOf(t) as Target | null) {
    const map = own(t, property, false);
    if (map?.has(key)) return map.get(key);
  }
  return undefined;
}

function defineMetadata(key: unknown, value: unknown, target: Target, property?: string | symbol): void {
  own(target, property, true)!.set(key, value);
}

function metadata(key: unknown, value: unknown) {
  return (target: Target, property?: string | symbol): void => defineMetadata(key, value, target, property);
}

const R = Reflect as unknown as Record<string, unknown>;
if (typeof R.getMetadata !== 'function') {
  Object.assign(R, { getMetadata, getOwnMetadata, defineMetadata, metadata, hasMetadata: (k: unknown, t: Target, p?: string | symbol) => getMetadata(k, t, p) !== undefined });
}
